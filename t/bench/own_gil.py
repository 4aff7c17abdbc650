#!/usr/bin/env python3
"""own_gil (issue 18, part 3): the combined throughput of two CPU-bound apps
of one worker with 2 threads, each app in its own group, with own_gil
(each group's interpreter has a GIL of its own, CPython 3.12+) against the
same apps sharing one GIL. One manager runs both pools (one process each);
each round loads one pool and then the other (the order alternating), for
--seconds each, with one closed-loop client per app (two requests in
flight, one per app), each request /work/N of t/apps/cpu_app.wsgi (about
20 ms of Python at N=400). Prints each round's requests/s of both, the
ratio own/shared and the cores that other processes of the machine used
meanwhile (from /proc/stat, less the manager's, its workers' and this
script's own CPU), then the median of the rounds' ratios, and of the
quiet rounds' (others below --quiet cores): two CPU-bound threads can
only run in parallel on a machine that lends them both cores.

    FW_BUILDDIR=BUILD python3 t/bench/own_gil.py [--rounds 7] [--seconds 5]

BUILD must embed CPython 3.12 or later (configure --with-python=...).
Runs the manager as the current user on unix sockets in a temp dir;
nothing else. Not part of make check (see README, Performance)."""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402

APP = os.path.join(HERE, '..', 'apps', 'cpu_app.wsgi')


def busy_ticks():
    """CPU ticks the whole machine spent busy (not idle or iowait)."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]


def tree(pid):
    """pid and its children (the manager and its workers)."""
    out = [pid]
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open('/proc/%s/stat' % d) as f:
                    if int(f.read().rsplit(')', 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def ours(pids):
    t = os.times()
    return sum(bench.cpu_ticks(p) for p in pids) + (t.user + t.system) * bench.CLK_TCK


def load(sock, seconds, n, pids):
    """Two closed-loop clients, to /a and /b, for `seconds`: requests/s,
    and the cores the rest of the machine kept busy meanwhile."""
    done = []
    end = time.monotonic() + seconds
    busy0, ours0 = busy_ticks(), ours(pids)

    def client(mount):
        k = 0
        uri = ('%s/work/%d' % (mount, n)).encode()
        while time.monotonic() < end:
            bench.fcgi_hello_requests(sock, 1, uri)
            k += 1
        done.append(k)

    t0 = time.monotonic()
    ts = [threading.Thread(target=client, args=(m,)) for m in ('/a', '/b')]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    took = time.monotonic() - t0
    others = (busy_ticks() - busy0 - (ours(pids) - ours0)) / bench.CLK_TCK / took
    return sum(done) / took, max(0.0, others)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=7)
    ap.add_argument('--seconds', type=float, default=5)
    ap.add_argument('--work', type=int, default=400, help='N of /work/N')
    ap.add_argument('--quiet', type=float, default=0.3,
                    help='a round is quiet if other processes used fewer cores in it')
    args = ap.parse_args()
    # A SIGTERM still stops the manager this started (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    build = os.environ.get('FW_BUILDDIR', '.')
    tmp = tempfile.mkdtemp(prefix='fw-owngil-')
    cfg = os.path.join(tmp, 'own_gil.yaml')
    pools = ''
    for name, extra in (('own', ', own_gil: true'), ('shared', '')):
        pools += ('  %s:\n    listen: %s/%s.sock\n    processes: 1\n    threads: 2\n'
                  '    allow_root: true\n    apps:\n'
                  '      - {mount: /a, script: %s%s}\n      - {mount: /b, script: %s%s}\n'
                  % (name, tmp, name, APP, extra, APP, extra))
    with open(cfg, 'w') as f:
        f.write('log: %s/log\nlog_level: notice\ncontrol: %s.ctl\npools:\n%s' % (tmp, cfg, pools))
    p = subprocess.run([os.path.join(build, 'fcgiwsgi'), '-t', '-c', cfg], capture_output=True,
                       text=True)
    if p.returncode != 0:
        sys.exit('fcgiwsgi -t refused the config (own_gil needs CPython 3.12+):\n' + p.stderr)
    m = subprocess.Popen([os.path.join(build, 'fcgiwsgi'), '-c', cfg],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        socks = {k: os.path.join(tmp, k + '.sock') for k in ('own', 'shared')}
        end = time.monotonic() + 60
        for k in socks:
            for mount in ('/a', '/b'):
                while True:
                    try:
                        bench.fcgi_hello_requests(socks[k], 1, ('%s/work/1' % mount).encode())
                        break
                    except OSError:
                        if time.monotonic() > end:
                            raise
                        time.sleep(0.1)
        pids = tree(m.pid)
        ratios, quiet = [], []
        for rnd in range(args.rounds):
            order = ('own', 'shared') if rnd % 2 == 0 else ('shared', 'own')
            rps, others = {}, {}
            for k in order:
                rps[k], others[k] = load(socks[k], args.seconds, args.work, pids)
            ratios.append(rps['own'] / rps['shared'])
            calm = max(others.values()) < args.quiet
            if calm:
                quiet.append(ratios[-1])
            print('round %d: own_gil %.1f req/s, shared GIL %.1f req/s, own/shared %.3f; '
                  'other processes used %.2f and %.2f cores%s'
                  % (rnd + 1, rps['own'], rps['shared'], ratios[-1], others['own'],
                     others['shared'], '' if calm else ' (not quiet)'), flush=True)
        print('median of %d rounds: own/shared %.3f (%.3f to %.3f); %d CPUs online'
              % (len(ratios), statistics.median(ratios), min(ratios), max(ratios),
                 os.cpu_count()))
        if quiet:
            print('median of the %d quiet rounds (other processes < %.2f cores): %.3f '
                  '(%.3f to %.3f)' % (len(quiet), args.quiet, statistics.median(quiet),
                                      min(quiet), max(quiet)))
        else:
            print('no quiet round (other processes < %.2f cores): the machine was busy'
                  % args.quiet)
    finally:
        m.terminate()
        try:
            m.wait(30)
        except subprocess.TimeoutExpired:
            m.kill()
            m.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
