# Imports (through fwjwt) a module that refuses every interpreter but the
# main one as PyO3's do (t/ext/fw_pyo3like.c; t/subinterp-refusal.t).
import fwjwt


def application(environ, start_response):
    body = ('%s %s' % (environ['fcgiwsgi.application_group'], fwjwt.where)).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
