# slowlog_timeout's cases (t/slowlog.t): a sleep in C (the stack shows the
# Python frame that called it) and a loop in Python, each in a function of
# its own name so the logged stack can be checked.
import time


def sleeping_in_c(seconds):
    time.sleep(seconds)


def spinning_in_python(seconds):
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


def application(environ, start_response):
    path = environ['PATH_INFO']
    if path.startswith('/sleep/'):
        sleeping_in_c(float(path.split('/')[2]))
    elif path.startswith('/spin/'):
        spinning_in_python(float(path.split('/')[2]))
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'done']
