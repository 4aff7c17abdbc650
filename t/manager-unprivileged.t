#!/usr/bin/env python3
# A manager that is not root runs a pool whose `user:` is its own user
# (issue 15): the worker skips the credential calls that are already
# satisfied (initgroups needs CAP_SETGID even to set the groups it has) and
# serves, instead of exiting 2 and leaving the pool down.
import os
import pwd
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

if os.geteuid() != 0:
    skip_all('needs root to become nobody')
PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
nobody = pwd.getpwnam('nobody')
os.chmod(tmpdir(), 0o755)
home = os.path.join(tmpdir(), 'nobody')
os.mkdir(home, 0o755)
os.chown(home, nobody.pw_uid, nobody.pw_gid)
sock = os.path.join(home, 'app.sock')
cfg = os.path.join(home, 'unpriv.yaml')
with open(cfg, 'w') as f:
    f.write('''log: stderr
log_level: info
control: %(home)s/ctl.sock
pools:
  own:
    listen: %(sock)s
    user: nobody
    processes: 1
    apps:
      - {mount: /, script: %(app)s}
''' % {'home': home, 'sock': sock, 'app': app_path('mgr_app.wsgi')})
os.chmod(cfg, 0o644)

m = spawn(['setpriv', '--reuid=nobody', '--regid=%d' % nobody.pw_gid, '--clear-groups', '--',
           program('fcgiwsgi'), '-c', cfg])
try:
    wait_log(m, r'\[pool own pid \d+\] starting -> running|exited', timeout=30)
except TimeoutError:
    pass
unlike(m.output(), r'initgroups|exit status 2', 'the worker does not fail on its credentials')
res = None
try:
    wait_socket(sock, timeout=10, proc=m)
    res = fcgi_request(sock, 'GET', '/', params=PARAMS, timeout=10)
except Exception as e:  # noqa: BLE001 - any failure is the finding
    diag('request failed: %r' % e)
ok(res is not None and res.status == 200, 'the pool serves', got=res and res.status)
pid = int(res.body.split()[0]) if res is not None and res.status == 200 else 0
if pid:
    with open('/proc/%d/status' % pid) as f:
        st = f.read()
    like(st, r'(?m)^Uid:\s+%d\s+%d\s+%d\s+%d$' % ((nobody.pw_uid,) * 4), 'the worker runs as nobody')
else:
    ok(False, 'the worker runs as nobody')
m.signal(15)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(m)
done_testing()
