#!/usr/bin/env python3
"""Two fcgiwsgi rows of bench.py loaded at the same time (one wrk each,
-t1 -c8), so a machine shared with other work slows both alike; prints
each round's CPU per request of each row's workers (the master, which
they share, is left out) and the median of the rounds' ratios B/A.
    FW_BUILDDIR=BUILD python3 t/bench/paired.py [--rows fw21,fw21al] [--rounds 9]
Not part of make check (see README, Performance)."""
import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rows', default='fw21,fw21al')
    ap.add_argument('--rounds', type=int, default=9)
    ap.add_argument('--seconds', type=int, default=6)
    args = ap.parse_args()
    rows = {r[0]: r for r in bench.ROWS}
    a, b = args.rows.split(',')
    if not all(k in rows and (rows[k][3] or '').startswith('fw:') for k in (a, b)):
        sys.exit('both rows must be fcgiwsgi rows of bench.py')
    ns = argparse.Namespace(seconds=args.seconds, rounds=args.rounds, rows=args.rows,
                            no_callgrind=True, out=None)
    bn = bench.Bench(ns)
    ratios, rps = [], []
    try:
        bn.start_fw()
        bn.start_nginx()
        for k in (a, b):
            bench.wait_http(bn.port, rows[k][2])

        def wrk(url, out):
            o = subprocess.run(['wrk', '-t1', '-c8', '--latency', '-d%ds' % args.seconds, url],
                               capture_output=True, text=True, check=True).stdout
            out.append(bench.parse_wrk(o))

        for rnd in range(args.rounds):
            workers = {k: bn.backends[rows[k][3]].workers() for k in (a, b)}
            before = {k: sum(bench.cpu_ticks(p) for p in workers[k]) for k in (a, b)}
            outs = {k: [] for k in (a, b)}
            ts = [threading.Thread(target=wrk, args=(bn.url(rows[k][2]), outs[k])) for k in (a, b)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            cpu = {k: (sum(bench.cpu_ticks(p) for p in workers[k]) - before[k]) / bench.CLK_TCK
                   * 1e6 / outs[k][0]['requests'] for k in (a, b)}
            ratios.append(cpu[b] / cpu[a])
            rps.append(outs[b][0]['rps'] / outs[a][0]['rps'])
            print('round %d: %s %.0f req/s %.2f us/req, %s %.0f req/s %.2f us/req, CPU %s/%s %.3f'
                  % (rnd + 1, a, outs[a][0]['rps'], cpu[a], b, outs[b][0]['rps'], cpu[b], b, a,
                     ratios[-1]), flush=True)
            time.sleep(0.5)
        print('median of the rounds: CPU per request %s/%s %.3f (%.3f to %.3f), req/s %.3f'
              % (b, a, statistics.median(ratios), min(ratios), max(ratios),
                 statistics.median(rps)))
    finally:
        bn.stop_all()


if __name__ == '__main__':
    main()
