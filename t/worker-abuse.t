#!/usr/bin/env python3
# An app abusing what its worker shares with the master (issue 15's
# "every byte a worker writes is untrusted", found in review):
# 1. bytes that are no message, written without pause on the worker's
#    channel (fd 3): the master logged a line per byte (2.1 million lines,
#    156 MB in 3 s); wanted: a first line, then a count at most once a
#    second, and the master answering throughout;
# 2. fcgiwsgi.request_restart() in a loop while each old worker sits in a
#    long request: every recycle leaves a stopping worker holding a slot,
#    so the pool could take the whole scoreboard and other pools could not
#    replace a worker; wanted: the pool stays within its share (4 per
#    configured process) and the other pool's killed worker is replaced.
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
log = os.path.join(tmpdir(), 'abuse.log')
cfg = manager_config('''  abuse:
    listen: %s
    processes: 1
    threads: 8
    graceful_timeout: 40s
    allow_root: true
    apps:
      - {mount: /, script: %s}
  other:
    listen: %s
    processes: 2
    allow_root: true
    apps:
      - {mount: /, script: %s}
''' % (sock_path('abuse.sock'), app_path('channel_abuse_app.wsgi'),
       sock_path('other.sock'), app_path('mgr_app.wsgi')), log=log)
mgr = spawn([program('fcgiwsgi'), '-c', cfg])


def status():
    rc, out, err = ctl(cfg, '-t', '2', 'status', '--json', timeout=5)
    return {p['name']: p for p in json.loads(out)['pools']} if rc == 0 else None


def serving(st, pool):
    """Workers that take requests (a retiring one still does)."""
    return [w for w in st[pool]['workers'] if w['state'] in ('idle', 'busy', 'retiring')]


wait_for(lambda: (lambda st: st and len(serving(st, 'abuse')) == 1
                  and len(serving(st, 'other')) == 2)(status()),
         timeout=30, what='both pools ready')
A = sock_path('abuse.sock')

# 1. Junk on the channel.
is_(fcgi_request(A, 'GET', '/junk', params=PARAMS, timeout=10).status, 200, 'junk: started')
worst, t_end = 0.0, time.monotonic() + 3.5
while time.monotonic() < t_end:
    t0 = time.monotonic()
    st = status()
    worst = max(worst, time.monotonic() - t0 if st else 99.0)
    time.sleep(0.2)
ok(worst < 1.5, 'junk: status answers throughout (slowest %.2f s)' % worst)
time.sleep(1.2)
text = open(log, errors='replace').read()
lines = [ln for ln in text.splitlines() if 'on its channel' in ln]
diag('junk: %d log lines about it, log %d bytes; first: %s'
     % (len(lines), len(text), lines[0] if lines else '-'))
ok(1 <= len(lines) <= 8, 'junk: a first line and then a count at most once a second (%d lines)'
   % len(lines))
counted = sum(int(m.group(1)) for m in
              (re.search(r' (\d+) bytes? on its channel', ln) for ln in lines) if m)
ok(counted >= 4096, 'junk: the lines count the bytes (%d)' % counted)
ok(len(text) < (1 << 20), 'junk: the log stays small (%d bytes)' % len(text))
is_(fcgi_request(A, 'GET', '/', params=PARAMS, timeout=10).status, 200, 'junk: the pool serves')

# 2. Restarts in a loop, each old worker in a 20 s request.
holds = []


def hold():
    try:
        holds.append(fcgi_request(A, 'GET', '/hold?20', params=PARAMS, timeout=60).status)
    except Exception as e:  # noqa: BLE001
        holds.append(repr(e))


most = 0
for i in range(7):
    st = status()
    before = {w['pid'] for w in serving(st, 'abuse')}
    busy = sum(w['busy'] for w in serving(st, 'abuse'))
    t = threading.Thread(target=hold, daemon=True)
    t.start()
    wait_for(lambda: sum(w['busy'] for w in serving(status(), 'abuse')) > busy,
             timeout=10, what='a held request (%d)' % i)
    fcgi_request(A, 'GET', '/restart', params=PARAMS, timeout=10)
    wait_for(lambda: (lambda s: {w['pid'] for w in serving(s, 'abuse')} - before
                      or 'its share of the scoreboard' in open(log, errors='replace').read())(
                          status()), timeout=20, what='the recycle %d' % i)
    most = max(most, len(status()['abuse']['workers']))
st = status()
n = len(st['abuse']['workers'])
diag('share: the abuse pool has %d workers (most seen %d) after 7 restarts' % (n, most))
ok(most <= 4, 'share: the pool never holds more than its 4 slots (%d)' % most)
like(open(log, errors='replace').read(), r'\[pool abuse\] 4 workers, its share of the scoreboard',
     'share: the refusal is logged')
victim = serving(st, 'other')[0]['pid']
os.kill(victim, signal.SIGKILL)
wait_for(lambda: (lambda s: len(serving(s, 'other')) == 2
                  and victim not in [w['pid'] for w in s['other']['workers']])(status()),
         timeout=15, what="the other pool's worker replaced")
ok(True, "share: the other pool's killed worker is replaced")
is_(fcgi_request(sock_path('other.sock'), 'GET', '/', params=PARAMS, timeout=10).status, 200,
    'share: the other pool serves')
wait_for(lambda: len(holds) == 7, timeout=60, what='the held requests')
is_(holds, [200] * 7, 'share: every held request completed')
ctl(cfg, 'shutdown')
is_(mgr.wait(60), 0, 'the manager exits 0')
check_log_clean(log)
done_testing()
