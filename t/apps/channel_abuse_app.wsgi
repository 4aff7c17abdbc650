# An app that abuses what its worker shares with the master: GET /junk
# writes bytes that are no message on the worker's channel (fd 3) for 3 s;
# GET /hold?S sleeps S seconds (at most 30); GET /restart asks for a
# recycle of its own pool. Every request answers its pid.
import os
import threading
import time

import fcgiwsgi


def _junk():
    end = time.monotonic() + 3.0
    chunk = b'\x01' * 4096
    while time.monotonic() < end:
        try:
            os.write(3, chunk)
        except BlockingIOError:
            time.sleep(0.001)
        except OSError:
            return


def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/junk':
        threading.Thread(target=_junk, daemon=True).start()
    elif path == '/hold':
        time.sleep(min(float(environ.get('QUERY_STRING') or 1), 30.0))
    elif path == '/restart':
        fcgiwsgi.request_restart()
    body = str(os.getpid()).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
