#!/usr/bin/env python3
"""Load during reloads: what clients see while an app's code is reloaded.

CLIENTS threads, each with one persistent HTTP/1.1 keep-alive connection
(http.client; on any error the connection is closed, the error counted and a
new one opened), GET PATH in a loop for DURATION seconds or MAX_REQUESTS
requests in all, whichever ends first. After WARMUP seconds the reload
command runs RELOADS times, INTERVAL seconds apart, with the next version
(v2, v3, ...) appended as its last argument; the run counts a reload as seen
when a 200 carrying that version arrives after it was triggered, and
complete when every 200 of the last second before the next reload (or the
end) carries it; the row says so when some reload was seen but not
complete (old code still served by some processes).

Before the clock starts: a first 200 (READY_TIMEOUT), then PREWARM seconds
of unmeasured load with every client, so no process is cold.

Every request is timed (start, end, outcome, status, version). Printed: one
markdown row

  | server | reload | processes | requests | failed | p99 ms | max ms |
  | stall s total | longest stall s | reloads seen |

and one JSON line with everything behind it. Failures are counted by kind:
HTTP status other than 200 ("502" ...), a 200 whose body is not
"VERSION pid" ("badbody"), connection errors ("conn:ExceptionName") and
timeouts ("timeout", TIMEOUT seconds without an answer). Latency (p99, max)
is over every request, failed or not. A stall is a gap longer than
STALL_MIN seconds between consecutive successful completions (the run's start
and end count as edges): "stall s total" sums those gaps, "longest" is the
largest. The JSON also has the number of 100 ms buckets with no success.

Python 3 stdlib only. Usage: recycle_load.py --port P --reload-cmd CMD ...
"""
import argparse
import http.client
import json
import shlex
import socket
import subprocess
import sys
import threading
import time


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--path', default='/')
    ap.add_argument('--clients', type=int, default=8)
    ap.add_argument('--duration', type=float, default=15.0)
    ap.add_argument('--max-requests', type=int, default=200000)
    ap.add_argument('--warmup', type=float, default=2.0)
    ap.add_argument('--reloads', type=int, default=3)
    ap.add_argument('--interval', type=float, default=4.0)
    ap.add_argument('--first-version', type=int, default=2,
                    help='the first reload writes v<this>, the next v<this+1> ...')
    ap.add_argument('--reload-cmd', required=True,
                    help='run (split as sh words, no shell) with the version appended')
    ap.add_argument('--timeout', type=float, default=5.0, help='per request, seconds')
    ap.add_argument('--stall-min', type=float, default=0.1,
                    help='a gap between successes longer than this is a stall (s)')
    ap.add_argument('--ready-timeout', type=float, default=30.0,
                    help='before the run, wait this long for a first 200')
    ap.add_argument('--prewarm', type=float, default=1.0,
                    help='after the first 200, this long of unmeasured load with every client')
    ap.add_argument('--server', default='?')
    ap.add_argument('--reload-label', default='?')
    ap.add_argument('--processes', default='?')
    return ap.parse_args()


def wait_ready(a):
    """A first 200 before the clock starts (the server may still import)."""
    deadline = time.monotonic() + a.ready_timeout
    last = None
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection(a.host, a.port, timeout=a.timeout)
            c.request('GET', a.path)
            r = c.getresponse()
            body = r.read()
            c.close()
            if r.status == 200:
                return body.decode('latin-1').split()[0]
            last = 'status %d' % r.status
        except (OSError, http.client.HTTPException) as e:
            last = repr(e)
        time.sleep(0.1)
    sys.exit('recycle_load: no 200 from http://%s:%d%s within %.0f s (last: %s)'
             % (a.host, a.port, a.path, a.ready_timeout, last))


class Run:
    def __init__(self, a, duration=None, reloads=None):
        self.a = a
        self.duration = a.duration if duration is None else duration
        self.reloads = a.reloads if reloads is None else reloads
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.issued = 0
        self.records = []  # per thread lists, merged at the end

    def take_ticket(self):
        with self.lock:
            if self.issued >= self.a.max_requests:
                self.stop.set()
                return False
            self.issued += 1
            return True

    def client(self, out):
        a = self.a
        conn = None
        while not self.stop.is_set() and self.take_ticket():
            if conn is None:
                conn = http.client.HTTPConnection(a.host, a.port, timeout=a.timeout)
            t0 = time.monotonic()
            kind, status, version = 'ok', 0, None
            try:
                conn.request('GET', a.path)
                r = conn.getresponse()
                body = r.read()
                status = r.status
                if status != 200:
                    kind = str(status)
                else:
                    words = body.split()
                    if len(words) == 2 and words[1].isdigit():
                        version = words[0].decode('latin-1')
                    else:
                        kind = 'badbody'
                if r.will_close:
                    conn.close()
                    conn = None
            except socket.timeout:
                kind = 'timeout'
            except (OSError, http.client.HTTPException) as e:
                kind = 'conn:' + type(e).__name__
            t1 = time.monotonic()
            if kind != 'ok' and conn is not None:
                conn.close()
                conn = None
            out.append((t0, t1, kind, status, version))
            if kind.startswith('conn:'):
                time.sleep(0.01)  # a refused connect must not spin
        if conn is not None:
            conn.close()

    def go(self):
        a = self.a
        threads = []
        for _ in range(a.clients):
            out = []
            self.records.append(out)
            threads.append(threading.Thread(target=self.client, args=(out,), daemon=True))
        self.t0 = time.monotonic()
        for t in threads:
            t.start()
        self.triggers = []
        base = a.first_version
        for i in range(self.reloads):
            when = self.t0 + a.warmup + i * a.interval
            if self.stop.wait(max(0.0, when - time.monotonic())):
                break
            version = 'v%d' % (base + i)
            ts = time.monotonic()
            cmd = shlex.split(a.reload_cmd) + [version]
            rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=sys.stderr).returncode
            self.triggers.append({'version': version, 't': ts - self.t0,
                                  'cmd_s': time.monotonic() - ts, 'rc': rc})
        self.stop.wait(max(0.0, self.t0 + self.duration - time.monotonic()))
        self.stop.set()
        self.t_end = time.monotonic()
        for t in threads:
            t.join(a.timeout + 5)


def pct(sorted_vals, q):
    if not sorted_vals:
        return 0.0
    i = min(len(sorted_vals) - 1, int(len(sorted_vals) * q))
    return sorted_vals[i]


def analyse(a, run, v0):
    recs = sorted((r for out in run.records for r in out), key=lambda r: r[1])
    t0, t_end = run.t0, max([run.t_end] + [r[1] for r in recs])
    lat = sorted(r[1] - r[0] for r in recs)
    fails = {}
    for r in recs:
        if r[2] != 'ok':
            fails[r[2]] = fails.get(r[2], 0) + 1
    ok_ends = [r[1] for r in recs if r[2] == 'ok']
    # Stalls: gaps between consecutive successes, the run's edges included.
    edges = [t0] + ok_ends + [t_end]
    gaps = []
    for x, y in zip(edges, edges[1:]):
        if y - x > a.stall_min:
            gaps.append((round(x - t0, 3), round(y - x, 3)))
    stall_total = sum(g[1] for g in gaps)
    longest = max([g[1] for g in gaps], default=0.0)
    nb = int((t_end - t0) / 0.1)
    hit = set(int((e - t0) / 0.1) for e in ok_ends)
    dead_buckets = sum(1 for b in range(nb) if b not in hit)
    # Reloads: the version each one wrote, served after it was triggered.
    per_reload = []
    seen = complete = 0
    old_versions = {v0}
    for i, tr in enumerate(run.triggers):
        ts = t0 + tr['t']
        # Complete: in the last second before the next reload (or the end),
        # every success carried this version.
        te = t0 + run.triggers[i + 1]['t'] if i + 1 < len(run.triggers) else t_end
        window = [r for r in recs if r[2] == 'ok' and ts <= r[1] < te]
        last_other = max((r[1] for r in window if r[4] != tr['version']), default=ts)
        tail = [r[4] for r in window if r[1] >= te - 1.0]
        converged = bool(tail) and all(v == tr['version'] for v in tail)
        complete += converged
        first = next((r[1] for r in recs if r[2] == 'ok' and r[4] == tr['version'] and r[1] >= ts),
                     None)
        last_old = max((r[1] for r in recs if r[2] == 'ok' and r[4] in old_versions and r[0] >= ts),
                       default=None)
        if first is not None:
            seen += 1
        per_reload.append({
            'version': tr['version'], 'at_s': round(tr['t'], 3), 'cmd_rc': tr['rc'],
            'new_version_after_s': None if first is None else round(first - ts, 3),
            'only_new_version_after_s': round(last_other - ts, 3) if converged else None,
            'old_version_until_s': None if last_old is None else round(last_old - ts, 3),
            'stall_s': round(sum(g[1] for g in gaps if tr['t'] <= g[0] + g[1] and
                                 g[0] < tr['t'] + a.interval), 3),
        })
        old_versions.add(tr['version'])
    versions = {}
    final_versions = sorted(set(r[4] for r in recs if r[2] == 'ok' and r[1] >= t_end - 1.0))
    for r in recs:
        if r[4] is not None:
            versions[r[4]] = versions.get(r[4], 0) + 1
    nfail = sum(fails.values())
    return {
        'server': a.server, 'reload': a.reload_label, 'processes': a.processes,
        'clients': a.clients, 'duration_s': round(t_end - t0, 3),
        'requests': len(recs), 'ok': len(recs) - nfail, 'failed': nfail, 'failures': fails,
        'p50_ms': round(1000 * pct(lat, 0.50), 2), 'p99_ms': round(1000 * pct(lat, 0.99), 2),
        'max_ms': round(1000 * (lat[-1] if lat else 0.0), 2),
        'stall_min_s': a.stall_min, 'stall_total_s': round(stall_total, 3),
        'longest_stall_s': round(longest, 3), 'stalls': gaps,
        'dead_100ms_buckets': dead_buckets, 'reloads': len(run.triggers), 'reloads_seen': seen,
        'reloads_complete': complete, 'versions_last_second': final_versions,
        'per_reload': per_reload, 'versions': versions, 'initial_version': v0,
    }


def row(s):
    failed = str(s['failed'])
    if s['failures']:
        failed += ' (' + ', '.join('%s %d' % kv for kv in sorted(s['failures'].items())) + ')'
    seen = '%d/%d' % (s['reloads_seen'], s['reloads'])
    if s['reloads_complete'] < s['reloads_seen']:
        seen += ' (%d complete; last 1 s served %s)' % (s['reloads_complete'],
                                                        ' '.join(s['versions_last_second']))
    return '| %s | %s | %s | %d | %s | %.1f | %.1f | %.2f | %.2f | %s |' % (
        s['server'], s['reload'], s['processes'], s['requests'], failed, s['p99_ms'],
        s['max_ms'], s['stall_total_s'], s['longest_stall_s'], seen)


def main():
    a = parse_args()
    v0 = wait_ready(a)
    if a.prewarm > 0:
        Run(a, duration=a.prewarm, reloads=0).go()
    run = Run(a)
    run.go()
    s = analyse(a, run, v0)
    print(row(s))
    print(json.dumps(s, sort_keys=True))
    sys.stdout.flush()


if __name__ == '__main__':
    main()
