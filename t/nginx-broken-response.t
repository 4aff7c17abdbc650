#!/usr/bin/env python3
# A response that breaks after its headers went out must reach the HTTP
# client as broken, never as a whole response nor as a hang: an app that
# declares a Content-Length and sends less, and a streamed (chunked)
# response whose generator raises. Behind nginx with and without
# fastcgi_keep_conn. (nginx 1.22 without keep-conn takes a bare EOF before
# END_REQUEST for the end of a whole response: the client of the short body
# then waited for bytes that never came.)
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

r = start_responder(app_path('err_app.wsgi'), threads=2)
nginx = start_nginx('''
    upstream kept { server unix:%(sock)s; keepalive 4; }
    server {
        listen 127.0.0.1:@PORT@;
        location ~ ^/plain(/.*)$ {
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_param REQUEST_URI $1;
            fastcgi_param SERVER_PROTOCOL $server_protocol;
            fastcgi_pass unix:%(sock)s;
        }
        location ~ ^/kept(/.*)$ {
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_param REQUEST_URI $1;
            fastcgi_param SERVER_PROTOCOL $server_protocol;
            fastcgi_keep_conn on;
            fastcgi_pass kept;
        }
    }
''' % {'sock': r.addr})


def get(path, timeout=8):
    """One HTTP/1.1 keep-alive request, read until it is complete or the
    connection closes; returns (raw bytes, closed, seconds)."""
    s = socket.create_connection(('127.0.0.1', nginx.port), timeout=timeout)
    t0 = time.monotonic()
    s.sendall(b'GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n' % path.encode())
    data, closed = b'', False
    try:
        while verdict(data, False) == 'hang':
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            data += chunk
    except socket.timeout:
        pass
    s.close()
    return data, closed, time.monotonic() - t0


def verdict(data, closed):
    """How the client saw it: 'error' (a 5xx, or a 200 cut short and the
    connection closed, so the client knows), 'whole' (it looks complete),
    or 'hang' (still waiting when we gave up)."""
    head, _, body = data.partition(b'\r\n\r\n')
    m = re.match(rb'HTTP/1\.1 (\d+)', head)
    if data == b'' and closed:
        return 'error'
    if not m:
        return 'hang' if not closed else 'error'
    if m.group(1).startswith(b'5'):
        return 'error'
    length = re.search(rb'(?im)^content-length: *(\d+)', head)
    if length:
        complete = len(body) >= int(length.group(1))
    else:
        complete = body.endswith(b'\r\n0\r\n\r\n')
    if complete:
        return 'whole'
    return 'error' if closed else 'hang'


for where in ('plain', 'kept'):
    for route, what in (('/short-length', 'a body short of its Content-Length'),
                        ('/gen-fail', 'a stream whose generator raises')):
        data, closed, took = get('/%s%s' % (where, route))
        is_(verdict(data, closed), 'error', '%s: %s reaches the client as an error'
            % (where, what))
        ok(took < 5, '%s: %s: within 5 s (%.1f s)' % (where, what, took))
    data, closed, took = get('/%s/ok' % where, timeout=5)
    ok(data.startswith(b'HTTP/1.1 200'), '%s: a normal request afterwards' % where,
       got=data[:60])

time.sleep(0.2)
with open(nginx.error_log) as f:
    err = f.read()
like(err, r'upstream prematurely closed|upstream sent unsupported FastCGI protocol version',
     'nginx logs the broken responses as upstream errors')
nginx.stop()
r.stop()
check_log_clean(r)
done_testing()
