#!/usr/bin/env python3
# fcgiwsgi -t checks what would make a start fail outside the file itself
# (issue 16): a python_home of another CPython (which crash-looped with
# CPython's init_fs_encoding dump, or silently lost the virtualenv's
# packages), scripts and python_path the pool's user cannot read, missing
# directories of sockets, log and pid file, and (a warning) a socket the web
# server's usual user could not reach. The start and a reload run the same
# checks before any worker is spawned with the setting.
import glob
import os
import pwd
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

if os.geteuid() != 0:
    skip_all('needs root: pools run as nobody')
PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
prog = program('fcgiwsgi')
d = tmpdir()
os.chmod(d, 0o755)
vers = subprocess.run([prog, '--version'], capture_output=True, text=True, timeout=30).stdout
embedded = re.search(r'CPython (\d+\.\d+)', vers).group(1)
diag('embedded CPython %s' % embedded)


def check(body, name, top=''):
    """Writes a configuration with one pool (body: its indented settings)
    and runs -t on it: (exit status, stderr, path)."""
    path = os.path.join(d, name)
    with open(path, 'w') as f:
        f.write('log: stderr\ncontrol: %s.ctl\n%spools:\n  web:\n%s' % (path, top, body))
    p = subprocess.run([prog, '-t', '-c', path], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stderr, path


def pool(home=None, script=None, user='nobody', extra=''):
    s = '    listen: %s\n    user: %s\n    listen_group: www-data\n' % (sock_path('p.sock'), user)
    if home:
        s += '    python_home: %s\n' % home
    return s + extra + '    apps:\n      - script: %s\n' % (script or app_path('mgr_app.wsgi'))


def line_of(path, text):
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if text in line:
                return i
    return 0


# -- python_home ---------------------------------------------------------------
venv = os.path.join(d, 'venv-own')
subprocess.run(['/usr/bin/python3', '-m', 'venv', '--without-pip', venv], check=True, timeout=120)
rc, err, path = check(pool(venv), 'venv-own.yaml')
is_(rc, 0, 'a virtualenv of /usr/bin/python3 passes') or diag(err)
unlike(err, r'python_home', 'and draws no word about python_home')

pyenv_root = subprocess.run(['sh', '-c', 'pyenv root 2>/dev/null'], capture_output=True,
                            text=True).stdout.strip() or os.path.expanduser('~/.pyenv')
others = [v for v in sorted(glob.glob(os.path.join(pyenv_root, 'versions', '3.1[23].*')))
          if os.path.exists(os.path.join(v, 'bin', 'python3'))
          and not os.path.basename(v).startswith(embedded + '.')]
if others:
    other = others[0]
    other_ver = re.search(r'(3\.\d+)\.', os.path.basename(other)).group(1)
    venv2 = os.path.join(d, 'venv-other')
    subprocess.run([os.path.join(other, 'bin', 'python3'), '-m', 'venv', '--without-pip', venv2],
                   check=True, timeout=120)
    rc, err, path = check(pool(venv2), 'venv-other.yaml')
    is_(rc, 1, 'a virtualenv of CPython %s fails' % other_ver)
    like(err, r'%s:%d:\d+: error: .python_home. %s is a virtualenv of CPython %s .*embeds CPython %s'
         % (re.escape(path), line_of(path, 'python_home'), re.escape(venv2),
            re.escape(other_ver), re.escape(embedded)),
         'at its file:line:column, naming both versions')
    rc, err, path = check(pool(other), 'prefix-other.yaml')
    is_(rc, 1, 'the prefix of CPython %s fails too' % other_ver)
    like(err, r'error: .python_home. %s is a prefix of CPython %s.*embeds CPython %s'
         % (re.escape(other), re.escape(other_ver), re.escape(embedded)), 'naming both versions')
else:
    skip('no pyenv CPython 3.12 or 3.13 (other than the embedded one) here', 4)

rc, err, path = check(pool(os.path.join(d, 'no-such-venv')), 'home-missing.yaml')
is_(rc, 1, 'a python_home that does not exist fails')
like(err, r'%s:%d:\d+: error: .python_home. \S+no-such-venv does not exist'
     % (re.escape(path), line_of(path, 'python_home')), 'and says so at its position')
not_python = os.path.join(d, 'not-python')
os.makedirs(os.path.join(not_python, 'lib'))
rc, err, path = check(pool(not_python), 'home-junk.yaml')
is_(rc, 1, 'a directory that is no Python at all fails')
like(err, r'error: .python_home. \S+not-python is neither a virtualenv \(no pyvenv.cfg\) nor a '
     r'prefix of CPython %s' % re.escape(embedded), 'and says what it is not')

# The start refuses it with the same words, before a worker is spawned.
m = spawn([prog, '-c', path])
code = m.wait(30)
is_(code, 2, 'the manager does not start with it (exit 2: do not restart)')
like(m.output(), r'neither a virtualenv', 'and says why')
unlike(m.output(), r'spawned|init_fs_encoding', 'no worker was spawned')

# -- what the pool's user can read -----------------------------------------
nobody = pwd.getpwnam('nobody')
private = os.path.join(d, 'private')
os.mkdir(private, 0o700)
script = os.path.join(private, 'app.wsgi')
shutil.copy(app_path('mgr_app.wsgi'), script)
os.chmod(script, 0o644)
rc, err, path = check(pool(script=script), 'private.yaml')
is_(rc, 1, 'a script in a 0700 root directory fails for a pool run as nobody')
like(err, r'%s:%d:\d+: error: script %s cannot be read by user nobody.*directory %s \(mode 0700, '
     r'owner root:root\)' % (re.escape(path), line_of(path, 'script:'), re.escape(script),
                             re.escape(private)),
     'naming the script, the user and the directory in the way')
m = spawn([prog, '-c', path])
is_(m.wait(30), 2, 'the manager does not start with it')
unlike(m.output(), r'spawned', 'no worker was spawned')
os.chmod(private, 0o755)
rc, err, path = check(pool(script=script), 'private.yaml')
is_(rc, 0, 'with the directory 0755 it passes') or diag(err)
os.chmod(script, 0o600)
rc, err, path = check(pool(script=script), 'private.yaml')
is_(rc, 1, 'a 0600 script of root fails')
like(err, r'script %s cannot be read by user nobody.*\(mode 0600, owner root:root\)'
     % re.escape(script), 'and the file itself is named as what lacks the permission')
os.chmod(script, 0o644)
mods = os.path.join(d, 'mods')
os.mkdir(mods, 0o700)
rc, err, path = check(pool(script=script, extra='    python_path: [%s, %s/none]\n' % (mods, d)),
                      'pypath.yaml')
is_(rc, 1, 'a python_path directory nobody cannot read fails')
like(err, r'%s:%d:\d+: error: python_path entry %s cannot be read by user nobody'
     % (re.escape(path), line_of(path, 'python_path'), re.escape(mods)), 'at its position')
like(err, r'warning: python_path entry \S+/none: No such file or directory \(Python skips it\)',
     'a missing entry is a warning')
os.chmod(mods, 0o755)
rc, err, path = check(pool(script=script, extra='    python_path: [%s]\n' % mods), 'pypath.yaml')
is_(rc, 0, 'readable, it passes') or diag(err)
rc, err, path = check(pool(script=script, extra='    chdir: %s\n' % private.replace('private', 'gone')),
                      'chdir.yaml')
is_(rc, 1, 'a chdir that does not exist fails')
like(err, r"error: 'chdir' \S+/gone is not a directory", 'and says so')

# fcgiwsgi -t run by an operator's own user cannot take another user's
# credentials: it says what it did not check, and does not fail for it.
rc, err, path = check(pool(script=script, user='daemon'), 'as-nobody.yaml')
os.chmod(path, 0o644)
p = subprocess.run(['setpriv', '--reuid=nobody', '--regid=%d' % nobody.pw_gid, '--clear-groups',
                    '--', prog, '-t', '-c', path], capture_output=True, text=True, timeout=60)
p2 = p.stderr.replace(path, 'FILE')
is_(p.returncode, 0, 'run as nobody on a file for root, -t does not fail for what it cannot check') \
    or diag(p2)
like(p2, r'FILE:\d+:\d+: warning: not checked whether user daemon can read what pool .web. '
     r'needs: .*\(fcgiwsgi is not running as root\)', 'run as nobody, -t says what it could not check')

# -- directories ----------------------------------------------------------------
top = 'log: %s/logs/fcgiwsgi.log\npid_file: %s/run/deep/fcgiwsgi.pid\nlog_level: info\n' % (d, d)
body = pool().replace(sock_path('p.sock'), os.path.join(d, 'sockets', 'a', 'p.sock'))
path = os.path.join(d, 'dirs.yaml')
with open(path, 'w') as f:
    f.write(top + 'control: %s/ctl/ctl.sock\npools:\n  web:\n' % d + body)
p = subprocess.run([prog, '-t', '-c', path], capture_output=True, text=True, timeout=60)
is_(p.returncode, 1, 'missing directories two levels deep fail')
like(p.stderr, r"%s:1:6: warning: 'log' \S+: the directory %s/logs does not exist yet: fcgiwsgi "
     r"creates it" % (re.escape(path), re.escape(d)), 'the log directory: created at start')
like(p.stderr, r'%s:2:11: error: pid_file \S+: the directory %s/run/deep does not exist, nor '
     r'%s/run' % (re.escape(path), re.escape(d), re.escape(d)), 'the pid file: missing, said so')
like(p.stderr, r"%s:4:10: warning: control socket \S+: the directory %s/ctl does not exist yet"
     % (re.escape(path), re.escape(d)), 'the control socket: created')
like(p.stderr, r"%s:7:13: error: 'listen' \S+: the directory %s/sockets/a does not exist, nor"
     % (re.escape(path), re.escape(d)), 'a socket two levels down: missing')
# One level each: the manager makes them, and serves.
with open(path, 'w') as f:
    f.write(top.replace('/run/deep/', '/run/') + 'control: %s/ctl/ctl.sock\npools:\n  web:\n' % d +
            body.replace('/sockets/a/', '/sockets/'))
p = subprocess.run([prog, '-t', '-c', path], capture_output=True, text=True, timeout=60)
is_(p.returncode, 0, 'one missing level each passes') or diag(p.stderr)
m = spawn([prog, '-c', path])
sock = os.path.join(d, 'sockets', 'p.sock')
try:
    wait_socket(sock, timeout=30, proc=m)
    wait_log(os.path.join(d, 'logs', 'fcgiwsgi.log'), r'starting -> running', timeout=30)
    res = fcgi_request(sock, 'GET', '/', params=PARAMS)
except Exception as e:  # noqa: BLE001 - any failure is the finding
    res = None
    diag('%r\n%s' % (e, m.output()))
ok(res is not None and res.status == 200, 'the manager made the directories and serves')
for sub in ('logs', 'run', 'ctl', 'sockets'):
    st = os.stat(os.path.join(d, sub))
    is_(oct(st.st_mode & 0o777), oct(0o755), '%s/ was made with mode 0755' % sub)
ok(os.path.exists(os.path.join(d, 'run', 'fcgiwsgi.pid')), 'the pid file was written')
m.signal(15)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(os.path.join(d, 'logs', 'fcgiwsgi.log'))

# -- the web server's reach -----------------------------------------------------
try:
    pwd.getpwnam('www-data')
    have_www = True
except KeyError:
    have_www = False
if have_www:
    hidden = os.path.join(d, 'hidden')
    os.mkdir(hidden, 0o700)
    body = pool().replace(sock_path('p.sock'), os.path.join(hidden, 'p.sock'))
    rc, err, path = check(body, 'reach-dir.yaml')
    is_(rc, 0, 'an unreachable socket is not an error')
    like(err, r"%s:%d:13: warning: 'listen' \S+: the web server's usual user www-data could not "
         r"reach the socket: the directory %s \(mode 0700"
         % (re.escape(path), line_of(path, 'listen:'), re.escape(hidden)),
         'but a warning naming the directory')
    rc, err, path = check(pool().replace('    listen_group: www-data\n', ''), 'reach-mode.yaml')
    like(err, r"warning: 'listen' \S+: the web server's usual user www-data could not connect: the "
         r"socket will be mode 0660, owner nobody:nogroup.*set listen_group: www-data",
         'a socket mode www-data cannot write: the setting to change')
    rc, err, path = check(pool(), 'reach-ok.yaml')
    unlike(err, r'www-data could not', 'listen_group: www-data draws no warning')
else:
    skip('no www-data user here', 4)

# -- reload -------------------------------------------------------------------------
cfg = manager_config('  web:\n' + pool(), name='reload.yaml')
m = spawn([prog, '-c', cfg])
wait_log(m, r'\[pool web pid \d+\] starting -> running', timeout=30)
spawned = len(re.findall(r'spawned', m.output()))
manager_config('  web:\n' + pool(os.path.join(d, 'no-such-venv')), name='reload.yaml')
rc, out, err = ctl(cfg, 'reload')
isnt(rc, 0, 'a reload to a python_home that does not exist fails')
like(out + err, r'reload.yaml:\d+:\d+: error: .python_home. \S+ does not exist',
     'with the position and the reason')
is_(len(re.findall(r'spawned', m.output())), spawned, 'no worker was spawned with it')
res = fcgi_request(sock_path('p.sock'), 'GET', '/', params=PARAMS)
is_(res.status, 200, 'the running configuration keeps serving')
m.signal(15)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(m)
done_testing()
