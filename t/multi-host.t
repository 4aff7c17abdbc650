#!/usr/bin/env python3
# Several fcgiwsgi hosts behind one nginx (conf/snippets/nginx-upstream.conf,
# run as shipped but for its addresses): three managers on 127.0.1.1,
# 127.0.1.2 and 127.0.1.3 with allowed_clients, 16 clients sending GETs and
# POSTs through nginx for the whole test, kept FastCGI connections in one
# run and not in the other. Scenarios: drain/undrain themselves; a rolling
# deploy with examples/rolling-deploy.sh (0 failed, every host on the new
# release); a deploy whose code cannot import on host 2 (the script stops,
# every host serves, 0 failed); a host SIGKILLed (only its requests in
# flight fail: POSTs, which nginx does not retry; its return is picked up);
# a host whose workers are SIGSTOPped for 10 s (the stall is bounded by the
# snippet's timeouts). The figures are printed as diagnostics.
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

ROLL = os.path.join(src_dir(), 'examples', 'rolling-deploy.sh')
PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
FAIL_TIMEOUT = 5  # the snippet's
READ_TIMEOUT = 5
d = tmpdir()

try:
    socket.socket().bind(('127.0.1.3', 0))
except OSError as e:
    skip_all('127.0.1.3 is not usable here: %s' % e)

APP = '''import os, time
VERSION = %(version)r
if %(broken)r and os.environ.get('HOST_ID') == 'h2':
    raise ImportError('release %(version)s needs a module host h2 does not have')
def application(environ, start_response):
    body = environ['wsgi.input'].read() if environ['REQUEST_METHOD'] == 'POST' else b''
    time.sleep(0.005)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%%s %%s %%s %%d' %% (os.environ['HOST_ID'], VERSION, environ['REQUEST_METHOD'],
                                  len(body))).encode()]
'''


class Host:
    def __init__(self, i):
        self.name = 'h%d' % i
        self.ip = '127.0.1.%d' % i
        self.port = free_port(self.ip)
        self.addr = (self.ip, self.port)
        self.dir = os.path.join(d, self.name)
        for v, broken in (('v1', False), ('v2', False), ('v3', True), ('v4', False)):
            os.makedirs(os.path.join(self.dir, 'releases', v))
            with open(os.path.join(self.dir, 'releases', v, 'app.py'), 'w') as f:
                f.write(APP % {'version': v, 'broken': broken})
        self.link = os.path.join(self.dir, 'current')
        os.symlink('releases/v1', self.link)
        self.cfg = manager_config('''  app:
    listen: %s:%d
    processes: 2
    threads: 4
    allow_root: true
    allowed_clients: [127.0.0.1]
    watch_scripts: false
    env: {HOST_ID: %s}
    apps: [{mount: /, script: %s/app.py}]
''' % (self.ip, self.port, self.name, self.link), name=self.name + '.yaml')
        self.ctl = self.cfg + '.ctl'
        self.start()

    def start(self):
        self.m = spawn([program('fcgiwsgi'), '-c', self.cfg],
                       log=os.path.join(d, '%s-%d.log' % (self.name, time.monotonic_ns())))
        wait_for(lambda: self.m.output().count('starting -> running') >= 2, timeout=30,
                 what='%s ready' % self.name)

    def status(self):
        rc, out, err = ctl(self.ctl, 'status', 'app', '--json')
        return json.loads(out)['pools'][0] if rc == 0 else None

    def version(self):
        r = fcgi_request(self.addr, 'GET', '/', params=PARAMS, timeout=10)
        return r.body.decode().split()[1] if r.status == 200 else None


hosts = [Host(i) for i in (1, 2, 3)]
h1, h2, h3 = hosts
is_([h.version() for h in hosts], ['v1', 'v1', 'v1'], 'three hosts serve v1')

# ---- drain and undrain themselves, before any load
rc, out, err = ctl(h1.ctl, 'drain', 'app')
is_(rc, 0, 'drain answers 0')
like(out, r'refuses new connections', 'drain says the listener refuses')


def refused(addr):
    try:
        socket.create_connection(addr, timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


ok(wait_for(lambda: refused(h1.addr), timeout=3, what='refused'),
   'a drained host refuses a connect (ECONNREFUSED: nginx takes the next server)')
st = h1.status()
ok(st['drained'] and st['drain_refusing'], 'status --json: drained, refusing',
   got={k: st[k] for k in ('drained', 'drain_refusing')})
rc, out, err = ctl(h1.ctl, 'status', 'app')
like(out, r'\(DRAINED\)', 'status text marks the pool DRAINED')
rc, out, err = ctl(h1.ctl, 'restart', 'app')
is_(rc, 0, 'a drained pool restarts')
ok(h1.status()['drained'] and refused(h1.addr), 'and stays drained after its restart')
rc, out, err = ctl(h1.ctl, '-t', '10', 'drain', '--wait', 'app')
is_((rc, out.strip()), (0, 'pool app: drained: no request running, no connection open'),
    'drain --wait returns once nothing is left')
rc, out, err = ctl(h1.ctl, 'undrain', 'app')
is_(rc, 0, 'undrain answers 0')
is_(h1.version(), 'v1', 'an undrained host serves at once')

# A kept connection: drain --wait waits for it; the worker closes it when it
# has been idle a moment (or behind its next response).
kc = FcgiConn(h1.addr)
r = kc.request(cgi_params('GET', '/'), keep_conn=True)
is_(r.status, 200, 'a request on a kept connection')
t0 = time.monotonic()
rc, out, err = ctl(h1.ctl, '-t', '10', 'drain', '--wait', 'app')
waited = time.monotonic() - t0
is_(rc, 0, 'drain --wait with a kept connection open returns')
ok(kc.read_all(timeout=2) == b'', 'the idle kept connection was closed by the worker')
diag('drain --wait with one idle kept connection: %.2f s' % waited)
ctl(h1.ctl, 'undrain', 'app')
rc, out, err = ctl(h1.ctl, 'drain')
is_(rc, 2, 'drain without a pool is a usage error')
rc, out, err = ctl(h1.ctl, 'undrain', 'app', '--wait')
is_(rc, 2, 'undrain --wait is a usage error')


# ---- nginx in front
class Check:
    """FCGIWSGI_CHECK for rolling-deploy.sh: one request to the host whose
    control socket is $1, which must answer 200."""
    path = os.path.join(d, 'check.py')


with open(Check.path, 'w') as f:
    f.write('import sys\nsys.path.insert(0, %r)\nfrom fwtest import fcgi_request\n'
            'addrs = %r\nr = fcgi_request(tuple(addrs[sys.argv[1]]), "GET", "/", '
            'params={"SERVER_NAME": "x", "SERVER_PORT": "80"}, timeout=10)\n'
            'sys.exit(0 if r.status == 200 else 1)\n'
            % (os.path.join(src_dir(), 't', 'lib'), {h.ctl: h.addr for h in hosts}))
ENV = dict(os.environ, FCGIWSGI_CTL=program('fcgiwsgi-ctl'),
           FCGIWSGI_CHECK='%s %s "$1"' % (sys.executable, Check.path))


def start_nginx_run(keep_conn):
    port = free_port()
    snippet = web_snippet('nginx-upstream.conf', PORT=port,
                          **{'HOST%d' % (i + 1): '%s:%d' % h.addr for i, h in enumerate(hosts)})
    if not keep_conn:
        with open(snippet) as f:
            text = f.read()
        ok('fastcgi_keep_conn on;' in text, 'the snippet keeps connections')
        with open(snippet, 'w') as f:
            f.write(text.replace('fastcgi_keep_conn on;', 'fastcgi_keep_conn off;'))
    return start_nginx('include %s;\n' % snippet, port=port)


def roll(release, *which):
    args = []
    for h in which:
        args += [h.ctl, h.link]
    p = subprocess.run(['sh', ROLL, '-w', str(FAIL_TIMEOUT), '-t', '30', 'app', release] + args,
                       env=ENV, capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


figures = []


def window(load, a, b):
    """The requests a scenario touched: those still running at a (in
    flight when it began) or started before b."""
    with load._lock:
        return [r for r in load.results if r[1] >= a and r[0] <= b]


def log_text(path):
    with open(path, errors='replace') as f:
        return f.read()


def report(run, scenario, results, note=''):
    n, p99, mx = MixedHttpLoad.latency_figures(results)
    failed = MixedHttpLoad.failures(None, results)
    line = '%-9s %-26s requests %5d  failed %3d (GET %d, POST %d)  p99 %.3f s  max %.3f s%s' % (
        run, scenario, n, len(failed), sum(r[2] == 'GET' for r in failed),
        sum(r[2] == 'POST' for r in failed), p99, mx, note)
    diag(line)
    figures.append(line)
    return n, failed, p99, mx


def served_by(results, name):
    return [r for r in results if r[3] == 200 and r[4].startswith(name + ' ')]


def pids(h):
    st = h.status()
    return [w['pid'] for w in st['workers']] if st else []


def run(keep_conn, scenarios):
    label = 'keep_conn %s' % ('on' if keep_conn else 'off')
    ng = start_nginx_run(keep_conn)
    load = MixedHttpLoad(('127.0.0.1', ng.port), clients=16, max_seconds=110, timeout=30)
    wait_for(lambda: len(load.results) > 200, timeout=10, what='load running')
    ok(not load.failures(), '%s: load through nginx runs without failures' % label,
       got=load.failures()[:3])

    if 'deploy' in scenarios:
        release = scenarios['deploy']
        t0 = time.monotonic()
        rc, out, err = roll('releases/' + release, *hosts)
        t1 = time.monotonic()
        is_(rc, 0, '%s: rolling deploy to %s succeeds' % (label, release), )
        if rc:
            diag(out + err)
        is_([h.version() for h in hosts], [release] * 3, '%s: every host ends on %s' % (
            label, release))
        n, failed, p99, mx = report(label, 'rolling deploy', window(load, t0, t1))
        is_(len(failed), 0, '%s: rolling deploy: 0 failed of %d' % (label, n), )
        if failed:
            diag(failed[:5])

    if 'broken' in scenarios:
        t0 = time.monotonic()
        rc, out, err = roll('releases/v3', *hosts)
        t1 = time.monotonic()
        is_(rc, 1, '%s: a deploy that cannot import on host 2 fails' % label)
        like(err, r'needs a module host h2 does not have', 'the script shows the import error')
        like(err, r'host 2: stopped here', 'and stops at host 2')
        is_([h.version() for h in hosts], ['v3', scenarios['broken'], scenarios['broken']],
            '%s: host 1 serves v3, hosts 2 and 3 their old release' % label)
        is_(os.readlink(h2.link), 'releases/' + scenarios['broken'],
            "host 2's link points at its old release again")
        ok(not h2.status()['drained'], 'host 2 is undrained')
        n, failed, p99, mx = report(label, 'deploy failing on host 2',
                                    window(load, t0, t1))
        is_(len(failed), 0, '%s: failed deploy: 0 failed of %d' % (label, n))
        if failed:
            diag(failed[:5])
            diag(failed[-5:])
            # Which upstream failed how: nginx marks a host down for
            # fail_timeout after one error, and a 502 for a GET means it
            # had none left (seen twice in CI, never here).
            diag('nginx error.log, upstream lines during the deploy:\n' + '\n'.join(
                l for l in log_text(ng.error_log).splitlines() if 'upstream' in l)[-6000:])
            for h in hosts:
                diag('%s log:\n%s' % (h.name, '\n'.join(h.m.output().splitlines()[-25:])))
        time.sleep(FAIL_TIMEOUT)  # nginx takes host 2 back

    if 'kill' in scenarios:
        h = scenarios['kill']
        victims = [h.m.proc.pid] + pids(h)
        tk = time.monotonic()
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        h.m.wait(10)
        time.sleep(FAIL_TIMEOUT + 1)
        tb = time.monotonic()
        time.sleep(1)
        after = [r for r in load.since(tb) if r[0] <= tb + 0.5]
        ok(after and not load.failures(after) and not served_by(after, h.name),
           '%s: past fail_timeout the other two serve everything' % label)
        h.start()
        back = wait_for(lambda: served_by(load.since(tb), h.name), timeout=FAIL_TIMEOUT + 10,
                        what='%s back in rotation' % h.name)
        tr = time.monotonic()
        ok(back, '%s: nginx picks the restarted host up within fail_timeout' % label)
        n, failed, p99, mx = report(label, 'host SIGKILLed', window(load, tk, tr))
        threads = 2 * 4
        ok(all(r[2] == 'POST' for r in failed),
           '%s: only POSTs failed (nginx retries GETs on the next host)' % label,
           got=failed[:3])
        ok(len(failed) <= threads, '%s: at most the requests in flight on it failed (%d <= %d)'
           % (label, len(failed), threads))
        diag('SIGKILL: %d failed (POSTs nginx had sent to the killed host); nginx error.log: '
             '%d "prematurely closed", %d "reset by peer", %d "refused"' % (
                 len(failed), *(log_text(ng.error_log).count(w) for w in (
                     'prematurely closed', 'reset by peer', 'refused'))))

    if 'stop' in scenarios:
        h = scenarios['stop']
        workers = pids(h)
        ts = time.monotonic()
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        time.sleep(10)
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
        tc = time.monotonic()
        wait_for(lambda: served_by(load.since(tc), h.name), timeout=FAIL_TIMEOUT + 10,
                 what='%s back' % h.name)
        n, failed, p99, mx = report(label, 'workers SIGSTOPped 10 s',
                                    window(load, ts, tc))
        bound = READ_TIMEOUT + 2
        ok(mx < bound, '%s: the stall is bounded by fastcgi_read_timeout (max %.2f s < %d s)'
           % (label, mx, bound))
        ok(all(r[2] == 'POST' and r[3] == 504 for r in failed),
           '%s: what failed are POSTs that timed out on the stopped host (504)' % label,
           got=failed[:3])

    load.stop()
    ok(load.results[-1][0] > 0, '%s: %d requests in the run' % (label, len(load.results)))
    ng.stop()
    is_(nginx_bad_log_lines(ng), [], '%s: no crit/alert in nginx error.log' % label)


run(True, {'deploy': 'v2', 'broken': 'v2', 'kill': h2, 'stop': h3})
run(False, {'deploy': 'v4', 'kill': h1})
for h in hosts:
    rc, out, err = ctl(h.ctl, 'shutdown', '--wait')
    is_(rc, 0, '%s shuts down cleanly' % h.name)
    check_log_clean(h.m, h.name)
diag('figures:\n' + '\n'.join(figures))
done_testing()
