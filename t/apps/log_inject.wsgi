# Passes what a peer sent on to every place that logs (t/log-injection.t):
#   /raise   an exception whose message holds the request URI
#   /errors  wsgi.errors gets the X-Evil header
#   /print   stdout gets it (the manager captures worker output)
import sys


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    evil = environ.get('HTTP_X_EVIL', '')
    if path == '/raise':
        raise ValueError('the peer sent ' + environ.get('REQUEST_URI', ''))
    if path == '/errors':
        environ['wsgi.errors'].write('the peer sent %s\n' % evil)
    elif path == '/print':
        print('the peer sent %s' % evil, flush=True)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
