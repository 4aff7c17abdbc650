#!/usr/bin/env python3
# Recycles and kept FastCGI connections (issue 13). When a worker stops
# accepting (a restart, a changed script), the web server's kept
# connections to it must not swallow requests: an idle one is closed at
# once, so the server reconnects to the listener, where the new generation
# answers; one that already holds (part of) a request has it served.
#   1. a FastCGI client alone: an idle kept connection is closed when its
#      worker stops (while that worker still finishes a slow request), a
#      request on it never vanishes, and a half-sent request is served;
#   2. HAProxy 2.6 (fcgi-app, keep-conn by default) and
#   3. H2O 2.2 (fastcgi.timeout.keepalive) under 8 keep-alive clients,
#      three `fcgiwsgi-ctl restart` and a rewrite of the script: 0 failed;
#   4. (t/recycle-keepconn-upstreams.t: nginx with three hosts);
#   5. a one-process pool whose old worker still runs a 6 s request: behind
#      either server another client's requests do not wait for it.
import json
import os
import select
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

d = tmpdir()
APP = '''import os, time
VERSION = %r


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    if '/sleep/' in path:
        secs = float(path.rsplit('/', 1)[1])
        environ['wsgi.errors'].write('sleeping %%s\\n' %% secs)
        environ['wsgi.errors'].flush()
        time.sleep(secs)
    body = ('%%s %%d %%s' %% (VERSION, os.getpid(), environ['fcgiwsgi.generation'])).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
'''


def write_app(name, version):
    # as a deploy tool does: a new file renamed over the old one
    path = os.path.join(d, name)
    with open(path + '.new', 'w') as f:
        f.write(APP % version)
    os.rename(path + '.new', path)
    return path


def body_fields(body):
    """(version, pid, generation) from the app's answer."""
    v, pid, gen = body.split()
    return v.decode(), int(pid), int(gen)


POOL = '''  %(name)s:
    listen: %(sock)s
    listen_mode: "0666"
    processes: %(procs)d
    threads: 4
    allow_root: true
    apps: [{mount: /, script: %(script)s}]
'''
socks = {n: sock_path('%s.sock' % n) for n in ('direct', 'web', 'one')}
scripts = {n: write_app('%s.wsgi' % n, 'v0') for n in socks}
procs = {'direct': 1, 'web': 2, 'one': 1}
log = os.path.join(d, 'manager.log')
cfg = manager_config(''.join(POOL % {'name': n, 'sock': socks[n], 'procs': procs[n],
                                     'script': scripts[n]} for n in socks),
                     name='keepconn.yaml', log=log)
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: os.path.exists(log) and open(log).read().count('starting -> running') >= 4,
         timeout=30, what='workers ready')


def mlog():
    return open(log, errors='replace').read()


def pool_status(pool):
    return [p for p in json.loads(ctl(cfg, 'status', '--json')[1])['pools'] if p['name'] == pool][0]


def pool_pids(pool):
    return sorted(w['pid'] for w in pool_status(pool)['workers'])


def restart(pool):
    t0 = time.monotonic()
    rc, out, err = ctl(cfg, 'restart', pool, timeout=60)
    return rc, out.strip() + err.strip(), time.monotonic() - t0


def closed_within(sock, timeout):
    """'closed' (EOF or reset) if the peer closes sock within timeout,
    'open' if it does not, 'data' if bytes arrive instead."""
    if not select.select([sock], [], [], timeout)[0]:
        return 'open'
    try:
        return 'closed' if sock.recv(1) == b'' else 'data'
    except ConnectionResetError:
        return 'closed'


P = cgi_params('GET', '/')
t_start = time.monotonic()

# -------------------------------------------- 1. a FastCGI client alone
# One worker of 4 threads. A: a kept connection, idle after one request.
# S: a 6 s request in flight, so the old worker lives on after the restart
# (without one it exits within ~60 ms and its exit closes A anyway). H: a
# kept connection that has sent BEGIN_REQUEST and part of its params when
# the restart starts.
A = FcgiConn(socks['direct'], timeout=10)
r = A.request(P, keep_conn=True)
is_(r.status, 200, 'direct: a first request on kept connection A')
gen0_pid = body_fields(r.body)[1]
H = FcgiConn(socks['direct'], timeout=10)
r = H.request(P, keep_conn=True)
is_((r.status, body_fields(r.body)[1]), (200, gen0_pid), 'direct: kept connection H, same worker')
slow = {}


def slow_request():
    t0 = time.monotonic()
    try:
        res = fcgi_request(socks['direct'], 'GET', '/sleep/6', timeout=20)
        slow['got'] = (res.status, body_fields(res.body)[1])
    except Exception as e:  # noqa: BLE001
        slow['got'] = repr(e)
    slow['secs'] = time.monotonic() - t0


mark = len(mlog())
st = threading.Thread(target=slow_request)
st.start()
wait_for(lambda: 'sleeping 6' in mlog()[mark:], timeout=10, what='the slow request to run')
# half a request on H: BEGIN_REQUEST and a params record cut in the middle
params_rec = record(FCGI_PARAMS, 1, encode_params(P))
half = len(params_rec) // 2
H.send_raw(begin_request(1, keep_conn=True) + params_rec[:half])
time.sleep(0.1)  # let the worker read it before the restart

rc, out, secs = restart('direct')
is_(rc, 0, 'direct: restart returns 0 (%s, %.2f s)' % (out, secs))

# H: the rest of its request; the old worker, which holds the first half, answers
H.send_raw(params_rec[half:] + record(FCGI_PARAMS, 1, b'') + record(FCGI_STDIN, 1, b''))
t0 = time.monotonic()
resp, how = read_response(H, timeout=3)
if how == 'end' and resp.status == 200:
    got = (200, body_fields(resp.body)[1])
else:
    got = '%s (status %s) after %.2f s' % (how, resp.status, time.monotonic() - t0)
is_(got, (200, gen0_pid), 'direct: a request half sent on a kept connection before the restart '
    'is served by the old worker when the rest arrives')
if isinstance(got, tuple):
    is_(closed_within(H.sock, 1.0), 'closed', 'direct: after that answer the old worker closes '
        'connection H within 1 s (it accepts no more)')
else:
    skip('direct: H was not answered')
H.close()

# A: idle since before the restart; its worker stopped accepting, so it must
# be closed now, while that worker is still alive finishing S
a_state = closed_within(A.sock, 1.0)
is_((a_state, st.is_alive()), ('closed', True), 'direct: idle kept connection A is closed '
    'within 1 s of the restart, while the old worker still runs its slow request')
t0 = time.monotonic()
if a_state == 'closed':
    A.close()
    try:
        r = fcgi_request(socks['direct'], timeout=5)
        got = (r.status, body_fields(r.body)[2])
    except (OSError, FcgiError) as e:
        got = repr(e)
    is_(got, (200, 1), 'direct: after A closed, a new connection is answered by generation 1')
else:
    # the failure this checks for: a request written on a kept connection
    # that its worker no longer reads waits until that worker exits, and is
    # then cut
    A.timeout = 8
    try:
        r = A.request(P, keep_conn=True)
        got = (r.status, 'generation %d' % body_fields(r.body)[2])
    except (OSError, FcgiError) as e:
        got = str(e)
    secs = time.monotonic() - t0
    ok(isinstance(got, tuple) and got[0] == 200 and secs < 2,
       'direct: a request written on kept connection A (still open) is answered',
       got='%r after %.2f s' % (got, secs), expected='a 200 within 2 s')
    A.close()
st.join(20)
is_(slow.get('got'), (200, gen0_pid), 'direct: the slow request is finished by the old worker '
    '(%.2f s)' % slow.get('secs', 0))


# ---------------------------------------- 2, 3: HAProxy and H2O under load

def haproxy():
    return start_haproxy('''
fcgi-app fw
    docroot %(d)s

frontend web
    bind 127.0.0.1:@PORT@
    use_backend one if { path_beg /one }
    default_backend web

# A worker that stops closes its idle kept connections, as every keep-alive
# server closes idle ones; a request HAProxy writes on one in the very
# instant it closes is lost unless HAProxy may send it again. retry-on
# empty-response is HAProxy's own answer to that race (its manual), and
# what README recommends. Without it, under ASan, one run in five lost one
# request of ~30,000; before a stopping worker closed its idle kept
# connections, 24 to 32 failed per run, and a request hung behind a 6 s one.
backend web
    use-fcgi-app fw
    retries 3
    retry-on conn-failure empty-response
    server web unix@%(web)s proto fcgi

backend one
    use-fcgi-app fw
    retries 3
    retry-on conn-failure empty-response
    server one unix@%(one)s proto fcgi
''' % {'d': d, 'web': socks['web'], 'one': socks['one']})


def h2o():
    return start_h2o('''      /one:
        fastcgi.connect:
          port: %(one)s
          type: unix
        fastcgi.timeout.keepalive: 20000
      /:
        fastcgi.connect:
          port: %(web)s
          type: unix
        fastcgi.timeout.keepalive: 20000
''' % socks)


SERVERS = [('HAProxy', HAPROXY, haproxy), ('H2O', H2O, h2o)]
version = [0]


def kept_sockets(pool, base):
    return sum(web_kept_sockets(p) for p in pool_pids(pool)) - base


def settled(pool):
    """Waits until the pool's workers are all of its current generation."""
    def check():
        st = pool_status(pool)
        ws = st['workers']
        return len(ws) == procs[pool] and all(w['generation'] == st['generation'] for w in ws)
    wait_for(check, timeout=20, what='%s: only current workers' % pool)


def server_under_load(name, start):
    restart('web')  # workers that hold no connection of an earlier server
    settled('web')
    base = sum(web_kept_sockets(p) for p in pool_pids('web'))
    srv = start()
    addr = ('127.0.0.1', srv.port)
    for _ in range(20):
        http_request(addr, 'GET', '/')
    n = kept_sockets('web', base)
    ok(n >= 1, '%s: it keeps FastCGI connections to the workers (%d kept)' % (name, n))
    load = HttpLoad(addr, clients=8, path='/', timeout=10, max_seconds=30)
    t0 = time.monotonic()
    restarts = []
    for i in range(3):
        time.sleep(0.7)
        restarts.append(restart('web'))
    time.sleep(0.7)
    version[0] += 1
    v = 'v%d' % version[0]
    write_app('web.wsgi', v)
    t_write = time.monotonic()
    try:
        wait_for(lambda: load.first_seen(lambda b: b.startswith(v.encode() + b' ')), timeout=8,
                 what='%s served' % v)
    except TimeoutError:
        pass
    time.sleep(0.7)
    load.stop()
    diag(load.summary('%s, 8 clients, 3 restarts and a rewrite in %.1f s'
                      % (name, time.monotonic() - t0)))
    ok(len(load.results) >= 500, '%s: requests served throughout (%d)' % (name, len(load.results)))
    load.show_failures(name, t0)
    # HAProxy retries a request its server closed the connection under
    # (retries, retry-on: the backend above); H2O cannot. A worker that
    # stops closes a kept connection right behind its last response or
    # once it is idle, and a request H2O writes on it in that instant is
    # lost whatever the worker does (only the client can close without that
    # race): 1 of ~30,000 in one CI run of a loaded machine. More than one
    # is a fault of ours.
    allowed = 1 if name == 'H2O' else 0
    ok(len(load.failures()) <= allowed, '%s: no request failed across three restarts and a '
       'rewrite (no 5xx, no connection error%s)'
       % (name, '; H2O, which cannot retry: at most 1' if allowed else ''),
       got=len(load.failures()), expected='<= %d' % allowed)
    is_([r[0] for r in restarts], [0, 0, 0], '%s: the three restarts succeeded (%s)'
        % (name, ', '.join('%.2f s' % r[2] for r in restarts)))
    seen = load.first_seen(lambda b: b.startswith(v.encode() + b' '))
    ok(seen is not None, '%s: the rewritten script (%s) is served (%s)' % (
        name, v, 'after %.2f s' % (seen - t_write) if seen else 'never'))
    return srv


def one_slow_request(name, srv):
    """5.: a one-process pool; its old worker runs a 6 s request through
    the server during a restart; another client through the same server."""
    addr = ('127.0.0.1', srv.port)
    for _ in range(10):
        http_request(addr, 'GET', '/one/')
    old_pid = pool_pids('one')
    slow = {}

    def run():
        t0 = time.monotonic()
        try:
            res = http_request(addr, 'GET', '/one/sleep/6', timeout=20)
            slow['got'] = (res.status, res.body.split()[1:2])
        except Exception as e:  # noqa: BLE001
            slow['got'] = repr(e)
        slow['end'] = time.monotonic()
        slow['secs'] = slow['end'] - t0

    old_gen = pool_status('one')['generation']
    mark = len(mlog())
    t = threading.Thread(target=run)
    t.start()
    wait_for(lambda: 'sleeping 6' in mlog()[mark:], timeout=10, what='the slow request to run')
    other = HttpLoad(addr, clients=1, path='/one/', timeout=10, max_seconds=20)
    time.sleep(0.3)
    t0 = time.monotonic()
    rc, out, secs = restart('one')
    t.join(20)
    time.sleep(0.3)
    other.stop()
    lat = other.latencies()
    # the other client's requests between the restart and the end of the slow one
    during = [r for r in other.results if r[0] >= t0 and r[1] < slow.get('end', 0)]
    diag(other.summary('%s, one process, a 6 s request on the old worker, another client' % name)
         + '; %d of them answered while the old worker ran' % len(during))
    is_(rc, 0, '%s: restart of the one-process pool returns 0 (%.2f s)' % (name, secs))
    is_(slow.get('got'), (200, [str(old_pid[0]).encode()]),
        '%s: the 6 s request is finished by the old worker (%.2f s)' % (name, slow.get('secs', 0)))
    other.show_failures(name + ' (other client)', t0)
    is_(len(other.failures()), 0, '%s: the other client has no failed request' % name)
    ok(lat and lat[-1] < 2.0, "%s: the other client's requests do not wait for the old worker "
       '(max %.2f s)' % (name, lat[-1] if lat else 0), got='%.2f s' % (lat[-1] if lat else 0),
       expected='< 2 s')
    new = [r for r in during if r[2] == 200 and body_fields(r[3])[2] > old_gen]
    ok(len(new) >= 20, '%s: the new generation answers the other client while the old worker '
       'runs its slow request (%d requests)' % (name, len(new)))


for name, binary, start in SERVERS:
    if not os.access(binary, os.X_OK):
        skip('%s not installed (Debian package %s; sh t/deps.sh test)' % (name, name.lower()), 11)
        continue
    srv = server_under_load(name, start)
    one_slow_request(name, srv)
    bad = log_bad_lines(srv, ('[ALERT]', '[EMERG]', 'crit', 'alert'))
    if getattr(srv, 'error_log', None):
        bad += log_bad_lines(srv.error_log, ('crit', 'alert', 'emerg'))
    is_(bad, [], '%s: no alert in its logs' % name)
    srv.stop()

diag('whole test: %.1f s' % (time.monotonic() - t_start))
ctl(cfg, 'shutdown')
is_(m.wait(30), 0, 'the manager exits 0')
check_log_clean(log)
done_testing()
