# An app that registers a C atexit() handler, as C extensions and the
# libraries under them do (OpenSSL, a database client), when FW_EXIT_MARKER
# is set: it writes that file. t/second-signal.t checks that it does not run
# when a second stop signal ends the process while requests are in Python.
# (It is Python code, so it must not run after Python was finalised either:
# without the variable nothing is registered, for the graceful stop.)
#   /sleep?S   sleeps S seconds (logs 'sleeping S' first), answers 'slept'
import ctypes
import os
import time

MARKER = os.environ.get('FW_EXIT_MARKER')


def _at_exit(arg):
    with open(MARKER, 'w') as f:
        f.write('atexit ran\n')


# atexit() itself is no exported symbol of glibc: it is __cxa_atexit.
if MARKER:
    _handler = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(_at_exit)
    ctypes.CDLL(None).__cxa_atexit(_handler, None, None)


def application(environ, start_response):
    if environ.get('PATH_INFO') == '/sleep':
        secs = float(environ.get('QUERY_STRING') or '1')
        environ['wsgi.errors'].write('sleeping %s\n' % secs)
        environ['wsgi.errors'].flush()
        time.sleep(secs)
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'slept']
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
