#!/usr/bin/env python3
# WSGI corners real apps found (issue 14): a HEAD answered with an empty
# body must not be given Content-Length: 0 (Werkzeug does this for a
# streamed GET of 381 bytes), and an app that sends Content-Length twice
# gets a 500, not both values passed on.
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
done_testing()
