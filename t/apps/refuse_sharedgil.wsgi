# Imports t/ext/fw_sharedgil.c, which supports sub-interpreters but not a
# per-interpreter GIL: CPython 3.12+ refuses it where the app's group has
# its own GIL (t/own-gil.t), and loads it in a shared-GIL one.
import fw_sharedgil


def application(environ, start_response):
    body = ('%s %s' % (environ['fcgiwsgi.application_group'], fw_sharedgil.__name__)).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
