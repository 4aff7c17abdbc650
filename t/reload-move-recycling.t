#!/usr/bin/env python3
# A reload that moves a pool to another address while a recycle runs
# (issue 15, reload corners): the move's recycle is queued behind the
# running one, whose workers were started on the old socket. The old socket
# must stay open (and its path in place) until a recycle started after the
# move has ended well: if the queued one fails, the generation that keeps
# serving is on the old socket. Before, the running recycle's end closed and
# unlinked it, so nothing served either address.
#
# The app imports in 2 s and fails to import while a marker file exists;
# it writes checked-PID once it is past that check.
import os
import re
import shutil
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
time.sleep(2)


def application(environ, start_response):
    body = str(os.getpid()).encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
''' % (marker, d))
log = os.path.join(d, 'manager.log')
S1, S2 = sock_path('one.sock'), sock_path('two.sock')
POOL = '''  mv:
    listen: %s
    processes: 1
    graceful_timeout: 5s
    allow_root: true
    apps: [{mount: /, script: %s}]
'''
cfg = manager_config(POOL % (S1, script), name='move.yaml', log=log)
ctl_path = cfg + '.ctl'
m = spawn([program('fcgiwsgi'), '-c', cfg])
PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}


def checked():
    return {int(n.split('-')[1]) for n in os.listdir(d) if n.startswith('checked-')}


def answers(addr):
    try:
        return fcgi_request(addr, params=PARAMS, timeout=5).status == 200
    except Exception as e:  # noqa: BLE001 - the outcome is the test
        diag('%s: %r' % (addr, e))
        return False


wait_for(lambda: os.path.exists(log) and 'starting -> running' in open(log).read(), timeout=30,
         what='the first worker ready')
load = Load(S1, clients=2, max_seconds=60)
m.signal(signal.SIGUSR2)
wait_for(lambda: len(checked()) == 2, timeout=20, what='the recycle\'s worker past its check')

with open(cfg) as f:
    text = f.read()
with open(cfg, 'w') as f:
    f.write(text.replace(S1, S2))
open(marker, 'w').close()
rc, out, err = ctl(ctl_path, 'reload')
is_(rc, 0, 'reload during the recycle: exit 0')
like(out, r'pool mv: changed, recycling', 'the move is a recycle (queued)')
wait_for(lambda: re.search(r'recycle to generation \d+ failed', open(log).read()), timeout=30,
         what='the queued recycle failed')
time.sleep(0.5)
ok(os.path.exists(S1), 'the old socket is still there after the move\'s recycle failed')
ok(answers(S1), 'and the generation that kept serving answers on it')
load.stop()
is_(len(load.failures()), 0, 'no request failed on the old socket (%d served)' % len(load.results))
if load.failures():
    diag(repr(load.failures()[:3]))

os.unlink(marker)
rc, out, err = ctl(ctl_path, 'restart', 'mv')
is_(rc, 0, 'restart once the app imports again: exit 0')
ok(answers(S2), 'the pool answers on its new socket')
try:
    wait_for(lambda: not os.path.exists(S1), timeout=10, what='the old socket removed')
except TimeoutError as e:
    diag(str(e))
ok(not os.path.exists(S1), 'the old socket is removed once a recycle to the new one ended well')

ctl(cfg, 'shutdown')
is_(m.wait(30), 0, 'the manager exits 0')
check_log_clean(log)
done_testing()
