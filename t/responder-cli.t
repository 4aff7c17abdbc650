#!/usr/bin/env python3
# fcgiwsgi-responder's command line, its listening socket's life cycle, and
# its signals: usage errors exit 2 naming the problem; --socket-mode; a live
# socket is never stolen, a stale one is replaced; SIGTERM/SIGINT stop
# gracefully (in-flight requests finish, exit 0, the socket file goes); a
# second signal exits 1 at once.
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

RESPONDER = program('fcgiwsgi-responder')
APP = app_path('slow_app.wsgi')
SERVER = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}


def run(args, stdin=subprocess.DEVNULL, timeout=30):
    """Run the responder to completion: (exit status, stdout, stderr)."""
    try:
        p = subprocess.run([RESPONDER] + list(args), stdin=stdin,
                           capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return None, (e.stdout or b'').decode(), 'timed out after %ss' % timeout
    return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')


def get(addr, uri, timeout=30):
    return fcgi_request(addr, 'GET', uri, params=SERVER, timeout=timeout)


def serves(addr):
    try:
        res = get(addr, '/hello', timeout=10)
        return (res.status, res.body)
    except (OSError, FcgiError) as e:
        return repr(e)


# ------------------------------------------------------------ usage errors

rc, out, err = run([APP])
is_(rc, 2, 'no --listen and fd 0 is /dev/null: exit 2')
like(err, r'fd 0 is not a listening socket', '... and says fd 0 is not a listening socket')
like(err, r'--listen', '... and suggests --listen')

a, b = socket.socketpair()
rc, out, err = run([APP], stdin=a)
a.close()
b.close()
is_(rc, 2, 'fd 0 a connected (not listening) socket: exit 2')
like(err, r'fd 0 is not a listening socket', '... with the same message')

probe = sock_path('never.sock')
cases = [
    (['--bogus', APP], r"unrecognized option '--bogus'|--bogus", 'unknown option'),
    (['--threads', '0', APP], r'--threads 0', '--threads 0'),
    (['--threads', 'x', APP], r'--threads x', '--threads x'),
    (['--max-body', '10X', APP], r'--max-body 10X', '--max-body 10X'),
    # 2^63 ms once turned negative in the worker: every request timed out.
    (['--request-timeout', '9223372036854775808ms', APP], r'--request-timeout .*at most 576h',
     'a --request-timeout past 576h'),
    (['--client-timeout', '577h', APP], r'--client-timeout 577h', 'a --client-timeout past 576h'),
    (['--max-body', '2T', APP], r'--max-body 2T.*at most 1T', 'a --max-body past 1T'),
    (['--mount', 'app', APP], r'--mount app: .*starts with /', '--mount without a leading slash'),
    (['--socket-mode', '999', APP], r'--socket-mode 999', '--socket-mode not octal'),
    (['--log-level', 'loud', APP], r'--log-level loud', 'unknown --log-level'),
    ([APP, APP], r'more than one SCRIPT', 'two scripts'),
    (['--listen', probe, '/nonexistent/app.wsgi'], r'/nonexistent/app\.wsgi: No such file',
     'a missing script'),
    (['--listen', 'nohost:notaport', APP], r'--listen', 'an unparsable --listen address'),
]
for args, pattern, what in cases:
    rc, out, err = run(args)
    is_(rc, 2, '%s: exit 2' % what)
    like(err, pattern, '%s: the message names the problem' % what)
ok(not os.path.exists(probe), 'a missing script leaves no socket file behind')

rc, out, err = run(['--help'])
is_(rc, 0, '--help exits 0')
like(out, r'^usage: fcgiwsgi-responder \[options\] \[SCRIPT\]', '--help prints usage on stdout')
like(out, r'--listen ADDR[\s\S]*--threads N[\s\S]*--mount PREFIX', '--help lists the options')
is_(err, '', '--help writes nothing on stderr')

rc, out, err = run(['--version'])
is_(rc, 0, '--version exits 0')
version = None
config_h = os.path.join(build_dir(), 'config.h')
if os.path.exists(config_h):
    m = re.search(r'#define PACKAGE_VERSION "([^"]*)"', open(config_h).read())
    version = m and m.group(1)
if version:
    is_(out.strip().splitlines()[0], 'fcgiwsgi-responder ' + version, '--version prints the package version first')
else:
    like(out, r'^fcgiwsgi-responder \d+\.\d+', '--version prints a version')

# -------------------------------------------------- the listening socket

old_umask = os.umask(0o022)
r = start_responder(APP, '--socket-mode', '0660')
os.umask(old_umask)
mode = stat.S_IMODE(os.stat(r.addr).st_mode)
is_(oct(mode), oct(0o660), '--socket-mode 0660 gives the socket file mode 0660')
ok(stat.S_ISSOCK(os.stat(r.addr).st_mode), 'the path is a socket')
is_(serves(r.addr), (200, b'hello'), 'it serves')

second = spawn([RESPONDER, '--listen', r.addr, APP])
is_(second.wait(30), 2, 'a second responder on the same live socket path exits 2')
like(second.output(), r'in use', '... saying the socket is in use')
ok(os.path.exists(r.addr), 'the live socket file is still there')
is_(serves(r.addr), (200, b'hello'), 'the first responder still serves on it')

path = r.addr
is_(r.stop(), 0, 'SIGTERM: exit 0')
ok(not os.path.exists(path), 'SIGTERM: the responder removed its socket file')
check_log_clean(r)

# stale socket: a SIGKILLed responder leaves its file
r = start_responder(APP)
path = r.addr
r.signal(signal.SIGKILL)
r.wait(10)
ok(os.path.exists(path), 'a SIGKILLed responder leaves a stale socket file')
r2 = start_responder(APP, listen=path)
is_(serves(path), (200, b'hello'), 'a new responder replaces the stale socket and serves')
unlike(r2.output(), r'in use', 'no "in use" complaint for a stale socket')
is_(r2.stop(), 0, 'and stops with 0')
ok(not os.path.exists(path), 'and removes the socket file')

# a path that is not a socket must not be replaced
plain = sock_path('plain-file')
with open(plain, 'w') as f:
    f.write('keep me')
rc, out, err = run(['--listen', plain, APP])
is_(rc, 2, '--listen on a regular file: exit 2')
is_(open(plain).read(), 'keep me', 'the regular file is left alone')

# ------------------------------------------------------------- signals


def slow_request(addr, secs, result):
    t0 = time.monotonic()
    try:
        res = get(addr, '/sleep?%s' % secs, timeout=30)
        result['res'] = (res.status, res.body)
    except (OSError, FcgiError) as e:
        result['res'] = 'error: %r' % e
    result['secs'] = time.monotonic() - t0


def graceful(sig, signame, secs):
    r = start_responder(APP, threads=2)
    path = r.addr
    result = {}
    th = threading.Thread(target=slow_request, args=(path, secs, result))
    th.start()
    wait_log(r, r'sleeping %s' % secs)
    t_sig = time.monotonic()
    r.signal(sig)
    wait_log(r, r'stopping')
    ok(r.alive(), '%s: still running while a request is in flight' % signame)
    late = {}

    def late_request():
        try:
            res = get(path, '/hello', timeout=secs + 10)
            late['res'] = (res.status, res.body)
        except (OSError, FcgiError) as e:
            late['res'] = 'error: %r' % e
    th2 = threading.Thread(target=late_request)
    th2.start()
    th.join(30)
    th2.join(secs + 15)
    rc = r.wait(15)
    elapsed = time.monotonic() - t_sig
    is_(result.get('res'), (200, ('slept %s' % secs).encode()),
        '%s: the in-flight slow request completes with 200' % signame)
    is_(rc, 0, '%s: exit 0 after the request finished' % signame)
    ok(str(late.get('res', '')).startswith('error'),
       '%s: a request arriving after the signal is not served (a free thread was idle)' % signame,
       got=late.get('res'), expected='connection closed, not served')
    ok(elapsed < secs + 5, '%s: exited soon after the request (%.2fs after the signal)' % (signame, elapsed))
    like(r.output(), r'stopping \(%s\)[\s\S]*stopped' % signame.split('+')[0], '%s: log says stopping then stopped' % signame)
    ok(not os.path.exists(path), '%s: socket file removed' % signame)
    check_log_clean(r, '%s: log clean' % signame)


graceful(signal.SIGTERM, 'Terminated', 2)
graceful(signal.SIGINT, 'Interrupt', 1)

# idle responder: SIGINT stops at once
r = start_responder(APP)
t0 = time.monotonic()
r.signal(signal.SIGINT)
rc = r.wait(10)
is_(rc, 0, 'SIGINT on an idle responder: exit 0')
ok(time.monotonic() - t0 < 3, 'SIGINT on an idle responder: quickly (%.2fs)' % (time.monotonic() - t0))

# a client connected but silent (it has not sent its request yet) must not
# hold up a graceful stop: there is nothing in progress to finish
r = start_responder(APP)
path = r.addr
silent = connect(path, timeout=10)
time.sleep(0.2)  # let the responder take the connection first
t0 = time.monotonic()
r.signal(signal.SIGTERM)
rc = r.wait(5)
elapsed = time.monotonic() - t0
silent.close()
if rc is None:
    rc = r.wait(10)  # stops once the client has gone
    diag('exit status %s only after the silent client closed' % rc)
ok(elapsed < 3, 'SIGTERM with a connected but silent client: exits within 3 s (%.2fs)' % elapsed,
   got=elapsed, expected='< 3')
is_(rc, 0, '... with exit status 0')
check_log_clean(r)

# second signal while a slow request runs: exit 1 at once
r = start_responder(APP, threads=2)
result = {}
th = threading.Thread(target=slow_request, args=(r.addr, 10, result))
th.start()
wait_log(r, r'sleeping 10')
r.signal(signal.SIGTERM)
wait_log(r, r'stopping')
t0 = time.monotonic()
r.signal(signal.SIGTERM)
rc = r.wait(10)
elapsed = time.monotonic() - t0
is_(rc, 1, 'a second SIGTERM during a slow request: exit 1')
ok(elapsed < 2, 'a second SIGTERM exits quickly (%.2fs, the request had ~10s left)' % elapsed)
like(r.output(), r'second stop signal', 'the log says why')
th.join(15)
ok(not th.is_alive() and str(result.get('res', '')).startswith('error'),
   'the cut-off request sees its connection closed', got=result)
check_log_clean(r)

done_testing()
