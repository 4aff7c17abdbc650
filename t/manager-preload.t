#!/usr/bin/env python3
# Preload with retry under the manager (issue 5): at boot the import fails
# (a flag file says "database down"); there is no older generation to keep,
# so the workers serve anyway: 500s with a log line, and the import is
# retried on later requests at most once a second. Removing the flag heals
# the pool within ~2 s with no command run. During a recycle the same
# failure instead keeps the old generation (t/ctl.t, t/manager-recycle.t).
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
d = tmpdir()
flag = os.path.join(d, 'database-down')
open(flag, 'w').close()
script = os.path.join(d, 'app.wsgi')
with open(script, 'w') as f:
    f.write('''import os
if os.path.exists(%r):
    raise RuntimeError('database down')


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'up']
''' % flag)
sock = sock_path('preload.sock')
log = os.path.join(d, 'manager.log')
cfg = manager_config('''  web:
    listen: %s
    processes: 2
    threads: 2
    preload: true
    allow_root: true
    apps: [{mount: /, script: %s}]
''' % (sock, script), name='preload.yaml', log=log)
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: os.path.exists(log) and open(log).read().count('starting -> running') >= 2,
         timeout=30, what='workers serving')
text = open(log).read()
like(text, r'serving although an app failed to import: it answers 500 and retries the import',
     'the workers serve although the import failed at boot')
like(text, r'RuntimeError: database down', 'the traceback is logged')
codes = [fcgi_request(sock, params=PARAMS).status for _ in range(10)]
is_(codes, [500] * 10, 'while the import fails: 500s')
time.sleep(1.2)
os.unlink(flag)
t0 = time.monotonic()
healed = None
statuses = []
for _ in range(100):  # bounded: ~ 10 s
    statuses.append(fcgi_request(sock, params=PARAMS).status)
    if statuses[-4:] == [200] * 4:
        healed = time.monotonic() - t0
        break
    time.sleep(0.05)
ok(healed is not None and healed <= 2.5,
   'removing the flag heals the pool within ~2 s, with no command (%s)'
   % ('%.2f s' % healed if healed is not None else 'never'))
ok(set(statuses) <= {200, 500}, 'nothing but 500s and 200s meanwhile', got=statuses)
like(open(log).read(), r'loaded after \d+ failed attempts', 'the recovery is logged')
attempts = open(log).read().count('RuntimeError: database down')
ok(attempts <= 4 * 6, 'retries are rate-limited (%d failed imports logged over ~3 s, 2 processes x 2 threads)' % attempts)
# A healed worker tells the master, which counts it as one with a good
# import again: a replacement that cannot import (the database down once
# more) is then stopped instead of answering 500s beside it.
for _ in range(20):
    fcgi_request(sock, params=PARAMS)
import re  # noqa: E402
import signal  # noqa: E402
healed_pids = {int(p) for p in re.findall(r'\[pool web pid (\d+)\] every app is imported now',
                                           open(log).read())}
ok(healed_pids, 'a worker whose retry succeeded says so (%s)' % sorted(healed_pids))
live = {int(p) for p in re.findall(r'\[pool web pid (\d+)\] spawned', open(log).read())}
victim = sorted(live - healed_pids or live - {min(healed_pids or {0})})[0]
open(flag, 'w').close()
os.kill(victim, signal.SIGKILL)
wait_log(log, r"a new worker's app failed to import; the workers that have it loaded keep "
         r"serving", timeout=15)
ok(True, 'its replacement, failing the import, is stopped while the healed worker serves')
codes = [fcgi_request(sock, params=PARAMS).status for _ in range(10)]
is_(codes, [200] * 10, 'the healed worker answers meanwhile')
os.unlink(flag)
ctl(cfg, 'shutdown')
is_(m.wait(30), 0, 'the manager exits 0')
check_log_clean(log)
done_testing()
