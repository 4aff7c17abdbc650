#!/usr/bin/env python3
# A worker inherits its fd layout and nothing else of the master's, even
# where close_range() does not exist (issue 15: before Linux 5.9 it fails
# with ENOSYS, and its result was not checked): the manager runs under a
# seccomp filter that fails close_range with ENOSYS, and its workers must not
# hold the master's signalfd, epoll or inotify descriptors.
import ctypes
import os
import platform
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

if platform.machine() != 'x86_64':
    skip_all('the seccomp filter here knows x86_64 syscall numbers only')
PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
NO_CLOSE_RANGE = r'''
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
def insn(code, jt, jf, k):
    return struct.pack('HBBI', code, jt, jf, k)
prog = b''.join([
    insn(0x20, 0, 0, 4),             # A = arch
    insn(0x15, 0, 3, 0xc000003e),    # x86_64, else allow
    insn(0x20, 0, 0, 0),             # A = syscall number
    insn(0x15, 0, 1, 436),           # close_range
    insn(0x06, 0, 0, 0x00050000 | 38),  # fail with ENOSYS
    insn(0x06, 0, 0, 0x7fff0000),    # allow
])
buf = ctypes.create_string_buffer(prog)
class Fprog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]
fp = Fprog(len(prog) // 8, ctypes.addressof(buf))
if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.byref(fp), 0, 0) != 0:
    sys.exit('seccomp: errno %d' % ctypes.get_errno())
os.execv(sys.argv[1], sys.argv[1:])
'''
sock = sock_path('fds.sock')
cfg = manager_config('''  p:
    listen: %s
    user: nobody
    processes: 1
    apps:
      - {mount: /, script: %s}
''' % (sock, app_path('mgr_app.wsgi')), name='fds.yaml')
os.chmod(tmpdir(), 0o755)
m = spawn([sys.executable, '-c', NO_CLOSE_RANGE, program('fcgiwsgi'), '-c', cfg])
wait_log(m, r'\[pool p pid \d+\] starting -> running', timeout=30)
res = fcgi_request(sock, 'GET', '/', params=PARAMS)
is_(res.status, 200, 'the pool serves with close_range failing ENOSYS')
worker = int(res.body.split()[0])


def links(pid):
    out = {}
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            out[int(fd)] = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            pass
    return out


master = links(m.pid)
ok(any('signalfd' in v for v in master.values()), 'the master holds a signalfd (the probe works)',
   got=master)
mine = links(worker)
# Anything past the layout that the master holds too (a socket, a pipe or
# a file is the same object in both), or the master's signalfd or inotify.
shared = set(v for v in master.values() if not v.startswith('anon_inode:'))
shared |= set(v for fd, v in mine.items() if fd <= 4)
leaked = {fd: v for fd, v in mine.items()
          if fd > 4 and (v in shared or 'signalfd' in v or 'inotify' in v)}
is_(leaked, {}, "the worker holds nothing of the master's past its fd layout")
m.signal(15)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(m)
done_testing()
