#!/usr/bin/env python3
"""Instructions per hello request (user space, callgrind) of a manager with
one 1x1 pool, with its access log off and on: the difference between 1200
and 200 requests over 1000, every process of the manager counted.
    FW_BUILDDIR=BUILD python3 t/bench/callgrind_pool.py
Not part of make check (see README, Performance)."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

HELLO = os.path.join(bench.HERE, 'hello.wsgi')


def instructions(d, name, access, n):
    cfg = os.path.join(d, name + '.yaml')
    sock = os.path.join(d, name + '.sock')
    with open(cfg, 'w') as f:
        f.write('log: %s/%s.log\nlog_level: warn\ncontrol: %s/%s.ctl\npools:\n  p:\n'
                '    listen: %s\n    processes: 1\n    allow_root: true\n%s'
                '    apps: [{mount: /, script: %s}]\n'
                % (d, name, d, name, sock,
                   '    access_log: %s/%s.access\n' % (d, name) if access else '', HELLO))
    out = os.path.join(d, 'cg.%s.out' % name)
    p = subprocess.Popen(['valgrind', '--tool=callgrind', '--trace-children=yes',
                          '--callgrind-out-file=' + out + '.%p',
                          os.path.join(bench.BUILD, 'fcgiwsgi'), '-c', cfg],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    try:
        end = time.monotonic() + 180
        while True:
            try:
                bench.fcgi_hello_requests(sock, 1)
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.5)
        bench.fcgi_hello_requests(sock, n - 1)
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(180)
    total = 0
    for f in os.listdir(d):
        if f.startswith(os.path.basename(out) + '.'):
            with open(os.path.join(d, f)) as fh:
                m = re.search(r'^(?:summary|totals): (\d+)', fh.read(), re.M)
            total += int(m.group(1)) if m else 0
    return total


def main():
    d = tempfile.mkdtemp(prefix='fw-cgpool.')
    for access in (False, True):
        tag = 'on' if access else 'off'
        a = instructions(d, tag + '200', access, 200)
        b = instructions(d, tag + '1200', access, 1200)
        print('access_log %s: %.0f instructions per request' % (tag, (b - a) / 1000), flush=True)
    print('callgrind files in %s (callgrind_annotate --inclusive=yes shows fw_access_log)' % d)


if __name__ == '__main__':
    main()
