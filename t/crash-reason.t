#!/usr/bin/env python3
# A crash loop says why (issue 16): the back-off reason in the log, in
# `fcgiwsgi-ctl status` and in its JSON carries the last error line the
# dying worker logged, not only "worker died before it was ready". Two
# causes: an app that reports a missing module on stderr and exits at
# import, and a python_home that passed -t and broke afterwards (CPython
# then fails in its start-up, whose dump the master only sees as output).
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
prog = program('fcgiwsgi')
d = tmpdir()
vers = subprocess.run([prog, '--version'], capture_output=True, text=True, timeout=30).stdout
embedded = re.search(r'CPython (\d+\.\d+)', vers).group(1)
system = subprocess.run(['/usr/bin/python3', '-c',
                         'import sys, sysconfig; print("%d.%d" % sys.version_info[:2]); '
                         'print(sysconfig.get_path("stdlib"))'],
                        capture_output=True, text=True, timeout=30).stdout.split()
# A prefix of symbolic links to the system's standard library: a complete
# CPython as far as -t and CPython can tell, until its encodings go.
prefix = os.path.join(d, 'prefix')
home_pool = ''
if system and system[0] == embedded:
    lib = os.path.join(prefix, 'lib', 'python' + embedded)
    os.makedirs(lib)
    for name in os.listdir(system[1]):
        os.symlink(os.path.join(system[1], name), os.path.join(lib, name))
    home_pool = '''  home:
    listen: %s
    allow_root: true
    processes: 1
    python_home: %s
    apps:
      - {mount: /, script: %s}
''' % (sock_path('home.sock'), prefix, app_path('mgr_app.wsgi'))

cfg = manager_config('''  imports:
    listen: %s
    allow_root: true
    processes: 1
    apps:
      - {mount: /, script: %s}
%s''' % (sock_path('imports.sock'), app_path('crash_import.wsgi'), home_pool), name='reason.yaml')
p = subprocess.run([prog, '-t', '-c', cfg], capture_output=True, text=True, timeout=60)
is_(p.returncode, 0, '-t passes: nothing in the file says the app will die') or diag(p.stderr)
m = spawn([prog, '-c', cfg])
wait_log(m, r'\[pool imports\] worker died before it was ready \(2 in a row\)', timeout=30)
like(m.output(), r"\[pool imports\] worker died before it was ready \(2 in a row\): next spawn in "
     r"\d+ ms; its last error: .*ImportError: no module named nosuch",
     'the back-off log line carries the worker\'s last error line')
rc, out, err = ctl(cfg, 'status', 'imports')
like(out, r'back-off: \d+ failures? in a row, next spawn in [^:]+: worker died before it was '
     r'ready \(exit status 1\); its last error: .*ImportError: no module named nosuch\n',
     'status shows it in the back-off reason, on one line') or diag(out + err)
rc, out, err = ctl(cfg, 'status', 'imports', '--json')
reason = json.loads(out)['pools'][0]['backoff_reason']
like(reason, r'^worker died before it was ready \(exit status 1\); its last error: '
     r'.*ImportError: no module named nosuch$', 'and so does --json')

if home_pool:
    sock = sock_path('home.sock')
    wait_log(m, r'\[pool home pid \d+\] starting -> running', timeout=30)
    res = fcgi_request(sock, 'GET', '/', params=PARAMS)
    is_(res.status, 200, 'the pool with the python_home prefix serves')
    pid = int(res.body.split()[0])
    os.unlink(os.path.join(prefix, 'lib', 'python' + embedded, 'encodings'))
    mark = len(m.output())
    # It served: its death is no start-up crash, but its replacement's is.
    os.kill(pid, signal.SIGKILL)
    wait_log(m, r'\[pool home\] worker died before it was ready \(1 in a row\)', timeout=30,
             after=mark)
    rc, out, err = ctl(cfg, 'status', 'home', '--json')
    reason = json.loads(out)['pools'][0]['backoff_reason']
    like(reason, r'^worker died before it was ready \(exit status 3\); its last error: Python '
         r'failed to start \(python_home %s\): .*init_fs_encoding' % re.escape(prefix),
         'a python_home broken after -t: the reason is CPython\'s start-up error, with the home')
else:
    skip('/usr/bin/python3 is not the embedded CPython %s' % embedded, 3)

m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(m, patterns=('crit', 'AddressSanitizer', 'runtime error:'))
done_testing()
