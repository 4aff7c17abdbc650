#!/usr/bin/env python3
# A unix socket's mode and owner are changed on the socket that was bound
# and never through whatever now has its name (issue 15): nobody, owning the
# socket's directory, renames a symlink to a root-only file over the socket
# path, and a reload that changes listen_mode must leave that file alone and
# say why. A directory that anyone may write without the sticky bit is
# refused by -t and at start, naming it; with the sticky bit it is accepted.
import os
import pwd
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

if os.geteuid() != 0:
    skip_all('needs root to play nobody against a root-owned file')
PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
nobody = pwd.getpwnam('nobody')
os.chmod(tmpdir(), 0o755)


def as_nobody(code):
    return subprocess.run(['setpriv', '--reuid=nobody', '--regid=%d' % nobody.pw_gid,
                           '--clear-groups', '--', sys.executable, '-c', code],
                          capture_output=True, timeout=30)


def pool(listen, mode):
    return '''  p:
    listen: %s
    listen_mode: "%s"
    user: nobody
    processes: 1
    apps:
      - {mount: /, script: %s}
''' % (listen, mode, app_path('mgr_app.wsgi'))


# The attack: a directory nobody owns (as /run/APP often is the app user's).
owned = os.path.join(tmpdir(), 'owned')
os.mkdir(owned, 0o755)
os.chown(owned, nobody.pw_uid, nobody.pw_gid)
sock = os.path.join(owned, 'app.sock')
target = os.path.join(tmpdir(), 'root-only')
with open(target, 'w') as f:
    f.write('secret\n')
os.chmod(target, 0o600)

cfg = manager_config(pool(sock, '0660'), name='perms.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_log(m, r'\[pool p pid \d+\] starting -> running', timeout=30)
is_(fcgi_request(sock, 'GET', '/', params=PARAMS).status, 200, 'the pool serves')
st = os.stat(sock)
is_(stat.S_IMODE(st.st_mode), 0o660, 'the socket has listen_mode')
is_(st.st_uid, nobody.pw_uid, 'and is owned by the pool user')

r = as_nobody('import os; os.symlink(%r, %r); os.rename(%r, %r)'
              % (target, sock + '.new', sock + '.new', sock))
is_(r.returncode, 0, 'nobody renamed a symlink over the socket path') or diag(r.stderr)
ok(os.path.islink(sock), 'the socket path is now a symlink')

manager_config(pool(sock, '0666'), name='perms.yaml')
mark = len(m.output())
rc, out, err = ctl(cfg, 'reload')
is_(rc, 0, 'the reload is accepted') or diag(out + err)
st = os.stat(target)
is_(oct(stat.S_IMODE(st.st_mode)), oct(0o600), 'the root-only file keeps its mode')
is_((st.st_uid, st.st_gid), (0, 0), 'and its owner')
like(m.output()[mark:], r'(?i)\[pool p\].*%s.*(symlink|not the socket)' % sock,
     'the reload logs that the path is no longer its socket')

m.signal(15)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(m)

# A directory anyone may write, without the sticky bit: anyone can put a
# symlink in the socket's place at any time.
open_dir = os.path.join(tmpdir(), 'open')
os.mkdir(open_dir)
os.chmod(open_dir, 0o777)
cfg2 = manager_config(pool(os.path.join(open_dir, 'x.sock'), '0660'), name='open.yaml')
p = subprocess.run([program('fcgiwsgi'), '-t', '-c', cfg2], capture_output=True, timeout=30)
isnt(p.returncode, 0, '-t refuses a socket in a world-writable directory without sticky bit')
like(p.stderr.decode(), r'open.yaml:\d+:\d+: .*%s.*writable' % open_dir,
     '-t names the file position and the directory')
m = spawn([program('fcgiwsgi'), '-c', cfg2])
code = m.wait(15)
created = os.path.exists(os.path.join(open_dir, 'x.sock'))
m.stop()
ok(code not in (None, 0), 'the manager does not start with it', got=code)
like(m.output(), r'%s.*writable' % open_dir, 'and says why')
ok(not created, 'no socket was created there')

os.chmod(open_dir, 0o1777)
p = subprocess.run([program('fcgiwsgi'), '-t', '-c', cfg2], capture_output=True, timeout=30)
is_(p.returncode, 0, '-t accepts it with the sticky bit') or diag(p.stderr.decode())
m = spawn([program('fcgiwsgi'), '-c', cfg2])
wait_log(m, r'\[pool p pid \d+\] starting -> running', timeout=30)
is_(fcgi_request(os.path.join(open_dir, 'x.sock'), 'GET', '/', params=PARAMS).status, 200,
    'and the pool serves there')
m.signal(15)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(m)
done_testing()
