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
    'manager_config', 'ctl', 'Load',
    'BAD_LOG_PATTERNS',
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


def spawn(argv, log=None, env=None, pass_fds=(), stdin=None, cwd=None):
    """Start argv (stdout+stderr appended to `log`, default
    tmpdir/<name>.<n>.log) and register it for cleanup at exit.

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
            stdout=logf, stderr=subprocess.STDOUT, env=full_env, cwd=cwd,
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


def manager_config(pools, name='fcgiwsgi.yaml', log='stderr', log_level='info'):
    """Writes a manager configuration in tmpdir: the usual top-level keys
    (log, log_level at info so worker state changes show, a control socket
    of its own) and `pools`, the indented body of the pools: mapping.
    Returns its path."""
    path = os.path.join(tmpdir(), name)
    with open(path, 'w') as f:
        f.write('log: %s\nlog_level: %s\ncontrol: %s\npools:\n%s'
                % (log, log_level, path + '.ctl', pools))
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


def check_log_clean(proc_or_path, name=None, patterns=BAD_LOG_PATTERNS):
    """One test: the log has no crash, sanitizer or validator line."""
    bad = log_bad_lines(proc_or_path, patterns)
    label = getattr(proc_or_path, 'log', proc_or_path)
    return ok(not bad, name or 'no crash or sanitizer lines in %s' % os.path.basename(label),
              got='\n'.join(bad[:20]), expected='no such lines')
