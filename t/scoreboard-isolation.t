#!/usr/bin/env python3
# Pools cannot touch each other through the scoreboard (issue 15): an app
# in a pool running as nobody sees only its own worker's slot, and filling
# every shared mapping it can see with 0x41 changes nothing for the other
# pool: none of its workers is killed, and it can still be restarted (the
# master never takes a slot's contents for whether it is free).
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

if os.geteuid() != 0:
    skip_all('needs root to run a pool as nobody')
PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
victim = sock_path('victim.sock')
attacker = sock_path('attacker.sock')
os.chmod(tmpdir(), 0o755)
cfg = manager_config('''  victim:
    listen: %(v)s
    processes: 3
    threads: 2
    request_timeout: 5s
    allow_root: true
    apps:
      - {mount: /, script: %(mgr)s}
  attacker:
    listen: %(a)s
    listen_mode: "0666"
    user: nobody
    processes: 1
    apps:
      - {mount: /, script: %(atk)s}
''' % {'v': victim, 'a': attacker, 'mgr': app_path('mgr_app.wsgi'),
       'atk': app_path('sb_attack.wsgi')}, name='sb.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: m.output().count('starting -> running') >= 4, timeout=30, what='workers ready')


def victim_pids():
    return sorted(int(x) for x in re.findall(r'\[pool victim pid (\d+)\] starting -> running',
                                              m.output()))


before = victim_pids()
scan = fcgi_request(attacker, 'GET', '/scan', params=PARAMS).body.decode().split()
seen = int(scan[1])
ok(seen <= 4096, 'the attacker sees at most one page of shared writable memory (its own '
   'slot): %d bytes (%s)' % (seen, scan[2] if len(scan) > 2 else '-'))
ok(int(scan[3]) <= 4096 and int(scan[4]) <= 1, 'nor can it read more: %s bytes of shared '
   'mappings of any mode (%s), %s slot fd' % (scan[3], scan[5], scan[4]))
mark = len(m.output())
res = fcgi_request(attacker, 'GET', '/old', params=PARAMS)
ok(res.status == 200, 'the attack on oldest_start_ms ran', got=res)
time.sleep(6)
out = m.output()[mark:]
unlike(out, r'\[pool victim pid \d+\].*killing it', 'no victim worker is killed in 6 s')
is_(victim_pids(), before, 'the victim pool runs the same workers')
try:
    fcgi_request(attacker, 'GET', '/fill', params=PARAMS, timeout=10)
except (FcgiError, OSError):
    pass
ok(True, 'the attack filling the mappings with 0x41 ran')
time.sleep(2)
for i in range(6):
    r = fcgi_request(victim, 'GET', '/', params=PARAMS)
    if r.status != 200:
        break
is_(r.status, 200, 'the victim pool serves')
rc, so, se = ctl(cfg, 'restart', 'victim', timeout=60)
is_(rc, 0, 'a restart of the victim pool succeeds (no "scoreboard full")', ) or diag(so + se)
unlike(m.output(), r'scoreboard full', 'no spawn failed for a full scoreboard')
wait_for(lambda: fcgi_request(attacker, 'GET', '/scan', params=PARAMS).status == 200,
         timeout=20, what='the attacker pool serving again')
ok(True, 'the attacker pool serves again (its own worker may have been replaced)')
m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(m)
done_testing()
