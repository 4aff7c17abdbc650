#!/usr/bin/env python3
"""The fault soak (issue 15): a real manager under steady FastCGI load while
a scheduler injects faults, for N minutes.

    python3 t/soak/run.py --minutes 10          # the long form (README, Soak)
    python3 t/soak/run.py --seconds 25 --json F # what t/soak.t runs

Pools: `main` (4 processes x 2 threads, max_requests 200, request_timeout,
memory_limit, a low rlimit_nofile) serves soak_app.wsgi, copied into the
temp dir and renamed over with a new VERSION every --rewrite-every seconds;
`bystander` (2 x 1) serves t/apps/mgr_app.wsgi and is never a target. The
master's stderr (its log, and every worker's, which share it) is a pipe
this script reads, so the stuck-log fault is real: it stops reading.

Every failed normal request (the fault-free endpoints) is classified: "in
flight at a fault" when its time overlaps the window of a fault aimed at
its pool (kill -9, SIGSTOP, a crashing or spinning request, ...), "other"
otherwise. A script rewrite is not a fault here: a recycle promises to
lose nothing, so a failure during one alone counts as "other".
The build is $FW_BUILDDIR (default: the repository); use a non-ASan build
for figures.
"""

import argparse
import json
import os
import random
import re
import resource
import select
import signal
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lib'))
import fwtest as fw  # noqa: E402

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
MAIN_ENDPOINTS = (('/', 75), ('/slow', 5), ('/upload', 10), ('/large', 10))
UPLOAD = b'u' * (256 << 10)
LARGE_BYTES = 1 << 20
CLIENT_TIMEOUT = 10.0
REQUEST_TIMEOUT_S = 2
GRACEFUL_TIMEOUT_S = 5
MAIN_PROCESSES, BYSTANDER_PROCESSES = 4, 2
FAULT_KINDS = ('kill9', 'kill9', 'stopcont', 'segfault', 'spin', 'spin-c', 'memhog',
               'fdhog', 'idle500', 'cutupload', 'stucklog', 'bigline', 'bigprint')


def now():
    return time.monotonic()


class LogPipe:
    """The manager's stderr: a pipe drained into a file by a thread, which
    pause() stops reading."""

    def __init__(self, path):
        self.path = path
        self.r, self.w = os.pipe()
        self.bytes = 0
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._file = open(path, 'wb')
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            if self._paused.is_set():
                time.sleep(0.05)
                continue
            ready, _, _ = select.select([self.r], [], [], 0.2)
            if not ready:
                continue
            data = os.read(self.r, 1 << 16)
            if not data:
                return
            self.bytes += len(data)
            self._file.write(data)

    def pause(self):
        self._paused.set()

    def resume(self):
        self._paused.clear()

    def close(self):
        self.resume()
        # The writers are gone by now: read what is left, then stop.
        deadline = now() + 5
        while now() < deadline and select.select([self.r], [], [], 0.2)[0]:
            time.sleep(0.05)
        self._stop.set()
        self._thread.join(5)
        self._file.close()
        os.close(self.r)


def write_app(path, version):
    with open(os.path.join(HERE, 'soak_app.wsgi')) as f:
        text = f.read()
    text = re.sub(r'^VERSION = \d+$', 'VERSION = %d' % version, text, count=1, flags=re.M)
    tmp = path + '.new'
    with open(tmp, 'w') as f:
        f.write(text)
    os.rename(tmp, path)  # as a deploy does: the watcher sees a rename-over


def config(app, main_sock, bystander_sock):
    pools = '''  main:
    listen: %s
    processes: %d
    threads: 2
    max_requests: 200
    max_requests_jitter: 20
    request_timeout: %ds
    graceful_timeout: %ds
    memory_limit: 128M
    rlimit_nofile: 1024
    client_timeout: 20s
    allow_root: true
    apps:
      - {mount: /, script: %s}
  bystander:
    listen: %s
    processes: %d
    allow_root: true
    apps:
      - {mount: /, script: %s}
''' % (main_sock, MAIN_PROCESSES, REQUEST_TIMEOUT_S, GRACEFUL_TIMEOUT_S, app, bystander_sock,
       BYSTANDER_PROCESSES, fw.app_path('mgr_app.wsgi'))
    return fw.manager_config(pools, name='soak.yaml', log='stderr', log_level='info')


class Manager:
    def __init__(self, cfg, log):
        self.cfg, self.log = cfg, log
        self.proc = fw.spawn([fw.program('fcgiwsgi'), '-c', cfg], output=log.w)
        os.close(log.w)
        self.pid = self.proc.pid

    def status(self, limit=2.0):
        """The status as {pool name: pool}, or None (with the exit status)."""
        try:
            rc, out, err = fw.ctl(self.cfg, '-t', '%g' % limit, 'status', '--json',
                                  timeout=limit + 3)
        except Exception:  # noqa: BLE001 - a ctl that hangs is an outcome too
            return None, -1
        if rc != 0:
            return None, rc
        return {p['name']: p for p in json.loads(out)['pools']}, 0

    def workers(self, pool, states=('idle', 'busy')):
        st, _ = self.status()
        if not st:
            return []
        return [w['pid'] for w in st[pool]['workers'] if w['state'] in states]

    def settled(self):
        """Both pools at their size, nothing starting, retiring or stopping."""
        st, _ = self.status()
        if not st:
            return False
        for name, n in (('main', MAIN_PROCESSES), ('bystander', BYSTANDER_PROCESSES)):
            p = st[name]
            by = p['workers_by_state']
            if p['recycling'] or by['idle'] + by['busy'] != n or \
                    by['starting'] or by['retiring'] or by['stopping']:
                return False
        return True

    def wait_settled(self, timeout):
        try:
            fw.wait_for(self.settled, timeout=timeout, interval=0.2, what='pools settled')
            return True
        except TimeoutError:
            return False

    def rss_kb(self):
        return fw.proc_status_kb(self.pid, 'VmRSS')

    def fds(self):
        return fw.fd_count(self.pid)


class Clients:
    """Steady load: `main_clients` threads on the main pool's normal
    endpoints, `bystander_clients` on the bystander. Each outcome is
    (start, end, pool, uri, ok, pid, version, error)."""

    def __init__(self, socks, seconds, main_clients=6, bystander_clients=2, seed=0):
        self.socks = socks
        self.results = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._deadline = now() + seconds
        self._max = 5000000
        uris = [u for u, w in MAIN_ENDPOINTS for _ in range(w)]
        self._threads = []
        for i in range(main_clients + bystander_clients):
            pool = 'main' if i < main_clients else 'bystander'
            rnd = random.Random(seed * 1000 + i)
            t = threading.Thread(target=self._run, args=(pool, uris, rnd), daemon=True)
            self._threads.append(t)
            t.start()

    def _one(self, pool, uri):
        body = UPLOAD if uri == '/upload' else b''
        method = 'POST' if body else 'GET'
        r = fw.fcgi_request(self.socks[pool], method, uri, body=body, params=PARAMS,
                            timeout=CLIENT_TIMEOUT)
        if r.status != 200:
            return False, None, None, 'status %s: %r' % (r.status, r.body[:200])
        parts = r.body.split(b' ', 2)
        if pool == 'bystander':
            return True, int(parts[0]), None, None
        if len(parts) < 3:
            return False, None, None, 'short body %r' % r.body[:200]
        pid, version, rest = int(parts[0]), int(parts[1]), parts[2]
        if uri == '/upload' and rest != b'%d' % len(UPLOAD):
            return False, pid, version, 'upload read %r bytes' % rest[:40]
        if uri == '/large' and len(rest) != LARGE_BYTES:
            return False, pid, version, 'large body of %d bytes' % len(rest)
        return True, pid, version, None

    def _run(self, pool, uris, rnd):
        while not self._stop.is_set() and now() < self._deadline and len(self.results) < self._max:
            uri = rnd.choice(uris) if pool == 'main' else '/'
            t0 = now()
            try:
                ok, pid, version, err = self._one(pool, uri)
            except Exception as e:  # noqa: BLE001 - every failure is an outcome
                ok, pid, version, err = False, None, None, repr(e)[:300]
            with self._lock:
                self.results.append((t0, now(), pool, uri, ok, pid, version, err))

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(CLIENT_TIMEOUT + 5)


class Faults:
    """Every `interval` s (+-30%), the next kind of a shuffled deck, each in
    a thread of its own, one of a kind at a time. Each fault appends
    (kind, pools, start, end, outcome) to .done."""

    def __init__(self, mgr, socks, log, seconds, interval, seed):
        self.mgr, self.socks, self.log = mgr, socks, log
        self.rnd = random.Random(seed)
        self.done = []
        self.running = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._deadline = now() + seconds
        self._interval = interval
        self._workers = []
        self._thread = threading.Thread(target=self._schedule, daemon=True)
        self._thread.start()

    def _schedule(self):
        deck = []
        for _ in range(100000):
            if self._stop.wait(self._interval * self.rnd.uniform(0.7, 1.3)) or \
                    now() >= self._deadline:
                return
            if not deck:
                deck = list(FAULT_KINDS)
                self.rnd.shuffle(deck)
            kind = deck.pop()
            with self._lock:
                if kind in self.running:
                    continue
                self.running.add(kind)
            t = threading.Thread(target=self._run, args=(kind,), daemon=True)
            self._workers.append(t)
            t.start()

    def _run(self, kind):
        start = now()
        pools, outcome, end = ('main',), '', None
        try:
            pools, outcome, end = getattr(self, 'f_' + kind.replace('-', '_'))()
        except Exception as e:  # noqa: BLE001 - a fault that fails is reported
            outcome = 'fault failed: %r' % e
        with self._lock:
            self.running.discard(kind)
            self.done.append((kind, pools, start, end if end is not None else now(), outcome))

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        for t in self._workers:
            t.join(60)

    # ---- the faults: each returns (pools it targets, outcome, window end)
    def _victim(self):
        pids = self.mgr.workers('main', ('idle', 'busy'))
        return self.rnd.choice(pids) if pids else None

    def _hit(self, uri, timeout=15.0):
        try:
            r = fw.fcgi_request(self.socks['main'], 'GET', uri, params=PARAMS, timeout=timeout)
            return r.status, r.body
        except Exception as e:  # noqa: BLE001
            return None, str(e).split(' for request')[0][:80]

    def _gone(self, pid, timeout=20.0):
        """When the worker `pid` has left the status (exited), bounded."""
        if not pid:
            return now()
        end = now() + timeout
        while now() < end:
            st, _ = self.mgr.status()
            if st and pid not in [w['pid'] for w in st['main']['workers']]:
                break
            time.sleep(0.2)
        return now()

    def f_kill9(self):
        killed = []
        for _ in range(3):  # a short kill -9 loop
            pid = self._victim()
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            time.sleep(0.3)
        return ('main',), 'killed %d' % len(killed), None

    def f_stopcont(self):
        pid = self._victim()
        if not pid:
            return ('main',), 'no victim', None
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(2)
        finally:
            os.kill(pid, signal.SIGCONT)
        return ('main',), 'stopped 2 s', None

    def f_segfault(self):
        st, body = self._hit('/segfault')
        return ('main',), 'status %s' % st if st else body, None

    def f_spin(self):
        st, body = self._hit('/spin')
        return ('main',), 'status %s' % st if st else body, None

    def f_spin_c(self):
        st, body = self._hit('/spin-c')
        # The worker serves its other requests for graceful_timeout, then exits.
        try:
            with open(os.path.join(fw.tmpdir(), 'spin-c.pid')) as f:
                pid = int(f.read())
        except (OSError, ValueError):
            pid = None
        end = self._gone(pid, GRACEFUL_TIMEOUT_S + 5) if pid else now() + GRACEFUL_TIMEOUT_S
        return ('main',), 'status %s' % st if st else body, end

    def _hog(self, uri):
        st, body = self._hit(uri)
        pid = int(body.split()[0]) if st == 200 else None
        return ('main',), 'status %s, worker %s' % (st, 'gone' if pid else '?'), self._gone(pid)

    def f_memhog(self):
        return self._hog('/memhog')

    def f_fdhog(self):
        return self._hog('/fdhog')

    def f_idle500(self):
        conns = []
        try:
            for _ in range(500):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(5)
                s.connect(self.socks['main'])
                conns.append(s)
            time.sleep(10)
        finally:
            for s in conns:
                s.close()
        return ('main',), 'held %d' % len(conns), now() + 0.5

    def f_cutupload(self):
        cut = 0
        for _ in range(10):
            p = fw.cgi_params('POST', '/upload', b'x', PARAMS)
            p['CONTENT_LENGTH'] = str(1 << 20)
            with fw.FcgiConn(self.socks['main'], timeout=5) as c:
                c.send_raw(fw.begin_request(1) + fw.records(fw.FCGI_PARAMS, 1, fw.encode_params(p))
                           + fw.records(fw.FCGI_STDIN, 1, b'x' * (512 << 10), end=False))
                cut += 1
        return ('main',), 'cut %d' % cut, None

    def f_stucklog(self):
        self.log.pause()
        result = {}
        # Output to the log while nobody reads it: the pipe fills at once.
        t = threading.Thread(target=lambda: result.update(r=self._hit('/chatter', 20)),
                             daemon=True)
        try:
            t.start()
            time.sleep(5)
        finally:
            self.log.resume()
        t.join(20)
        st = result.get('r', (None, 'no answer'))[0]
        # Every pool's workers write to the same log.
        return ('main', 'bystander'), 'chatter status %s' % st, None

    def f_bigline(self):
        st, body = self._hit('/bigline', 30)
        return ('main',), 'status %s' % st if st else body, None

    def f_bigprint(self):
        st, body = self._hit('/bigprint', 30)
        return ('main',), 'status %s' % st if st else body, None


class Rewriter:
    def __init__(self, app, every, seconds):
        self.app, self.every = app, every
        self.version = 0
        self.times = []
        self._stop = threading.Event()
        self._deadline = now() + seconds
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        for _ in range(100000):
            if self._stop.wait(self.every) or now() >= self._deadline:
                return
            self.version += 1
            write_app(self.app, self.version)
            self.times.append((now(), self.version))

    def stop(self):
        self._stop.set()
        self._thread.join(5)


def ms(seconds):
    return None if seconds is None else round(seconds * 1000, 1)


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def log_counts(path, limit):
    """Worker exits and replacement requests by cause, from the log's first
    `limit` bytes (the shutdown's exits are not events of the soak)."""
    exits, retires, other = {}, {}, {}
    patterns = (
        ('recycles done', re.compile(r'\] recycle done')),
        ('recycles failed', re.compile(r'\] recycle to generation \d+ failed')),
        ('died with requests in flight', re.compile(r'died with \d+ requests? in flight')),
        ('back-off steps', re.compile(r'next spawn in \d+ ms')),
        ('request_timeout lines (stacks, 504s)', re.compile(r'RequestTimeout|request_timeout')),
        ('output rate-limit lines', re.compile(r'lines of worker output dropped')),
        ('log-not-writable lines', re.compile(r'log lines dropped \(log not writable\)')),
        ('crit/alert/sanitizer lines', re.compile(r'\b(crit|alert)\b|AddressSanitizer|runtime error')),
    )
    exit_re = re.compile(r'\[pool (\S+) pid \d+\] exited \((.*?)\) after \d+ ms(, unexpectedly)?')
    retire_re = re.compile(r'\[pool (\S+) pid \d+\] (.*?): asking the master for a replacement')
    with open(path, 'rb') as f:
        for raw in f:
            limit -= len(raw)
            if limit < 0:
                break
            if len(raw) > 4096:
                continue  # a cut piece of a big line: no event of ours
            line = raw.decode('utf-8', 'replace')
            m = exit_re.search(line)
            if m:
                key = '%s: %s%s' % (m.group(1), m.group(2), ' (unexpected)' if m.group(3) else '')
                exits[key] = exits.get(key, 0) + 1
                continue
            m = retire_re.search(line)
            if m:
                why = re.sub(r'\(RSS \d+ MiB\)', '(RSS N MiB)', m.group(2))
                key = '%s: %s' % (m.group(1), why)
                retires[key] = retires.get(key, 0) + 1
                continue
            for name, pat in patterns:
                if pat.search(line):
                    other[name] = other.get(name, 0) + 1
    return exits, retires, other


def classify(results, faults):
    """Failed normal requests: (in flight at a fault: {kind: n}, other: [result])."""
    windows = [(k, set(p), s, e) for k, p, s, e, _ in faults]
    at_fault, other = {}, []
    for r in results:
        if r[4]:
            continue
        t0, t1, pool = r[0], r[1], r[2]
        kinds = sorted({k for k, p, s, e in windows if pool in p and t0 <= e and t1 >= s})
        if kinds:
            key = '+'.join(kinds)
            at_fault[key] = at_fault.get(key, 0) + 1
        else:
            other.append(r)
    return at_fault, other


def soak(seconds, interval=3.0, rewrite_every=30.0, seed=None, quiet=False):
    """Runs the mix for `seconds` and returns the summary (a dict)."""
    say = (lambda msg: None) if quiet else (lambda msg: print(msg, flush=True))
    seed = random.randrange(1 << 30) if seed is None else seed
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 and hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    d = fw.tmpdir()
    app = os.path.join(d, 'soak_app.wsgi')
    write_app(app, 0)
    socks = {'main': fw.sock_path('main.sock'), 'bystander': fw.sock_path('bystander.sock')}
    cfg = config(app, socks['main'], socks['bystander'])
    log = LogPipe(os.path.join(d, 'manager.log'))
    mgr = Manager(cfg, log)
    summary = {'seconds': seconds, 'interval': interval, 'rewrite_every': rewrite_every,
               'seed': seed, 'tmpdir': d, 'log': log.path, 'build': fw.build_dir()}
    try:
        if not mgr.wait_settled(30):
            raise RuntimeError('the pools did not start: see %s' % log.path)
        summary['master_rss_kb_start'] = mgr.rss_kb()
        summary['master_fds_start'] = mgr.fds()
        summary['bystander_pids_start'] = sorted(mgr.workers('bystander'))
        say('soak: %g s, faults every %g s, script rewrite every %g s, seed %d, log %s'
            % (seconds, interval, rewrite_every, seed, log.path))
        t_start = now()
        clients = Clients(socks, seconds, seed=seed)
        # Faults end a little before the load, so the end measures recovery.
        faults = Faults(mgr, socks, log, max(1.0, seconds - 3), interval, seed)
        rewriter = Rewriter(app, rewrite_every, max(1.0, seconds - 3))
        end = t_start + seconds
        next_report = t_start + 60
        while now() < end and mgr.proc.alive():
            time.sleep(min(1.0, max(0.05, end - now())))
            if not quiet and now() >= next_report:
                next_report += 60
                n, failed = len(clients.results), sum(1 for r in clients.results if not r[4])
                say('  %4.0f s: %d requests, %d failed, %d faults, master RSS %s kB, fds %s'
                    % (now() - t_start, n, failed, len(faults.done), mgr.rss_kb(), mgr.fds()))
        faults.stop()
        rewriter.stop()
        clients.stop()
        summary['duration_s'] = round(now() - t_start, 1)
        summary['master_alive'] = mgr.proc.alive()
        summary['settled_at_end'] = mgr.wait_settled(30)
        summary['master_rss_kb_end'] = mgr.rss_kb()
        summary['master_fds_end'] = mgr.fds()
        st, rc = mgr.status()
        summary['status_exit'] = rc
        summary['bystander_pids_end'] = sorted(mgr.workers('bystander'))
        normal = clients.results
        lat = sorted(r[1] - r[0] for r in normal if r[4])
        slowest = sorted((r for r in normal if r[4]), key=lambda r: r[0] - r[1])[:5]
        at_fault, other = classify(normal, faults.done)
        by_kind = {}
        for k, _, _, _, outcome in faults.done:
            by_kind.setdefault(k, {})
            by_kind[k][outcome] = by_kind[k].get(outcome, 0) + 1
        versions = sorted({r[6] for r in normal if r[4] and r[6] is not None})
        summary.update({
            'requests': len(normal),
            'requests_by_pool': {p: sum(1 for r in normal if r[2] == p) for p in socks},
            'failed': sum(1 for r in normal if not r[4]),
            'failed_in_flight_at_fault': sum(at_fault.values()),
            'failed_at_fault_by_kind': at_fault,
            'failed_at_fault_samples': [
                {'start': round(r[0] - t_start, 3), 'end': round(r[1] - t_start, 3),
                 'uri': r[3], 'error': r[7]} for r in normal if not r[4] and r not in other][:10],
            'failed_other': len(other),
            'failed_other_samples': [
                {'start': round(r[0] - t_start, 3), 'end': round(r[1] - t_start, 3),
                 'pool': r[2], 'uri': r[3], 'error': r[7]} for r in other[:20]],
            'latency_ms': {'p50': ms(percentile(lat, 0.50)), 'p99': ms(percentile(lat, 0.99)),
                           'max': ms(lat[-1] if lat else None)},
            'latency_ms_by_pool': {
                p: {'p50': ms(percentile(v, 0.50)), 'p99': ms(percentile(v, 0.99)),
                    'max': ms(v[-1] if v else None)}
                for p, v in ((p, sorted(r[1] - r[0] for r in normal if r[4] and r[2] == p))
                             for p in socks)},
            'slowest_ok': [
                {'start': round(r[0] - t_start, 3), 'ms': ms(r[1] - r[0]), 'pool': r[2],
                 'uri': r[3], 'faults': sorted({k for k, p, s, e, _ in faults.done
                                                if r[2] in p and r[0] <= e and r[1] >= s})}
                for r in slowest],
            'fault_log': [(k, round(s0 - t_start, 2), round(e - t_start, 2), o)
                          for k, _, s0, e, o in sorted(faults.done, key=lambda f: f[2])],
            'faults': len(faults.done),
            'faults_by_kind': by_kind,
            'rewrites': len(rewriter.times),
            'versions_served': versions,
            'log_bytes': log.bytes,
        })
    finally:
        before_stop = log.bytes
        rc = mgr.proc.stop(30)
        summary['master_exit'] = rc
        log.close()
    exits, retires, other_lines = log_counts(log.path, before_stop)
    summary.update({'worker_exits': exits, 'replacements_asked': retires,
                    'log_events': other_lines})
    return summary


def report(s):
    lines = [
        'duration            %s s (faults every %s s, rewrite every %s s, seed %s)'
        % (s.get('duration_s'), s['interval'], s['rewrite_every'], s['seed']),
        'requests            %s (%s)' % (s.get('requests'), ', '.join(
            '%s %d' % kv for kv in s.get('requests_by_pool', {}).items())),
        'failed              %s: in flight at a fault %s, other %s' % (
            s.get('failed'), s.get('failed_in_flight_at_fault'), s.get('failed_other')),
    ]
    for k, n in sorted(s.get('failed_at_fault_by_kind', {}).items()):
        lines.append('  at %-16s %d' % (k, n))
    for r in s.get('failed_other_samples', []):
        lines.append('  other: %r' % r)
    lat = s.get('latency_ms', {})
    lines += [
        'latency (ok)        p50 %s ms, p99 %s ms, max %s ms' % (lat.get('p50'), lat.get('p99'),
                                                                lat.get('max')),
    ]
    for p, v in sorted(s.get('latency_ms_by_pool', {}).items()):
        lines.append('  %-10s p50 %s ms, p99 %s ms, max %s ms' % (p, v['p50'], v['p99'], v['max']))
    for r in s.get('slowest_ok', []):
        lines.append('  slow: %r' % r)
    lines += [
        'bystander workers   %s at start, %s at end' % (s.get('bystander_pids_start'),
                                                       s.get('bystander_pids_end')),
        'master RSS          %s kB at start, %s kB at end' % (s.get('master_rss_kb_start'),
                                                            s.get('master_rss_kb_end')),
        'master fds          %s at start, %s at end' % (s.get('master_fds_start'),
                                                       s.get('master_fds_end')),
        'pools settled       %s; status exit %s; master exit %s' % (
            s.get('settled_at_end'), s.get('status_exit'), s.get('master_exit')),
        'faults              %s' % s.get('faults'),
    ]
    for k, outcomes in sorted(s.get('faults_by_kind', {}).items()):
        lines.append('  %-10s %s' % (k, ', '.join('%s x%d' % kv for kv in sorted(outcomes.items()))))
    lines.append('rewrites            %s (versions served %s)' % (
        s.get('rewrites'), s.get('versions_served')))
    lines.append('worker exits')
    for k, n in sorted(s.get('worker_exits', {}).items()):
        lines.append('  %-60s %d' % (k, n))
    lines.append('replacements asked')
    for k, n in sorted(s.get('replacements_asked', {}).items()):
        lines.append('  %-60s %d' % (k, n))
    lines.append('log events (log %.1f MB)' % (s.get('log_bytes', 0) / 1e6))
    for k, n in sorted(s.get('log_events', {}).items()):
        lines.append('  %-60s %d' % (k, n))
    return '\n'.join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--minutes', type=float)
    ap.add_argument('--seconds', type=float)
    ap.add_argument('--interval', type=float, default=3.0, help='seconds between faults')
    ap.add_argument('--rewrite-every', type=float, default=30.0)
    ap.add_argument('--seed', type=int)
    ap.add_argument('--json', help='write the summary here too')
    ap.add_argument('--keep', action='store_true', help='keep the temp dir (the log)')
    a = ap.parse_args()
    if a.keep:
        os.environ['FW_KEEP_TMP'] = '1'
    seconds = a.seconds if a.seconds is not None else (a.minutes or 1.0) * 60
    s = soak(seconds, a.interval, a.rewrite_every, a.seed)
    print(report(s), flush=True)
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(s, f, indent=1, sort_keys=True)
    return 0 if s.get('failed_other') == 0 and s.get('master_alive') else 1


if __name__ == '__main__':
    sys.exit(main())
