#!/usr/bin/env python3
# Startup errors an operator can act on (issue 16): with `log:` set to a
# file, what stops a start still reaches stderr (a terminal, systemd's
# status), and a second manager on the same control socket says
# "already running (pid N)".
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

d = tmpdir()
log = os.path.join(d, 'manager.log')
sock = sock_path('s.sock')
POOL = '''  p:
    listen: %s
    allow_root: true
    apps:
      - {mount: /, script: %s}
''' % (sock, app_path('mgr_app.wsgi'))
cfg = manager_config(POOL, name='a.yaml', log=log)
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_log(log, r'starting -> running', timeout=30)

# The same config again: the control socket is the first pool.
p = subprocess.run([program('fcgiwsgi'), '-c', cfg], capture_output=True, text=True, timeout=30)
isnt(p.returncode, 0, 'a second manager on the same control socket exits non-zero')
like(p.stderr, r'already running \(pid %d\)' % m.pid, '... and says so on stderr, with the pid',)
like(open(log).read(), r'already running', '... and in the log')

# A pool whose port is taken: the error reaches stderr too.
busy = listen(('127.0.0.1', 0))
port = busy.getsockname()[1]
cfg2 = manager_config('''  q:
    listen: 127.0.0.1:%d
    allow_root: true
    apps:
      - {mount: /, script: %s}
''' % (port, app_path('mgr_app.wsgi')), name='b.yaml', log=os.path.join(d, 'b.log'))
p = subprocess.run([program('fcgiwsgi'), '-c', cfg2], capture_output=True, text=True, timeout=30)
isnt(p.returncode, 0, 'a manager whose pool cannot listen exits non-zero')
like(p.stderr, r'127\.0\.0\.1:%d' % port, '... and the error naming the address reaches stderr '
     'although log: is a file')
busy.close()
m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the first manager stops with 0')
done_testing()
