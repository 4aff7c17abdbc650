#!/usr/bin/env python3
# The manager's dynamic and on-demand pools, privilege drop and
# allowed_clients: pools grow under load up to max and never past it, shrink
# to min after idle_timeout; an on-demand pool starts with no worker and
# answers the first request; workers run as the pool's user; a client not in
# allowed_clients is refused and logged.
import os
import pwd
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
prog = program('fcgiwsgi')
d = tmpdir()
APP = app_path('mgr_app.wsgi')


def get(addr, uri, timeout=30):
    return fcgi_request(addr, 'GET', uri, params=PARAMS, timeout=timeout)


def alive(m, pool):
    """Workers of `pool` spawned and not yet exited, from the manager's log."""
    out = m.output()
    spawned = set(re.findall(r'\[pool %s pid (\d+)\] spawned' % pool, out))
    exited = set(re.findall(r'\[pool %s pid (\d+)\] exited' % pool, out))
    return len(spawned - exited)


def max_alive(m, pool):
    """The most workers of `pool` alive at once, replaying the log in order."""
    n = top = 0
    for line in m.output().splitlines():
        if re.search(r'\[pool %s pid \d+\] spawned' % pool, line):
            n += 1
            top = max(top, n)
        elif re.search(r'\[pool %s pid \d+\] exited' % pool, line):
            n -= 1
    return top


dyn = sock_path('dyn.sock')
ond = sock_path('ond.sock')
port = free_port()
root = os.geteuid() == 0
user_lines = '    user: nobody\n' if root else '    allow_root: true\n'
cfg = manager_config('''  dyn:
    listen: %(dyn)s
    processes: {min: 1, max: 4, min_spare: 1, max_spare: 1, idle_timeout: 1s}
%(user)s    apps:
      - {mount: /, script: %(app)s}
  ond:
    listen: %(ond)s
    processes: {min: 0, max: 2, min_spare: 0, max_spare: 1, idle_timeout: 1s}
%(user)s    apps:
      - {mount: /, script: %(app)s}
  tcp:
    listen: 127.0.0.1:%(port)d
    allowed_clients: [127.0.0.1]
    processes: 1
%(user)s    apps:
      - {mount: /, script: %(app)s}
''' % {'dyn': dyn, 'ond': ond, 'port': port, 'app': APP, 'user': user_lines}, name='pools.yaml')

m = spawn([prog, '-c', cfg])
wait_for(lambda: 'starting -> running' in m.output() and alive(m, 'dyn') == 1, timeout=30,
         what='the dynamic pool at min')
ok(os.path.exists(ond), "the on-demand pool listens (checked without connecting: a connection would spawn)")
is_(alive(m, 'ond'), 0, 'an on-demand pool (min 0) starts with no worker')

# on demand: the first request is answered
res = get(ond, '/')
is_(res.status, 200, 'on demand: the first request is answered (a worker is spawned for it)')
like(m.output(), r'\[pool ond\] connection waiting and no worker: spawning on demand',
     'on demand: the spawn is logged')
wait_for(lambda: alive(m, 'ond') == 0, timeout=15, what='the on-demand pool back to 0')
ok(True, 'on demand: back to 0 workers after idle_timeout')
res = get(ond, '/')
is_(res.status, 200, 'on demand: answered again from 0 workers')

# dynamic: grows under load up to max, never past it
results = []
def slow():
    results.append(get(dyn, '/sleep/2').status)
threads = [threading.Thread(target=slow) for _ in range(8)]
for t in threads:
    t.start()
wait_for(lambda: alive(m, 'dyn') == 4, timeout=15, what='the dynamic pool grown to max')
ok(True, 'dynamic: grows to max (4) under 8 concurrent slow requests')
for t in threads:
    t.join(30)
is_(results, [200] * 8, 'dynamic: every request of the burst answered')
is_(max_alive(m, 'dyn'), 4, 'dynamic: never more than max workers')
wait_for(lambda: alive(m, 'dyn') == 1, timeout=20, what='the dynamic pool shrunk to min')
ok(True, 'dynamic: shrinks back to min after idle_timeout')
like(m.output(), r'idle above max_spare past idle_timeout', 'the shrink is logged with its reason')

# privilege drop
if root:
    res = get(dyn, '/')
    pid = int(res.body.split()[0])
    with open('/proc/%d/status' % pid) as f:
        uid_line = [l for l in f if l.startswith('Uid:')][0]
    is_(int(uid_line.split()[1]), pwd.getpwnam('nobody').pw_uid, 'workers run as the pool user (nobody)')
else:
    skip('not root: privilege drop not tested', 1)

# allowed_clients
res = get(('127.0.0.1', port), '/')
is_(res.status, 200, 'allowed_clients: 127.0.0.1 is served')
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(10)
s.bind(('127.0.0.2', 0))
s.connect(('127.0.0.1', port))
s.sendall(begin_request(1) + records(FCGI_PARAMS, 1, encode_params(cgi_params('GET', '/'))) +
          records(FCGI_STDIN, 1, b''))
try:
    data = s.recv(100)
except ConnectionResetError:
    data = b''
s.close()
is_(data, b'', 'allowed_clients: a client from 127.0.0.2 gets no answer (connection closed)')
wait_log(m, r'refused a connection from 127\.0\.0\.2:\d+: not in allowed_clients')
ok(True, 'allowed_clients: the refusal is logged')

m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(m)
done_testing()
