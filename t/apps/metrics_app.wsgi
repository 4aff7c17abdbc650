# t/metrics.t and t/status-http.t: answers the status its path names
# (/code/404), sleeps on demand (/sleep/0.2), else 200.
import time


def application(environ, start_response):
    path = environ['PATH_INFO']
    status = '200 OK'
    if path.startswith('/code/'):
        code = int(path.split('/')[2])
        status = '%d Status %d' % (code, code)
    elif path.startswith('/sleep/'):
        time.sleep(float(path.split('/')[2]))
    body = b'' if status[0] in '13' or status.startswith('204') else b'metrics app\n'
    start_response(status, [('Content-Type', 'text/plain'),
                            ('Content-Length', str(len(body)))])
    return [body]
