#!/usr/bin/env python3
# fcgiwsgi-ctl against a real manager: status (text and JSON), restart and
# what it reports (including a new generation that cannot import), scale,
# stop/start, reopen-logs, shutdown, the exit status for each kind of
# failure, and who may use the control socket (SO_PEERCRED, control_group).
import grp
import json
import os
import pwd
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
d = tmpdir()
os.chmod(d, 0o755)  # `nobody` must reach the control socket's directory
script = os.path.join(d, 'app.wsgi')
shutil.copy(app_path('mgr_app.wsgi'), script)
good = open(script).read()
web_sock = sock_path('web.sock')
log = os.path.join(d, 'manager.log')
GROUP = 'staff' if 'staff' in {g.gr_name for g in grp.getgrall()} else None
cfg = manager_config('''  web:
    listen: %s
    processes: 2
    allow_root: true
    apps: [{mount: /, script: %s}]
  dyn:
    listen: 127.0.0.1:%d
    processes: {min: 1, max: 3, min_spare: 1, max_spare: 2}
    allow_root: true
    apps: [{mount: /, script: %s}]
''' % (web_sock, script, free_port(), script), name='ctl.yaml', log=log)
if GROUP:
    with open(cfg) as f:
        text = f.read()
    with open(cfg, 'w') as f:
        f.write('control_group: %s\n' % GROUP + text)
ctl_sock = cfg + '.ctl'
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: os.path.exists(log) and open(log).read().count('starting -> running') >= 3,
         timeout=30, what='workers ready')


def log_text():
    with open(log, errors='replace') as f:
        return f.read()


# status
rc, out, err = ctl(cfg, 'status')
is_(rc, 0, 'status: exit 0')
like(out, r'pool web: fixed, 2 processes x 1 thread, listening on unix:' + web_sock,
     'status names the pool, its model and its socket')
like(out, r'pool dyn: dynamic, 1\.\.3 processes', 'a dynamic pool shows min..max')
like(out, r'workers: 0 starting, 2 idle, 0 busy, 0 retiring, 0 stopping', 'workers by state')
like(out, r'last recycle: none', 'no recycle yet')
like(out, r'back-off: none', 'no back-off')
rc, out, err = ctl(ctl_sock, 'status', 'web', '--json')
is_(rc, 0, 'status POOL --json over -s SOCKET: exit 0')
st = json.loads(out)
is_([p['name'] for p in st['pools']], ['web'], 'only the pool asked for')
web = st['pools'][0]
is_((web['model'], web['processes'], web['generation'], len(web['workers'])), ('fixed', 2, 0, 2),
    'JSON: model, processes, generation, workers')
is_(sorted(w['state'] for w in web['workers']), ['idle', 'idle'], 'JSON: per-worker state')
ok(all(w['rss_bytes'] > 1_000_000 for w in web['workers']), 'JSON: per-worker RSS')
is_(st['pid'], m.proc.pid, 'JSON: the master pid')

# serve some, then restart: returns when the recycle has ended
for _ in range(5):
    fcgi_request(web_sock, params=PARAMS)
old = {w['pid'] for w in web['workers']}
rc, out, err = ctl(cfg, 'restart', 'web')
is_(rc, 0, 'restart: exit 0')
like(out, r'pool web: generation 1 ready: 2 workers replaced in \d+ ms', 'restart says what happened')
st = json.loads(ctl(cfg, 'status', 'web', '--json')[1])['pools'][0]
new = {w['pid'] for w in st['workers'] if w['state'] != 'stopping'}
ok(len(new) == 2 and not (new & old), 'after restart returns, only new workers serve', got=new)
is_(st['requests'] >= 5, True, 'requests served are counted across generations')
is_(st['last_recycle']['ok'], True, 'status: last recycle ok')
body = fcgi_request(web_sock, params=PARAMS).body.split()
is_(body[4], b'1', 'generation 1 answers')
rc, out, err = ctl(cfg, 'restart', '--all')
is_(rc, 0, 'restart --all: exit 0')
ok('pool web: generation 2 ready' in out and 'pool dyn: generation 1 ready' in out,
   'restart --all reports every pool', got=out)

# the app asks for it: fcgiwsgi.request_restart() recycles every process of
# the pool (how web-edited settings reach all of them)
old = {w['pid'] for w in json.loads(ctl(cfg, 'status', 'web', '--json')[1])['pools'][0]['workers']}
res = fcgi_request(web_sock, uri='/request-restart', params=PARAMS)
is_(res.status, 200, 'a request calling fcgiwsgi.request_restart() is answered')
wait_for(lambda: json.loads(ctl(cfg, 'status', 'web', '--json')[1])['pools'][0]['last_recycle']['text'].startswith('generation 3 ready'),
         timeout=20, what='the recycle asked by the app')
st = json.loads(ctl(cfg, 'status', 'web', '--json')[1])['pools'][0]
new = {w['pid'] for w in st['workers'] if w['state'] != 'stopping'}
ok(len(new) == 2 and not (new & old), 'every worker of the pool was replaced', got=new)
like(log_text(), r'rolling restart to generation 3 \(the app called fcgiwsgi.request_restart\(\)\)',
     'the log says the app asked')

# a new version that cannot import: restart fails with the traceback, the
# old generation keeps serving and status says so
with open(script, 'a') as f:
    f.write('\ndef broken(:\n')
rc, out, err = ctl(cfg, 'restart', 'web')
is_(rc, 1, 'restart of a broken version: exit 1')
like(err, r'generation \d+ failed after \d+ ms: an app of the new generation failed to import; '
     r'generation 3 kept serving', 'the failure and the generation kept are reported')
like(err, r'SyntaxError: invalid syntax', "the import error's traceback is in the answer")
like(err, r'File "%s", line \d+' % script, '... with the file and line')
res = fcgi_request(web_sock, params=PARAMS)
is_((res.status, res.body.split()[4]), (200, b'3'), 'generation 3 still answers')
time.sleep(1)  # the watcher's own trigger for the same change, if any, ends too
st = json.loads(ctl(cfg, 'status', 'web', '--json')[1])['pools'][0]
is_((st['last_recycle']['ok'], st['generation']), (False, 3), 'status: the last recycle failed, generation 3 serves')
like(st['last_recycle']['error'], r'SyntaxError', 'status: with the error')
like(ctl(cfg, 'status', 'web')[1], r'last recycle: generation \d+ failed', 'text status too')
with open(script, 'w') as f:
    f.write(good)
wait_for(lambda: json.loads(ctl(cfg, 'status', 'web', '--json')[1])['pools'][0]['last_recycle']['ok'],
         timeout=15, what='the fixed version recycled in by the watcher')
ok(True, 'fixing the file recovers without a command')

# scale (fixed pools only), stop and start
rc, out, err = ctl(cfg, 'scale', 'web', 3)
is_((rc, out.strip()), (0, 'pool web: 3 processes'), 'scale web 3')
wait_for(lambda: json.loads(ctl(cfg, 'status', 'web', '--json')[1])['pools'][0]['workers_by_state']['idle'] == 3,
         timeout=20, what='3 idle workers')
ok(True, 'scaled up to 3 workers')
rc, out, err = ctl(cfg, 'scale', 'web', 1)
wait_for(lambda: len(json.loads(ctl(cfg, 'status', 'web', '--json')[1])['pools'][0]['workers']) == 1,
         timeout=20, what='1 worker left')
ok(True, 'scaled down to 1 worker')
rc, out, err = ctl(cfg, 'scale', 'dyn', 2)
is_(rc, 1, 'scale of a dynamic pool: exit 1')
like(err, r'dynamic', '... saying why')
is_(ctl(cfg, 'scale', 'web', 0)[0], 2, 'scale to 0: usage error (2)')
rc, out, err = ctl(cfg, 'stop', 'web')
is_(rc, 0, 'stop web: exit 0')
wait_for(lambda: not json.loads(ctl(cfg, 'status', 'web', '--json')[1])['pools'][0]['workers'],
         timeout=20, what='the pool stopped')
ok(json.loads(ctl(cfg, 'status', 'web', '--json')[1])['pools'][0]['stopped'], 'status: stopped')
rc, out, err = ctl(cfg, 'restart', 'web')
is_(rc, 1, 'restart of a stopped pool: exit 1')
like(err, r'stopped; start it first', '... saying why')
is_(ctl(cfg, 'start', 'web')[0], 0, 'start web: exit 0')
wait_for(lambda: fcgi_request(web_sock, params=PARAMS, timeout=5).status == 200, timeout=20,
         what='the pool serving again')
ok(True, 'a started pool serves again')

# reopen-logs
os.rename(log, log + '.1')
rc, out, err = ctl(cfg, 'reopen-logs')
is_((rc, out.strip()), (0, 'log reopened'), 'reopen-logs: exit 0')
wait_for(lambda: os.path.exists(log), timeout=5, what='the new log')
# The master hands each worker the new log over its channel after it
# answered, so a request right after the answer may still print to the
# old file (kept, as .1): ask again until a line lands in the new one.


def printed_in_new_log():
    fcgi_request(web_sock, uri='/print', params=dict(PARAMS, QUERY_STRING='after-reopen'))
    time.sleep(0.1)
    return 'printed-by-the-app after-reopen' in log_text()


wait_for(printed_in_new_log, timeout=10, interval=0.1, what='worker output in the new log')
ok(True, 'workers write to the reopened log')

# failures and their exit statuses
rc, out, err = ctl(cfg, 'restart', 'nope')
is_((rc, err.strip()), (3, "no pool named 'nope'"), 'unknown pool: exit 3, one line')
is_(ctl(cfg, 'status', 'nope')[0], 3, 'status of an unknown pool: exit 3')
rc, out, err = ctl(cfg, 'frobnicate')
is_(rc, 2, 'unknown command: exit 2 (without asking the manager)')
rc, out, err = ctl(os.path.join(d, 'missing.sock'), 'status')
is_(rc, 4, 'missing socket: exit 4')
like(err, r'no control socket at ', '... one clear line')
stale = os.path.join(d, 'stale.sock')
import socket as _s  # noqa: E402
s = _s.socket(_s.AF_UNIX)
s.bind(stale)
s.close()
rc, out, err = ctl(stale, 'status')
is_(rc, 5, 'a socket nobody accepts on (manager dead): exit 5')
like(err, r'not running', '... one clear line')

# who may use it: the socket is 0600 (0660 with control_group)
mode = os.stat(ctl_sock).st_mode & 0o777
is_(oct(mode), oct(0o660 if GROUP else 0o600), 'control socket mode')
if os.geteuid() != 0:
    skip('not root: cannot run fcgiwsgi-ctl as another user', 5)
else:
    rc, out, err = ctl(cfg, 'status', user='nobody')
    is_(rc, 6, 'nobody: refused by the file mode (exit 6)')
    os.chmod(ctl_sock, 0o666)  # as if the mode were wrong: SO_PEERCRED still refuses
    before = log_text().count('control: refused')
    rc, out, err = ctl(ctl_sock, 'status', user='nobody')
    is_(rc, 6, 'nobody on a world-writable socket: refused by the peer check (exit 6)')
    like(err, r'permission denied: only root', '... with the reason')
    uid = pwd.getpwnam('nobody').pw_uid
    wait_for(lambda: log_text().count('control: refused uid %d' % uid) > before, timeout=5,
             what='the refusal logged')
    ok(True, 'the refusal is logged with the uid')
    if GROUP:
        rc, out, err = ctl(ctl_sock, 'status', user='nobody', groups=[GROUP])
        is_(rc, 0, 'nobody in control_group (%s): allowed' % GROUP)
    else:
        skip('no group "staff" for control_group', 1)

# shutdown
rc, out, err = ctl(cfg, 'shutdown')
is_(rc, 0, 'shutdown: exit 0')
is_(m.wait(30), 0, 'the manager exits 0')
ok(not os.path.exists(ctl_sock), 'the control socket is removed')
check_log_clean(log)

# shutdown --now: a request in progress is not waited for
log2 = os.path.join(d, 'now.log')
cfg2 = manager_config('''  slow:
    listen: %s
    processes: 1
    graceful_timeout: 60s
    allow_root: true
    apps: [{mount: /, script: %s}]
''' % (sock_path('now.sock'), script), name='now.yaml', log=log2)
m2 = spawn([program('fcgiwsgi'), '-c', cfg2])
wait_for(lambda: os.path.exists(log2) and 'starting -> running' in open(log2).read(), timeout=30,
         what='the slow pool ready')
outcome = []
def _try_request():
    try:
        return fcgi_request(sock_path('now.sock'), uri='/sleep/30', params=PARAMS, timeout=40).status
    except Exception as e:  # noqa: BLE001 - the cut connection is the point
        return type(e).__name__


t = threading.Thread(target=lambda: outcome.append(_try_request()))
t.start()
wait_for(lambda: json.loads(ctl(cfg2, 'status', '--json')[1])['pools'][0]['workers_by_state']['busy'] == 1,
         timeout=10, what='the slow request running')
t0 = time.monotonic()
rc, out, err = ctl(cfg2, 'shutdown', '--now')
is_(rc, 0, 'shutdown --now: exit 0')
is_(m2.wait(15), 0, 'the manager exits 0')
took = time.monotonic() - t0
ok(took < 5, 'without waiting for the 30 s request (%.1f s)' % took)
t.join(20)
isnt(outcome[:1], [200], 'the request in progress was cut, not answered (%r)' % outcome[:1])
done_testing()
