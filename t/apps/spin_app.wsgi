# t/interp-gil.t: /spin/S loops in Python for S seconds (at most 10);
# anything else answers at once.
import time


def application(environ, start_response):
    path = environ['PATH_INFO']
    if path.startswith('/spin/'):
        end = time.monotonic() + min(float(path.split('/')[2]), 10.0)
        n = 0
        while time.monotonic() < end:
            n += 1
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
