#!/usr/bin/env python3
# The master cannot be stalled (issue 15): a pool whose worker floods its
# inherited stdout and stderr without pause (`yes`, lines, 1 MiB chunks
# without a newline) does not hold the master's loop; the control socket
# answers, another pool's killed worker is replaced, the flood is
# rate-limited with a "lines dropped" line, and the log stays bounded. Then
# the same with the master's log on a pipe, and on a socket, that nobody
# reads: the loop still serves, and once the log drains the lines it could
# not write are counted.
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
d = tmpdir()
LOG_GROWTH_MAX = 4 << 20  # bytes in FLOOD_SECONDS
FLOOD_SECONDS = 5.0


def pools(tag):
    return '''  flood:
    listen: %s
    processes: 1
    allow_root: true
    apps:
      - {mount: /, script: %s}
  other:
    listen: %s
    processes: 2
    allow_root: true
    apps:
      - {mount: /, script: %s}
''' % (sock_path('flood-%s.sock' % tag), app_path('flood_app.wsgi'),
       sock_path('other-%s.sock' % tag), app_path('mgr_app.wsgi'))


def status(cfg, limit=1.0):
    """(pools by name or None, seconds taken); the ctl is given `limit`."""
    t0 = time.monotonic()
    try:
        rc, out, err = ctl(cfg, '-t', '%g' % limit, 'status', '--json', timeout=limit + 2)
    except subprocess.TimeoutExpired:
        return None, time.monotonic() - t0
    took = time.monotonic() - t0
    if rc != 0:
        diag('status: exit %d %s' % (rc, err.strip()))
        return None, took
    return {p['name']: p for p in json.loads(out)['pools']}, took


def worker_pids(st, pool, states=('idle', 'busy')):
    return sorted(w['pid'] for w in st[pool]['workers'] if w['state'] in states)


def wait_running(cfg, counts, timeout=30):
    def ready():
        st, _ = status(cfg, 2.0)
        return st if st and all(len(worker_pids(st, p)) >= n for p, n in counts.items()) else None
    return wait_for(ready, timeout=timeout, interval=0.1, what='workers running %s' % counts)


def start_flood(cfg):
    st, _ = status(cfg, 2.0)
    res = fcgi_request(st['flood']['listen'], 'GET', '/flood', params=PARAMS, timeout=10)
    is_(res.status, 200, 'the flood started')


def check_status_latency(cfg, label, seconds=FLOOD_SECONDS):
    """status every 0.25 s for `seconds`: each must answer within 1 s."""
    worst, failed, n = 0.0, 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        st, took = status(cfg, 1.0)
        n += 1
        worst = max(worst, took)
        if st is None or took > 1.0:
            failed += 1
        time.sleep(0.25)
    diag('%s: %d status calls, worst %.0f ms' % (label, n, worst * 1000))
    ok(failed == 0, '%s: status answered within 1 s, %d times' % (label, n),
       got='%d of %d failed or late, worst %.2f s' % (failed, n, worst), expected='none')


def check_replaced(cfg, label, states):
    """SIGKILL one of `other`'s workers: a new pid appears within 2 s."""
    st, _ = status(cfg, 2.0)
    if st is None:
        ok(False, '%s: status before the kill' % label)
        return
    victim = worker_pids(st, 'other')[0]
    os.kill(victim, signal.SIGKILL)
    t0 = time.monotonic()
    new = None
    while time.monotonic() - t0 < 2.0:
        st, _ = status(cfg, 1.0)
        if st is not None:
            fresh = [p for p in worker_pids(st, 'other', states) if p != victim]
            alive = [w['pid'] for w in st['other']['workers']]
            if victim not in alive and len(fresh) >= 2:
                new = time.monotonic() - t0
                break
        time.sleep(0.05)
    ok(new is not None, "%s: a killed worker of another pool is replaced within 2 s" % label,
       got='not replaced' if new is None else '', expected='a new %s worker' % '/'.join(states))
    if new is not None:
        diag('%s: replaced (%s) in %.0f ms' % (label, '/'.join(states), new * 1000))


def tail(path, size=4 << 20):
    with open(path, 'rb') as f:
        f.seek(max(0, os.path.getsize(path) - size))
        return f.read().decode('utf-8', 'replace')


# ------------------------------------------------- the flood, log to a file
log = os.path.join(d, 'flood.log')
cfg = manager_config(pools('file'), name='file.yaml', log=log)
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_running(cfg, {'flood': 1, 'other': 2})
start_flood(cfg)
time.sleep(0.2)
size0 = os.path.getsize(log)
t0 = time.monotonic()
check_status_latency(cfg, 'file log')
check_replaced(cfg, 'file log', ('idle', 'busy'))
grown = os.path.getsize(log) - size0
secs = time.monotonic() - t0
diag('log grew by %.2f MB in %.1f s' % (grown / 1e6, secs))
ok(grown < LOG_GROWTH_MAX * secs / FLOOD_SECONDS, 'the log grew by a bounded amount',
   got='%d bytes in %.1f s' % (grown, secs), expected='< %d bytes per %g s' % (LOG_GROWTH_MAX, FLOOD_SECONDS))
dropped = [l for l in tail(log).splitlines()
           if re.search(r'\[pool flood\] \d+ lines of worker output dropped \(rate limit\)', l)]
ok(dropped, 'a "lines of worker output dropped" line is logged', got='none',
   expected='[pool flood] N lines of worker output dropped (rate limit)')
if dropped:
    diag(dropped[-1])
flood_lines = [l for l in tail(log, 1 << 20).splitlines() if '[pool flood pid' in l and 'output: ' in l]
ok(flood_lines and max(len(l) for l in flood_lines) <= 65536 + 200,
   'a line without a newline is cut', got=max((len(l) for l in flood_lines), default=0))
m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'file log: the master stops with 0')
check_log_clean(m)
if os.path.getsize(log) < 64 << 20:
    check_log_clean(log)
else:
    ok(False, 'log too big to check (%d bytes)' % os.path.getsize(log))


# ------------------------------- the master's log on a pipe/socket nobody reads
def stuck_log_case(kind):
    label = 'stderr on a %s nobody reads' % kind
    if kind == 'pipe':
        r, w = os.pipe()
        reader = os.fdopen(r, 'rb', buffering=0)
    else:
        a, b = socket.socketpair()
        w = os.dup(b.fileno())
        b.close()
        reader = a.makefile('rb', buffering=0)
    cfg = manager_config(pools(kind), name='%s.yaml' % kind, log='stderr')
    m = spawn([program('fcgiwsgi'), '-c', cfg], output=w)
    os.close(w)
    # Until the workers are up the log is read; then nobody reads it.
    seen = bytearray()
    stop_reading = threading.Event()

    def drain():
        while not stop_reading.is_set():
            chunk = reader.read(65536)
            if not chunk:
                return
            seen.extend(chunk)
            del seen[:-(1 << 20)]

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    wait_running(cfg, {'flood': 1, 'other': 2})
    stop_reading.set()
    # The reader stops at its next chunk: keep the flood's lines coming.
    start_flood(cfg)
    t.join(10)
    ok(not t.is_alive(), '%s: the test stopped reading' % label)
    time.sleep(0.5)  # the pipe fills within a few ms of the flood
    check_status_latency(cfg, label)
    # A new worker blocks on its own log writes (workers keep blocking
    # writes): it is forked, and may never get to serving.
    check_replaced(cfg, label, ('starting', 'idle', 'busy'))
    # Reading again: the master writes again, and says what it dropped.
    seen.clear()
    stop_reading.clear()
    t = threading.Thread(target=drain, daemon=True)
    t.start()
    found = None
    end = time.monotonic() + 10
    while time.monotonic() < end and not found:
        found = re.search(r'\d+ log lines dropped \(log not writable\)', bytes(seen).decode('utf-8', 'replace'))
        time.sleep(0.1)
    ok(found, '%s: the master counts the lines it could not write' % label,
       got='no such line', expected='N log lines dropped (log not writable)')
    if found:
        diag(found.group(0))
    m.signal(signal.SIGTERM)
    is_(m.wait(30), 0, '%s: the master stops with 0' % label)
    stop_reading.set()
    bad = [l for l in bytes(seen).decode('utf-8', 'replace').splitlines()
           if any(p in l for p in BAD_LOG_PATTERNS)]
    ok(not bad, '%s: no crash or sanitizer lines' % label, got='\n'.join(bad[:10]))
    reader.close()


stuck_log_case('pipe')
stuck_log_case('socket')
done_testing()
