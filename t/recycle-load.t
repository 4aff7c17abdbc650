#!/usr/bin/env python3
# Recycling under real concurrent load (issue 5): 8 clients send requests
# for ~10 s while the test runs `fcgiwsgi-ctl restart` three times and
# rewrites the script three times with a new version string. Not one
# request may fail, every answer is a 200, and each new version is served
# within 2 s of its write. Then several triggers during one recycle:
# they are not dropped, and they coalesce into one more recycle.
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

d = tmpdir()
script = os.path.join(d, 'app.wsgi')
APP = '''import os, time
VERSION = %r
time.sleep(%s)


def application(environ, start_response):
    body = ('%%s %%d %%s' %% (VERSION, os.getpid(), environ['fcgiwsgi.generation'])).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
'''


def write_version(v, import_s=0):
    # as a deploy tool does: a new file renamed over the old one
    tmp = script + '.new'
    with open(tmp, 'w') as f:
        f.write(APP % (v, import_s))
    os.rename(tmp, script)


write_version('v0')
sock = sock_path('load.sock')
log = os.path.join(d, 'manager.log')
cfg = manager_config('''  web:
    listen: %s
    processes: 2
    allow_root: true
    apps: [{mount: /, script: %s}]
''' % (sock, script), name='load.yaml', log=log)
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: os.path.exists(log) and open(log).read().count('starting -> running') >= 2,
         timeout=30, what='workers ready')

restarts = []


def restart():
    rc, out, err = ctl(cfg, 'restart', 'web')
    restarts.append((rc, out, err))


load = Load(sock, clients=8, max_seconds=40)
t0 = time.monotonic()
writes = []
for i in range(3):
    time.sleep(1.5)
    restart()
    time.sleep(1.5)
    v = 'v%d' % (i + 1)
    write_version(v)
    writes.append((v, time.monotonic()))
time.sleep(2.5)
load.stop()
elapsed = time.monotonic() - t0
res = load.results
failures = load.failures()
lat = load.latencies()
diag('%d requests in %.1f s, %d failed, p99 %.1f ms, max %.1f ms'
     % (len(res), elapsed, len(failures), 1000 * lat[int(len(lat) * 0.99)], 1000 * lat[-1]))
ok(len(res) >= 1000, 'at least 1000 requests over the run (%d)' % len(res))
is_(len(failures), 0, 'no request failed', )
if failures:
    diag('first failures: %r' % failures[:5])
is_({r[2] for r in res}, {200}, 'every answer is a 200')
is_([r[0] for r in restarts], [0, 0, 0], 'the three restarts succeeded')
for rc, out, err in restarts:
    like(out, r'pool web: generation \d+ ready: 2 workers replaced in \d+ ms', 'restart reported: ' + out.strip())
for v, t_write in writes:
    seen = load.first_seen(lambda body, v=v: body.startswith(v.encode() + b' '))
    ok(seen is not None and seen - t_write <= 2.0,
       '%s served within 2 s of its write (%s)' % (v, 'after %.2f s' % (seen - t_write) if seen else 'never'))
last = fcgi_request(sock, params={'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}).body.split()
is_(last[0], b'v3', 'the last version serves at the end')
is_(int(last[2]), 6, 'six recycles: three restarts, three changes (generation 6)')

# Triggers during a recycle: an import that takes 1 s keeps the recycle
# running while three more restarts and a file change arrive. They queue
# into exactly one more recycle, and every restart returns when the recycle
# covering it has ended.
write_version('slow', import_s=1)
wait_for(lambda: fcgi_request(sock, params={'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}).body.startswith(b'slow'),
         timeout=15, what='the slow version')
import json  # noqa: E402
wait_for(lambda: not json.loads(ctl(cfg, 'status', '--json')[1])['pools'][0]['recycling'],
         timeout=15, what='no recycle running')
gen0 = json.loads(ctl(cfg, 'status', '--json')[1])['pools'][0]['generation']
recycles_before = open(log).read().count('rolling restart to generation')
restarts.clear()
first = threading.Thread(target=restart)
first.start()
wait_for(lambda: 'rolling restart to generation %d' % (gen0 + 1) in open(log).read(), timeout=10,
         what='the first recycle to start')
more = [threading.Thread(target=restart) for _ in range(3)]
for t in more:
    t.start()
    time.sleep(0.05)
write_version('slow2', import_s=1)
for t in [first] + more:
    t.join(60)
is_([r[0] for r in restarts], [0, 0, 0, 0], 'all four restarts returned 0')
time.sleep(2)  # the watcher's debounce and any recycle it started
text = open(log).read()
is_(text.count('rolling restart to generation') - recycles_before, 2,
    'the triggers during a recycle made exactly one more recycle')
like(text, r'while recycling to generation %d: one more recycle follows' % (gen0 + 1),
     'the queued trigger is logged')
body = fcgi_request(sock, params={'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}).body.split()
is_((body[0], int(body[2])), (b'slow2', gen0 + 2),
    'the change made during the recycle is served: nothing was dropped')
ctl(cfg, 'shutdown')
is_(m.wait(30), 0, 'the manager exits 0')
check_log_clean(log)
done_testing()
