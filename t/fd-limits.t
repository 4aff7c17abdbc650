#!/usr/bin/env python3
# File descriptors (issue 15): a flood of connections that never send a
# byte must not take a worker to its fd limit and lock normal requests
# out: near the limit the oldest waiting connections are closed to make
# room. An app that leaks every fd it can get makes its worker ask for a
# replacement instead of failing accept() for ever; and none of it floods
# the log.
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

if not os.access('/usr/bin/prlimit', os.X_OK):
    skip_all('prlimit not installed')
LIMIT = 128
APP = app_path('fd_app.wsgi')
PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}

# 1. Idle connections, three times the worker's fd limit.
addr = sock_path('idle.sock')
r = spawn(['/usr/bin/prlimit', '--nofile=%d:%d' % (LIMIT, LIMIT), program('fcgiwsgi-responder'),
           '--listen', addr, '--threads', '2', '--backlog', '1024', APP])
wait_log(r, r'ready: \d+ request threads', timeout=30)
idle = []
for i in range(3 * LIMIT):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(addr)
    idle.append(s)
time.sleep(0.5)
t0 = time.monotonic()
results = []
for i in range(16):
    try:
        results.append(fcgi_request(addr, 'GET', '/', params=PARAMS, timeout=5).status)
    except (FcgiError, OSError) as e:
        results.append(repr(e))
took = time.monotonic() - t0
is_(results.count(200), 16, '%d idle connections on a worker limited to %d fds: 16 of 16 '
    'normal requests answered' % (len(idle), LIMIT), ) or diag(repr(results[:4]))
ok(took < 10, '... within %.1f s' % took)
out = r.output()
n_lines = len(re.findall(r'file descriptors', out))
ok(1 <= n_lines <= 5, 'the shortage is logged, and not once per connection (%d lines)' % n_lines)
ok(r.alive(), 'the responder is still running')
for s in idle:
    s.close()
r.stop()
check_log_clean(r)

# 2. An app that leaks every fd: its worker asks to be replaced, and the
# pool serves on from a new one.
sock = sock_path('leak.sock')
cfg = manager_config('''  leak:
    listen: %s
    processes: 1
    threads: 2
    allow_root: true
    rlimit_nofile: %d
    apps:
      - {mount: /, script: %s}
''' % (sock, LIMIT * 2 - 8, APP), name='leak.yaml')
m = spawn(['/usr/bin/prlimit', '--nofile=%d:%d' % (LIMIT * 2, LIMIT * 2), program('fcgiwsgi'),
           '-c', cfg])
wait_for(lambda: 'starting -> running' in m.output(), timeout=30, what='worker ready')
pid0 = fcgi_request(sock, 'GET', '/', params=PARAMS).body.split()[0].decode()
with open('/proc/%s/limits' % pid0) as f:
    soft = re.search(r'Max open files\s+(\d+)', f.read()).group(1)
is_(int(soft), LIMIT * 2 - 8, 'rlimit_nofile sets the worker\'s limit')
first = fcgi_request(sock, 'GET', '/leak', params=PARAMS).body.split()
ok(int(first[1]) > 0, 'the app leaked %s fds' % first[1].decode())
t0 = time.monotonic()
got = None
while time.monotonic() - t0 < 15:
    try:
        res = fcgi_request(sock, 'GET', '/', params=PARAMS, timeout=3)
        if res.status == 200 and res.body.split()[0] != first[0]:
            got = res
            break
    except (FcgiError, OSError):
        pass
    time.sleep(0.2)
ok(got is not None, 'a new worker serves within %.1f s' % (time.monotonic() - t0))
out = m.output()
like(out, r'out of file descriptors.*asking the master for a replacement|asking the master for a '
     'replacement', 'the worker asked to be replaced')
n_lines = len(re.findall(r'accept.*(Too many open files|file descriptors)', out))
ok(n_lines <= 5, 'the accept failures are not logged for each attempt (%d lines)' % n_lines)
m.signal(15)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(m)

# 3. The limits a pool with `user:` gets from a root manager whose own
# hard limit is lower: rlimit_nofile past it (raising a hard limit takes
# root, which the worker no longer is once it became `nobody`: it used to
# log "Operation not permitted" and keep 256), and the default, the hard
# limit, for a manager whose soft limit is lower.
if os.getuid() == 0:
    import pwd
    os.chmod(tmpdir(), 0o755)
    nob = pwd.getpwnam('nobody')
    cfg = manager_config('''  above:
    listen: %s
    processes: 1
    user: nobody
    rlimit_nofile: 512
    apps:
      - {mount: /, script: %s}
  default:
    listen: %s
    processes: 1
    user: nobody
    apps:
      - {mount: /, script: %s}
''' % (sock_path('above.sock'), APP, sock_path('default.sock'), APP), name='users.yaml')
    m = spawn(['/usr/bin/prlimit', '--nofile=64:256', program('fcgiwsgi'), '-c', cfg])
    wait_for(lambda: m.output().count('starting -> running') >= 2, timeout=30,
             what='both workers ready')
    with open('/proc/self/status') as f:
        caps = int(re.search(r'CapEff:\s+([0-9a-f]+)', f.read()).group(1), 16)
    for pool, want in (('above', 512), ('default', 256)):
        if pool == 'above' and not caps & (1 << 24):
            skip('root without CAP_SYS_RESOURCE (a container) cannot raise a hard limit')
            continue
        pid = fcgi_request(sock_path(pool + '.sock'), 'GET', '/',
                           params=PARAMS).body.split()[0].decode()
        with open('/proc/%s/limits' % pid) as f:
            lim = re.search(r'Max open files\s+(\d+)\s+(\d+)', f.read())
        with open('/proc/%s/status' % pid) as f:
            uid = re.search(r'Uid:\s+(\d+)', f.read()).group(1)
        is_((int(lim.group(1)), int(uid)), (want, nob.pw_uid),
            'a `nobody` pool %s: soft limit %d as nobody (hard %s)' % (pool, want, lim.group(2)))
    if caps & (1 << 24):
        unlike(m.output(), r'RLIMIT_NOFILE|rlimit_nofile', 'no warning about the fd limit')
    else:
        like(m.output(), r'raising RLIMIT_NOFILE to 512 \(hard limit 256\)',
             'without CAP_SYS_RESOURCE the worker says it could not raise the limit')
    m.signal(15)
    is_(m.wait(30), 0, 'the manager stops with 0')
    check_log_clean(m)
else:
    skip('needs root to run a pool as nobody', 5)
done_testing()
