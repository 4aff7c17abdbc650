#!/usr/bin/env python3
# debian/: dpkg-buildpackage -us -uc -b in a copy of the tree, lintian with
# no error, the package's files where Debian wants them; then, if this
# machine has no fcgiwsgi of its own, install the .deb, run the installed
# manager on the installed config (under systemd-socket-activate, with
# NOTIFY_SOCKET read here) with a pool in pools.d, serve a request, and
# purge it, checking that nothing it made is left. Otherwise the same run
# on a `dpkg -x` copy, and the install/purge checks are skipped.
import glob
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

if build_sanitized():
    skip_all('builds the package with its own plain build: the plain build runs it')
for tool, pkg in (('dpkg-buildpackage', 'dpkg-dev'), ('dh', 'debhelper'), ('lintian', 'lintian')):
    if not shutil.which(tool):
        skip_all('no %s (Debian: %s)' % (tool, pkg))
if not os.path.isfile(os.path.join(src_dir(), 'debian', 'control')):
    skip_all('no debian/ in %s' % src_dir())

T = os.path.join(tmpdir(), 'd')
os.makedirs(T)
src = source_copy(os.path.join(T, 'src'), generated=False)
if not src:
    skip_all('no copy of %s to build (neither git ls-files nor make distdir worked)' % src_dir())
env = {k: v for k, v in os.environ.items() if k not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL')}
env['DEB_BUILD_OPTIONS'] = 'parallel=2'
started = time.monotonic()
p = subprocess.run(['dpkg-buildpackage', '-us', '-uc', '-b'], cwd=src, capture_output=True,
                   text=True, timeout=900, env=env)
ok(p.returncode == 0, 'dpkg-buildpackage -us -uc -b', got=p.stdout[-3000:] + p.stderr[-3000:]) \
    or bail_out('no package')
diag('dpkg-buildpackage: %.1f s' % (time.monotonic() - started))
debs = [d for d in glob.glob(T + '/fcgiwsgi_*.deb')]
is_(len(debs), 1, 'one fcgiwsgi .deb (and its -dbgsym)')
deb = debs[0]
changes = glob.glob(T + '/*.changes')

p = subprocess.run(['lintian', '--display-info', '--pedantic', '--tag-display-limit', '0'] + changes,
                   capture_output=True, text=True, timeout=300)
tags = [line for line in p.stdout.splitlines() if line[:2] in ('E:', 'W:', 'I:', 'P:')]
errors = [t for t in tags if t.startswith('E:')]
is_(errors, [], 'lintian: no error')
for t in tags:
    diag('lintian: ' + t)

listing = subprocess.run(['dpkg-deb', '-c', deb], capture_output=True, text=True).stdout
paths = {line.split()[-1].lstrip('.') for line in listing.splitlines()}
want = ['/usr/sbin/fcgiwsgi', '/usr/bin/fcgiwsgi-ctl', '/usr/bin/fcgiwsgi-responder',
        '/etc/fcgiwsgi/fcgiwsgi.yaml', '/etc/fcgiwsgi/pools.d/', '/etc/logrotate.d/fcgiwsgi',
        '/lib/systemd/system/fcgiwsgi.service', '/lib/systemd/system/fcgiwsgi@.socket',
        '/usr/lib/tmpfiles.d/fcgiwsgi.conf', '/var/log/fcgiwsgi/',
        '/usr/share/man/man8/fcgiwsgi.8.gz', '/usr/share/doc/fcgiwsgi/examples/hello.wsgi']
is_([w for w in want if w not in paths], [], 'Debian paths: /usr/sbin, /usr/bin, /etc/fcgiwsgi, '
    '/lib/systemd/system, tmpfiles.d, logrotate, /var/log/fcgiwsgi')
ok(not [x for x in paths if x.startswith('/run')], 'nothing under /run in the package (tmpfiles.d)')
ctl = os.path.join(T, 'control')
subprocess.run(['dpkg-deb', '-e', deb, ctl], check=True)
with open(os.path.join(ctl, 'conffiles')) as f:
    is_(sorted(f.read().split()), ['/etc/fcgiwsgi/fcgiwsgi.yaml', '/etc/logrotate.d/fcgiwsgi'],
        'the config and the logrotate file are conffiles: an upgrade asks before replacing them')

# Where a package could leave things behind.
WATCH = ['/etc', '/lib/systemd', '/usr/sbin', '/usr/bin', '/usr/lib', '/usr/share/doc',
         '/usr/share/man', '/var/lib', '/var/log', '/run']


def ours():
    p = subprocess.run(['find'] + [w for w in WATCH if os.path.isdir(w)] +
                       ['-xdev', '-name', '*fcgiwsgi*'], capture_output=True, text=True, timeout=120)
    return set(p.stdout.split())


mine = subprocess.run(['dpkg-query', '-W', '-f=${Status}', 'fcgiwsgi'], capture_output=True, text=True)
before = ours() if os.geteuid() == 0 else None
if os.geteuid() != 0:
    why = 'not root'
elif mine.stdout.strip() not in ('', 'unknown ok not-installed'):
    why = 'a fcgiwsgi package is on this machine (%s)' % mine.stdout
elif before:
    why = 'this machine has fcgiwsgi files already: %s' % ', '.join(sorted(before)[:5])
else:
    why = None
install = why is None
systemd_running = os.path.isdir('/run/systemd/system')

if install:
    # No service may start from the postinst on a machine running systemd:
    # the test starts the manager itself (deps.sh does the same).
    policy = '/usr/sbin/policy-rc.d'
    own_policy = not os.path.exists(policy)
    if own_policy:
        with open(policy, 'w') as f:
            f.write('#!/bin/sh\n# t/deb.t: no service starts while it installs its package\nexit 101\n')
        os.chmod(policy, 0o755)
    try:
        p = subprocess.run(['dpkg', '-i', deb], capture_output=True, text=True, timeout=300)
    finally:
        if own_policy:
            os.unlink(policy)
    ok(p.returncode == 0, 'dpkg -i', got=p.stdout + p.stderr)
    if systemd_running:
        subprocess.run(['systemctl', 'stop', 'fcgiwsgi.service'], capture_output=True, timeout=120)
    root = ''
    ok(os.path.isdir('/run/fcgiwsgi'), 'the postinst made /run/fcgiwsgi (systemd-tmpfiles)')
    st = os.stat('/var/log/fcgiwsgi')
    ok(st.st_mode & 0o777 == 0o750, '/var/log/fcgiwsgi is 0750 (root:adm)')
else:
    diag('not installing the package: %s; running a dpkg -x copy instead' % why)
    root = os.path.join(T, 'root')
    subprocess.run(['dpkg-deb', '-x', deb, root], check=True)
    skip('not installed: ' + why, 3)

etc = root + '/etc/fcgiwsgi'
fw, fwctl = root + '/usr/sbin/fcgiwsgi', root + '/usr/bin/fcgiwsgi-ctl'
run = '/run/fcgiwsgi' if install else os.path.join(T, 'run')
os.makedirs(run, exist_ok=True)
if not install:  # the copy's config must not name this machine's /run/fcgiwsgi
    with open(etc + '/fcgiwsgi.yaml', 'a') as f:
        f.write('control: %s/ctl.sock\n' % run)
pool_sock = run + '/fwtest.sock'
with open(etc + '/pools.d/fwtest.yaml', 'w') as f:
    f.write('pools:\n  fwtest:\n    listen: %s\n    allow_root: true\n    processes: 1\n'
            '    apps:\n      - {mount: /, script: %s/usr/share/doc/fcgiwsgi/examples/hello.wsgi}\n'
            % (pool_sock, root))
cmd = [fw] if install else [fw, '-c', etc + '/fcgiwsgi.yaml']
p = subprocess.run(cmd + ['-t'], capture_output=True, text=True, timeout=60)
ok(p.returncode == 0 and 'configuration OK (1 pools' in p.stdout,
   'the installed fcgiwsgi -t accepts the installed config with a pool in pools.d',
   got=p.stdout + p.stderr)

notify = NotifySocket()
log = os.path.join(tmpdir(), 'manager.log')
activate = shutil.which('systemd-socket-activate')
if activate:
    # systemd-socket-activate binds the pool's socket and execs the
    # manager on the first connection, as a .socket unit would.
    m = spawn([activate, '-l', pool_sock, '--fdname=fwtest', '-E', 'NOTIFY_SOCKET=' + notify.path]
              + cmd, log=log)
    wait_for(lambda: os.path.exists(pool_sock), 30, what='systemd-socket-activate listening')
else:
    m = spawn(cmd, log=log, env=dict(os.environ, NOTIFY_SOCKET=notify.path))
    skip('no systemd-socket-activate (Debian: systemd): started directly')
r = fcgi_request(pool_sock, uri='/', timeout=60)
ok(r.status == 200 and b'Hello from fcgiwsgi' in r.body, 'the installed manager serves a request',
   got=(r.status, r.body[:200]))
ok(notify.wait('READY=1', 30), 'READY=1 on NOTIFY_SOCKET')
if activate:
    ok(wait_log(log, r'\[pool fwtest\] adopted inherited socket fd 3 \(by name\)', 10),
       'the pool took the activated socket by its name')
p = subprocess.run([fwctl, 'status'] if install else [fwctl, '-c', etc + '/fcgiwsgi.yaml', 'status'],
                   capture_output=True, text=True, timeout=60)
ok(p.returncode == 0 and 'pool fwtest:' in p.stdout, 'fcgiwsgi-ctl status', got=p.stdout + p.stderr)
m.signal(signal.SIGTERM)
is_(m.wait(timeout=60), 0, 'TERM: the manager stops, exit 0')
ok(notify.wait('STOPPING=1', 10), 'STOPPING=1')
check_log_clean(log)
for f in (pool_sock, etc + '/pools.d/fwtest.yaml'):
    if os.path.lexists(f):
        os.unlink(f)

if install and shutil.which('systemd-analyze'):
    p = subprocess.run(['systemd-analyze', 'verify', '/lib/systemd/system/fcgiwsgi.service'],
                       capture_output=True, text=True, timeout=120)
    is_(p.stdout + p.stderr, '', 'systemd-analyze verify the installed unit: no message')
else:
    skip('systemd-analyze verify: %s' % ('no systemd-analyze' if install else 'not installed'))

if install:
    p = subprocess.run(['dpkg', '--purge', 'fcgiwsgi'], capture_output=True, text=True, timeout=300)
    ok(p.returncode == 0, 'dpkg --purge', got=p.stdout + p.stderr)
    left = sorted(ours() - before)
    is_(left, [], 'nothing of fcgiwsgi is left after the purge')
else:
    skip('not installed: ' + why, 2)
done_testing()
