#!/usr/bin/env python3
# A worker of a pool with `user:` must not outlive its master by more than
# graceful_timeout (issues 14 and 15). The master is SIGKILLed while a
# request is in flight on one of two `nobody` workers: the request
# completes, and both workers exit within graceful_timeout. Two things tell
# a worker: PR_SET_PDEATHSIG (set after the credentials change, which
# clears it) and the end of its channel to the master; this passes with
# either one alone (seen with the prctl moved before the change), and
# fails with neither.
import os
import pwd
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

if os.geteuid() != 0:
    skip_all('needs root to run a pool as nobody')
PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
nobody = pwd.getpwnam('nobody')
os.chmod(tmpdir(), 0o755)
sock = sock_path('orphan.sock')
cfg = manager_config('''  orphan:
    listen: %s
    user: nobody
    processes: 2
    graceful_timeout: 3s
    apps:
      - {mount: /, script: %s}
''' % (sock, app_path('channel_abuse_app.wsgi')))
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: len(re.findall(r'\[pool orphan pid \d+\] starting -> running', m.output())) >= 2,
         timeout=30, what='two workers ready')
pids = [int(p) for p in re.findall(r'\[pool orphan pid (\d+)\] starting -> running', m.output())]
for pid in pids:
    with open('/proc/%d/status' % pid) as f:
        is_(int(re.search(r'Uid:\s+(\d+)', f.read()).group(1)), nobody.pw_uid,
            'worker %d runs as nobody' % pid)
res = []
t = threading.Thread(target=lambda: res.append(
    fcgi_request(sock, 'GET', '/hold?1.5', params=PARAMS, timeout=20)), daemon=True)
t.start()
time.sleep(0.5)
os.kill(m.pid, signal.SIGKILL)
m.wait(10)
t0 = time.monotonic()


def gone():
    for pid in pids:
        try:
            with open('/proc/%d/stat' % pid) as f:
                if f.read().split()[2] != 'Z':
                    return False
        except FileNotFoundError:
            pass
    return True


wait_for(gone, timeout=20, what='the orphaned workers to exit')
took = time.monotonic() - t0
ok(took < 3 + 2, 'both workers exit within graceful_timeout of the master dying (%.1f s)' % took)
t.join(20)
is_([r.status for r in res], [200], 'the request in flight completed')
done_testing()
