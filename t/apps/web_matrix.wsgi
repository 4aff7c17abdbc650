# The app behind every web server in t/web-*.t (fwtest.web_matrix). By
# default it answers JSON of the environ's str and bool values plus the length and
# sha1 of the request body, read from wsgi.input to its end. Paths (PATH_INFO,
# so under any mount) that do more:
#   /_cookies     two Set-Cookie headers
#   /_204, /_304  204 No Content, 304 Not Modified: no body
#   /_stream      ?MB: a streamed body of MB MiB in 64 KiB blocks (see
#                 fwtest.web_stream_block), with the worker's pid in X-Pid
#   /_proc        JSON: pid, the interpreter (id of its sys.modules), the
#                 application group, the script
#   /_echo        the QUERY_STRING as text/plain (cheap, for load)
import hashlib
import json
import os
import sys

BLOCK = 65536


def stream_block(i):
    """Block i of /_stream: 64 KiB that differ from block to block."""
    return hashlib.sha256(b'%d' % i).digest() * (BLOCK // 32)


def _json(start_response, obj):
    data = json.dumps(obj, sort_keys=True).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(data)))])
    return [data]


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    if path == '/_cookies':
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('Set-Cookie', 'a=1; Path=/'),
                                  ('Set-Cookie', 'b=2; Path=/; HttpOnly')])
        return [b'cookies']
    if path == '/_204':
        start_response('204 No Content', [('X-Status', '204')])
        return []
    if path == '/_304':
        start_response('304 Not Modified', [('ETag', '"v1"')])
        return []
    if path == '/_echo':
        body = ('echo ' + environ.get('QUERY_STRING', '')).encode('latin-1')
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('Content-Length', str(len(body)))])
        return [body]
    if path == '/_proc':
        return _json(start_response, {
            'pid': os.getpid(), 'interp': id(sys.modules),
            'group': environ.get('fcgiwsgi.application_group'),
            'script': environ.get('fcgiwsgi.script')})
    if path == '/_stream':
        n = int(environ.get('QUERY_STRING') or '1') * (1024 * 1024 // BLOCK)
        start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                                  ('Content-Length', str(n * BLOCK)),
                                  ('X-Pid', str(os.getpid()))])
        return (stream_block(i) for i in range(n))
    inp = environ['wsgi.input']
    h = hashlib.sha1()
    n = 0
    while True:
        block = inp.read(BLOCK)
        if not block:
            break
        n += len(block)
        h.update(block)
    out = {k: v for k, v in environ.items() if isinstance(v, (str, bool))}
    out['fw.body_len'] = n
    out['fw.body_sha1'] = h.hexdigest()
    return _json(start_response, out)
