# wsgi.file_wrapper against the body rules (t/wsgi-corners.t). FW_FILE names
# a file of 5000 bytes.
#   /file/204, /file/304   that status, the file as the body
#   /file/ok               200, the file (its length added by the server)
#   /file/short            200 declaring Content-Length 8000, the file
#   /gen/short             the same with a generator of 5000 bytes
#   /wrap/nolen            a file-like whose read() returns an int
#   /wrap/nolen-py         the same iterated by the app (as middleware does):
#                          answers the exception's type and message
#   /wrap/bytesio          a file-like that is no real file (iterated)
import io
import os

FILE = os.environ['FW_FILE']


class NoLength:
    def read(self, n):
        return 42


def application(environ, start_response):
    path = environ['PATH_INFO']
    wrap = environ['wsgi.file_wrapper']
    if path in ('/file/204', '/file/304'):
        start_response(path[-3:] + (' No Content' if path.endswith('204') else ' Not Modified'),
                       [])
        return wrap(open(FILE, 'rb'))
    if path == '/file/ok':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return wrap(open(FILE, 'rb'))
    if path == '/file/short':
        start_response('200 OK', [('Content-Length', '8000')])
        return wrap(open(FILE, 'rb'))
    if path == '/gen/short':
        start_response('200 OK', [('Content-Length', '8000')])
        return iter([b'g' * 5000])
    if path == '/wrap/nolen':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return wrap(NoLength())
    if path == '/wrap/nolen-py':
        try:
            list(wrap(NoLength()))
            what = 'no exception'
        except Exception as e:
            what = '%s: %s' % (type(e).__name__, e)
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [what.encode()]
    if path == '/wrap/bytesio':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return wrap(io.BytesIO(b'b' * 100), 30)
    start_response('404 Not Found', [])
    return [b'no route']
