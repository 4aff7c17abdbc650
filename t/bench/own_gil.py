#!/usr/bin/env python3
"""own_gil (issue 18, part 3): the combined throughput of two CPU-bound apps
of one worker with 2 threads, each app in its own group, with own_gil
(each group's interpreter has a GIL of its own, CPython 3.12+) against the
same apps sharing one GIL. One manager runs both pools (one process each);
each round loads one pool and then the other (the order alternating), for
--seconds each, with one closed-loop client per app (two requests in
flight, one per app), each request /work/N of t/apps/cpu_app.wsgi (about
20 ms of Python at N=400). Prints each round's requests/s of both and the
ratio own/shared, then the median of the rounds' ratios.

    FW_BUILDDIR=BUILD python3 t/bench/own_gil.py [--rounds 7] [--seconds 5]

BUILD must embed CPython 3.12 or later (configure --with-python=...).
Runs the manager as the current user on unix sockets in a temp dir;
nothing else. Not part of make check (see README, Performance)."""
import argparse
import os
import shutil
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


def load(sock, seconds, n):
    """Two closed-loop clients, to /a and /b, for `seconds`: requests/s."""
    done = []
    end = time.monotonic() + seconds

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
    return sum(done) / (time.monotonic() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=7)
    ap.add_argument('--seconds', type=float, default=5)
    ap.add_argument('--work', type=int, default=400, help='N of /work/N')
    args = ap.parse_args()
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
        ratios = []
        for rnd in range(args.rounds):
            order = ('own', 'shared') if rnd % 2 == 0 else ('shared', 'own')
            rps = {}
            for k in order:
                rps[k] = load(socks[k], args.seconds, args.work)
            ratios.append(rps['own'] / rps['shared'])
            print('round %d: own_gil %.1f req/s, shared GIL %.1f req/s, own/shared %.3f'
                  % (rnd + 1, rps['own'], rps['shared'], ratios[-1]), flush=True)
        print('median of %d rounds: own/shared %.3f (%.3f to %.3f); %d CPUs online'
              % (len(ratios), statistics.median(ratios), min(ratios), max(ratios),
                 os.cpu_count()))
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
