# t/bench rows 8: GET answers 1 MiB; POST echoes its body (read in full).
BIG = b'x' * (1 << 20)


def application(environ, start_response):
    if environ['REQUEST_METHOD'] == 'POST':
        body = environ['wsgi.input'].read()
    else:
        body = BIG
    start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                              ('Content-Length', str(len(body)))])
    return [body]
