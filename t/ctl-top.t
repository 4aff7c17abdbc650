#!/usr/bin/env python3
# fcgiwsgi-ctl top (issue 17), in a real terminal: tmux (its own server on
# a socket in the temp dir, stopped by pid). Two pools, a slow request in
# flight on one: the frame shows both pools and the busy worker first,
# with its URI escaped and an age that grows from frame to frame; after a
# resize it fits the new width and height without wrapping; q, Ctrl-C and
# SIGTERM each leave the alternate screen with the cursor shown and the
# terminal's modes as they were (stty -g), exiting 0, 0 and by the signal;
# pools stopped, with no worker to list, are shown stopped; a manager that
# goes away is shown and top goes on until q. Without a terminal: one
# frame, exit 0. A dead control socket: the message and the exit status of
# `status`, the terminal untouched. Bad arguments: 2.
import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

d = tmpdir()
web, slow = sock_path('web.sock'), sock_path('slow.sock')
cfg = manager_config('''  web:
    listen: %s
    processes: 2
    threads: 2
    allow_root: true
    apps: [{mount: /, script: %s}]
  slow:
    listen: %s
    processes: 1
    allow_root: true
    graceful_timeout: 1s
    apps: [{mount: /, script: %s}]
''' % (web, app_path('mgr_app.wsgi'), slow, app_path('mgr_app.wsgi')), name='top.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: m.output().count('starting -> running') >= 3, timeout=30, what='workers ready')
CTL = program('fcgiwsgi-ctl')

# ---- arguments ----------------------------------------------------------------
for args in (['--delay', '0'], ['--delay', '0.05'], ['--delay', '3601'], ['--delay', 'x'],
             ['--delay'], ['web', 'slow'], ['--json']):
    rc, out, err = ctl(cfg, 'top', *args)
    is_(rc, 2, 'top %s: usage error (2)' % ' '.join(args))

# ---- a dead control socket --------------------------------------------------------
nowhere = os.path.join(d, 'none.ctl')
rc, out, err = ctl(nowhere, 'top')
is_((rc, ctl(nowhere, 'status')[0]), (4, 4), 'no control socket: exit 4, as status')
like(err, r'no control socket at \S+none\.ctl', '... and says so')
stale = os.path.join(d, 'stale.ctl')
s = socket.socket(socket.AF_UNIX)
s.bind(stale)  # bound, never listening: connect is refused
rc, out, err = ctl(stale, 'top')
is_((rc, ctl(stale, 'status')[0]), (5, 5), 'nobody accepting: exit 5, as status')
like(err, r'the manager is not running', '... and says so')
rc, out, err = ctl(cfg, 'top', 'nosuchpool')
is_((rc, out), (3, ''), 'an unknown pool: exit 3, as status') or diag(err)

# ---- a slow request in flight -------------------------------------------------
URI = '/sleep/30/\x1b[31mred'
SHOWN = r'GET /sleep/30/\x1b[31mred'
res = []


def slow_request():
    try:
        res.append(fcgi_request(slow, uri=URI, timeout=60))
    except Exception as e:  # cut at graceful_timeout when the manager stops
        res.append(e)


threading.Thread(target=slow_request, daemon=True).start()
wait_for(lambda: '/sleep/30' in ctl(cfg, 'status', 'slow')[1], timeout=10, what='the request')


def worker_lines(lines):
    """The lines after the workers' header."""
    for i, ln in enumerate(lines):
        if re.match(r'\s*PID POOL', ln):
            return lines[i + 1:]
    return []


def busy_age(ln):
    m_ = re.search(r' busy +(\d+)\.(\d)s ', ln)
    return int(m_.group(1)) * 10 + int(m_.group(2)) if m_ else None


# ---- no terminal: one frame -------------------------------------------------------
rc, out, err = ctl(cfg, 'top')
is_(rc, 0, 'stdout a pipe: top exits 0')
lines = out.splitlines()
is_(len([ln for ln in lines if ln.startswith('fcgiwsgi ')]), 1, '... after one frame')
like(out, r'(?m)^web +running ', '... with pool web')
like(out, r'(?m)^slow +running ', '... and pool slow')
ws = worker_lines(lines)
ok(len(ws) == 3 and ' slow ' in ws[0] and SHOWN in ws[0] and busy_age(ws[0]) is not None,
   '... the busy worker first, with its URI escaped and its age', got=ws)
ok('\x1b' not in out, '... and no raw ESC byte in it')

# ---- in tmux ----------------------------------------------------------------------
tmux = shutil.which('tmux')
TMUX_CHECKS = 31
if not tmux:
    skip('tmux not installed (t/deps.sh test installs it)', TMUX_CHECKS)
    m.stop()
    is_(log_bad_lines(m), [], 'no crit, alert or sanitizer line in the log')
    done_testing()
    sys.exit(0)
tsock = os.path.join(d, 'tmux.sock')
script = os.path.join(d, 'run-top.sh')
with open(script, 'w') as f:
    # $1: a name for its files; the rest: fcgiwsgi-ctl's arguments. The
    # inner sh execs top, so its pid is top's.
    f.write('''#!/bin/sh
tag=$1; shift
stty -g > %(d)s/$tag.stty.before
echo "before-top $tag"
sh -c 'echo $$ > "$0"; exec "$@"' %(d)s/$tag.pid %(ctl)s "$@"
status=$?
stty -g > %(d)s/$tag.stty.after
echo "top exited $status"
exec sleep 300
''' % {'d': d, 'ctl': CTL})
server = []


def tm(*args, check=True):
    r = subprocess.run([tmux, '-S', tsock, '-f', '/dev/null'] + list(args), capture_output=True,
                       text=True, timeout=10)
    if check and r.returncode != 0:
        raise RuntimeError('tmux %s: %s' % (args, r.stderr))
    return r.stdout


def stop_tmux():
    for pid in server:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass


atexit.register(stop_tmux)  # before fwtest's own cleanup, which stops the manager


def start(tag, *args, x=100, y=30):
    tm('new-session', '-d', '-s', tag, '-x', str(x), '-y', str(y),
       'sh %s %s %s' % (script, tag, ' '.join(args)))
    if not server:
        server.append(int(tm('display-message', '-p', '-t', tag, '#{pid}').strip()))


def screen(tag):
    return tm('capture-pane', '-p', '-t', tag).split('\n')[:-1]


def flag(tag, name):
    return tm('display-message', '-p', '-t', tag, '#{%s}' % name).strip()


def frame_with(tag, predicate, what, timeout=10):
    return wait_for(lambda: (lambda s: s if predicate(s) else None)(screen(tag)), timeout=timeout,
                    what='%s: %s' % (tag, what))


def has_frame(s):
    ws = worker_lines(s)
    return ws and SHOWN in ws[0] and any(ln.startswith('web ') for ln in s)


def stty_same(tag):
    with open(os.path.join(d, tag + '.stty.before')) as a, \
            open(os.path.join(d, tag + '.stty.after')) as b:
        return a.read() == b.read()


def exited(tag, status):
    s = frame_with(tag, lambda s: any('top exited' in ln for ln in s), 'top has exited')
    is_([ln for ln in s if 'top exited' in ln], ['top exited %d' % status],
        '%s: top exited %d' % (tag, status))
    ok(any(ln == 'before-top %s' % tag for ln in s),
       '%s: the shell\'s screen is back (alternate screen left)' % tag, got=s)
    is_((flag(tag, 'alternate_on'), flag(tag, 'cursor_flag')), ('0', '1'),
        '%s: tmux says: not in the alternate screen, cursor shown' % tag)
    ok(stty_same(tag), '%s: the terminal modes are those before top (stty -g)' % tag)


start('main', '-c', cfg, 'top')
s = frame_with('main', has_frame, 'a frame with the busy worker first')
is_(flag('main', 'alternate_on'), '1', 'top runs in the alternate screen')
ok(any(re.match(r'slow +running ', ln) for ln in s), 'both pools are shown', got=s)
first = worker_lines(s)[0]
ok(' slow ' in first and busy_age(first) is not None,
   'the busy worker comes first, with its URI escaped and its age', got=first)
s2 = frame_with('main', lambda s: has_frame(s) and busy_age(worker_lines(s)[0]) != busy_age(first),
                'a later frame', timeout=5)
ok(busy_age(worker_lines(s2)[0]) > busy_age(first), 'the age grows from one frame to the next',
   got=(first, worker_lines(s2)[0]))
ok(max(len(ln) for ln in s2) <= 100 and len(s2) <= 30, 'the frame fits 100x30')

tm('resize-window', '-t', 'main', '-x', '60', '-y', '8')
s = frame_with('main', lambda s: len(s) == 8 and any('more lines' in ln for ln in s),
               'a frame for 60x8')
ok(max(len(ln) for ln in s) <= 60, 'after a resize to 60x8, no line is wider', got=s)
ok(s[2].startswith('POOL') and s[3].startswith('web ') and s[4].startswith('slow '),
   '... lines are cut, not wrapped', got=s)
like(s[7], r'^\.\.\. \d+ more lines', '... and the last line says how many did not fit')
tm('resize-window', '-t', 'main', '-x', '100', '-y', '30')
frame_with('main', lambda s: len(s) == 30 and has_frame(s), 'a frame for 100x30 again')
tm('send-keys', '-t', 'main', 'q')
exited('main', 0)

start('ctrlc', '-c', cfg, 'top', '--delay', '0.3')
frame_with('ctrlc', has_frame, 'a frame')
tm('send-keys', '-t', 'ctrlc', 'C-c')
exited('ctrlc', 0)

start('term', '-c', cfg, 'top')
frame_with('term', has_frame, 'a frame')
with open(os.path.join(d, 'term.pid')) as f:
    os.kill(int(f.read()), signal.SIGTERM)
exited('term', 128 + signal.SIGTERM)

start('dead', '-s', nowhere, 'top')
exited('dead', 4)
ok(any('no control socket' in ln for ln in screen('dead')), 'dead: the message is on the terminal')

# Every pool stopped: no worker left to list (the frame once sorted an
# empty list undefinedly: UBSan aborted).
is_([ctl(cfg, 'stop', p)[0] for p in ('web', 'slow')], [0, 0], 'both pools stopped')
wait_for(lambda: '"workers":[]}]}' in ctl(cfg, 'status', 'slow', '--json')[1], timeout=10,
         what='the slow worker gone')
rc, out, err = ctl(cfg, 'top')
ok(rc == 0 and re.search(r'(?m)^web +stopped ', out) and re.search(r'(?m)^slow +stopped ', out)
   and worker_lines(out.splitlines()) == [], 'stopped pools: shown stopped, no worker', got=out)

# The manager goes away under a running top.
start('gone', '-c', cfg, 'top')
frame_with('gone', lambda s: any(re.match(r'slow +stopped ', ln) for ln in s), 'a frame')
m.stop()
frame_with('gone', lambda s: any(re.search(r'^retrying: (no control socket|nothing accepts)', ln)
                                  for ln in s), 'the manager gone, said')
tm('send-keys', '-t', 'gone', 'q')
exited('gone', 0)

is_(log_bad_lines(m), [], 'no crit, alert or sanitizer line in the log')
done_testing()
