#!/usr/bin/env python3
# A request whose params trickle in one byte every 0.5 s (issue 15: one
# byte every 5 s was still open after 70 s) is closed once client_timeout
# (2 s here) has passed since it began, not kept alive by each byte; the
# responder serves a normal request meanwhile and after.
import socket
import sys
import os
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
addr = sock_path('trickle.sock')
r = spawn([program('fcgiwsgi-responder'), '--listen', addr, '--threads', '1',
           '--client-timeout', '2s', app_path('mgr_app.wsgi')])
wait_log(r, r'ready: \d+ request threads', timeout=30)
data = begin_request(1) + records(4, 1, encode_params(cgi_params('GET', '/', b'', PARAMS).items()))
s = socket.socket(socket.AF_UNIX)
s.connect(addr)
t0, closed, sent, during = time.monotonic(), None, 0, None
while sent < len(data) and time.monotonic() - t0 < 10:
    try:
        s.send(data[sent:sent + 1])
        sent += 1
    except OSError as e:
        closed = repr(e)
        break
    time.sleep(0.5)
    if during is None and time.monotonic() - t0 > 1:
        during = fcgi_request(addr, 'GET', '/', params=PARAMS, timeout=5).status
    s.setblocking(False)
    try:
        if s.recv(1) == b'':
            closed = 'closed'
            break
    except BlockingIOError:
        pass
    s.setblocking(True)
took = time.monotonic() - t0
ok(closed and took < 2 + 1.5, 'a request trickling its params is closed at client_timeout '
   '(%s after %.1f s, %d of %d bytes sent)' % (closed, took, sent, len(data)))
is_(during, 200, 'the single request thread served another request meanwhile')
is_(fcgi_request(addr, 'GET', '/', params=PARAMS, timeout=5).status, 200, 'and after')
r.stop()
check_log_clean(r)
done_testing()
