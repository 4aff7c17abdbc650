#!/usr/bin/env python3
# `fcgiwsgi-ctl reload` and SIGHUP (issue 5): the new file is checked first
# and an invalid one changes nothing (file:line:column reported); a valid
# one starts new pools, stops removed ones gracefully, recycles changed
# ones (under load, without a failed request) and leaves unchanged ones
# alone (the same pids). A pool moved to another address listens on the new
# one before the old one is closed.
import json
import os
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
d = tmpdir()
script = os.path.join(d, 'app.wsgi')
shutil.copy(app_path('mgr_app.wsgi'), script)
# The moved pool's app imports in 1 s, so its recycle (and with it the time
# both sockets are open) lasts long enough to be seen on a loaded machine.
slow_script = os.path.join(d, 'slow_app.wsgi')
with open(slow_script, 'w') as f:
    f.write('import time\ntime.sleep(1)\n' + open(script).read())
log = os.path.join(d, 'manager.log')
S = {n: sock_path(n + '.sock') for n in ('keep', 'change', 'gone', 'new', 'move1', 'move2', 'hup')}


def pool(name, listen=None, processes=1, extra='', app=script):
    return '''  %s:
    listen: %s
    processes: %d
    allow_root: true
    apps: [{mount: /, script: %s}]
%s''' % (name, listen or S[name], processes, app, extra)


cfg = manager_config(pool('keep') + pool('change') + pool('gone') +
                     pool('move', S['move1'], app=slow_script),
                     name='reload.yaml', log=log)
ctl_path = cfg + '.ctl'
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: os.path.exists(log) and open(log).read().count('starting -> running') >= 4,
         timeout=30, what='workers ready')


def pids():
    st = json.loads(ctl(ctl_path, 'status', '--json')[1])
    return {p['name']: sorted(w['pid'] for w in p['workers'] if w['state'] != 'stopping')
            for p in st['pools']}


before = pids()
is_(sorted(before), ['change', 'gone', 'keep', 'move'], 'four pools at start')

# an invalid file: nothing changes
with open(cfg) as f:
    good_text = f.read()
with open(cfg, 'w') as f:
    f.write(good_text.replace('processes: 1', 'processes: lots', 1))
rc, out, err = ctl(ctl_path, 'reload')
is_(rc, 1, 'reload of an invalid file: exit 1')
like(err, r'%s:\d+:\d+: error: .*processes' % cfg, 'the error names file:line:column')
like(err, r'not reloaded; the running configuration is unchanged', 'and says nothing changed')
is_(pids(), before, 'no worker was touched')
like(open(log).read(), r'reload failed', 'the failure is logged')

# a valid one: keep as is, change (2 processes now), gone removed, new
# added, move to another socket
with open(cfg, 'w') as f:
    f.write(good_text.split('pools:\n')[0] + 'pools:\n' + pool('keep') +
            pool('change', processes=2) + pool('new') + pool('move', S['move2'], app=slow_script))
loads = {n: Load(S[n], clients=3, max_seconds=30) for n in ('keep', 'change', 'move1')}
time.sleep(0.5)
rc, out, err = ctl(ctl_path, 'reload')
t_reload = time.monotonic()
is_(rc, 0, 'reload: exit 0')
for line in ('pool keep: unchanged', 'pool change: changed, recycling', 'pool gone: removed',
             'pool new: added, listening on unix:' + S['new'], 'pool move: changed, recycling'):
    like(out, r'(?m)^' + line.replace('.', r'\.'), 'reload reports: ' + line)
ok(os.path.exists(S['move2']) and os.path.exists(S['move1']),
   'the moved pool listens on its new socket while the old one is still open')
wait_for(lambda: len(pids().get('change', [])) == 2, timeout=20, what='change with 2 workers')
wait_for(lambda: fcgi_request(S['new'], params=PARAMS, timeout=5).status == 200, timeout=20,
         what='the new pool serving')
ok(True, 'the added pool serves')
wait_for(lambda: fcgi_request(S['move2'], params=PARAMS, timeout=5).status == 200, timeout=20,
         what='the moved pool serving on its new socket')
wait_for(lambda: not os.path.exists(S['move1']), timeout=20, what='the old socket removed')
ok(True, 'the old socket of the moved pool is closed once its recycle ended')
time.sleep(0.5)
for n, load in loads.items():
    load.stop()
after = pids()
is_(after['keep'], before['keep'], 'the unchanged pool kept its pids')
ok(not set(after['change']) & set(before['change']), 'the changed pool has new workers')
ok('gone' not in after, 'the removed pool is gone from status')
wait_for(lambda: 'pool gone] removed' in open(log).read(), timeout=20, what='gone reaped')
ok(not os.path.exists(S['gone']), "the removed pool's socket is removed")
is_([len(loads[n].failures()) for n in ('keep', 'change')], [0, 0],
    'no request failed on the kept and changed pools during the reload (%d and %d served)'
    % (len(loads['keep'].results), len(loads['change'].results)))
ok(loads['keep'].results and loads['change'].results, 'both were under load')
served_after = [r for r in loads['move1'].results if r[2] == 200 and r[0] > t_reload]
ok(served_after, 'the old socket of the moved pool still answered after the reload '
   '(%d requests) until it was closed' % len(served_after))

# SIGHUP does the same as reload
with open(cfg) as f:
    text = f.read()
with open(cfg, 'w') as f:
    f.write(text + pool('hup'))
m.signal(signal.SIGHUP)
wait_for(lambda: os.path.exists(S['hup']) and fcgi_request(S['hup'], params=PARAMS, timeout=5).status == 200,
         timeout=20, what='the pool added by SIGHUP serving')
ok(True, 'SIGHUP reloads: the added pool serves')
is_(pids()['keep'], before['keep'], 'and the unchanged pool is still untouched')

ctl(cfg, 'shutdown')
is_(m.wait(30), 0, 'the manager exits 0')
check_log_clean(log)
done_testing()
