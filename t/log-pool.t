#!/usr/bin/env python3
# A pool's own `log:` (issue 16): its workers' lines (an app's print() and
# tracebacks, their captured stdout) and the master's lines about it go to
# that file, created 0640 with the pool's group, and not to the main log;
# a pool without one logs to the main log. reopen-logs after a rename makes
# both files anew, and every worker switches. -t checks its directory.
import grp
import os
import signal
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
d = tmpdir()
main_log = os.path.join(d, 'main.log')
own_log = os.path.join(d, 'own', 'own.log')
os.mkdir(os.path.dirname(own_log))
own_sock, other_sock = sock_path('own.sock'), sock_path('other.sock')
group = 'nogroup' if os.geteuid() == 0 else None
POOLS = '''  own:
    listen: %s
    processes: 2
    allow_root: true
%s    log: own/own.log
    apps:
      - {mount: /e, script: %s}
      - {mount: /, script: %s}
  other:
    listen: %s
    processes: 1
    allow_root: true
    apps:
      - {mount: /e, script: %s}
      - {mount: /, script: %s}
''' % (own_sock, '    group: %s\n' % group if group else '', app_path('err_app.wsgi'),
       app_path('mgr_app.wsgi'), other_sock, app_path('err_app.wsgi'), app_path('mgr_app.wsgi'))
cfg = manager_config(POOLS, name='pl.yaml', log=main_log)
m = spawn([program('fcgiwsgi'), '-c', cfg])


def text(path):
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read()
    except FileNotFoundError:
        return ''


wait_for(lambda: text(own_log).count('starting -> running') >= 2 and
         text(main_log).count('starting -> running') >= 1, timeout=30, what='both pools ready')
st = os.stat(own_log)
is_(stat.S_IMODE(st.st_mode), 0o640,
    "the pool's log is created 0640")
if group:
    is_(st.st_gid, grp.getgrnam(group).gr_gid, "... with the pool's group")
else:
    skip('not root: no group to give the file', 1)

for sock, tag in ((own_sock, 'own'), (other_sock, 'other')):
    is_(fcgi_request(sock, 'GET', '/print?%s-print' % tag, params=PARAMS).status, 200,
        '%s: print()' % tag)
    is_(fcgi_request(sock, 'GET', '/e/raise', params=PARAMS).status, 500, '%s: an app error' % tag)
    is_(fcgi_request(sock, 'GET', '/raw-output', params=PARAMS).status, 200,
        '%s: output on the raw stdout fd' % tag)
wait_log(own_log, r'printed-by-the-app own-print', timeout=10)
wait_log(main_log, r'printed-by-the-app other-print', timeout=10)
wait_log(own_log, r'raw-line-49', timeout=10)
wait_log(main_log, r'raw-line-49', timeout=10)
wait_log(own_log, r'RuntimeError: raised-before-start', timeout=10)
wait_log(main_log, r'RuntimeError: raised-before-start', timeout=10)
own, main = text(own_log), text(main_log)
like(own, r'\[pool own pid \d+\] app \S+err_app.wsgi: Traceback', "own: the traceback in its log")
like(own, r'\[pool own pid \d+\] output: raw-line-0', "own: its captured stdout in its log")
like(own, r'notice \[pool own\] listening on ', "own: the master's lines about it in its log")
like(own, r'\[pool own pid \d+\] spawned \(generation 0\)', '... "spawned" too')
unlike(main, r'\[pool own[ \]]', 'the main log has no line of pool own')
ok('own-print' not in main and 'other-print' not in own, "each app's print() in one log only")
like(main, r'\[pool other pid \d+\] app \S+err_app.wsgi: Traceback',
     'other: its traceback in the main log')
like(main, r'fcgiwsgi \S+ started: 2 pools', "the master's own lines in the main log")
unlike(own, r'\[pool other[ \]]', "pool own's log has no line of pool other")

# logrotate: both files renamed, then reopen-logs.
os.rename(own_log, own_log + '.1')
os.rename(main_log, main_log + '.1')
rc, out, err = ctl(cfg, 'reopen-logs')
is_(rc, 0, 'reopen-logs') or diag(out + err)
ok(os.path.exists(own_log) and os.path.exists(main_log), 'both files made anew')
wait_for(lambda: text(own_log).count('] log reopened') >= 2, timeout=10,
         what="pool own's workers switching")
wait_for(lambda: text(main_log).count('] log reopened') >= 1, timeout=10,
         what="pool other's worker switching")
for sock, tag in ((own_sock, 'own'), (other_sock, 'other')):
    for i in range(4):
        is_(fcgi_request(sock, 'GET', '/print?%s-after%d' % (tag, i), params=PARAMS).status, 200,
            '%s: served after the rotation (%d)' % (tag, i))
wait_log(own_log, r'own-after3', timeout=10)
wait_log(main_log, r'other-after3', timeout=10)
ok('-after' not in text(own_log + '.1') and '-after' not in text(main_log + '.1'),
   'no line goes to a rotated file')
is_(text(own_log).count('] log reopened'), 2, "each of pool own's 2 workers in its new file")
ok('own-after' not in text(main_log), "... and pool own's lines still not in the main log")
st = os.stat(own_log)
is_(stat.S_IMODE(st.st_mode), 0o640, 'the new file is 0640 too')
if group:
    is_(st.st_gid, grp.getgrnam(group).gr_gid, "... with the pool's group")
else:
    skip('not root', 1)
m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(main_log)
check_log_clean(own_log)

# -t checks the directory of a pool's log, with its position.
bad = manager_config('''  p:
    listen: %s
    allow_root: true
    log: nowhere/deeper/p.log
    apps:
      - {mount: /, script: %s}
''' % (sock_path('p.sock'), app_path('mgr_app.wsgi')), name='bad.yaml')
p = subprocess.run([program('fcgiwsgi'), '-t', '-c', bad], capture_output=True, text=True)
is_(p.returncode, 1, '-t: a pool log in a missing directory fails the check')
like(p.stderr, r'bad\.yaml:8:10: error: .log. \S+/nowhere/deeper/p\.log: its directory '
     r'\S+nowhere/deeper: No such file', '... naming file:line:column and the directory')
# One level is what the manager creates, as for sockets and the pid file.
manager_config('''  p:
    listen: %s
    allow_root: true
    log: nowhere/p.log
    apps:
      - {mount: /, script: %s}
''' % (sock_path('p.sock'), app_path('mgr_app.wsgi')), name='bad.yaml')
p = subprocess.run([program('fcgiwsgi'), '-t', '-c', bad], capture_output=True, text=True)
is_(p.returncode, 0, '-t: a pool log one missing level down passes') or diag(p.stderr)
like(p.stderr, r'bad\.yaml:8:10: warning: .log. \S+/nowhere/p\.log: the directory \S+nowhere does '
     r'not exist yet: fcgiwsgi creates it', '... and says it will be created')
done_testing()
