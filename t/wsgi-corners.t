#!/usr/bin/env python3
# WSGI corners real apps found (issue 14): a HEAD answered with an empty
# body must not be given Content-Length: 0 (Werkzeug does this for a
# streamed GET of 381 bytes), and an app that sends Content-Length twice
# gets a 500, not both values passed on. wsgi.file_wrapper's fast path
# (a real file sent by pread) follows the same body rules as any other
# body: none for 204 and 304, a cut response and a log line when the file
# is shorter than the declared Content-Length (as for a generator); and
# FileWrapper's iteration raises a TypeError when read() gives something
# without a length.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

APP = os.path.join(tmpdir(), 'corners.wsgi')
with open(APP, 'w') as f:
    f.write('''
def application(environ, start_response):
    path = environ['PATH_INFO']
    head = environ['REQUEST_METHOD'] == 'HEAD'
    if path == '/stream':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        def gen():
            if not head:
                for i in range(3):
                    yield b'chunk %d\\n' % i
        return gen()
    if path == '/empty-list':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [] if head else [b'x' * 381]
    if path == '/two-lengths':
        start_response('200 OK', [('Content-Length', '5'), ('Content-Length', '7')])
        return [b'hello']
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
''')

r = start_responder(APP)
for path in ('/stream', '/empty-list'):
    get = fcgi_request(r.addr, 'GET', path)
    head = fcgi_request(r.addr, 'HEAD', path)
    is_(head.status, 200, 'HEAD %s: 200' % path)
    ok(head.header('Content-Length') in (None, get.header('Content-Length')),
       "HEAD %s: no Content-Length, or the GET's" % path,
       got=head.header('Content-Length'), expected=(None, get.header('Content-Length')))
res = fcgi_request(r.addr, 'GET', '/two-lengths')
is_(res.status, 500, 'an app giving Content-Length twice: 500')
wait_log(r, r'Content-Length twice', timeout=5)
ok(True, '... and a log line says why')
is_(fcgi_request(r.addr, 'GET', '/').status, 200, 'the worker serves on')
r.stop()
check_log_clean(r)

# ---- wsgi.file_wrapper
data_file = os.path.join(tmpdir(), 'five-thousand.bin')
with open(data_file, 'wb') as f:
    f.write(bytes(range(256)) * 19 + b'x' * 136)
r = start_responder(app_path('file_corners.wsgi'), '--mount', '/', threads=2,
                    env={'FW_FILE': data_file})


def logged(proc, regex, timeout=5):
    try:
        wait_log(proc, regex, timeout=timeout)
        return True
    except TimeoutError:
        return False


def kept(path):
    """A request on a kept connection, where a cut response shows: the
    response and whether it ended with END_REQUEST."""
    try:
        with FcgiConn(r.addr, timeout=10) as c:
            return c.request(cgi_params('GET', path), keep_conn=True), True
    except FcgiError as e:
        return e.response, False


for status in (204, 304):
    res = fcgi_request(r.addr, 'GET', '/file/%d' % status)
    is_((res.status, len(res.body), res.header('Content-Length')), (status, 0, None),
        'a file as the body of a %d: no body, no Content-Length' % status)
res = fcgi_request(r.addr, 'GET', '/file/ok')
is_((res.status, res.body, res.header('Content-Length')),
    (200, open(data_file, 'rb').read(), '5000'), 'a file as a 200 body: sent whole, with its length')

gen, gen_ended = kept('/gen/short')
is_((len(gen.body), gen_ended), (5000, False),
    'a generator short of its Content-Length: the response is cut (no END_REQUEST)')
res, ended = kept('/file/short')
is_((len(res.body), ended), (5000, False),
    'a file short of its Content-Length: cut the same way (no END_REQUEST)')
ok(logged(r, r'GET /file/short: sent 5000 of the 8000 bytes of its Content-Length'),
   '... and a log line says so')

res = fcgi_request(r.addr, 'GET', '/wrap/nolen')
is_(res.status, 500, 'FileWrapper over a read() that returns an int: 500')
ok(logged(r, r'TypeError'), '... with a TypeError in the log')
res = fcgi_request(r.addr, 'GET', '/wrap/nolen-py')
like(res.body.decode('latin-1'), r'^TypeError: .*read\(\)',
     'the same iterated by the app: a TypeError about read(), not a SystemError')
res = fcgi_request(r.addr, 'GET', '/wrap/bytesio')
is_((res.status, res.body), (200, b'b' * 100), 'FileWrapper over BytesIO: iterated whole')
is_(fcgi_request(r.addr, 'GET', '/file/ok').status, 200, 'the worker serves on')
r.stop()
check_log_clean(r)
done_testing()
