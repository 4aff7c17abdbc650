# Routes that take time, for the concurrency and graceful-stop tests:
#   /sleep?S    logs 'sleeping S' to wsgi.errors, sleeps S seconds
#               (default 1), then answers 'slept S'
#   /upload     reads wsgi.input to its end; answers JSON {len, sha1}
#   /hello      answers 'hello' at once
#   /echo?Q     answers 'echo Q'
import hashlib
import json
import time


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    query = environ.get('QUERY_STRING', '')
    text = [('Content-Type', 'text/plain')]
    if path == '/sleep':
        secs = float(query or '1')
        environ['wsgi.errors'].write('sleeping %s\n' % (query or '1'))
        environ['wsgi.errors'].flush()
        time.sleep(secs)
        start_response('200 OK', text)
        return [('slept %s' % (query or '1')).encode()]
    if path == '/upload':
        inp = environ['wsgi.input']
        h = hashlib.sha1()
        n = 0
        while True:
            block = inp.read(65536)
            if not block:
                break
            n += len(block)
            h.update(block)
        start_response('200 OK', [('Content-Type', 'application/json')])
        return [json.dumps({'len': n, 'sha1': h.hexdigest()}).encode()]
    if path == '/hello':
        start_response('200 OK', text)
        return [b'hello']
    if path == '/echo':
        start_response('200 OK', text)
        return [b'echo ' + query.encode('latin-1')]
    start_response('404 Not Found', text)
    return [b'no route ' + path.encode('latin-1', 'replace')]
