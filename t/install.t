#!/usr/bin/env python3
# make install with custom --prefix, --sysconfdir, --runstatedir and
# --localstatedir, staged with DESTDIR and then put in place as a package
# manager would: the files land where configure said, an edited config is
# kept, the installed programs find the installed configuration by
# themselves, serve a pool dropped into pools.d, and make uninstall leaves
# nothing but what the administrator changed.
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

if build_sanitized():
    skip_all('builds its own plain tree: the plain build runs it')
if not shutil.which('make'):
    skip_all('no make')

T = os.path.join(tmpdir(), 'i')  # short: unix socket paths live below it
os.makedirs(T)
src = configurable_source(T)
if not src:
    skip_all('no copy of %s to build (neither git ls-files nor make distdir worked)' % src_dir())
started = time.monotonic()
prefix, etc, run, var = T + '/usr', T + '/etc', T + '/run', T + '/var'
stage = T + '/stage'
b = os.path.join(T, 'b')
os.makedirs(b)


def sh(argv, cwd=b, timeout=600):
    p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        diag('%s: exit %d\n%s%s' % (' '.join(argv), p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return p


p = sh([os.path.join(src, 'configure'), '--prefix=' + prefix, '--sysconfdir=' + etc,
        '--runstatedir=' + run, '--localstatedir=' + var])
ok(p.returncode == 0, 'configure with custom directories') or bail_out('cannot configure')
p = sh(['make', '-j%d' % min(os.cpu_count() or 2, 4)])
ok(p.returncode == 0, 'make') or bail_out('cannot build')
p = sh(['make', 'install', 'DESTDIR=' + stage])
is_(p.returncode, 0, 'make install DESTDIR=...')
diag('configure, make, make install: %.1f s' % (time.monotonic() - started))

S = stage + T  # the staged tree, where T's layout will be
want = ['usr/sbin/fcgiwsgi', 'usr/bin/fcgiwsgi-ctl', 'usr/bin/fcgiwsgi-responder',
        'etc/fcgiwsgi/fcgiwsgi.yaml', 'etc/logrotate.d/fcgiwsgi',
        'usr/lib/systemd/system/fcgiwsgi.service', 'usr/lib/systemd/system/fcgiwsgi@.socket',
        'usr/lib/tmpfiles.d/fcgiwsgi.conf', 'usr/share/man/man8/fcgiwsgi.8',
        'usr/share/man/man5/fcgiwsgi.yaml.5', 'usr/share/doc/fcgiwsgi/fcgiwsgi.yaml.example',
        'usr/share/doc/fcgiwsgi/examples/deploy.sh']
is_([w for w in want if not os.path.isfile(os.path.join(S, w))], [],
    'every file where configure said (sbin, bin, sysconfdir, units, man, doc)')
ok(os.path.isdir(S + '/etc/fcgiwsgi/pools.d') and not os.listdir(S + '/etc/fcgiwsgi/pools.d'),
   'an empty pools.d')
ok(os.path.isdir(S + '/var/log/fcgiwsgi'), 'the log directory under localstatedir')
others = []
for top, dirs, files in os.walk(stage):
    others += [os.path.join(top, f) for f in files if not os.path.join(top, f).startswith(S + '/')]
is_(others, [], 'nothing installed outside the configured directories')


def read(path):
    with open(path) as f:
        return f.read()


unit = read(S + '/usr/lib/systemd/system/fcgiwsgi.service')
like(unit, r'(?m)^ExecStart=%s/sbin/fcgiwsgi -c %s/fcgiwsgi/fcgiwsgi.yaml$' % (prefix, etc),
     'the unit runs the installed manager with the installed config')
like(unit, r'(?m)^ExecStartPre=%s/sbin/fcgiwsgi -t ' % prefix, 'checks it first')
like(unit, r'(?m)^ExecReload=%s/bin/fcgiwsgi-ctl -c %s/fcgiwsgi/fcgiwsgi.yaml reload$'
     % (prefix, etc), 'reloads through fcgiwsgi-ctl')
for key in ('Type=notify', 'KillMode=mixed', 'RuntimeDirectory=fcgiwsgi', 'ProtectSystem=full',
            'PrivateTmp=yes'):
    like(unit, r'(?m)^%s$' % key, 'the unit says ' + key)
like(read(S + '/usr/lib/tmpfiles.d/fcgiwsgi.conf'), r'(?m)^d %s/fcgiwsgi 0755 root root -$' % run,
     'tmpfiles.d makes runstatedir/fcgiwsgi')
rot = read(S + '/etc/logrotate.d/fcgiwsgi')
like(rot, r'(?m)^%s/log/fcgiwsgi/\*\.log \{$' % var, 'logrotate rotates localstatedir/log/fcgiwsgi')
like(rot, r'%s/bin/fcgiwsgi-ctl -t 30 reopen-logs' % prefix, 'and reopens them with fcgiwsgi-ctl')
man8 = read(S + '/usr/share/man/man8/fcgiwsgi.8')
ok('%s/fcgiwsgi/fcgiwsgi.yaml' % etc in man8 and '%s/fcgiwsgi/ctl.sock' % run in man8
   and '/etc/fcgiwsgi' not in man8.replace(etc, ''), "fcgiwsgi(8)'s FILES name this build's paths")

# An administrator's edit survives the next make install.
conf = S + '/etc/fcgiwsgi/fcgiwsgi.yaml'
shipped = read(conf)
with open(conf, 'a') as f:
    f.write('# edited\n')
p = sh(['make', 'install', 'DESTDIR=' + stage])
ok(p.returncode == 0 and read(conf).endswith('# edited\n'), 'make install again keeps an edited config')
is_(read(conf + '.dist') if os.path.exists(conf + '.dist') else None, shipped,
    'and puts the new one beside it (.dist)')
with open(conf, 'w') as f:
    f.write(shipped)
os.unlink(conf + '.dist')

# In place, as a package manager would put it.
subprocess.run(['cp', '-a', S + '/.', T + '/'], check=True)
fw, fwctl = prefix + '/sbin/fcgiwsgi', prefix + '/bin/fcgiwsgi-ctl'
os.makedirs(run)  # /run exists on a system; the manager makes run/fcgiwsgi
p = subprocess.run([fw, '-t'], capture_output=True, text=True, timeout=60)
is_(p.returncode, 0, 'fcgiwsgi -t, without -c, accepts the installed config')
like(p.stdout, r'^%s/fcgiwsgi/fcgiwsgi.yaml: configuration OK \(0 pools' % etc,
     'it is the installed one, with no pool yet')
like(p.stderr, r'no pool is defined yet', 'and a warning says so')

app = T + '/app'
os.makedirs(app)
shutil.copy(os.path.join(src_dir(), 'examples', 'hello.wsgi'), app)


def pool_file(name):
    with open('%s/fcgiwsgi/pools.d/%s.yaml' % (etc, name), 'w') as f:
        f.write('pools:\n  %s:\n    listen: %s/fcgiwsgi/%s.sock\n    allow_root: true\n'
                '    processes: 1\n    apps:\n      - {mount: /, script: %s/hello.wsgi}\n'
                % (name, run, name, app))


pool_file('hello')
notify = NotifySocket()
env = dict(os.environ, NOTIFY_SOCKET=notify.path)
m = spawn([fw], log=os.path.join(tmpdir(), 'manager.log'), env=env)
ok(notify.wait('READY=1', 60), 'the manager, without -c, starts on the installed config: READY=1')
ok(os.path.exists(run + '/fcgiwsgi/ctl.sock'), 'its control socket is runstatedir/fcgiwsgi/ctl.sock')
p = subprocess.run([fwctl, 'status'], capture_output=True, text=True, timeout=60)
ok(p.returncode == 0 and 'pool hello:' in p.stdout, 'fcgiwsgi-ctl status, without -s or -c, finds it',
   got=p.stdout + p.stderr)
r = fcgi_request(run + '/fcgiwsgi/hello.sock', uri='/')
ok(r.status == 200 and b'Hello from fcgiwsgi' in r.body, 'the pool in pools.d serves a request',
   got=(r.status, r.body[:200]))
pool_file('second')
p = subprocess.run([fwctl, 'reload', '--wait'], capture_output=True, text=True, timeout=120)
ok(p.returncode == 0 and 'pool second: added' in p.stdout, 'a second pool file, reload --wait adds it',
   got=p.stdout + p.stderr)
r = fcgi_request(run + '/fcgiwsgi/second.sock', uri='/')
is_(r.status, 200, 'and it serves')
p = subprocess.run([fwctl, 'shutdown', '--wait'], capture_output=True, text=True, timeout=120)
is_(p.returncode, 0, 'shutdown --wait')
ok(notify.wait('STOPPING=1', 10), 'STOPPING=1 on the notify socket')
is_(m.wait(timeout=30), 0, 'the manager exits 0')
check_log_clean(os.path.join(tmpdir(), 'manager.log'))

# A control: of the installed config is what fcgiwsgi-ctl follows.
with open(conf.replace(S, T), 'a') as f:
    f.write('control: %s/other.ctl\n' % T)
m = spawn([fw], log=os.path.join(tmpdir(), 'manager2.log'))
wait_for(lambda: os.path.exists(T + '/other.ctl'), 60, what='the moved control socket')
p = subprocess.run([fwctl, 'status'], capture_output=True, text=True, timeout=60)
ok(p.returncode == 0 and 'pool hello:' in p.stdout, "fcgiwsgi-ctl follows the config's control:",
   got=p.stdout + p.stderr)
m.signal(signal.SIGTERM)
is_(m.wait(timeout=60), 0, 'TERM stops it')

if shutil.which('systemd-analyze'):
    units = prefix + '/lib/systemd/system'
    shutil.copy(units + '/fcgiwsgi@.socket', units + '/fcgiwsgi@hello.socket')
    p = subprocess.run(['systemd-analyze', 'verify', units + '/fcgiwsgi.service',
                        units + '/fcgiwsgi@hello.socket'], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, MANPATH=prefix + '/share/man:'))
    is_(p.stdout + p.stderr, '', 'systemd-analyze verify: the unit and a socket instance, no message')
    os.unlink(units + '/fcgiwsgi@hello.socket')
else:
    skip('systemd-analyze is not installed (Debian: systemd)')

# Uninstalling the stage leaves nothing of ours.
p = sh(['make', 'uninstall', 'DESTDIR=' + stage])
left = []
for top, dirs, files in os.walk(stage):
    left += [os.path.join(top, f)[len(stage):] for f in files]
ok(p.returncode == 0 and left == [], 'make uninstall removes every file (the config was unchanged)',
   got=left)
diag('t/install.t: %.1f s' % (time.monotonic() - started))
done_testing()
