#!/usr/bin/env python3
# Crash back-off is for start-up crashes only (issue 15): a worker killed
# while it serves a request is replaced at once, however often it happens,
# so an attacker with one killing request a second cannot hold a quiet pool
# down for minutes; and a pool with no worker at all retries within a few
# seconds, and says so in the log and in status.
import json
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
KILLS = 10

sock = sock_path('victim.sock')
crash_sock = sock_path('crash.sock')
cfg = manager_config('''
  victim:
    listen: %s
    processes: 1
    threads: 4
    allow_root: true
    apps:
      - mount: /
        script: %s
  crashy:
    listen: %s
    processes: 1
    allow_root: true
    apps:
      - mount: /
        script: %s
''' % (sock, app_path('mgr_app.wsgi'), crash_sock, app_path('mgr_crash.wsgi')), name='backoff.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_log(m, r'\[pool victim pid \d+\] starting -> running', timeout=30)


def pool_status(name):
    rc, out, err = ctl(cfg, 'status', name, '--json')
    return json.loads(out)['pools'][0] if rc == 0 else None


def busy_worker(name):
    st = pool_status(name)
    for w in (st or {}).get('workers', []):
        if w['busy'] > 0:
            return w['pid']
    return None


def slow_request():
    try:
        fcgi_request(sock, 'GET', '/sleep/3', params=PARAMS, timeout=60)
    except Exception:  # noqa: BLE001 - the kill cuts it: that is the point
        pass


# The attack: once a second, a request that its worker dies in (a kill -9
# while the request runs stands for a packet that crashes the worker). Each
# worker killed is a fresh one, killed in its first request: to the old
# policy a young death without a request served, so a start-up crash.
kills = 0
t_last = time.monotonic()
for i in range(KILLS):
    tick = time.monotonic()
    threading.Thread(target=slow_request, daemon=True).start()
    deadline = tick + 0.9
    pid = None
    while time.monotonic() < deadline and not pid:
        pid = busy_worker('victim')
        if not pid:
            time.sleep(0.02)
    if pid:
        os.kill(pid, signal.SIGKILL)
        kills += 1
        t_last = time.monotonic()
    time.sleep(max(0.0, tick + 1.0 - time.monotonic()))
diag('%d of %d attack ticks found a worker serving and killed it' % (kills, KILLS))
ok(kills >= KILLS - 1, 'a worker was there to serve (and be killed) at nearly every tick (%d of %d)'
   % (kills, KILLS))

t0 = time.monotonic()
res = fcgi_request(sock, 'GET', '/', params=PARAMS, timeout=180)
after_attack = time.monotonic() - t0
since_kill = time.monotonic() - t_last
diag('first answer %.2f s after the attack stopped, %.2f s after the last kill'
     % (after_attack, since_kill))
is_(res.status, 200, 'the pool answers after the attack')
ok(since_kill < 3.0, 'within a couple of seconds of the last kill (%.2f s < 3 s)' % since_kill)
out = m.output()
unlike(out, r'\[pool victim\] worker died', 'no kill in mid-request counted as a start-up crash')
like(out, r'\[pool victim\] pid \d+ died with 1 request in flight: not a start-up crash',
     'the log says why there is no back-off')
st = pool_status('victim')
is_(st['crashes'], 0, 'status: no back-off for the victim')

# A real start-up crash loop (the app dies at import) with no worker at all:
# the delay doubles 0, 1, 2, 4 s and then stays at 5 s, not 60 s.
wait_log(m, r'\[pool crashy\] worker died before it was ready \(5 in a row\)', timeout=40)
out = m.output()
like(out, r'\[pool crashy\] worker died before it was ready \(3 in a row\): next spawn in 2000 ms\n',
     'the back-off still doubles')
like(out, r'\[pool crashy\] worker died before it was ready \(5 in a row\): next spawn in 5000 ms '
     r'\(no worker serves: at most 5 s instead of 8 s\)', 'with no worker left it waits at most 5 s, and says so')
rc, text, err = ctl(cfg, 'status', 'crashy')
like(text, r'back-off: \d+ failures in a row, next spawn in [\d.]+s \(no worker serves: at most 5s\)',
     'status says so too')
st = pool_status('crashy')
ok(st['crashes'] >= 5 and st['backoff_capped'] is True and st['backoff_ms'] <= 5000,
   'status --json: backoff_capped, and the wait within 5 s (%r)'
   % {k: st[k] for k in ('crashes', 'backoff_ms', 'backoff_capped') if k in st})
n = st['crashes']
wait_log(m, r'\[pool crashy\] worker died before it was ready \(%d in a row\)' % (n + 1), timeout=10)
ok(True, 'and it does retry within that (crash %d followed)' % (n + 1))

m.stop()
check_log_clean(m, patterns=('crit', 'AddressSanitizer', 'runtime error:', 'Fatal Python error'))
done_testing()
