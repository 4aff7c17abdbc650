# t/fd-limits.t: an app that leaks file descriptors until it has none left.
import os

leaked = []


def application(environ, start_response):
    if environ['PATH_INFO'] == '/leak':
        try:
            while True:
                leaked.append(os.open('/dev/null', os.O_RDONLY))
        except OSError:
            pass
    body = b'%d %d' % (os.getpid(), len(leaked))
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
