#!/usr/bin/env python3
# systemd socket activation: sockets passed from fd 3 with LISTEN_PID,
# LISTEN_FDS and LISTEN_FDNAMES are adopted by pool name (or address),
# served, and left in place at exit (they are systemd's).
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
d = tmpdir()
by_name = sock_path('named.sock')
by_addr = sock_path('addr.sock')
cfg = manager_config('''  web:
    listen: %(n)s
    allow_root: true
    apps: [{mount: /, script: %(app)s}]
  other:
    listen: %(a)s
    allow_root: true
    apps: [{mount: /, script: %(app)s}]
''' % {'n': by_name, 'a': by_addr, 'app': app_path('mgr_app.wsgi')}, name='act.yaml')

socks = []
for path in (by_name, by_addr):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(64)
    socks.append(s)
# The shell puts them on fds 3 and 4 and sets LISTEN_PID to its own pid,
# which exec keeps, as systemd does for the service it starts.
script = ('exec 3<&%d 4<&%d; LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=web:unnamed-thing '
          'exec %s -c %s' % (socks[0].fileno(), socks[1].fileno(), program('fcgiwsgi'), cfg))
m = spawn(['/bin/sh', '-c', script], pass_fds=socks)
for s in socks:
    s.close()  # the manager holds them now
wait_for(lambda: m.output().count('starting -> running') >= 2, timeout=30, what='workers ready')
like(m.output(), r'\[pool web\] adopted inherited socket fd 3 \(by name\)', 'pool web adopted fd 3 by name')
like(m.output(), r'\[pool other\] adopted inherited socket fd 4 \(by address\)',
     'pool other adopted fd 4 by its address')
unlike(m.output(), r'in use', 'no attempt to create the sockets itself')
for path in (by_name, by_addr):
    res = fcgi_request(path, 'GET', '/', params=PARAMS)
    is_(res.status, 200, 'served through the inherited socket %s' % os.path.basename(path))
m.signal(signal.SIGTERM)
is_(m.wait(20), 0, 'stops with 0')
ok(os.path.exists(by_name) and os.path.exists(by_addr), "inherited socket files are left in place (systemd's)")
check_log_clean(m)
done_testing()
