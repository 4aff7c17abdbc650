#!/usr/bin/env python3
# A reload that gives a socket to another pool (issue 15, reload corners):
# a pool renamed (unix and TCP), and an address passed from one pool to
# another while the first moves on, both in one reload. The new pool takes
# the socket the old one holds (opening it anew would find it in use), the
# old pool's workers finish, and no request fails meanwhile; the path
# stays until its last holder is gone.
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

d = tmpdir()
script = os.path.join(d, 'app.wsgi')
shutil.copy(app_path('mgr_app.wsgi'), script)
log = os.path.join(d, 'manager.log')
S = {n: sock_path(n + '.sock') for n in ('ren', 'give', 'taken', 'next')}
port = free_port()
TCP = '127.0.0.1:%d' % port


def pool(name, listen, processes=1):
    return '''  %s:
    listen: %s
    processes: %d
    graceful_timeout: 5s
    allow_root: true
    apps: [{mount: /, script: %s}]
''' % (name, listen, processes, script)


cfg = manager_config(pool('old', S['ren'], 2) + pool('tcpold', TCP) + pool('giver', S['give']) +
                     pool('taker', S['taken']), name='handover.yaml', log=log)
ctl_path = cfg + '.ctl'
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: os.path.exists(log) and open(log).read().count('starting -> running') >= 5,
         timeout=30, what='workers ready')


def pools():
    st = json.loads(ctl(ctl_path, 'status', '--json')[1])
    return {p['name']: p for p in st['pools']}


def pool_of(body):
    return body.decode('utf-8', 'replace').split()[3] if isinstance(body, bytes) else None


head = open(cfg).read().split('pools:\n')[0] + 'pools:\n'
with open(cfg, 'w') as f:
    f.write(head + pool('new', S['ren'], 2) + pool('tcpnew', TCP) + pool('giver', S['next']) +
            pool('taker', S['give']))
loads = {n: Load(a, clients=3, max_seconds=40) for n, a in
         (('ren', S['ren']), ('tcp', TCP), ('give', S['give']))}
time.sleep(0.5)
rc, out, err = ctl(ctl_path, 'reload')
is_(rc, 0, 'reload: exit 0', )
if rc:
    diag(out + err)
for line in ('pool old: removed', 'pool new: added', 'pool tcpold: removed', 'pool tcpnew: added',
             'pool giver: changed, recycling', 'pool taker: changed, recycling'):
    like(out, r'(?m)^' + line, 'reload reports: ' + line)


def waited(predicate, timeout, what):
    try:
        return bool(wait_for(predicate, timeout=timeout, what=what))
    except TimeoutError as e:
        diag(str(e))
        return False


def answered_by(addr, name):
    try:
        return pool_of(fcgi_request(addr, params={'SERVER_NAME': 'x', 'SERVER_PORT': '80'},
                                    timeout=5).body) == name
    except Exception:  # noqa: BLE001 - not yet
        return False


for addr, name in ((S['ren'], 'new'), (TCP, 'tcpnew'), (S['give'], 'taker'), (S['next'], 'giver')):
    ok(waited(lambda: answered_by(addr, name), 30, '%s on %s' % (name, addr)),
       '%s answers on %s' % (name, addr))
ok(waited(lambda: 'pool old] removed' in open(log).read() and 'pool tcpold] removed' in
          open(log).read(), 30, 'the removed pools reaped'), 'the removed pools are reaped')
ok(waited(lambda: all(not p['recycling'] for p in pools().values()), 30, 'the recycles ended'),
   'the recycles ended')
time.sleep(0.5)
for load in loads.values():
    load.stop()
for n, load in loads.items():
    is_(len(load.failures()), 0, 'no request failed on %s during the handover (%d served)'
        % (n, len(load.results)), )
    if load.failures():
        diag(repr(load.failures()[:3]))
    # The old holders are gone or no longer accepting by now.
    last = [pool_of(r[3]) for r in load.results if r[2] == 200][-5:]
    ok(last and set(last) <= {'new', 'tcpnew', 'taker'},
       '%s: the new owner answers at the end (%s)' % (n, last))
ok(os.path.exists(S['ren']) and os.path.exists(S['give']),
   'the handed-over paths are still there after their old pools let go')
ok(not os.path.exists(S['taken']), "the taker's old socket is removed after its recycle")
is_(sorted(pools()), ['giver', 'new', 'taker', 'tcpnew'], 'status lists the new pools')

ctl(cfg, 'shutdown')
is_(m.wait(30), 0, 'the manager exits 0')
ok(not os.path.exists(S['ren']) and not os.path.exists(S['give']) and not os.path.exists(S['next']),
   'every socket path is removed at shutdown')
check_log_clean(log)
done_testing()
