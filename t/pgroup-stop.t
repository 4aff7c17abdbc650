#!/usr/bin/env python3
# A stop sent to the whole process group (systemd's KillMode=control-group,
# Ctrl-C in a terminal, timeout(1)) reaches the master and every worker at
# once, and the master relays it too: a worker takes any number of
# TERM/INT/QUIT as one graceful stop, so every request in flight completes
# (issue 16). The manager exits non-zero when it had to kill a worker.
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

if not os.access('/usr/bin/setsid', os.X_OK):
    skip_all('setsid not installed')
PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}


def start(name, graceful):
    sock = sock_path(name + '.sock')
    cfg = manager_config('''  p:
    listen: %s
    processes: 2
    threads: 2
    graceful_timeout: %s
    allow_root: true
    apps:
      - {mount: /, script: %s}
''' % (sock, graceful, app_path('mgr_app.wsgi')), name=name + '.yaml')
    # setsid: the manager leads a process group of its own, as under systemd.
    m = spawn(['/usr/bin/setsid', program('fcgiwsgi'), '-c', cfg])
    wait_for(lambda: m.output().count('starting -> running') >= 2, timeout=30,
             what='workers ready')
    return m, sock


def in_flight(sock, uri, n):
    out = []

    def run():
        try:
            out.append(fcgi_request(sock, 'GET', uri, params=PARAMS, timeout=30).status)
        except (FcgiError, OSError) as e:
            out.append(repr(e))
    ts = [threading.Thread(target=run, daemon=True) for _ in range(n)]
    for t in ts:
        t.start()
    return ts, out


for sig in (signal.SIGTERM, signal.SIGINT):
    name = signal.Signals(sig).name
    m, sock = start(name.lower(), '30s')
    ts, out = in_flight(sock, '/sleep/2', 4)
    time.sleep(0.7)
    os.killpg(m.pid, sig)
    for t in ts:
        t.join(30)
    is_(out, [200] * 4, '%s to the process group: every request in flight completes' % name)
    is_(m.wait(30), 0, '... and the manager exits 0')
    check_log_clean(m)

m, sock = start('cut', '1s')
ts, out = in_flight(sock, '/sleep/20', 2)
time.sleep(0.7)
os.killpg(m.pid, signal.SIGTERM)
for t in ts:
    t.join(30)
rc = m.wait(30)
ok(rc not in (0, None), 'a stop that had to kill a worker past graceful_timeout exits non-zero '
   '(%s)' % rc)
like(m.output(), r'graceful_timeout', 'the log says why')
done_testing()
