#!/usr/bin/env python3
# own_gil (issue 18, part 3): on CPython 3.12 and later, two CPU-bound apps
# of one worker with 2 threads, each in a group with its own GIL, run
# Python at the same time: each call logs the stretches in which it ran,
# and those of two calls overlap, which one shared GIL cannot allow (the
# same apps without own_gil are the control). A module without per-interpreter GIL
# support (t/ext/fw_sharedgil.c) is refused in such an interpreter with one
# line naming it and the fix, and loads in a shared-GIL one. A slow call in
# an own-GIL interpreter has its stack logged and request_timeout
# interrupts it. -t refuses own_gil on "%{GLOBAL}" and where two apps of a
# group disagree; on CPython 3.11 it refuses any own_gil: true, naming the
# version, each at file:line:column.
import os
import re
import shlex
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
CPU = app_path('cpu_app.wsgi')
prog = program('fcgiwsgi')
vers = subprocess.run([prog, '--version'], capture_output=True, text=True, timeout=30).stdout
embedded = tuple(int(x) for x in re.search(r'CPython (\d+)\.(\d+)', vers).groups())


def make_var(name):
    with open(os.path.join(build_dir(), 'Makefile')) as f:
        m = re.search(r'^%s = (.*)$' % name, f.read(), re.M)
    return m.group(1).strip() if m else ''


def check(text, name):
    """fcgiwsgi -t on a config whose pools are text: (status, stderr, path)."""
    path = manager_config(text, name=name)
    p = subprocess.run([prog, '-t', '-c', path], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stderr, path


def where(path, needle, nth=1):
    """line:column (1-based) of the character after the nth `needle` in the file."""
    with open(path) as f:
        lines = f.read().split('\n')
    for i, ln in enumerate(lines):
        c = ln.find(needle)
        if c >= 0:
            nth -= 1
            if nth == 0:
                return '%d:%d' % (i + 1, c + len(needle) + 1)
    return '?'


def pool(name, apps, extra=''):
    return ('  %s:\n    listen: %s\n    allow_root: true\n    processes: 1\n    threads: 2\n'
            '%s    apps:\n%s') % (name, sock_path(name + '.sock'), extra, apps)


def app(mount, script=CPU, more=''):
    return '      - {mount: %s, script: %s%s}\n' % (mount, script, more)


OWN = ', own_gil: true'

if embedded < (3, 12):
    rc, err, path = check(pool('old', app('/a', more=OWN)), 'old.yaml')
    isnt(rc, 0, '-t refuses own_gil: true on CPython %d.%d' % embedded)
    like(err, r'%s:%s: .*\'own_gil: true\' needs CPython 3\.12 or later, and fcgiwsgi embeds '
         r'CPython %d\.%d' % ((re.escape(path), where(path, 'own_gil: ')) + embedded),
         'at file:line:column, naming the embedded version') or diag(err)
    rc, err, path = check(pool('old', app('/a', more=', own_gil: false')), 'false.yaml')
    is_(rc, 0, 'and accepts own_gil: false') or diag(err)
    done_testing()
    sys.exit(0)

# -t: "%{GLOBAL}" keeps the main GIL; apps of one group must agree.
rc, err, path = check(pool('glob', app('/a', more=', application_group: "%{GLOBAL}"' + OWN)),
                      'global.yaml')
isnt(rc, 0, '-t refuses own_gil on "%{GLOBAL}"')
like(err, r'%s:%s: .*cannot apply to application_group "%%\{GLOBAL\}"'
     % (re.escape(path), where(path, 'own_gil: ')), 'at file:line:column') or diag(err)
rc, err, path = check(pool('mixed', app('/a', more=', application_group: g' + OWN)
                           + app('/b', more=', application_group: g, own_gil: false')),
                      'mixed.yaml')
isnt(rc, 0, '-t refuses apps of one group that disagree on own_gil')
like(err, r"%s:%s: .*'own_gil' is false, and the app at %s in the same application_group 'g' "
     r'has true' % (re.escape(path), where(path, 'own_gil: ', 2),
                    where(path, '- ', 1)), 'at the second app\'s value, naming the first')\
    or diag(err)

# The refusing module, built against the embedded CPython's headers.
ext = os.path.join(tmpdir(), 'ext')
os.makedirs(ext)
cmd = (shlex.split(make_var('CC') or 'cc') + ['-shared', '-fPIC', '-O2', '-Wall', '-Werror']
       + shlex.split(make_var('PYTHON_CFLAGS'))
       + ['-o', os.path.join(ext, 'fw_sharedgil.so'),
          os.path.join(src_dir(), 't', 'ext', 'fw_sharedgil.c')])
p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
if p.returncode != 0:
    bail_out('building fw_sharedgil failed: %s\n%s' % (' '.join(cmd), p.stderr))

REFUSE = app_path('refuse_sharedgil.wsgi')
cfg = manager_config(
    pool('own', app('/a', more=OWN) + app('/b', more=OWN) + app('/c'),
         '    slowlog_timeout: 400ms\n    request_timeout: 3s\n')
    + pool('shared', app('/a') + app('/b'))
    + pool('refuse', app('/x', REFUSE, OWN) + app('/y', REFUSE),
           '    python_path: [%s]\n' % ext))
m = spawn([prog, '-c', cfg])
for name in ('own', 'shared', 'refuse'):
    wait_log(m, r'\[pool %s pid \d+\] starting -> running' % name, timeout=60)
like(m.output(), r"\[pool own pid \d+\] created interpreter for application group 'own\|/a' "
     r'with its own GIL', 'the own-GIL interpreters are created')


def get(name, uri, timeout=30):
    return fcgi_request(sock_path(name + '.sock'), 'GET', uri, params=PARAMS, timeout=timeout)


def together(name, seconds=1.5):
    """Two /runs calls at once, to /a and /b: for how long (s) both ran
    Python at the same moment."""
    res = {}

    def one(mount):
        r = get(name, '%s/runs/%g' % (mount, seconds))
        res[mount] = ([tuple(float(x) for x in ln.split()) for ln in r.body.split(b'\n')]
                      if r.status == 200 else [])

    ths = [threading.Thread(target=one, args=(mnt,)) for mnt in ('/a', '/b')]
    for t in ths:
        t.start()
    for t in ths:
        t.join(60)
    a, b = res.get('/a', []), res.get('/b', [])
    both, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):
        both += max(0.0, min(a[i][1], b[j][1]) - max(a[i][0], b[j][0]))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return both


# Parallel: while one holds a shared GIL the other cannot run Python, so
# their stretches of running never overlap there (the control); with own
# GILs they do whenever the machine runs both threads at once. A machine
# busy with other work may seldom do that, so up to 5 tries.
ROUNDS = 5
own = []
for _ in range(ROUNDS):
    own.append(together('own'))
    if own[-1] > 0.1:
        break
ok(max(own) > 0.1, 'own GIL: two CPU-bound calls of 1.5 s run Python at the same time '
   '(for %s s; wanted > 0.1 s in one of %d tries)' % (', '.join('%.3f' % x for x in own), ROUNDS))
shared = [together('shared') for _ in range(3)]
ok(max(shared) < 0.001, 'the control: with one GIL never (%s s)'
   % ', '.join('%.4f' % x for x in shared))

# The slow log and request_timeout reach a call under its own GIL.
res = get('own', '/a/cpu/1')
is_(res.status, 200, 'a call past slowlog_timeout answers')
wait_log(m, r'\[pool own pid \d+\] .*stack \(slow request GET /a/cpu/1\).*in spin', timeout=10)
ok(True, 'its stack is logged, from its own interpreter')
res = get('own', '/b/cpu/8')
is_(res.status, 504, 'request_timeout interrupts a call under its own GIL')

# CPython 3.12 ran a single-phase module's init in the own-GIL interpreter
# before refusing it there, and the next interpreter to import it crashed
# the process (decimal's _decimal, then the same in a shared-GIL group).
pid = get('own', '/c/pid').body
res = get('own', '/a/decimal')
is_(res.status, 200, 'decimal in an own-GIL interpreter: %r' % res.body)
res = get('own', '/c/decimal')
is_((res.status, res.body.split()[0]), (200, b'0.3333333333333333333333333333'),
    'then in a shared-GIL one of the same worker')
is_(get('own', '/c/pid').body, pid, 'the worker lives on')
# And _asyncio first imported by an own-GIL interpreter made 3.12's
# finalization free a pointer of that interpreter's ("free(): invalid
# pointer", SIGABRT at the worker's exit): checked when the manager stops.
res = get('own', '/a/asyncio')
is_((res.status, res.body), (200, b'asyncio'), 'asyncio in an own-GIL interpreter')

# A module without per-interpreter GIL support.
FIX = r'set own_gil: false for this app \(or application_group: "%\{GLOBAL\}"\)'
like(m.output(), r'\[pool refuse pid \d+\] app %s: module fw_sharedgil cannot be imported in an '
     r'interpreter with its own GIL \(module fw_sharedgil does not support loading in '
     r'subinterpreters\): %s\n' % (re.escape(REFUSE), FIX),
     'own GIL: the module is refused with one line naming it and the fix')
is_(get('refuse', '/x/').status, 500, 'and that app answers 500')
res = get('refuse', '/y/')
is_((res.status, res.body), (200, b'refuse|/y fw_sharedgil'),
    'the same app without own_gil loads it')
rc, out, err = ctl(cfg, 'status', 'refuse')
like(out, r'  import failed .*: module fw_sharedgil .*%s\n' % FIX, 'status shows the line') \
    or diag(out + err)

m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
unlike(m.output(), r'exited \(killed|free\(\)|munmap_chunk|Fatal Python error',
       'no worker crashed, at its exit either')
check_log_clean(m)
done_testing()
