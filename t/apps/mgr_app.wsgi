# The manager tests' app: tells which process answered, sleeps on demand,
# and writes to the raw stdout fd (as a C extension or subprocess would).
import os
import time


def application(environ, start_response):
    path = environ['PATH_INFO']
    if path.startswith('/sleep/'):
        time.sleep(float(path.split('/')[2]))
    if path == '/print':
        print('printed-by-the-app', environ.get('QUERY_STRING', ''))
    if path == '/request-restart':
        import fcgiwsgi
        fcgiwsgi.request_restart()
    if path == '/raw-output':
        for i in range(50):
            os.write(1, b'raw-line-%d-%s\n' % (i, b'z' * 1500))
    body = ('%d %s %s %s %s' % (os.getpid(), environ.get('wsgi.multiprocess'),
                                environ.get('wsgi.multithread'), environ.get('fcgiwsgi.pool'),
                                environ.get('fcgiwsgi.generation'))).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
