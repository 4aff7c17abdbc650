# t/app-log-levels.t: the app's ways of saying something.
import sys


def application(environ, start_response):
    q = environ['QUERY_STRING']
    if environ['PATH_INFO'] == '/raise':
        raise RuntimeError('app-exception-' + q)
    print('app-stdout-' + q)
    sys.stderr.write('app-stderr-%s\n' % q)
    sys.stderr.flush()
    environ['wsgi.errors'].write('app-wsgi-errors-%s\n' % q)
    environ['wsgi.errors'].flush()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
