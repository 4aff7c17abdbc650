"""fwtest: shared helpers for the fcgiwsgi integration tests (t/*.t).

Python 3 standard library only.  A test script does::

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
    from fwtest import *

and then prints TAP through ok()/is_()/like()/..., starts processes with
spawn() (all of them are stopped when the script exits, even on an uncaught
exception or SIGTERM), talks FastCGI with FcgiConn/fcgi_request and HTTP
with http_request, and finishes with done_testing().

Addresses are accepted everywhere in one of these forms: a unix socket path
(str starting with '/' or '.'), 'unix:/path', '@abstract', a (host, port)
tuple, 'HOST:PORT' or '[v6addr]:PORT'.
"""

import atexit
import glob
import http.client
import os
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

__all__ = [
    'plan', 'ok', 'is_', 'isnt', 'like', 'unlike', 'diag', 'skip', 'skip_all',
    'bail_out', 'done_testing', 'tmpdir', 'sock_path', 'free_port', 'spawn',
    'Process', 'wait_for', 'wait_socket', 'wait_log', 'parse_addr', 'connect',
    'listen', 'encode_params', 'decode_params', 'record', 'records',
    'begin_request', 'FcgiError', 'FcgiConn', 'FcgiResponse', 'cgi_params',
    'fcgi_request', 'get_values', 'http_request', 'http_raw', 'HttpResponse',
    'start_nginx', 'nginx_bad_log_lines', 'log_bad_lines', 'build_dir',
    'src_dir', 'program', 'app_path', 'start_responder', 'check_log_clean',
    'manager_config', 'ctl', 'Load', 'MixedHttpLoad',
    'BAD_LOG_PATTERNS', 'c_function_names', 'log_function_name_lines',
    'FCGI_VERSION_1', 'FCGI_BEGIN_REQUEST', 'FCGI_ABORT_REQUEST',
    'FCGI_END_REQUEST', 'FCGI_PARAMS', 'FCGI_STDIN', 'FCGI_STDOUT',
    'FCGI_STDERR', 'FCGI_DATA', 'FCGI_GET_VALUES', 'FCGI_GET_VALUES_RESULT',
    'FCGI_UNKNOWN_TYPE', 'FCGI_RESPONDER', 'FCGI_AUTHORIZER', 'FCGI_FILTER',
    'FCGI_KEEP_CONN', 'FCGI_REQUEST_COMPLETE', 'FCGI_CANT_MPX_CONN',
    'FCGI_OVERLOADED', 'FCGI_UNKNOWN_ROLE',
]

_UNSET = object()

# ---------------------------------------------------------------- TAP output


class _Tap:
    """The module-level TAP state (one per test script)."""

    def __init__(self):
        self.lock = threading.RLock()
        self.count = 0
        self.failed = 0
        self.planned = None
        self.plan_printed = False
        self.done = False

    def line(self, text):
        with self.lock:
            sys.stdout.write(text + '\n')
            sys.stdout.flush()


_tap = _Tap()


def _short(value, limit=2000):
    r = repr(value)
    if len(r) > limit:
        r = r[:limit] + '...(%d chars in repr)' % len(r)
    return r


def diag(msg):
    """Print msg (any object) as TAP comment lines ('# ...') on stdout."""
    text = str(msg)
    with _tap.lock:
        for ln in (text.splitlines() or ['']):
            _tap.line('# ' + ln if ln else '#')


def plan(n):
    """Declare the number of tests up front (optional; see done_testing)."""
    with _tap.lock:
        if _tap.plan_printed:
            raise RuntimeError('plan already printed')
        _tap.planned = n
        _tap.plan_printed = True
        _tap.line('1..%d' % n)


def ok(cond, name='', got=_UNSET, expected=_UNSET, _where=True):
    """Emit one test result; on failure print expected/got as diagnostics."""
    name = str(name).replace('\n', ' ').replace('#', '\\#')
    desc = ' - ' + name if name else ''
    with _tap.lock:
        _tap.count += 1
        if cond:
            _tap.line('ok %d%s' % (_tap.count, desc))
        else:
            _tap.failed += 1
            _tap.line('not ok %d%s' % (_tap.count, desc))
            where = traceback.extract_stack(limit=4)
            caller = [f for f in where if f.filename != __file__]
            if caller and _where:
                diag("  Failed test '%s' at %s line %d" % (
                    name, caller[-1].filename, caller[-1].lineno))
            if expected is not _UNSET:
                diag('expected: ' + _short(expected))
            if got is not _UNSET:
                diag('     got: ' + _short(got))
    return bool(cond)


def is_(got, expected, name=''):
    """ok(got == expected)."""
    return ok(got == expected, name, got=got, expected=expected)


def isnt(got, unexpected, name=''):
    """ok(got != unexpected)."""
    return ok(got != unexpected, name, got=got,
              expected='anything but ' + _short(unexpected))


def _search(got, regex):
    if got is None:
        return None
    pat = regex if isinstance(regex, re.Pattern) else re.compile(regex)
    if isinstance(pat.pattern, bytes) and isinstance(got, str):
        got = got.encode('utf-8', 'surrogateescape')
    elif isinstance(pat.pattern, str) and isinstance(got, (bytes, bytearray)):
        got = bytes(got).decode('utf-8', 'surrogateescape')
    return pat.search(got)


def like(got, regex, name=''):
    """ok(re.search(regex, got)); got may be str or bytes."""
    return ok(_search(got, regex) is not None, name, got=got,
              expected='match for ' + _short(regex))


def unlike(got, regex, name=''):
    """ok(not re.search(regex, got))."""
    return ok(got is not None and _search(got, regex) is None, name, got=got,
              expected='no match for ' + _short(regex))


def skip(reason, count=1):
    """Emit count skipped tests."""
    for _ in range(count):
        with _tap.lock:
            _tap.count += 1
            _tap.line('ok %d # SKIP %s' % (_tap.count, reason))


def skip_all(reason):
    """Skip the whole script ('1..0 # SKIP reason') and exit 0."""
    with _tap.lock:
        if _tap.count or _tap.plan_printed:
            diag('skipping the rest: %s' % reason)
            _tap.done = True
            if not _tap.plan_printed:
                _tap.line('1..%d' % _tap.count)
            sys.exit(1 if _tap.failed else 0)
        _tap.done = True
        _tap.plan_printed = True
        _tap.line('1..0 # SKIP %s' % reason)
    sys.exit(0)


def bail_out(reason):
    """Abort the whole test run ('Bail out! reason') and exit 255."""
    with _tap.lock:
        _tap.done = True
        _tap.line('Bail out! %s' % reason)
    sys.exit(255)


def done_testing():
    """Print the plan if none was given; exit 1 if any test failed."""
    with _tap.lock:
        if not _tap.plan_printed:
            _tap.plan_printed = True
            _tap.line('1..%d' % _tap.count)
        _tap.done = True
        bad = _tap.failed or _plan_mismatch()
        if _tap.failed:
            diag('failed %d of %d tests' % (_tap.failed, _tap.count))
        if bad:
            sys.exit(1)


def _plan_mismatch():
    if _tap.planned is not None and _tap.planned != _tap.count:
        diag('planned %d tests but ran %d' % (_tap.planned, _tap.count))
        return True
    return False


def _excepthook(etype, value, tb):
    with _tap.lock:
        _tap.count += 1
        _tap.failed += 1
        _tap.line('not ok %d - uncaught exception' % _tap.count)
        diag(''.join(traceback.format_exception(etype, value, tb)).rstrip())
        if not _tap.plan_printed:
            _tap.plan_printed = True
            _tap.line('1..%d' % _tap.count)
        _tap.done = True
    # the interpreter exits with status 1 after an uncaught exception


def _thread_excepthook(args):
    if args.exc_type is SystemExit:
        return
    with _tap.lock:
        name = args.thread.name if args.thread else '?'
        ok(False, 'uncaught exception in thread %s' % name, _where=False)
        diag(''.join(traceback.format_exception(
            args.exc_type, args.exc_value, args.exc_traceback)).rstrip())


sys.excepthook = _excepthook
threading.excepthook = _thread_excepthook

# --------------------------------------------------------- paths and tmpdir

_tmp = None


def tmpdir():
    """The per-script scratch directory ($TMPDIR/fwtest.XXXXXXXX, short)."""
    global _tmp
    if _tmp is None:
        base = os.environ.get('TMPDIR') or '/tmp'
        if len(base) > 60 or not os.path.isdir(base):
            base = '/tmp'  # unix socket paths must stay below ~100 bytes
        _tmp = tempfile.mkdtemp(prefix='fwtest.', dir=base)
        if os.environ.get('FW_KEEP_TMP') == '1':
            diag('keeping temporary directory %s' % _tmp)
    return _tmp


def sock_path(name='fcgi.sock'):
    """A unix socket path inside tmpdir(); checks the 107-byte limit."""
    p = os.path.join(tmpdir(), name)
    if len(p.encode()) >= 100:
        raise ValueError('unix socket path too long: %s' % p)
    return p


def build_dir():
    """The build tree root ($FW_BUILDDIR, default: the repository root)."""
    return os.environ.get('FW_BUILDDIR') or _repo_root()


def src_dir():
    """The source tree root ($FW_SRCDIR, default: the repository root),
    resolved: the server logs and reports scripts by their real path."""
    return os.path.realpath(os.environ.get('FW_SRCDIR') or _repo_root())


def _repo_root():
    return os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))


def program(name):
    """Path of a built program in build_dir() (or its src/); skip_all if absent."""
    for d in (build_dir(), os.path.join(build_dir(), 'src')):
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    skip_all('%s not built (looked in %s)' % (name, build_dir()))

# ------------------------------------------------------ builds of their own


def build_sanitized():
    """Whether build_dir() was configured with --enable-asan."""
    try:
        with open(os.path.join(build_dir(), 'Makefile')) as f:
            return any(line.startswith('SAN_CFLAGS = -fsanitize') for line in f)
    except OSError:
        return False


def source_copy(dest, generated=True):
    """Copies the source tree to dest for a build of its own: git's tracked
    files as they are in the work tree, plus (generated) the autotools output
    autogen.sh made, so that configure runs without autoreconf. Without git
    (an unpacked tarball), what `make distdir` ships, which has both.
    Returns dest, or None if neither worked."""
    src = src_dir()
    p = subprocess.run(['git', '-C', src, 'ls-files', '-z', '--cached'],
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL')}
        p = subprocess.run(['make', '-C', build_dir(), 'distdir', 'distdir=' + dest,
                            'top_distdir=' + dest], capture_output=True, timeout=300, env=env)
        if p.returncode != 0:
            diag('make distdir: %s' % p.stderr.decode('utf-8', 'replace')[-2000:])
            return None
        for top, dirs, files in os.walk(dest):  # distdir leaves it read-only
            for n in dirs + files:
                path = os.path.join(top, n)
                if not os.path.islink(path):
                    os.chmod(path, os.stat(path).st_mode | 0o200)
        os.chmod(dest, 0o755)
        return dest
    names = [n for n in p.stdout.decode().split('\0') if n]
    if generated:
        for n in ('configure', 'Makefile.in', 'aclocal.m4', 'config.h.in'):
            names.append(n)
        for d in ('build-aux', 'm4'):
            names += [os.path.join(d, n) for n in os.listdir(os.path.join(src, d))]
    for n in names:
        s = os.path.join(src, n)
        if not os.path.lexists(s):
            continue  # deleted in the work tree
        t = os.path.join(dest, n)
        os.makedirs(os.path.dirname(t), exist_ok=True)
        shutil.copy2(s, t, follow_symlinks=False)
    return dest


def configurable_source(scratch):
    """A source tree that configure can build out of tree: src_dir() itself,
    or, when it was configured in place (CI's build), a copy in scratch.
    None if neither is possible."""
    src = src_dir()
    if not os.path.exists(os.path.join(src, 'config.status')):
        return src
    return source_copy(os.path.join(scratch, 'src'))


class NotifySocket:
    """systemd's side of sd_notify(3): a datagram socket in tmpdir() whose
    path goes into NOTIFY_SOCKET; wait() returns once a datagram holding
    the line `want` (e.g. READY=1) arrived."""

    def __init__(self, name='notify.sock'):
        self.path = sock_path(name)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []

    def wait(self, want, timeout=30):
        deadline = time.monotonic() + timeout
        while not any(want in m.split('\n') for m in self.messages):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                self.messages.append(self.sock.recv(4096).decode('utf-8', 'replace'))
            except socket.timeout:
                return False
        return True


# ------------------------------------------------------------------ polling


def wait_for(predicate, timeout=10.0, interval=0.02, what='condition'):
    """Poll predicate() until truthy (returned) or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError('timed out waiting for %s' % what)
        time.sleep(interval)


def _check_alive(proc, what):
    if proc is not None and not proc.alive():
        raise RuntimeError('%s exited with status %s while waiting for %s\n%s'
                           % (proc.name, proc.proc.returncode, what,
                              proc.tail(30)))


def wait_socket(addr, timeout=10, proc=None):
    """Wait until connect(addr) succeeds; fail fast if Process proc died."""
    def attempt():
        try:
            connect(addr, timeout=1).close()
            return True
        except OSError:
            _check_alive(proc, 'socket %s' % (addr,))
            return False
    return wait_for(attempt, timeout, what='connect to %s' % (addr,))


def _read_text(path):
    try:
        with open(path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')
    except FileNotFoundError:
        return ''


def wait_log(handle_or_path, regex, timeout=10, after=0):
    """Wait until the log (Process or path) matches regex at/after char
    offset `after`; returns the re.Match (use .end() as the next `after`)."""
    proc = handle_or_path if isinstance(handle_or_path, Process) else None
    path = proc.log if proc else handle_or_path
    if isinstance(regex, bytes):
        regex = regex.decode('utf-8', 'surrogateescape')
    pat = re.compile(regex)

    def attempt():
        m = pat.search(_read_text(path), after)
        if m is None and proc is not None and not proc.alive():
            m = pat.search(_read_text(path), after)
            if m is None:
                _check_alive(proc, 'log match %r' % pat.pattern)
        return m
    return wait_for(attempt, timeout, what='%r in %s' % (pat.pattern, path))

# ---------------------------------------------------------------- processes

_procs = []
_counter = [0]
_sig_installed = [False]


class Process:
    """A spawned child; output goes to the file .log."""

    def __init__(self, argv, proc, log):
        self.argv, self.proc, self.pid, self.log = argv, proc, proc.pid, log
        self.name = '%s[%d]' % (os.path.basename(argv[0]), proc.pid)

    def __repr__(self):
        return '<Process %s log=%s>' % (self.name, self.log)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def returncode(self):
        return self.proc.poll()

    def alive(self):
        """True while the process has not exited."""
        return self.proc.poll() is None

    def signal(self, sig):
        """Send sig if the process is still running."""
        self.proc.send_signal(sig)

    def wait(self, timeout=10):
        """Return the returncode, or None if still running after timeout."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=10):
        """SIGTERM, wait up to timeout, then SIGKILL; return the returncode
        (negative signal number if killed by a signal)."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            if self.wait(timeout) is None:
                self.proc.kill()
        return self.proc.wait()

    def output(self):
        """The log file's whole text."""
        return _read_text(self.log)

    def tail(self, n=20):
        """The last n lines of the log file."""
        return '\n'.join(self.output().splitlines()[-n:])


def _pdeathsig():
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass


def spawn(argv, log=None, env=None, pass_fds=(), stdin=None, cwd=None, output=None):
    """Start argv (stdout+stderr appended to `log`, default
    tmpdir/<name>.<n>.log) and register it for cleanup at exit.
    output: an fd (a pipe, a socket) to give as stdout and stderr instead of
    the log file, which then stays empty.

    env is overlaid on os.environ (a None value removes a variable).
    stdin: None means /dev/null; else an fd, file or socket (e.g. a listening
    socket to hand over as FCGI_LISTENSOCK_FILENO).  pass_fds may hold ints
    or objects with fileno()."""
    argv = [str(a) for a in argv]
    _counter[0] += 1
    if log is None:
        log = '%s.%d.log' % (os.path.basename(argv[0]), _counter[0])
    log = os.path.join(tmpdir(), log)
    full_env = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            full_env.pop(k, None)
        else:
            full_env[k] = str(v)
    fds = tuple(f if isinstance(f, int) else f.fileno() for f in pass_fds)
    in_main = threading.current_thread() is threading.main_thread()
    _install_signal_handlers()
    with open(log, 'ab') as logf:
        p = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL if stdin is None else stdin,
            stdout=logf if output is None else output, stderr=subprocess.STDOUT,
            env=full_env, cwd=cwd,
            pass_fds=fds, start_new_session=False,
            preexec_fn=_pdeathsig if in_main else None)
    h = Process(argv, p, log)
    _procs.append(h)
    return h


def _stop_all(grace=5.0):
    live = [h for h in _procs if h.alive()]
    for h in live:
        try:
            os.kill(h.pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + grace
    for h in live:
        if h.wait(max(0.0, deadline - time.monotonic())) is None:
            try:
                os.kill(h.pid, signal.SIGKILL)
            except OSError:
                pass
            h.wait(5)


def _cleanup():
    _stop_all()
    if _tap.failed and _procs:
        for h in _procs:
            text = h.tail(30)
            if text:
                diag('--- last lines of %s (%s) ---\n%s' % (h.log, h.name, text))
    if _tmp and os.environ.get('FW_KEEP_TMP') != '1':
        shutil.rmtree(_tmp, ignore_errors=True)


def _on_signal(sig, frame):
    diag('received signal %d, stopping children' % sig)
    _cleanup()
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)


def _install_signal_handlers():
    if _sig_installed[0] or threading.current_thread() is not threading.main_thread():
        return
    _sig_installed[0] = True
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(sig, _on_signal)


def _at_exit():
    bad = False
    with _tap.lock:
        if not _tap.done and (_tap.count or _tap.planned):
            if not _tap.plan_printed:
                ok(False, 'script exited without calling done_testing()')
                _tap.line('1..%d' % _tap.count)
            bad = _plan_mismatch() or _tap.failed
            _tap.done = True
    _cleanup()
    if bad:
        sys.stdout.flush()
        os._exit(1)  # only way to change the exit status from atexit


atexit.register(_at_exit)

# ---------------------------------------------------------------- addresses


def parse_addr(addr):
    """Return (family, sockaddr) for any accepted address form."""
    if isinstance(addr, (tuple, list)):
        host, port = addr[0], int(addr[1])
    elif isinstance(addr, str) and addr.startswith('unix:'):
        return socket.AF_UNIX, addr[5:]
    elif isinstance(addr, str) and addr.startswith('@'):
        return socket.AF_UNIX, '\0' + addr[1:]
    elif isinstance(addr, str) and addr.startswith(('/', '.')):
        return socket.AF_UNIX, addr
    elif isinstance(addr, str) and ':' in addr:
        host, _, port = addr.rpartition(':')
        host, port = host.strip('[]'), int(port)
    else:
        raise ValueError('bad address %r' % (addr,))
    return (socket.AF_INET6 if ':' in host else socket.AF_INET), (host, port)


def connect(addr, timeout=30):
    """A socket connected to addr (timeout applies to connect and I/O)."""
    fam, sa = parse_addr(addr)
    if fam == socket.AF_UNIX:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(sa)
        except BaseException:
            s.close()
            raise
        return s
    return socket.create_connection(sa, timeout=timeout)


def listen(addr, backlog=128):
    """A listening socket on addr (a stale unix socket file is removed)."""
    fam, sa = parse_addr(addr)
    s = socket.socket(fam, socket.SOCK_STREAM)
    if fam == socket.AF_UNIX:
        if not sa.startswith('\0') and os.path.exists(sa):
            os.unlink(sa)
    else:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(sa)
    s.listen(backlog)
    return s


def free_port(host='127.0.0.1'):
    """A currently unused TCP port on host (by binding port 0)."""
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]

# ------------------------------------------------------------ FastCGI codec

FCGI_VERSION_1 = 1
FCGI_BEGIN_REQUEST, FCGI_ABORT_REQUEST, FCGI_END_REQUEST = 1, 2, 3
FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT, FCGI_STDERR, FCGI_DATA = 4, 5, 6, 7, 8
FCGI_GET_VALUES, FCGI_GET_VALUES_RESULT, FCGI_UNKNOWN_TYPE = 9, 10, 11
FCGI_RESPONDER, FCGI_AUTHORIZER, FCGI_FILTER = 1, 2, 3
FCGI_KEEP_CONN = 1
FCGI_REQUEST_COMPLETE, FCGI_CANT_MPX_CONN = 0, 1
FCGI_OVERLOADED, FCGI_UNKNOWN_ROLE = 2, 3
_HDR = struct.Struct('>BBHHBx')
MAX_CONTENT = 65535


class FcgiError(Exception):
    """FastCGI protocol/connection failure; .response holds partial data."""

    def __init__(self, msg, response=None):
        super().__init__(msg)
        self.response = response


def _b(v):
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    return str(v).encode('utf-8', 'surrogateescape')


def _len_bytes(n):
    return bytes([n]) if n < 128 else struct.pack('>I', n | 0x80000000)


def encode_params(pairs):
    """Encode name-value pairs (list of pairs or dict; str as UTF-8)."""
    if isinstance(pairs, dict):
        pairs = pairs.items()
    out = bytearray()
    for name, value in pairs:
        name, value = _b(name), _b(value)
        out += _len_bytes(len(name)) + _len_bytes(len(value)) + name + value
    return bytes(out)


def decode_params(data):
    """Decode name-value pairs into a list of (bytes, bytes)."""
    pairs, pos = [], 0

    def length():
        nonlocal pos
        if pos >= len(data):
            raise ValueError('truncated name-value pair')
        if data[pos] < 128:
            pos += 1
            return data[pos - 1]
        if pos + 4 > len(data):
            raise ValueError('truncated name-value length')
        pos += 4
        return struct.unpack('>I', data[pos - 4:pos])[0] & 0x7fffffff
    while pos < len(data):
        nl, vl = length(), length()
        if pos + nl + vl > len(data):
            raise ValueError('truncated name-value data')
        pairs.append((data[pos:pos + nl], data[pos + nl:pos + nl + vl]))
        pos += nl + vl
    return pairs


def record(type, req_id, content=b'', padding=0):
    """One raw record (content must be <= 65535 bytes)."""
    content = _b(content)
    if len(content) > MAX_CONTENT:
        raise ValueError('record content too long (%d)' % len(content))
    return (_HDR.pack(FCGI_VERSION_1, type, req_id, len(content), padding)
            + content + b'\0' * padding)


def records(type, req_id, data, end=True):
    """data split into <= 65535-byte records, plus the empty end record."""
    data = memoryview(_b(data))
    out = [record(type, req_id, bytes(data[i:i + MAX_CONTENT]))
           for i in range(0, len(data), MAX_CONTENT)]
    if end:
        out.append(record(type, req_id, b''))
    return b''.join(out)


def begin_request(req_id=1, role=FCGI_RESPONDER, keep_conn=False):
    """A BEGIN_REQUEST record."""
    body = struct.pack('>HB5x', role, FCGI_KEEP_CONN if keep_conn else 0)
    return record(FCGI_BEGIN_REQUEST, req_id, body)


class FcgiResponse:
    """The result of one FastCGI request.

    stdout/stderr: concatenated stream contents (bytes); app_status and
    protocol_status from END_REQUEST; records: [(type, content length)] seen
    for this request id; stdout_closed/stderr_closed: empty end record seen;
    headers: [(name, value)] of the CGI header block; status/reason (from
    'Status:', 200 if absent; None if stdout has no complete header block);
    body: bytes after the header block (all of stdout if there is none)."""

    def __init__(self, req_id):
        self.req_id = req_id
        self.stdout, self.stderr = bytearray(), bytearray()
        self.app_status = self.protocol_status = None
        self.records = []            # (type, content length) for this req_id
        self.stdout_closed = self.stderr_closed = False
        self.headers, self.body = [], b''
        self.status, self.reason = None, None
        self.head_complete = False

    def __repr__(self):
        return ('<FcgiResponse status=%s app_status=%s protocol_status=%s '
                'headers=%r body=%s stderr=%s>' % (
                    self.status, self.app_status, self.protocol_status,
                    self.headers, _short(self.body, 300),
                    _short(self.stderr, 300)))

    def _finish(self):
        self.stdout, self.stderr = bytes(self.stdout), bytes(self.stderr)
        data, pos = self.stdout, 0
        headers = []
        while True:
            nl = data.find(b'\n', pos)
            if nl < 0:
                self.body = data
                return
            line = data[pos:nl]
            pos = nl + 1
            if line.endswith(b'\r'):
                line = line[:-1]
            if not line:
                break
            name, _, value = line.partition(b':')
            headers.append((name.decode('latin-1').strip(),
                            value.decode('latin-1').strip()))
        self.head_complete, self.headers, self.body = True, headers, data[pos:]
        st = self.header('Status')
        if st is None:
            self.status, self.reason = 200, 'OK'
        else:
            code, _, self.reason = st.partition(' ')
            self.status = int(code) if code.isdigit() else None

    def header(self, name):
        """First value of header name (case-insensitive) or None."""
        vals = self.header_all(name)
        return vals[0] if vals else None

    def header_all(self, name):
        """All values of header name, in order."""
        return [v for k, v in self.headers if k.lower() == name.lower()]


class FcgiConn:
    """A client connection to a FastCGI application."""

    def __init__(self, addr, timeout=30):
        self.addr, self.timeout = addr, timeout
        self.sock = connect(addr, timeout)
        self._buf = bytearray()
        self.eof = False
        self.other_records = []  # (type, req_id, content) not for our request

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        """Send raw bytes."""
        self.sock.sendall(data)

    def _take_record(self):
        if len(self._buf) < 8:
            return None
        ver, typ, rid, clen, plen = _HDR.unpack_from(self._buf)
        if ver != FCGI_VERSION_1:
            raise FcgiError('bad record version %d (header %r)'
                            % (ver, bytes(self._buf[:8])))
        if len(self._buf) < 8 + clen + plen:
            return None
        content = bytes(self._buf[8:8 + clen])
        del self._buf[:8 + clen + plen]
        return typ, rid, content

    def read_record(self, timeout=None):
        """Next (type, req_id, content); None on EOF at a record boundary."""
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        while True:
            rec = self._take_record()
            if rec is not None:
                return rec
            data = self.sock.recv(65536)
            if not data:
                self.eof = True
                if self._buf:
                    raise FcgiError('connection closed mid-record (%d bytes '
                                    'pending)' % len(self._buf))
                return None
            self._buf += data

    def read_all(self, timeout=5):
        """Read until EOF or timeout; return all unconsumed bytes."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    self.eof = True
                    break
                self._buf += data
        except (socket.timeout, ConnectionResetError):
            pass
        out, self._buf = bytes(self._buf), bytearray()
        return out

    def get_values(self, names):
        """Send GET_VALUES (req id 0); return the result as a dict."""
        self.send_raw(record(FCGI_GET_VALUES, 0,
                             encode_params([(n, b'') for n in names])))
        while True:
            rec = self.read_record()
            if rec is None:
                raise FcgiError('connection closed before GET_VALUES_RESULT')
            if rec[0] == FCGI_GET_VALUES_RESULT:
                return {k.decode('latin-1'): v.decode('latin-1')
                        for k, v in decode_params(rec[2])}
            self.other_records.append(rec)

    def request(self, params, stdin=b'', keep_conn=False, req_id=1,
                stdin_chunks=None, role=FCGI_RESPONDER, data=None):
        """Run one request and return its FcgiResponse.  Sending and
        receiving are interleaved, so large bodies cannot deadlock."""
        def gen():
            yield begin_request(req_id, role, keep_conn)
            yield records(FCGI_PARAMS, req_id, encode_params(params))
            if stdin_chunks is None:
                yield records(FCGI_STDIN, req_id, stdin)
            else:
                for chunk in stdin_chunks:
                    if chunk:
                        yield records(FCGI_STDIN, req_id, chunk, end=False)
                yield record(FCGI_STDIN, req_id, b'')
            if data is not None or role == FCGI_FILTER:
                yield records(FCGI_DATA, req_id, data or b'')
        return self._exchange(gen(), req_id)

    def _exchange(self, chunks, req_id):
        resp = FcgiResponse(req_id)
        sel = selectors.DefaultSelector()
        pending, sending = memoryview(b''), True
        last = time.monotonic()
        self.sock.setblocking(False)
        try:
            while True:
                while True:
                    rec = self._take_record()
                    if rec is None:
                        break
                    if self._dispatch(resp, rec):
                        resp._finish()
                        return resp
                while sending and not pending:
                    try:
                        pending = memoryview(next(chunks))
                    except StopIteration:
                        sending = False
                ev = selectors.EVENT_READ | (selectors.EVENT_WRITE if sending else 0)
                sel.register(self.sock, ev)
                events = sel.select(0.5)
                sel.unregister(self.sock)
                if not events:
                    if time.monotonic() - last > self.timeout:
                        raise self._error(resp, 'timed out after %ss waiting '
                                          'for END_REQUEST' % self.timeout)
                    continue
                last = time.monotonic()
                mask = events[0][1]
                if mask & selectors.EVENT_WRITE and pending:
                    try:
                        pending = pending[self.sock.send(pending[:262144]):]
                    except (BrokenPipeError, ConnectionResetError):
                        sending, pending = False, memoryview(b'')
                if mask & selectors.EVENT_READ:
                    try:
                        got = self.sock.recv(262144)
                    except ConnectionResetError:
                        raise self._error(resp, 'connection reset before '
                                          'END_REQUEST') from None
                    except BlockingIOError:
                        continue
                    if not got:
                        self.eof = True
                        raise self._error(resp, 'connection closed before '
                                          'END_REQUEST')
                    self._buf += got
        finally:
            sel.close()
            if self.sock.fileno() >= 0:
                self.sock.settimeout(self.timeout)

    def _error(self, resp, msg):
        resp._finish()
        return FcgiError('%s for request %d (%d bytes of stdout, %d of stderr '
                         'received, %d bytes of partial record pending)' % (
                             msg, resp.req_id, len(resp.stdout),
                             len(resp.stderr), len(self._buf)), resp)

    def _dispatch(self, resp, rec):
        typ, rid, content = rec
        if rid != resp.req_id:
            self.other_records.append(rec)
            return False
        resp.records.append((typ, len(content)))
        if typ == FCGI_STDOUT:
            resp.stdout += content
            resp.stdout_closed = resp.stdout_closed or not content
        elif typ == FCGI_STDERR:
            resp.stderr += content
            resp.stderr_closed = resp.stderr_closed or not content
        elif typ == FCGI_END_REQUEST:
            if len(content) < 5:
                raise FcgiError('short END_REQUEST body %r' % content, resp)
            resp.app_status, resp.protocol_status = struct.unpack_from(
                '>IB', content)
            return True
        return False


def cgi_params(method='GET', uri='/', body=b'', params=None,
               content_length=True):
    """A param dict like nginx's fastcgi_params would send, overlaid with
    params (a None value deletes the key)."""
    path, _, query = uri.partition('?')
    path_bytes = urllib.parse.unquote_to_bytes(path)
    p = {
        'GATEWAY_INTERFACE': 'CGI/1.1', 'SERVER_SOFTWARE': 'nginx/fwtest',
        'QUERY_STRING': query, 'REQUEST_METHOD': method,
        'REQUEST_URI': uri, 'SCRIPT_NAME': '', 'PATH_INFO': path_bytes,
        'DOCUMENT_URI': path_bytes, 'DOCUMENT_ROOT': '/var/www',
        'SERVER_PROTOCOL': 'HTTP/1.1', 'REQUEST_SCHEME': 'http',
        'REMOTE_ADDR': '127.0.0.1', 'REMOTE_PORT': '54321',
        'SERVER_ADDR': '127.0.0.1', 'SERVER_PORT': '80',
        'SERVER_NAME': 'localhost', 'HTTP_HOST': 'localhost',
    }
    if body:
        p['CONTENT_TYPE'] = 'application/octet-stream'
    if content_length and (body or method in ('POST', 'PUT', 'PATCH')):
        p['CONTENT_LENGTH'] = str(len(body))
    for k, v in (params or {}).items():
        if v is None:
            p.pop(k, None)
        else:
            p[k] = v
    return p


def fcgi_request(addr, method='GET', uri='/', body=b'', params=None,
                 content_length=True, **kw):
    """One request on a fresh connection; kw go to FcgiConn.request (and
    timeout= to FcgiConn).  Returns the FcgiResponse."""
    body = _b(body)
    chunks = kw.get('stdin_chunks')
    if chunks is not None and not isinstance(chunks, (list, tuple)):
        content_length = False  # length unknown for a lazy iterator
    length_src = b''.join(chunks) if chunks is not None and content_length \
        else body
    p = cgi_params(method, uri, length_src, params, content_length)
    with FcgiConn(addr, timeout=kw.pop('timeout', 30)) as c:
        return c.request(p, stdin=body, **kw)


def get_values(addr, names=('FCGI_MAX_CONNS', 'FCGI_MAX_REQS',
                            'FCGI_MPXS_CONNS')):
    """FCGI_GET_VALUES on a fresh connection; returns {name: value}."""
    with FcgiConn(addr) as c:
        return c.get_values(names)

# --------------------------------------------------------------------- HTTP


class HttpResponse:
    """status, reason, headers (list of pairs), body (bytes), version."""

    def __init__(self, status, reason, headers, body, version):
        self.status, self.reason, self.headers = status, reason, headers
        self.body, self.version = body, version

    def __repr__(self):
        return '<HttpResponse %s %s headers=%r body=%s>' % (
            self.status, self.reason, self.headers, _short(self.body, 300))

    def header(self, name):
        """First value of header name (case-insensitive) or None."""
        vals = self.header_all(name)
        return vals[0] if vals else None

    def header_all(self, name):
        """All values of header name, in order."""
        return [v for k, v in self.headers if k.lower() == name.lower()]


class _Conn(http.client.HTTPConnection):
    def __init__(self, addr, timeout):
        fam, sa = parse_addr(addr)
        host = 'localhost' if fam == socket.AF_UNIX else sa[0]
        super().__init__(host, 80 if fam == socket.AF_UNIX else sa[1],
                         timeout=timeout)
        self._fw_addr = addr

    def connect(self):
        self.sock = connect(self._fw_addr, self.timeout)


def http_request(addr, method, path, body=None, headers=None, timeout=30):
    """One HTTP/1.1 request; path is sent as given.  body may be bytes/str
    or an iterator of bytes (sent chunked).  headers: dict or pair list."""
    hdrs = list(headers.items() if isinstance(headers, dict) else headers or [])
    names = {k.lower() for k, _ in hdrs}
    chunked = body is not None and not isinstance(body, (bytes, bytearray, str))
    if isinstance(body, str):
        body = body.encode('utf-8')
    c = _Conn(addr, timeout)
    try:
        c.putrequest(method, path, skip_host='host' in names,
                     skip_accept_encoding=True)
        for k, v in hdrs:
            c.putheader(k, v)
        if chunked and 'transfer-encoding' not in names:
            c.putheader('Transfer-Encoding', 'chunked')
        elif not chunked and 'content-length' not in names and (
                body is not None or method in ('POST', 'PUT', 'PATCH')):
            c.putheader('Content-Length', str(len(body or b'')))
        c.endheaders(body, encode_chunked=chunked)
        r = c.getresponse()
        data = r.read()
        return HttpResponse(r.status, r.reason, r.getheaders(), data,
                            r.version)
    finally:
        c.close()


def http_raw(addr, data, timeout=30):
    """Send raw bytes, read until EOF (or timeout) and return them."""
    s = connect(addr, timeout)
    try:
        s.sendall(data)
        out = bytearray()
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
        return bytes(out)
    finally:
        s.close()

# -------------------------------------------------------------------- nginx

NGINX = '/usr/sbin/nginx'
_nginx_count = [0]


def start_nginx(http_block_body, port=None):
    """Start nginx with http_block_body ('@PORT@' replaced by port, default
    free_port()); returns its Process with .port, .dir, .conf, .error_log,
    .access_log.  skip_all if nginx is not installed."""
    if not os.access(NGINX, os.X_OK):
        skip_all('nginx not installed')
    port = port or free_port()
    _nginx_count[0] += 1
    d = os.path.join(tmpdir(), 'nginx' if _nginx_count[0] == 1
                     else 'nginx%d' % _nginx_count[0])
    os.makedirs(d, exist_ok=True)
    for f in ('fastcgi_params', 'fastcgi.conf'):
        if os.path.exists('/etc/nginx/' + f):
            shutil.copy('/etc/nginx/' + f, d)
    temps = '\n'.join('    %s_temp_path %s/%s_temp;' % (t, d, t) for t in (
        'client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'))
    mime = ('    include /etc/nginx/mime.types;\n'
            if os.path.exists('/etc/nginx/mime.types') else '')
    conf = os.path.join(d, 'nginx.conf')
    error_log = os.path.join(d, 'error.log')
    with open(conf, 'w') as f:
        f.write('daemon off;\nmaster_process on;\nworker_processes 1;\n'
                # as root, workers must be able to reach sockets in tmpdir
                + ('user root;\n' if os.geteuid() == 0 else '') +
                'pid %s/nginx.pid;\nerror_log %s info;\n'
                'events { worker_connections 1024; }\n'
                'http {\n    access_log %s/access.log;\n%s\n%s%s\n}\n' % (
                    d, error_log, d, temps, mime,
                    http_block_body.replace('@PORT@', str(port))))
    h = spawn([NGINX, '-p', d + '/', '-c', conf, '-e', error_log],
              log=os.path.join(d, 'stderr.log'))
    h.port, h.dir, h.conf = port, d, conf
    h.error_log, h.access_log = error_log, os.path.join(d, 'access.log')
    wait_socket(('127.0.0.1', port), timeout=10, proc=h)
    return h


def log_bad_lines(path, patterns=('crit', 'alert', 'AddressSanitizer',
                                  'LeakSanitizer', 'runtime error:')):
    """Lines of a log file (path or Process) containing any pattern."""
    if isinstance(path, Process):
        path = path.log
    return [ln for ln in _read_text(path).splitlines()
            if any(p in ln for p in patterns)]


def nginx_bad_log_lines(handle):
    """[crit]/[alert]/[emerg] lines of an nginx handle's error.log."""
    return log_bad_lines(handle.error_log, ('[crit]', '[alert]', '[emerg]'))


# ----------------------------------------------------------- fcgiwsgi itself

# Lines that fail a test whatever it checks: a crash of ours or of CPython,
# a sanitizer report, a validator complaint about the server.
BAD_LOG_PATTERNS = ('crit', 'alert', 'AddressSanitizer', 'LeakSanitizer',
                    'runtime error:', 'Fatal Python error', 'Segmentation fault',
                    'Aborted', 'core dumped')


def app_path(name):
    """Absolute path of a test app in t/apps/."""
    return os.path.join(src_dir(), 't', 'apps', name)


def start_responder(script=None, *args, listen=None, threads=1, env=None,
                    wait=True, log_level='info'):
    """Start fcgiwsgi-responder on `listen` (default: a fresh unix socket in
    tmpdir) and wait until it logs that it is ready. Returns the Process,
    with .addr set. script=None starts it in SCRIPT_FILENAME mode."""
    if listen is None:
        _counter[0] += 1
        listen = sock_path('resp%d.sock' % _counter[0])
    argv = [program('fcgiwsgi-responder'), '--listen', listen if isinstance(listen, str)
            else '%s:%d' % listen, '--threads', str(threads), '--log-level', log_level]
    argv += list(args)
    if script is not None:
        argv.append(script)
    p = spawn(argv, env=env)
    p.addr = listen
    if wait:
        wait_log(p, r'ready: \d+ request threads', timeout=30)
    return p


def manager_config(pools, name='fcgiwsgi.yaml', log='stderr', log_level='info', top=''):
    """Writes a manager configuration in tmpdir: the usual top-level keys
    (log, log_level at info so worker state changes show, a control socket
    of its own), `top` (more top-level lines, e.g. status_listen) and
    `pools`, the indented body of the pools: mapping. Returns its path."""
    path = os.path.join(tmpdir(), name)
    if os.environ.get('FW_TEST_SPAWN') == 'template':
        # A test run again with every pool forked from a template (the
        # *-template.t wrappers).
        pools = re.sub(r'(?m)^(  [^ #][^\n]*:)$', r'\1\n    spawn: template', pools)
    with open(path, 'w') as f:
        f.write('log: %s\nlog_level: %s\ncontrol: %s\n%spools:\n%s'
                % (log, log_level, path + '.ctl', top, pools))
    return path


def ctl(config, *args, user=None, groups=None, timeout=120):
    """Runs fcgiwsgi-ctl -c CONFIG ARGS... (config may also be a socket
    path: -s), as `user` (name) with supplementary `groups` (list of names)
    through setpriv when given. Returns (exit status, stdout, stderr)."""
    how = ['-s', config] if config.endswith('.sock') or config.endswith('.ctl') else ['-c', config]
    argv = [program('fcgiwsgi-ctl')] + how + [str(a) for a in args]
    if user:
        import pwd
        prefix = ['setpriv', '--reuid=' + user, '--regid=%d' % pwd.getpwnam(user).pw_gid]
        prefix += ['--groups=' + ','.join(groups)] if groups else ['--clear-groups']
        argv = prefix + ['--'] + argv
    p = subprocess.run(argv, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')


class Load:
    """`clients` threads sending FastCGI requests to addr in a loop until
    stop() (or `max_seconds`, or `max_requests` in all). Each outcome is kept
    as (start, end, status or None, body or error text), times from
    time.monotonic()."""

    def __init__(self, addr, clients=8, uri='/', params=None, max_seconds=60,
                 max_requests=200000, timeout=10):
        self.addr, self.uri, self.timeout = addr, uri, timeout
        self.params = params or {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
        self.results = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._deadline = time.monotonic() + max_seconds
        self._max = max_requests
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for t in self._threads:
            t.start()

    def _run(self):
        while not self._stop.is_set() and time.monotonic() < self._deadline \
                and len(self.results) < self._max:
            t0 = time.monotonic()
            try:
                r = fcgi_request(self.addr, 'GET', self.uri, params=self.params,
                                 timeout=self.timeout)
                out = (t0, time.monotonic(), r.status, r.body)
            except Exception as e:  # noqa: BLE001 - every failure is an outcome
                out = (t0, time.monotonic(), None, repr(e))
            with self._lock:
                self.results.append(out)

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(30)
        return self

    def failures(self):
        return [r for r in self.results if r[2] != 200]

    def latencies(self):
        return sorted(r[1] - r[0] for r in self.results)

    def first_seen(self, predicate):
        """The end time of the first successful answer whose body satisfies
        predicate, or None."""
        ends = [r[1] for r in self.results if r[2] == 200 and predicate(r[3])]
        return min(ends) if ends else None


class MixedHttpLoad:
    """`clients` threads sending HTTP/1.1 requests to addr (a web server in
    front of fcgiwsgi) in a loop over kept connections, GET and POST in
    turn, until stop() (or `max_seconds`, or `max_requests` in all). Each
    outcome is (start, end, method, status or None, body or error text),
    times from time.monotonic(); a failed connection is opened again."""

    def __init__(self, addr, clients=16, path='/', max_seconds=120,
                 max_requests=2000000, timeout=30, post_bytes=256):
        self.addr, self.path, self.timeout = addr, path, timeout
        self.body = b'p' * post_bytes
        self.results = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._deadline = time.monotonic() + max_seconds
        self._max = max_requests
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(clients)]
        for t in self._threads:
            t.start()

    def _run(self, index):
        conn, n = None, index
        while not self._stop.is_set() and time.monotonic() < self._deadline \
                and len(self.results) < self._max:
            method = 'GET' if n % 2 == 0 else 'POST'
            n += 1
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.addr[0], self.addr[1],
                                                      timeout=self.timeout)
                conn.request(method, '%s?n=%d' % (self.path, n),
                             body=self.body if method == 'POST' else None)
                r = conn.getresponse()
                body = r.read()
                out = (t0, time.monotonic(), method, r.status, body.decode('latin-1'))
                if r.getheader('Connection', '').lower() == 'close':
                    conn.close()
                    conn = None
            except Exception as e:  # noqa: BLE001 - every failure is an outcome
                out = (t0, time.monotonic(), method, None, repr(e))
                if conn is not None:
                    conn.close()
                conn = None
            with self._lock:
                self.results.append(out)
        if conn is not None:
            conn.close()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(60)
        return self

    def since(self, t):
        """The outcomes of requests that started at or after t."""
        with self._lock:
            return [r for r in self.results if r[0] >= t]

    def failures(self, results=None):
        return [r for r in (self.results if results is None else results) if r[3] != 200]

    @staticmethod
    def latency_figures(results):
        """(count, p99, max) of results' latencies in seconds."""
        lat = sorted(r[1] - r[0] for r in results)
        if not lat:
            return 0, 0.0, 0.0
        return len(lat), lat[min(len(lat) - 1, int(len(lat) * 0.99))], lat[-1]


_C_FUNCTION_NAMES = []
# A tag that is a word of its own, not the function of the same name.
_LOG_TAG_WORDS = {'reload'}
_LEVEL_HEAD = re.compile(r'^\S+ \S+ (err|warn|notice|info) (?:\[[^]]*\] )?([A-Za-z_][A-Za-z0-9_]*): ')


def c_function_names():
    """The names of every function defined in our C sources (a definition
    starts at column 0: `type name(`, the style every file follows)."""
    if not _C_FUNCTION_NAMES:
        names = set()
        defn = re.compile(r'^[a-z][A-Za-z0-9_ *]*[ *]([a-z_][a-z0-9_]*)\(', re.M)
        for d in ('fcgi', 'pyhost', 'manager', 'lib', 'conf'):
            for f in glob.glob(os.path.join(src_dir(), d, '*.c')):
                with open(f, encoding='utf-8', errors='replace') as fh:
                    names.update(defn.findall(fh.read()))
        if len(names) < 100:
            raise RuntimeError('found only %d C function names in %s' % (len(names), src_dir()))
        _C_FUNCTION_NAMES.append(names - _LOG_TAG_WORDS)
    return _C_FUNCTION_NAMES[0]


def log_function_name_lines(text):
    """Lines above debug whose message starts with one of our C function
    names and a colon: such names are for debug lines only."""
    names = c_function_names()
    out = []
    for ln in text.splitlines():
        m = _LEVEL_HEAD.match(ln)
        if m and m.group(2) in names:
            out.append(ln)
    return out


def check_log_clean(proc_or_path, name=None, patterns=BAD_LOG_PATTERNS):
    """One test: the log has no crash, sanitizer or validator line, and no
    line above debug that names a C function."""
    bad = log_bad_lines(proc_or_path, patterns)
    path = proc_or_path.log if isinstance(proc_or_path, Process) else proc_or_path
    bad += log_function_name_lines(_read_text(path))
    label = getattr(proc_or_path, 'log', proc_or_path)
    return ok(not bad, name or 'no crash or sanitizer lines in %s' % os.path.basename(label),
              got='\n'.join(bad[:20]), expected='no such lines')


# -------------------------------------------- web servers (t/web-*.t, issue 6)
# lighttpd and Apache launchers in the manner of start_nginx, the shipped
# configuration snippets (conf/snippets/), a TLS certificate, and the
# environ matrix that every web-server test runs against its setups.

LIGHTTPD = '/usr/sbin/lighttpd'
APACHE = '/usr/sbin/apache2'
APACHE_MODULES = '/usr/lib/apache2/modules'
OPENSSL = '/usr/bin/openssl'


def web_snippet(name, out_dir=None, **values):
    """conf/snippets/NAME with each @KEY@ replaced by values[KEY] (only ports
    and paths), written to out_dir (default tmpdir()) under the same name.
    Returns the written path; a placeholder left over raises."""
    with open(os.path.join(src_dir(), 'conf', 'snippets', name)) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace('@%s@' % k, str(v))
    left = sorted(set(re.findall(r'@[A-Z_]+@', text)))
    if left:
        raise ValueError('%s: placeholders not replaced: %s' % (name, ', '.join(left)))
    path = os.path.join(out_dir or tmpdir(), name)
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def web_tls_cert():
    """A self-signed certificate for localhost/127.0.0.1 in tmpdir():
    (cert path, key path), or None if openssl is missing."""
    cert, key = os.path.join(tmpdir(), 'tls.crt'), os.path.join(tmpdir(), 'tls.key')
    if os.path.exists(cert):
        return cert, key
    if not os.access(OPENSSL, os.X_OK):
        return None
    subprocess.run([OPENSSL, 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                    'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
                    '-subj', '/CN=localhost', '-addext',
                    'subjectAltName=DNS:localhost,IP:127.0.0.1', '-addext',
                    'basicConstraints=critical,CA:FALSE',
                    '-keyout', key, '-out', cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.chmod(key, 0o644)  # the test's servers may read it as another user
    return cert, key


def web_share_tmpdir():
    """Let a web server's unprivileged user (Apache's www-data, its mod_fcgid
    children) reach the sockets and files under tmpdir()."""
    os.chmod(tmpdir(), 0o755)


def web_path_reachable(path, user='www-data'):
    """Whether every directory above path is searchable by others, so that
    `user` (not the owner) can reach path; the reason if not."""
    p = os.path.dirname(os.path.realpath(path))
    while p != '/':
        if not os.stat(p).st_mode & 0o001:
            return False, '%s is not searchable by %s (mode %o)' % (
                p, user, os.stat(p).st_mode & 0o777)
        p = os.path.dirname(p)
    return True, ''


def start_nginx_snippet(snippet, tls, **subst):
    """nginx serving the shipped conf/snippets file `snippet` (its @...@
    placeholders from subst) in a plain server and, when tls (a (cert, key)
    pair from web_tls_cert()) is given, in a TLS one. Returns (the nginx
    Process, its plain address, its TLS address or None)."""
    plain = web_snippet(snippet, **subst)
    body = ('server {\n    listen 127.0.0.1:@PORT@;\n    server_name localhost;\n'
            '    include %s;\n}\n' % plain)
    tls_port = free_port() if tls else None
    if tls:
        body += ('server {\n    listen 127.0.0.1:%d ssl;\n    server_name localhost;\n'
                 '    ssl_certificate %s;\n    ssl_certificate_key %s;\n    include %s;\n}\n'
                 % (tls_port, tls[0], tls[1], plain))
    ng = start_nginx(body)
    tls_addr = ('127.0.0.1', tls_port) if tls else None
    if tls:
        wait_socket(tls_addr, timeout=10, proc=ng)
    return ng, ('127.0.0.1', ng.port), tls_addr


def start_web_pools(app):
    """The manager with the two pools the web-server tests share: `app` (a
    unix socket, mounted at /app) and `site` (TCP, mounted at /), one
    process of 4 threads each. Returns (manager, socket path, TCP port)."""
    sock = sock_path('app.sock')
    port = free_port()
    cfg = manager_config('''
  app:
    listen: %(sock)s
    listen_mode: "0666"
    processes: 1
    threads: 4
    allow_root: true
    apps:
      - mount: /app
        script: %(app)s
  site:
    listen: 127.0.0.1:%(port)d
    processes: 1
    threads: 4
    allow_root: true
    apps:
      - mount: /
        script: %(app)s
''' % {'sock': sock, 'port': port, 'app': app})
    return start_fcgiwsgi(cfg, ['app', 'site']), sock, port


def start_fcgiwsgi(config, pools, timeout=30):
    """Run the manager (fcgiwsgi -c config) and wait until each pool named
    in pools has a worker running. Returns its Process."""
    m = spawn([program('fcgiwsgi'), '-c', config])
    for pool in pools:
        wait_log(m, r'\[pool %s pid \d+\].*starting -> running' % re.escape(pool),
                 timeout=timeout)
    return m


def start_lighttpd(body, port=None, tls_port=None, tls=None):
    """Start lighttpd (-D) with a main configuration of ours (port on
    127.0.0.1, logs, upload dir, pid under tmpdir()) followed by body, which
    usually includes a snippet. With tls=(cert, key) and tls_port, that port
    speaks TLS. Returns the Process with .port, .tls_port, .dir, .conf,
    .error_log. skip_all if lighttpd is not installed."""
    if not os.access(LIGHTTPD, os.X_OK):
        skip_all('lighttpd not installed')
    port = port or free_port()
    d = os.path.join(tmpdir(), 'lighttpd')
    while os.path.exists(d):
        d += 'x'
    for sub in ('', 'htdocs', 'upload'):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    conf = os.path.join(d, 'lighttpd.conf')
    text = ('server.document-root = "%(d)s/htdocs"\n'
            'server.bind = "127.0.0.1"\n'
            'server.port = %(port)d\n'
            'server.pid-file = "%(d)s/lighttpd.pid"\n'
            'server.errorlog = "%(d)s/error.log"\n'
            'server.upload-dirs = ( "%(d)s/upload" )\n'
            'server.modules = ( "mod_access", "mod_accesslog" )\n'
            'accesslog.filename = "%(d)s/access.log"\n' % {'d': d, 'port': port})
    if tls and tls_port:
        text += ('server.modules += ( "mod_openssl" )\n'
                 '$SERVER["socket"] == "127.0.0.1:%d" {\n'
                 '    ssl.engine = "enable"\n'
                 '    ssl.pemfile = "%s"\n'
                 '    ssl.privkey = "%s"\n'
                 '}\n' % (tls_port, tls[0], tls[1]))
    with open(conf, 'w') as f:
        f.write(text + body)
    h = spawn([LIGHTTPD, '-D', '-f', conf], log=os.path.join(d, 'stderr.log'))
    h.port, h.tls_port, h.dir, h.conf = port, tls_port, d, conf
    h.error_log = os.path.join(d, 'error.log')
    wait_socket(('127.0.0.1', port), timeout=15, proc=h)
    return h


def lighttpd_has_tls():
    """Whether lighttpd's TLS module (Debian: lighttpd-mod-openssl) is there."""
    return os.path.exists('/usr/lib/lighttpd/mod_openssl.so')


def start_apache(body, modules=(), ports=(), server_conf=''):
    """Start Apache 2.4 (mpm_event, -DFOREGROUND) with a complete
    configuration of ours: no /etc/apache2, no envvars; explicit LoadModule
    lines for the base modules plus `modules` (names such as 'proxy_fcgi');
    Listen on 127.0.0.1 for each of ports; as root, children run as
    www-data, so tmpdir() is made reachable. server_conf and then body
    (usually <VirtualHost> blocks including snippets) follow. Returns the
    Process with .dir, .conf, .error_log. skip_all if Apache or a module is
    missing."""
    if not os.access(APACHE, os.X_OK):
        skip_all('apache2 not installed')
    base = ['mpm_event', 'authz_core', 'mime', 'alias', 'dir']
    for m in list(base) + list(modules):
        if not os.path.exists(os.path.join(APACHE_MODULES, 'mod_%s.so' % m)):
            skip_all('Apache module mod_%s not installed' % m)
    web_share_tmpdir()
    d = os.path.join(tmpdir(), 'apache')
    while os.path.exists(d):
        d += 'x'
    for sub in ('', 'run', 'htdocs'):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
        os.chmod(os.path.join(d, sub), 0o755)
    conf = os.path.join(d, 'httpd.conf')
    lines = ['ServerRoot %s' % d, 'DefaultRuntimeDir %s/run' % d,
             'PidFile %s/run/httpd.pid' % d, 'ErrorLog %s/error.log' % d,
             'LogLevel info', 'ServerName localhost']
    if os.geteuid() == 0:
        lines += ['User www-data', 'Group www-data']
    lines += ['LoadModule %s_module %s/mod_%s.so' % (m, APACHE_MODULES, m)
              for m in list(base) + list(modules)]
    lines += ['StartServers 1', 'ServerLimit 2', 'ThreadsPerChild 16',
              'MaxRequestWorkers 32', 'MinSpareThreads 4', 'MaxSpareThreads 32',
              'TypesConfig /etc/mime.types', 'DocumentRoot %s/htdocs' % d,
              'LogFormat "%h \\"%r\\" %>s %b %D" fwtest',
              'CustomLog %s/access.log fwtest' % d]
    lines += ['Listen 127.0.0.1:%d' % p for p in ports]
    with open(conf, 'w') as f:
        f.write('\n'.join(lines) + '\n' + server_conf + '\n' + body + '\n')
    h = spawn([APACHE, '-f', conf, '-DFOREGROUND'], log=os.path.join(d, 'stderr.log'))
    h.dir, h.conf, h.error_log = d, conf, os.path.join(d, 'error.log')
    for p in ports:
        wait_socket(('127.0.0.1', p), timeout=15, proc=h)
    return h


def apache_bad_log_lines(handle):
    """Lines of an Apache error log at crit or worse, or a child's crash."""
    return log_bad_lines(handle.error_log, (':crit]', ':alert]', ':emerg]',
                                            'Segmentation fault', 'exit signal',
                                            'unexpected signal'))


def https_request(addr, method, path, body=None, headers=None, timeout=30):
    """http_request over TLS, certificate not verified (the tests' own)."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    fam, sa = parse_addr(addr)
    c = http.client.HTTPSConnection(sa[0], sa[1], timeout=timeout, context=ctx)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return HttpResponse(r.status, r.reason, r.getheaders(), r.read(), r.version)
    finally:
        c.close()


def proc_status_kb(pid, field):
    """A size field of /proc/PID/status (VmRSS, VmHWM) in KiB, or None."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for ln in f:
                if ln.startswith(field + ':'):
                    return int(ln.split()[1])
    except OSError:
        pass
    return None


def web_stream_block(i):
    """Block i of web_matrix.wsgi's /_stream (64 KiB)."""
    import hashlib
    return hashlib.sha256(b'%d' % i).digest() * 2048


def _web_json(res):
    import json
    try:
        return json.loads(res.body)
    except ValueError:
        return None


def web_env(addr, method, path, body=None, headers=None, timeout=60):
    """(HttpResponse, the environ dict web_matrix.wsgi answered, or {})."""
    res = http_request(addr, method, path, body=body, headers=headers, timeout=timeout)
    return res, (_web_json(res) or {}) if res.status == 200 else {}


_CAFE = 'café'.encode('utf-8').decode('latin-1')  # PEP 3333: bytes as latin-1
_EURO = '€'.encode('utf-8').decode('latin-1')
# (path after the mount, PATH_INFO the app must get); '' is the bare mount.
WEB_PATHS = [
    ('', ''), ('/', '/'), ('/x/y', '/x/y'), ('/a%20b/', '/a b/'),
    ('/x%2Fy', '/x/y'), ('/caf%C3%A9', '/' + _CAFE), ('/%E2%82%AC%20x/', '/' + _EURO + ' x/'),
    ('/x//y/./z/../w', '/x/y/w'),
]
WEB_QUERY = 'q=1&r=%20&s=a+b&t=%2F&u=caf%C3%A9&v=&w'


def _sanitized(pid):
    try:
        with open('/proc/%d/maps' % pid) as f:
            return 'libasan' in f.read()
    except OSError:
        return False


def web_stream_check(addr, prefix, label, mb=50, limit_kb=16384):
    """GET PREFIX/_stream?MB through the server, reading as it arrives:
    status, length and content, and the worker's peak memory while it
    produced the body (VmHWM after clearing it via /proc/PID/clear_refs, or
    sampled VmRSS if that is refused) grows less than limit_kb."""
    import hashlib
    res, info = web_env(addr, 'GET', prefix + '/_proc')
    pid = info.get('pid')
    before = proc_status_kb(pid, 'VmRSS') if pid else None
    hwm_reset = False
    if pid:
        try:
            with open('/proc/%d/clear_refs' % pid, 'w') as f:
                f.write('5')
            hwm_reset = True
        except OSError:
            pass
    fam, sa = parse_addr(addr)
    c = http.client.HTTPConnection(sa[0], sa[1], timeout=120)
    want, got = hashlib.sha1(), hashlib.sha1()
    n, peak, xpid = 0, before or 0, None
    t0 = time.monotonic()
    try:
        c.request('GET', '%s/_stream?%d' % (prefix, mb))
        r = c.getresponse()
        xpid = r.getheader('X-Pid')
        status = r.status
        while True:
            block = r.read(1 << 20)
            if not block:
                break
            got.update(block)
            n += len(block)
            if pid and n % (4 << 20) < len(block):
                peak = max(peak, proc_status_kb(pid, 'VmRSS') or 0)
    finally:
        c.close()
    secs = time.monotonic() - t0
    for i in range(mb * 16):
        want.update(web_stream_block(i))
    is_((status, n, got.hexdigest()), (200, mb << 20, want.hexdigest()),
        '%s: %d MB streamed response arrives whole' % (label, mb))
    if not pid or before is None or xpid != str(pid):
        skip('%s: worker memory not measurable (pid %r, X-Pid %r)' % (label, pid, xpid))
        return
    if _sanitized(pid):
        skip('%s: worker memory not measured under AddressSanitizer (its quarantine keeps '
             'freed blocks)' % label)
        return
    if hwm_reset:
        peak = max(peak, proc_status_kb(pid, 'VmHWM') or 0)
    diag('%s: %d MB in %.2fs; worker %d RSS %d KiB before, peak %d KiB during (%s)' % (
        label, mb, secs, pid, before, peak, 'VmHWM' if hwm_reset else 'sampled'))
    ok(peak - before < limit_kb,
       '%s: worker memory flat during the %d MB response (+%d KiB)' % (label, mb, peak - before),
       got=peak - before, expected='< %d KiB' % limit_kb)


def web_matrix(addr, prefix, label, big=False, tls_addr=None, stream=False):
    """The environ an app must see behind any web server, through addr (an
    HTTP listener) for web_matrix.wsgi mounted at prefix ('' or '/app'):
    SCRIPT_NAME/PATH_INFO for WEB_PATHS, QUERY_STRING, headers, REMOTE_ADDR,
    methods, HEAD, bodies of 0 B and 1 MB (and 50 MB if big), two
    Set-Cookie headers, 204 and 304; wsgi.url_scheme https through tls_addr;
    a 50 MB streamed response with flat worker memory if stream."""
    import hashlib
    L = '%s %s' % (label, prefix or '/')
    for rest, want in WEB_PATHS:
        if not prefix and not rest:
            continue  # the root has no bare mount
        path = prefix + rest
        res, env = web_env(addr, 'GET', path)
        got = (res.status, env.get('SCRIPT_NAME'), env.get('PATH_INFO'))
        is_(got, (200, prefix, want), '%s: GET %s: SCRIPT_NAME %r, PATH_INFO %r' % (
            L, path, prefix, want))

    res, env = web_env(addr, 'GET', '%s/q?%s' % (prefix, WEB_QUERY), headers={
        'X-Custom': 'hello there', 'User-Agent': 'fwtest-ua', 'Authorization': 'Bearer t0k',
        'Accept-Language': 'fr'})
    is_((res.status, env.get('PATH_INFO'), env.get('QUERY_STRING')), (200, '/q', WEB_QUERY),
        '%s: QUERY_STRING intact, not in PATH_INFO' % L)
    is_(env.get('REMOTE_ADDR'), '127.0.0.1', '%s: REMOTE_ADDR' % L)
    hdrs = {k: env.get(k) for k in ('HTTP_X_CUSTOM', 'HTTP_USER_AGENT', 'HTTP_AUTHORIZATION',
                                    'HTTP_ACCEPT_LANGUAGE')}
    is_(hdrs, {'HTTP_X_CUSTOM': 'hello there', 'HTTP_USER_AGENT': 'fwtest-ua',
               'HTTP_AUTHORIZATION': 'Bearer t0k', 'HTTP_ACCEPT_LANGUAGE': 'fr'},
        '%s: request headers as HTTP_* (Authorization too)' % L)
    fam, sa = parse_addr(addr)
    is_(env.get('HTTP_HOST'), '%s:%d' % sa, '%s: HTTP_HOST as the client sent it, port included' % L)
    is_((env.get('wsgi.url_scheme'), env.get('SERVER_PROTOCOL')), ('http', 'HTTP/1.1'),
        '%s: wsgi.url_scheme http, SERVER_PROTOCOL' % L)
    ok(env.get('CONTENT_LENGTH') in (None, '0') and env.get('fw.body_len') == 0,
       '%s: GET: no body, CONTENT_LENGTH absent or 0' % L,
       got=(env.get('CONTENT_LENGTH'), env.get('fw.body_len')))
    ok(env.get('REQUEST_METHOD') == 'GET' and env.get('SERVER_NAME') and env.get('SERVER_PORT'),
       '%s: REQUEST_METHOD, SERVER_NAME, SERVER_PORT' % L,
       got={k: env.get(k) for k in ('REQUEST_METHOD', 'SERVER_NAME', 'SERVER_PORT')})

    for method in ('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'):
        res, env = web_env(addr, method, prefix + '/m')
        is_((res.status, env.get('REQUEST_METHOD'), env.get('PATH_INFO')), (200, method, '/m'),
            '%s: REQUEST_METHOD %s' % (L, method))
    res = http_request(addr, 'HEAD', prefix + '/m')
    is_((res.status, res.body), (200, b''), '%s: HEAD: 200, no body' % L)

    sizes = [0, 1 << 20] + ([50 << 20] if big else [])
    for size in sizes:
        data = os.urandom(size)
        res, env = web_env(addr, 'POST', prefix + '/upload', body=data, timeout=120,
                           headers={'Content-Type': 'application/octet-stream'})
        is_((res.status, env.get('CONTENT_LENGTH'), env.get('fw.body_len'),
             env.get('fw.body_sha1')), (200, str(size), size, hashlib.sha1(data).hexdigest()),
            '%s: POST %d bytes arrives whole (CONTENT_LENGTH, sha1)' % (L, size))
        if size:
            is_((env.get('CONTENT_TYPE'), 'HTTP_CONTENT_TYPE' in env,
                 'HTTP_CONTENT_LENGTH' in env), ('application/octet-stream', False, False),
                '%s: POST: CONTENT_TYPE, no HTTP_CONTENT_TYPE/LENGTH copies' % L)

    res = http_request(addr, 'GET', prefix + '/_cookies')
    is_((res.status, res.header_all('Set-Cookie')),
        (200, ['a=1; Path=/', 'b=2; Path=/; HttpOnly']), '%s: two Set-Cookie headers' % L)
    for code in (204, 304):
        res = http_request(addr, 'GET', '%s/_%d' % (prefix, code))
        is_((res.status, res.body), (code, b''), '%s: %d with no body' % (L, code))
        ok(res.header('Transfer-Encoding') is None and res.header('Content-Length') in (None, '0'),
           '%s: %d without body framing' % (L, code), got=res.headers)

    if tls_addr:
        res = https_request(tls_addr, 'GET', prefix + '/tls?x=1')
        env = (_web_json(res) or {}) if res.status == 200 else {}
        is_((res.status, env.get('wsgi.url_scheme'), env.get('SCRIPT_NAME'),
             env.get('PATH_INFO'), env.get('QUERY_STRING'), env.get('HTTP_HOST')),
            (200, 'https', prefix, '/tls', 'x=1', '%s:%d' % parse_addr(tls_addr)[1]),
            '%s: over TLS: wsgi.url_scheme https' % L)
    if stream:
        web_stream_check(addr, prefix, L)


def web_kept_sockets(pid):
    """Sockets a worker process holds besides its listening socket (fd 0):
    its channel to the master, if any, and the web server's connections."""
    n = 0
    for fd in os.listdir('/proc/%d/fd' % pid):
        if fd == '0':
            continue
        try:
            if os.readlink('/proc/%d/fd/%s' % (pid, fd)).startswith('socket:'):
                n += 1
        except OSError:
            pass
    return n


def todo_ok(cond, name, reason, got=_UNSET):
    """ok(cond, name), except that a failure is a TAP TODO (automake's
    driver reports it as XFAIL, not as a failure): for a known problem that
    is not ours to fix here; reason says which. A pass is a plain ok (a
    passing TODO would be an XPASS, which fails the suite)."""
    if cond:
        return ok(True, name)
    name = str(name).replace('\n', ' ').replace('#', '\\#')
    with _tap.lock:
        _tap.count += 1
        _tap.line('not ok %d - %s # TODO %s' % (_tap.count, name, str(reason).replace('\n', ' ')))
        if got is not _UNSET:
            diag('     got: ' + _short(got))
    return False


__all__ += [
    'start_web_pools', 'start_nginx_snippet',
    'todo_ok', 'web_snippet', 'web_tls_cert', 'web_share_tmpdir', 'web_path_reachable',
    'start_fcgiwsgi', 'start_lighttpd', 'lighttpd_has_tls', 'start_apache',
    'apache_bad_log_lines', 'https_request', 'proc_status_kb', 'web_stream_block',
    'web_env', 'web_stream_check', 'web_matrix', 'web_kept_sockets',
    'WEB_PATHS', 'WEB_QUERY', 'LIGHTTPD', 'APACHE',
]


# ------------------------------------- raw FastCGI reading (t/protocol-abuse.t)


def fd_count(pid):
    """How many file descriptors process pid has open; None if it is gone."""
    try:
        return len(os.listdir('/proc/%d/fd' % pid))
    except OSError:
        return None


def read_raw_record(conn, timeout=5):
    """The next record on a FcgiConn as sent, padding included:
    (version, type, req_id, content, padding); None on EOF at a record
    boundary. Raises socket.timeout, and FcgiError on EOF mid-record. The
    version is returned, not checked."""
    conn.sock.settimeout(timeout)
    while True:
        buf = conn._buf
        if len(buf) >= 8:
            ver, typ, rid, clen, plen = _HDR.unpack_from(buf)
            if len(buf) >= 8 + clen + plen:
                content = bytes(buf[8:8 + clen])
                padding = bytes(buf[8 + clen:8 + clen + plen])
                del buf[:8 + clen + plen]
                return ver, typ, rid, content, padding
        data = conn.sock.recv(65536)
        if not data:
            conn.eof = True
            if conn._buf:
                raise FcgiError('connection closed mid-record (%d bytes pending)'
                                % len(conn._buf))
            return None
        conn._buf += data


def read_response(conn, req_id=1, timeout=5):
    """Reads a FcgiConn's records for request req_id until its END_REQUEST,
    within `timeout` seconds in all. Returns (FcgiResponse, how), how being
    'end', 'eof' (closed at a record boundary), 'truncated' (closed
    mid-record), 'reset' or 'timeout'. Records of other ids go to
    conn.other_records. For requests sent by hand (send_raw)."""
    resp = FcgiResponse(req_id)
    deadline = time.monotonic() + timeout
    how = 'timeout'
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            rec = conn.read_record(timeout=left)
        except (socket.timeout, BlockingIOError):
            break
        except (ConnectionResetError, BrokenPipeError):
            how = 'reset'
            break
        except FcgiError:
            how = 'truncated'
            break
        if rec is None:
            how = 'eof'
            break
        if conn._dispatch(resp, rec):
            how = 'end'
            break
    resp._finish()
    return resp, how


__all__ += ['fd_count', 'read_raw_record', 'read_response']
__all__ += ['build_sanitized', 'source_copy', 'configurable_source', 'NotifySocket']


# ------------------------- HAProxy, H2O and an HTTP load (issue 13)
# Web servers that keep FastCGI connections by default (HAProxy's fcgi-app,
# H2O with fastcgi.timeout.keepalive), in the manner of start_nginx, and a
# load generator of keep-alive HTTP clients (t/recycle-keepconn*.t).

HAPROXY = '/usr/sbin/haproxy'
H2O = '/usr/bin/h2o'


def _server_dir(name):
    d = os.path.join(tmpdir(), name)
    while os.path.exists(d):
        d += 'x'
    os.makedirs(d)
    return d


def start_haproxy(body, port=None):
    """Start HAProxy (-db: foreground) with a global and a defaults section
    of ours (mode http; to stdout, so into the spawn log, the httplog line of
    each request that failed or was cut: dontlog-normal) and body,
    in which '@PORT@' is replaced by port (default free_port()); body holds
    the frontend binding 127.0.0.1:@PORT@, the backend and its fcgi-app.
    Returns the Process with .port, .dir, .conf. skip_all if HAProxy is not
    installed."""
    if not os.access(HAPROXY, os.X_OK):
        skip_all('haproxy not installed')
    port = port or free_port()
    d = _server_dir('haproxy')
    conf = os.path.join(d, 'haproxy.cfg')
    with open(conf, 'w') as f:
        f.write('global\n    log stdout format raw local0 info\n'
                '    pidfile %s/haproxy.pid\n\n'
                'defaults\n    mode http\n    log global\n    option httplog\n'
                '    option dontlog-normal\n'
                '    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n'
                '    timeout http-keep-alive 60s\n\n%s\n'
                % (d, body.replace('@PORT@', str(port))))
    h = spawn([HAPROXY, '-db', '-f', conf], log=os.path.join(d, 'haproxy.log'))
    h.port, h.dir, h.conf = port, d, conf
    wait_socket(('127.0.0.1', port), timeout=15, proc=h)
    return h


def start_h2o(paths, port=None):
    """Start H2O (foreground, its default) listening on 127.0.0.1:port
    (default free_port()) with `paths`, the YAML body of hosts.default.paths
    indented by 6 spaces; pid file, error log and access log in its
    directory; `user: root` when run as root (H2O refuses root without a
    user directive). Returns the Process with .port, .dir, .conf,
    .error_log, .access_log. skip_all if H2O is not installed."""
    if not os.access(H2O, os.X_OK):
        skip_all('h2o not installed')
    port = port or free_port()
    d = _server_dir('h2o')
    conf = os.path.join(d, 'h2o.conf')
    with open(conf, 'w') as f:
        f.write(('user: root\n' if os.geteuid() == 0 else '') +
                'pid-file: %(d)s/h2o.pid\nerror-log: %(d)s/error.log\n'
                'access-log: %(d)s/access.log\n'
                'listen:\n  host: 127.0.0.1\n  port: %(port)d\n'
                'hosts:\n  default:\n    paths:\n%(paths)s\n'
                % {'d': d, 'port': port, 'paths': paths})
    h = spawn([H2O, '-c', conf], log=os.path.join(d, 'stderr.log'))
    h.port, h.dir, h.conf = port, d, conf
    h.error_log, h.access_log = os.path.join(d, 'error.log'), os.path.join(d, 'access.log')
    wait_socket(('127.0.0.1', port), timeout=15, proc=h)
    return h


class HttpLoad(Load):
    """fwtest's Load over HTTP: `clients` threads, each with one keep-alive
    HTTP/1.1 connection to addr, sending GET path in a loop until stop() (or
    max_seconds, or max_requests in all). Outcomes as Load's (start, end,
    status or None, body or error text); after an error or a response that
    closes, the client reconnects. summary() is a diag line."""

    def __init__(self, addr, clients=8, path='/', headers=None, **kw):
        self.headers = dict(headers or {})
        super().__init__(addr, clients=clients, uri=path, **kw)

    def _run(self):
        conn = None
        while not self._stop.is_set() and time.monotonic() < self._deadline \
                and len(self.results) < self._max:
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = _Conn(self.addr, self.timeout)
                conn.request('GET', self.uri, headers=self.headers)
                r = conn.getresponse()
                out = (t0, time.monotonic(), r.status, r.read())
                if r.will_close:
                    conn.close()
                    conn = None
            except Exception as e:  # noqa: BLE001 - every failure is an outcome
                out = (t0, time.monotonic(), None, repr(e))
                if conn is not None:
                    conn.close()
                conn = None
            with self._lock:
                self.results.append(out)
        if conn is not None:
            conn.close()

    def summary(self, label=''):
        lat = self.latencies()
        if not lat:
            return '%sno requests' % (label + ': ' if label else '')
        return '%s%d requests, %d failed, p99 %.1f ms, max %.1f ms' % (
            label + ': ' if label else '', len(lat), len(self.failures()),
            1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1000 * lat[-1])

    def show_failures(self, label, t0, first=8):
        """diag lines for the failed requests: how many of each kind (the
        status, or the exception's name), when they started (relative to
        t0), and the first few in full."""
        fails = self.failures()
        kinds, when = {}, {}
        for r in fails:
            k = r[2] if r[2] is not None else r[3].split('(')[0]
            kinds[k] = kinds.get(k, 0) + 1
            k = '+%.1f s' % (r[0] - t0)
            when[k] = when.get(k, 0) + 1
        if fails:
            diag('%s: failures by kind %r; by start time %s' % (
                label, kinds, ', '.join('%s: %d' % kv for kv in sorted(when.items()))))
        for r in fails[:first]:
            diag('%s: failed at +%.2f s after %.2f s: %r' % (label, r[0] - t0, r[1] - r[0],
                                                           (r[2], r[3][:100])))
        return fails


__all__ += ['start_haproxy', 'start_h2o', 'HttpLoad', 'HAPROXY', 'H2O']
