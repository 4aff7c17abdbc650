# The quick start's example app: a page that shows what the server passed in.
import html
import os
import threading

hits = {'count': 0}
lock = threading.Lock()


def application(environ, start_response):
    with lock:
        hits['count'] += 1
        n = hits['count']
    rows = ''.join('<tr><td>%s</td><td>%s</td></tr>' % (html.escape(k), html.escape(str(v)))
                   for k, v in sorted(environ.items()))
    body = ('<!doctype html><title>fcgiwsgi</title>'
            '<h1>Hello from fcgiwsgi</h1>'
            '<p>Process %d has served %d requests.</p>'
            '<table>%s</table>' % (os.getpid(), n, rows)).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'text/html; charset=utf-8'),
                              ('Content-Length', str(len(body)))])
    return [body]
