# A web-server-facing probe: by default answers JSON of the CGI part of the
# environ (str values only) plus the length and sha1 of the request body,
# read from wsgi.input to its end. A few paths under the mount do more:
#   /_cookies  two Set-Cookie headers
#   /_204      204 No Content, no body
#   /_echo     the QUERY_STRING as text/plain (cheap, for load)
import hashlib
import json


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    if path == '/_cookies':
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('Set-Cookie', 'a=1; Path=/'),
                                  ('Set-Cookie', 'b=2; Path=/')])
        return [b'cookies']
    if path == '/_204':
        start_response('204 No Content', [])
        return []
    if path == '/_echo':
        body = ('echo ' + environ.get('QUERY_STRING', '')).encode('latin-1')
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('Content-Length', str(len(body)))])
        return [body]
    inp = environ['wsgi.input']
    h = hashlib.sha1()
    n = 0
    while True:
        block = inp.read(65536)
        if not block:
            break
        n += len(block)
        h.update(block)
    out = {k: v for k, v in environ.items() if isinstance(v, str)}
    out['fw.body_len'] = n
    out['fw.body_sha1'] = h.hexdigest()
    data = json.dumps(out, sort_keys=True).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(data)))])
    return [data]
