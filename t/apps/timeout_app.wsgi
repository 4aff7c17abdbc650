# request_timeout's cases (t/request-timeout.t): a loop in Python (the
# exception can be raised in it), a sleep in C without the GIL (it cannot),
# a regex that backtracks for ever holding the GIL, an upload read as it
# comes, and a response that streams a first block and then loops.
import os
import re
import time


def _stream_spin(secs):
    yield b'first\n'
    end = time.monotonic() + secs
    while time.monotonic() < end:
        pass
    yield b'done\n'


def application(environ, start_response):
    path = environ['PATH_INFO']
    if path.startswith('/spin/'):
        end = time.monotonic() + float(path.split('/')[2])
        n = 0
        while time.monotonic() < end:
            n += 1
    elif path.startswith('/sleep/'):
        time.sleep(float(path.split('/')[2]))
    elif path == '/hog':
        re.match(r'(a+)+$', 'a' * 40 + 'b')
    elif path.startswith('/stream-spin/'):
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return _stream_spin(float(path.split('/')[2]))
    elif path == '/upload':
        got = len(environ['wsgi.input'].read())
        body = b'%d %d' % (os.getpid(), got)
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [body]
    body = b'%d' % os.getpid()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
