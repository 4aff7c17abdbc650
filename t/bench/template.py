#!/usr/bin/env python3
"""spawn: template against spawn: fresh and uWSGI (issue 18, part 1), in
rounds, every backend measured in each round, medians over the rounds:

  pss     Flask PSS per worker after 400 requests each: fcgiwsgi fresh,
          fcgiwsgi template, uWSGI default (app imported in its master,
          workers forked), 2 processes each; the template's and uWSGI
          master's own PSS beside.
  ready   a 1-process pool of an app whose import takes 1 s: SIGKILL the
          worker, then time until a request is answered (the master reaps,
          spawns or forks, the new worker serves): fresh against template.
  burst   an on-demand pool (min 0, max 4) of the same app, idle with no
          worker, hit by 16 concurrent requests: time to first byte of the
          first and the last; fresh, template, and uWSGI --cheap --idle
          (workers forked from its master on the first request).

    FW_BUILDDIR=BUILD python3 t/bench/template.py [--rounds 5] [--kills 5] [--out FILE.json]

Everything listens on unix sockets in a temp dir and is stopped by PID.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get('FW_BUILDDIR', TOP)
SLOW = os.path.join(HERE, 'slow_import.wsgi')
FLASK = os.path.join(HERE, 'flask.wsgi')


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def pss(pid):
    try:
        with open('/proc/%d/smaps_rollup' % pid) as f:
            for line in f:
                if line.startswith('Pss:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def children(pid):
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid) as f:
            return f.read().replace('\0', ' ')
    except OSError:
        return ''


def request(addr, uri=b'/', timeout=60):
    """One GET: (seconds to the first byte, seconds to the end)."""
    def rec(t, content):
        return struct.pack('!BBHHBx', 1, t, 1, len(content), 0) + content

    def pair(k, v):
        return bytes([len(k), len(v)]) + k + v
    params = b''.join(pair(k, v) for k, v in (
        (b'REQUEST_METHOD', b'GET'), (b'REQUEST_URI', uri), (b'SCRIPT_NAME', b''),
        (b'PATH_INFO', uri), (b'SERVER_NAME', b'localhost'), (b'SERVER_PORT', b'80'),
        (b'SERVER_PROTOCOL', b'HTTP/1.1'), (b'QUERY_STRING', b'')))
    msg = rec(1, struct.pack('!HB5x', 1, 0)) + rec(4, params) + rec(4, b'') + rec(5, b'')
    t0 = time.monotonic()
    first = None
    data = b''
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(addr)
        s.sendall(msg)
        while True:
            chunk = s.recv(65536)
            if first is None:
                first = time.monotonic() - t0
            if not chunk:
                break
            data += chunk
    if b'200 OK' not in data[:300] and b'Status: 200' not in data[:300]:
        raise RuntimeError('bad answer from %s: %r' % (addr, data[:200]))
    return first, time.monotonic() - t0


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise RuntimeError('timed out waiting for ' + what)


class Backends:
    def __init__(self, d):
        self.d = d
        self.procs = []

    def path(self, name):
        return os.path.join(self.d, name)

    def spawn(self, argv, name):
        out = open(self.path(name + '.out'), 'w')
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        return p

    def start_fw(self):
        pools = {
            'flaskfr': ('processes: 2', 'fresh', FLASK, '/flask'),
            'flasktp': ('processes: 2', 'template', FLASK, '/flask'),
            'slowfr': ('processes: 1', 'fresh', SLOW, '/'),
            'slowtp': ('processes: 1', 'template', SLOW, '/'),
            'odfr': ('processes: {min: 0, max: 4, min_spare: 0, max_spare: 4, idle_timeout: 1s}',
                     'fresh', SLOW, '/'),
            'odtp': ('processes: {min: 0, max: 4, min_spare: 0, max_spare: 4, idle_timeout: 1s}',
                     'template', SLOW, '/'),
        }
        cfg = self.path('fw.yaml')
        with open(cfg, 'w') as f:
            f.write('log: %s\nlog_level: notice\ncontrol: %s\npools:\n'
                    % (self.path('fw.log'), self.path('fw.ctl')))
            for name, (model, spawn, script, mount) in pools.items():
                f.write('  %s:\n    listen: %s\n    %s\n    spawn: %s\n    allow_root: true\n'
                        '    apps: [{mount: %s, script: %s}]\n'
                        % (name, self.path(name + '.sock'), model, spawn, mount, script))
        self.fw = self.spawn([os.path.join(BUILD, 'fcgiwsgi'), '-c', cfg], 'fw')
        self.ctl = [os.path.join(BUILD, 'fcgiwsgi-ctl'), '-s', self.path('fw.ctl')]
        wait_for(lambda: all(len(self.workers(n)) == 2 for n in ('flaskfr', 'flasktp')) and
                 all(len(self.workers(n)) == 1 for n in ('slowfr', 'slowtp')), 60, 'fcgiwsgi')

    def workers(self, pool):
        try:
            out = subprocess.run(self.ctl + ['status', pool, '--json'], capture_output=True,
                                 check=True, timeout=10).stdout
            return [w['pid'] for w in json.loads(out)['pools'][0]['workers']
                    if w['state'] in ('idle', 'busy') and w['pid'] > 0]
        except (subprocess.SubprocessError, ValueError, KeyError, IndexError):
            return []

    def template_pid(self, pool):
        for c in children(self.fw.pid):
            if 'pool %s gen' % pool in cmdline(c) and 'template' in cmdline(c):
                return c
        return None

    def start_uwsgi(self):
        base = ['uwsgi', '--plugin', 'python3', '--master', '--disable-logging']
        self.uwflask = self.spawn(base + ['--fastcgi-socket', self.path('uwflask.sock'),
                                          '--wsgi-file', FLASK, '--processes', '2'], 'uwflask')
        self.uwcheap = self.spawn(base + ['--fastcgi-socket', self.path('uwcheap.sock'),
                                          '--wsgi-file', SLOW, '--processes', '4', '--cheap',
                                          '--idle', '1'], 'uwcheap')
        wait_for(lambda: os.path.exists(self.path('uwflask.sock')) and
                 len(children(self.uwflask.pid)) == 2, 60, 'uWSGI')
        wait_for(lambda: os.path.exists(self.path('uwcheap.sock')), 60, 'uWSGI cheap')

    def stop(self):
        for p in reversed(self.procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def measure_pss(b):
    for sock in ('flaskfr', 'flasktp', 'uwflask'):
        for _ in range(400):
            request(b.path(sock + '.sock'), b'/flask/json' if sock != 'uwflask' else b'/json')
    time.sleep(0.5)
    out = {}
    for pool in ('flaskfr', 'flasktp'):
        out[pool] = statistics.mean(pss(p) for p in b.workers(pool))
    out['flasktp_template'] = pss(b.template_pid('flasktp'))
    out['uwflask'] = statistics.mean(pss(p) for p in children(b.uwflask.pid))
    out['uwflask_master'] = pss(b.uwflask.pid)
    return out


def measure_ready(b, kills):
    out = {}
    for pool in ('slowfr', 'slowtp'):
        times = []
        for _ in range(kills):
            before = b.workers(pool)
            os.kill(before[0], signal.SIGKILL)
            t0 = time.monotonic()
            request(b.path(pool + '.sock'))
            times.append(time.monotonic() - t0)
            wait_for(lambda: len(b.workers(pool)) == 1 and b.workers(pool) != before, 30,
                     'a replacement in ' + pool)
        out[pool] = statistics.median(times)
    return out


def burst(sock, n=16):
    res = [None] * n
    start = threading.Barrier(n)

    def one(i):
        start.wait()
        res[i] = request(sock)[0]
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return min(res), max(res)


def measure_burst(b):
    out = {}
    for pool in ('odfr', 'odtp'):
        wait_for(lambda: not b.workers(pool), 30, 'an idle %s with no worker' % pool)
        time.sleep(0.2)
        out[pool] = burst(b.path(pool + '.sock'))
    # uWSGI --idle 1: back in cheap mode (no worker) a second after its last request.
    wait_for(lambda: not children(b.uwcheap.pid), 30, 'uWSGI in cheap mode')
    time.sleep(0.2)
    out['uwcheap'] = burst(b.path('uwcheap.sock'))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--kills', type=int, default=5)
    ap.add_argument('--out')
    a = ap.parse_args()
    if not shutil.which('uwsgi'):
        sys.exit('uwsgi is not installed (apt-get install uwsgi-core uwsgi-plugin-python3)')
    rounds = []
    for r in range(a.rounds):
        d = tempfile.mkdtemp(prefix='fwtmpl.')
        b = Backends(d)
        try:
            b.start_fw()
            b.start_uwsgi()
            one = {'pss': measure_pss(b), 'ready': measure_ready(b, a.kills),
                   'burst': measure_burst(b)}
        finally:
            b.stop()
            if not os.environ.get("FW_KEEP_TMP"):
                shutil.rmtree(d, ignore_errors=True)
        log('round %d: %s' % (r + 1, json.dumps(one)))
        rounds.append(one)

    def med(kind, key, i=None):
        v = [r[kind][key] if i is None else r[kind][key][i] for r in rounds]
        return statistics.median(v)
    mb = 1024 * 1024
    print('Flask PSS per worker after 400 requests (MB, median of %d rounds):' % a.rounds)
    for k, label in (('flaskfr', 'fcgiwsgi spawn: fresh'), ('flasktp', 'fcgiwsgi spawn: template'),
                     ('uwflask', 'uWSGI default (preforked)')):
        print('  %-28s %6.1f' % (label, med('pss', k) / mb))
    print('  %-28s %6.1f' % ('(the template itself)', med('pss', 'flasktp_template') / mb))
    print('  %-28s %6.1f' % ("(uWSGI's master)", med('pss', 'uwflask_master') / mb))
    print('A killed worker of the 1 s import app to the next answer (ms, median):')
    for k, label in (('slowfr', 'fresh'), ('slowtp', 'template')):
        print('  %-28s %6.1f' % (label, med('ready', k) * 1000))
    print('On-demand pool (min 0, max 4), 16 concurrent requests, TTFB first / last (ms, median):')
    for k, label in (('odfr', 'fcgiwsgi fresh'), ('odtp', 'fcgiwsgi template'),
                     ('uwcheap', 'uWSGI --cheap --idle')):
        print('  %-28s %6.1f / %6.1f' % (label, med('burst', k, 0) * 1000,
                                         med('burst', k, 1) * 1000))
    if a.out:
        with open(a.out, 'w') as f:
            json.dump({'rounds': rounds}, f, indent=1)


if __name__ == '__main__':
    main()
