# The access log test's app: known bodies, a POST echo, its own 404, and
# an exception (the gateway's 500).
def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/post':
        body = environ['wsgi.input'].read()
        status = '200 OK'
    elif path == '/missing':
        body, status = b'nope', '404 Not Found'
    elif path == '/raise':
        raise RuntimeError('access-log-test')
    else:
        body, status = b'hello', '200 OK'
    start_response(status, [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
