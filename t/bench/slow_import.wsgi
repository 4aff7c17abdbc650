# A WSGI app whose import takes 1 s (a framework, models, a warm cache), for
# t/bench/recycle.sh: a reload is visible in every request's latency unless
# the server imports the new code before it stops the old.  The reload rewrites
# the VERSION line; each response is "VERSION pid\n".
import os
import time

VERSION = "v1"

time.sleep(1)  # the slow import


def application(environ, start_response):
    body = ('%s %d\n' % (VERSION, os.getpid())).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
