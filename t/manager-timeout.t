#!/usr/bin/env python3
# request_timeout with a call that cannot be interrupted (time.sleep, in C
# without the GIL): RequestTimeout is raised in its thread but cannot land,
# so after the unwind grace the request gets a 504, the log has its Python
# stack (where was it stuck?), and the worker is replaced; the pool keeps
# serving. t/request-timeout.t has the other cases.
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
d = tmpdir()
sock = sock_path('slow.sock')
cfg = manager_config('''  slow:
    listen: %s
    processes: 1
    threads: 2
    request_timeout: 1s
    allow_root: true
    apps:
      - {mount: /, script: %s}
''' % (sock, app_path('mgr_app.wsgi')), name='timeout.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: 'starting -> running' in m.output(), timeout=30, what='worker ready')


def get(uri, timeout=30):
    return fcgi_request(sock, 'GET', uri, params=PARAMS, timeout=timeout)


first = get('/')
is_(first.status, 200, 'a normal request is served')
t0 = time.monotonic()
res = get('/sleep/30')
took = time.monotonic() - t0
is_(res.status, 504, 'a request past request_timeout gets 504')
ok(took < 1 + 5 + 2, 'the 504 comes after the timeout and the unwind grace (%.2f s, timeout 1 s, '
   'grace 5 s)' % took)
out = wait_log(m, r'GET /sleep/30: stuck for \d+ ms of app time; it did not unwind')
ok(out, 'the stuck request is logged')
like(m.output(), r'GET /sleep/30: the app has run for \d+ ms, past request_timeout',
     'the log names the request')
wait_log(m, r'stack \(GET /sleep/30\):.*time\.sleep', timeout=10)
like(m.output(), r'stack \(GET /sleep/30\):   File "[^"]*mgr_app\.wsgi", line \d+, in application',
     'the stuck thread\'s Python stack is logged, down to the app frame')
wait_for(lambda: m.output().count('starting -> running') >= 2, timeout=10, what='a replacement')
res = get('/')
is_(res.status, 200, 'the pool serves again after the timeout')
ok(res.body.split()[0] != first.body.split()[0], 'from a new worker')
unlike(m.output(), r'worker died', 'a timeout is not counted as a crash')
m.signal(signal.SIGTERM)
is_(m.wait(20), 0, 'stops with 0')
check_log_clean(m)
done_testing()
