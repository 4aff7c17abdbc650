#!/usr/bin/env python3
# An abandoned recycle leaves a worker that asked to retire (max_requests;
# memory_limit takes the same path) retiring (issue 15, reload corners). The
# worker asks once; a recycle's abort that put it back to running made it
# serve past max_requests for ever, and a fixed pool of 1 was left with two
# workers once the retiring one's replacement got ready.
#
# The app imports in 1.5 s and fails to import while a marker file exists;
# it writes checked-PID once it is past that check, so the test knows when
# the replacement has started with a good import.
import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

d = tmpdir()
marker = os.path.join(d, 'broken')
script = os.path.join(d, 'app.wsgi')
with open(script, 'w') as f:
    f.write('''import os, time
if os.path.exists(%r):
    raise RuntimeError('broken on purpose')
open(os.path.join(%r, 'checked-%%d' %% os.getpid()), 'w').close()
time.sleep(1.5)


def application(environ, start_response):
    body = str(os.getpid()).encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
''' % (marker, d))
log = os.path.join(d, 'manager.log')
sock = sock_path('retire.sock')
cfg = manager_config('''  retire:
    listen: %s
    processes: 1
    max_requests: 3
    max_requests_jitter: 0
    graceful_timeout: 5s
    allow_root: true
    apps: [{mount: /, script: %s}]
''' % (sock, script), name='retire.yaml', log=log)
ctl_path = cfg + '.ctl'
m = spawn([program('fcgiwsgi'), '-c', cfg])
PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
wait_for(lambda: os.path.exists(log) and 'starting -> running' in open(log).read(), timeout=30,
         what='the first worker ready')


def workers():
    st = json.loads(ctl(ctl_path, 'status', '--json')[1])
    return [(w['pid'], w['state']) for w in st['pools'][0]['workers']]


def checked():
    return {int(n.split('-')[1]) for n in os.listdir(d) if n.startswith('checked-')}


first = int(fcgi_request(sock, params=PARAMS).body)
for _ in range(2):
    fcgi_request(sock, params=PARAMS)
wait_for(lambda: len(checked()) == 2, timeout=20, what='the replacement past its import check')
replacement = (checked() - {first}).pop()
is_(sorted(s for p, s in workers() if p == first), ['retiring'],
    'the worker past max_requests is retiring while its replacement imports')

# The recycle's new generation fails at once; the replacement (old
# generation, good import) is still importing.
open(marker, 'w').close()
m.signal(signal.SIGUSR2)
wait_for(lambda: re.search(r'recycle to generation \d+ failed', open(log).read()), timeout=20,
         what='the recycle abandoned')
os.unlink(marker)
wait_for(lambda: (replacement, 'idle') in workers() or (replacement, 'busy') in workers(),
         timeout=20, what='the replacement serving')
try:
    wait_for(lambda: len([1 for p, s in workers() if s != 'stopping']) == 1, timeout=10,
             what='one worker left')
except TimeoutError as e:
    diag(str(e))
live = [(p, s) for p, s in workers() if s != 'stopping']
is_(live, [(replacement, 'idle')], 'a fixed pool of 1 is back to one worker: the replacement')
pids = {int(fcgi_request(sock, params=PARAMS).body) for _ in range(10)}
ok(first not in pids, 'the worker past max_requests serves no more (answers from %s)' % sorted(pids))

ctl(cfg, 'shutdown')
is_(m.wait(30), 0, 'the manager exits 0')
check_log_clean(log)
done_testing()
