#!/usr/bin/env python3
# fcgiwsgi-ctl commands that wait (issue 16): `wait POOL` until the recycle
# running now has ended (at once if none), `reload --wait` until the
# recycles the reload started have ended, failing like `restart` when one
# did, `shutdown --wait` until the manager has stopped, failing when it had
# to cut requests at graceful_timeout; -t bounds each wait.
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

d = tmpdir()
script = os.path.join(d, 'slow_import.wsgi')
with open(app_path('mgr_app.wsgi')) as f:
    APP = f.read()


def write_app(import_sleep, broken=False):
    tmp = script + '.new'
    with open(tmp, 'w') as f:
        f.write('import time\ntime.sleep(%s)\n' % import_sleep)
        f.write('raise ImportError("broken on purpose")\n' if broken else APP)
    os.rename(tmp, script)


POOL = '''  web:
    listen: %s
    processes: 2
    allow_root: true
    watch_scripts: false
    graceful_timeout: %s
    env: {VERSION: "%s"}
    apps: [{mount: /, script: %s}]
'''
sock = sock_path('wait.sock')
write_app(1.0)
cfg = manager_config(POOL % (sock, '30s', 1, script), name='wait.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: m.output().count('starting -> running') >= 2, timeout=30, what='workers ready')


def timed(*args, **kw):
    t0 = time.monotonic()
    rc, out, err = ctl(cfg, *args, **kw)
    return rc, out, err, time.monotonic() - t0


def recycling():
    return 'recycling to generation' in ctl(cfg, 'status', 'web')[1]


# wait with nothing running
rc, out, err, took = timed('wait', 'web')
is_(rc, 0, 'wait with no recycle running: 0') or diag(out + err)
like(out, r'pool web: no recycle running', '... says so')
ok(took < 2, '... at once (%.2f s)' % took)
is_(ctl(cfg, 'wait', 'nosuch')[0], 3, 'wait for an unknown pool: 3')
is_(ctl(cfg, 'wait')[0], 2, 'wait without a pool: usage, 2')

# wait for a recycle that SIGUSR2 started (imports take 1 s)
m.signal(signal.SIGUSR2)
wait_for(recycling, timeout=10, what='the recycle')
rc, out, err, took = timed('wait', 'web')
is_(rc, 0, 'wait for a running recycle: 0') or diag(out + err)
like(out, r'pool web: generation 1 ready', '... with its outcome')
ok(not recycling(), '... and when it returns, no recycle runs')

# -t bounds the wait; the recycle goes on
write_app(4.0)
m.signal(signal.SIGUSR2)
wait_for(recycling, timeout=10, what='a slow recycle')
rc, out, err, took = timed('-t', '1', 'wait', 'web')
is_(rc, 7, 'wait -t 1 on a 4 s recycle: 7') or diag(out + err)
like(err, r'no answer within 1 s', '... saying why')
ok(took < 3, '... after about 1 s (%.2f s)' % took)
rc, out, err, took = timed('wait', 'web')
is_(rc, 0, 'waiting again: the recycle ended well') or diag(out + err)
write_app(1.0)

# reload --wait: returns when the recycle it started has ended
manager_config(POOL % (sock, '30s', 2, script), name='wait.yaml')
rc, out, err, took = timed('reload', '--wait')
is_(rc, 0, 'reload --wait of a changed pool: 0') or diag(out + err)
like(out, r'pool web: changed, recycling', '... the reload report')
like(out, r'pool web: generation \d+ ready', '... then the recycle outcome')
ok(took >= 0.9, '... after the recycle (%.2f s: imports take 1 s)' % took)
ok(not recycling(), '... no recycle runs any more')
rc, out, err, took = timed('reload', '--wait')
is_(rc, 0, 'reload --wait with nothing changed: 0')
like(out, r'pool web: unchanged', '... at once, unchanged')

# reload --wait whose recycle fails
write_app(0, broken=True)
manager_config(POOL % (sock, '30s', 3, script), name='wait.yaml')
rc, out, err, took = timed('reload', '--wait')
is_(rc, 1, 'reload --wait whose recycle fails: 1') or diag(out + err)
like(err, r'pool web: generation \d+ failed', '... with the failure')
like(err, r'broken on purpose', '... and the import error')
rc, out, err = ctl(cfg, 'reload', '--now')
is_(rc, 2, 'reload with a wrong option: usage') or diag(out + err)

# shutdown --wait with a slow request in flight: it finishes, 0
write_app(0)
is_(ctl(cfg, 'restart', 'web')[0], 0, 'a good generation again')
res = {}
t = threading.Thread(target=lambda: res.update(r=fcgi_request(sock, uri='/sleep/1.5')))
t.start()
time.sleep(0.3)
rc, out, err, took = timed('shutdown', '--wait')
t.join(10)
is_(rc, 0, 'shutdown --wait: 0 when every request finished') or diag(out + err)
like(out, r'fcgiwsgi \(pid \d+\) stopped in \d+ ms: every worker finished its requests',
     '... saying how long it took')
ok(took >= 1.0, '... after the in-flight request (%.2f s)' % took)
ok(res.get('r') is not None and res['r'].status == 200, '... which got its answer')
is_(m.wait(5), 0, '... and the manager has exited (0)')
ok(not os.path.exists(cfg + '.ctl'), '... its control socket gone')

# shutdown --wait past graceful_timeout: requests cut, 1 like the manager
cfg = manager_config(POOL % (sock, '1s', 1, script), name='wait2.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: m.output().count('starting -> running') >= 2, timeout=30, what='workers ready')
def cut_request():
    try:
        fcgi_request(sock, uri='/sleep/6', timeout=10)
    except (FcgiError, OSError):
        pass  # cut: what this part is about


t = threading.Thread(target=cut_request)
t.start()
time.sleep(0.3)
rc, out, err, took = timed('shutdown', '--wait')
is_(rc, 1, 'shutdown --wait that had to cut a request: 1') or diag(out + err)
like(err, r'stopped in \d+ ms: workers had to be cut at graceful_timeout', '... saying so')
like(err, r'1 worker cut', '... and how many')
ok(took < 5, '... after graceful_timeout, not the request (%.2f s)' % took)
is_(m.wait(5), 1, '... and the manager exited 1')
t.join(10)

# -t bounds shutdown --wait too
cfg = manager_config(POOL % (sock, '5s', 1, script), name='wait3.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: m.output().count('starting -> running') >= 2, timeout=30, what='workers ready')
t = threading.Thread(target=lambda: fcgi_request(sock, uri='/sleep/3', timeout=10))
t.start()
time.sleep(0.3)
rc, out, err, took = timed('-t', '1', 'shutdown', '--wait')
is_(rc, 7, 'shutdown --wait -t 1 while a 3 s request runs: 7') or diag(out + err)
rc, out, err, took = timed('shutdown', '--wait')
is_(rc, 0, 'shutdown --wait again, while stopping: joins, 0') or diag(out + err)
is_(m.wait(5), 0, '... the manager exited 0')
t.join(10)
check_log_clean(m)
done_testing()
