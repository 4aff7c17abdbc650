#!/usr/bin/env python3
"""Spawn-to-ready of a hello-app worker, from the manager's own log: the
master's "spawned" line (right after fork) to the worker's "ready" line,
per worker, over restarts of a 4-process pool. Several builds are run
interleaved in rounds, so a change (fork+exec workers, issue 15: fork only
is b2e6159^) is measured against its parent in the same conditions:

    python3 t/bench/spawn.py [--restarts 16] [--rounds 3] BUILD [BUILD...]

Prints, per build, the median and p90 in ms over every worker of every
round, and the median's difference to the first build. The log's times
have a 1 ms resolution. Runs the manager as the current user on a unix
socket in a temp dir; nothing else.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
STAMP = r'^(\d{4}-\d\d-\d\d \d\d:\d\d:(\d\d\.\d{3}))'


def ms(stamp):
    t = time.strptime(stamp[:19], '%Y-%m-%d %H:%M:%S')
    return time.mktime(t) * 1000 + int(stamp[20:23])


def one_round(build, restarts, tmp):
    cfg = os.path.join(tmp, 'spawn.yaml')
    log = os.path.join(tmp, 'spawn.log')
    if os.path.exists(log):
        os.unlink(log)
    with open(cfg, 'w') as f:
        f.write('log: %s\nlog_level: info\ncontrol: %s.ctl\npools:\n  hello:\n'
                '    listen: %s/hello.sock\n    processes: 4\n    allow_root: true\n'
                '    apps: [{mount: /, script: %s}]\n'
                % (log, cfg, tmp, os.path.join(HERE, 'hello.wsgi')))
    prog = os.path.join(build, 'fcgiwsgi')
    ctl = [os.path.join(build, 'fcgiwsgi-ctl'), '-c', cfg]
    m = subprocess.Popen([prog, '-c', cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end and subprocess.run(
                ctl + ['status'], capture_output=True).returncode != 0:
            time.sleep(0.05)
        time.sleep(0.5)
        for _ in range(restarts):
            subprocess.run(ctl + ['restart', 'hello'], capture_output=True, timeout=60)
            time.sleep(0.2)
        subprocess.run(ctl + ['shutdown'], capture_output=True, timeout=60)
        m.wait(60)
    finally:
        if m.poll() is None:
            m.kill()
            m.wait()
    spawned, out = {}, []
    with open(log, errors='replace') as f:
        for line in f:
            s = re.match(STAMP, line)
            p = re.search(r'\[pool hello pid (\d+)\] (?:\w+: )?(spawned|ready:)', line)
            if not s or not p:
                continue
            if p.group(2) == 'spawned':
                spawned[p.group(1)] = ms(s.group(1))
            elif p.group(1) in spawned:
                out.append(ms(s.group(1)) - spawned.pop(p.group(1)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--restarts', type=int, default=16)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('builds', nargs='+')
    a = ap.parse_args()
    times = {b: [] for b in a.builds}
    tmp = tempfile.mkdtemp(prefix='fwspawn.')
    try:
        for r in range(a.rounds):
            for b in a.builds:
                times[b] += one_round(b, a.restarts, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = None
    for b in a.builds:
        t = sorted(times[b])
        if not t:
            print('%s: no spawn measured' % b)
            continue
        med, p90 = statistics.median(t), t[int(0.9 * (len(t) - 1))]
        base = med if base is None else base
        print('%-40s workers %4d  median %5.1f ms  p90 %5.1f ms  (median %+5.1f ms vs the first)'
              % (b, len(t), med, p90, med - base))


if __name__ == '__main__':
    sys.exit(main())
