#!/usr/bin/env python3
# Two apps of one worker, each in its own sub-interpreter (the default
# group is the mount): while one runs a CPU-bound call, a request to the
# other is answered at once. On CPython 3.11 and 3.12 a thread waiting for
# the GIL asked only its own interpreter's threads to give it up, so the
# second app's request waited for the first app's call to end (2.7 s of a
# 3 s loop; 10 ms on 3.13). pyhost/gilkick.h says how it is asked now.
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
sock = sock_path('gil.sock')
cfg = manager_config('''  gil:
    listen: %s
    processes: 1
    threads: 4
    allow_root: true
    apps:
      - {mount: /a, script: %s}
      - {mount: /b, script: %s}
      - {mount: /g, script: %s, application_group: "%%{GLOBAL}"}
''' % (sock, app_path('spin_app.wsgi'), app_path('spin_app.wsgi'), app_path('spin_app.wsgi')))
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: 'starting -> running' in m.output(), timeout=30, what='worker ready')
for p in ('/a/x', '/b/x', '/g/x'):
    is_(fcgi_request(sock, 'GET', p, params=PARAMS, timeout=10).status, 200, '%s answers' % p)
SPIN = 4.0
for spinner, other in (('/a', '/b/x'), ('/a', '/g/x'), ('/g', '/a/x'), ('/a', '/a/x')):
    done = []
    t = threading.Thread(target=lambda: done.append(fcgi_request(
        sock, 'GET', '%s/spin/%g' % (spinner, SPIN), params=PARAMS, timeout=30).status))
    t0 = time.monotonic()
    t.start()
    time.sleep(0.5)
    worst = 0.0
    for _ in range(5):
        t1 = time.monotonic()
        st = fcgi_request(sock, 'GET', other, params=PARAMS, timeout=30).status
        worst = max(worst, time.monotonic() - t1)
        if st != 200 or time.monotonic() - t0 > SPIN - 0.5:
            break
    t.join(30)
    ok(worst < 1.0, 'while %s spins for %g s, %s answers (slowest of 5: %.3f s)'
       % (spinner, SPIN, other, worst))
    is_(done, [200], '... and the spinning call completes')
m.signal(15)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(m)
done_testing()
