#!/usr/bin/env python3
# Recycles behind nginx with several upstream servers and kept FastCGI
# connections (issue 13, part 4 of t/recycle-keepconn.t): three managers
# ("hosts") on 127.0.1.1, 127.0.1.2 and 127.0.1.3, one nginx upstream of
# the three with `keepalive 8`, `fastcgi_keep_conn on` and `max_fails=1`,
# 12 keep-alive clients, and `fcgiwsgi-ctl restart` on each host in turn.
# A request that dies on a kept connection counts against max_fails; when
# every host has been marked failed nginx answers 502 "no live upstreams".
# Wanted: not one failed request, no server marked failed, no upstream
# error in nginx's log.
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

if not os.access('/usr/sbin/nginx', os.X_OK):
    skip_all('nginx not installed')
HOSTS = ['127.0.1.1', '127.0.1.2', '127.0.1.3']


def common_free_port():
    """A port free on all of HOSTS (kept bound while the others are tried)."""
    for _ in range(20):
        held = []
        try:
            for h in HOSTS:
                s = socket.socket()
                s.bind((h, held[0].getsockname()[1] if held else 0))
                held.append(s)
            return held[0].getsockname()[1]
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    skip_all('no port free on all of %s' % ', '.join(HOSTS))


try:
    with socket.socket() as s:
        s.bind((HOSTS[-1], 0))
except OSError as e:
    skip_all('cannot bind %s (%s)' % (HOSTS[-1], e))

d = tmpdir()
APP = '''import os
HOST = %r


def application(environ, start_response):
    body = ('%%s %%d %%s' %% (HOST, os.getpid(), environ['fcgiwsgi.generation'])).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
'''
port = common_free_port()
hosts = []
for i, addr in enumerate(HOSTS):
    name = 'host%d' % (i + 1)
    script = os.path.join(d, name + '.wsgi')
    with open(script, 'w') as f:
        f.write(APP % name)
    log = os.path.join(d, name + '.log')
    cfg = manager_config('''  web:
    listen: %s:%d
    processes: 2
    threads: 4
    allow_root: true
    apps: [{mount: /, script: %s}]
''' % (addr, port, script), name=name + '.yaml', log=log)
    hosts.append({'name': name, 'addr': addr, 'cfg': cfg, 'log': log,
                  'proc': spawn([program('fcgiwsgi'), '-c', cfg])})
for h in hosts:
    wait_for(lambda: os.path.exists(h['log']) and
             open(h['log']).read().count('starting -> running') >= 2,
             timeout=30, what='%s ready' % h['name'])


def pids(h):
    st = json.loads(ctl(h['cfg'], 'status', '--json')[1])
    return [w['pid'] for w in st['pools'][0]['workers']]


base = {h['name']: sum(web_kept_sockets(p) for p in pids(h)) for h in hosts}
ng = start_nginx('''
upstream fcgiwsgi_hosts {
%s    keepalive 8;
}

server {
    listen 127.0.0.1:@PORT@;
    server_name localhost;
    location / {
        include fastcgi_params;
        fastcgi_keep_conn on;
        fastcgi_pass fcgiwsgi_hosts;
    }
}
''' % ''.join('    server %s:%d max_fails=1;\n' % (a, port) for a in HOSTS))
A = ('127.0.0.1', ng.port)
seen = set()
for _ in range(30):
    r = http_request(A, 'GET', '/')
    seen.add(r.body.split()[0] if r.status == 200 else r.status)
is_(sorted(seen), [b'host1', b'host2', b'host3'], 'nginx spreads requests over the three hosts')
kept = {h['name']: sum(web_kept_sockets(p) for p in pids(h)) - base[h['name']] for h in hosts}
ok(all(n >= 1 for n in kept.values()), 'nginx keeps FastCGI connections to every host', got=kept)

load = HttpLoad(A, clients=12, path='/', timeout=10, max_seconds=30)
t0 = time.monotonic()
restarts = []
for h in hosts:
    time.sleep(0.8)
    t = time.monotonic()
    rc, out, err = ctl(h['cfg'], 'restart', 'web', timeout=60)
    restarts.append((h['name'], rc, out.strip() or err.strip(), t))
time.sleep(1.0)
load.stop()
diag(load.summary('nginx, 3 hosts, 12 clients, a restart on each in turn, %.1f s'
                  % (time.monotonic() - t0)))
ok(len(load.results) >= 500, 'requests served throughout (%d)' % len(load.results))
fails = load.show_failures('nginx', t0, first=5)
is_(len(fails), 0, 'no request failed (no 502, no connection error)')
is_([r[1] for r in restarts], [0, 0, 0], 'the three restarts succeeded: %s'
    % '; '.join('%s: %s' % (r[0], r[2]) for r in restarts))
for name, rc, out, t in restarts:
    new = [r for r in load.results if r[2] == 200 and r[0] > t + 0.3
           and r[3].split()[0] == name.encode() and int(r[3].split()[2]) >= 1]
    ok(new, '%s: its new generation is served after its restart (%d requests)' % (name, len(new)))
with open(ng.error_log, errors='replace') as f:
    text = f.read()
diag('nginx error.log: %d "no live upstreams", %d "temporarily disabled", %d [error] lines'
     % (text.count('no live upstreams'), text.count('temporarily disabled'),
        text.count('[error]')))
is_([ln for ln in text.splitlines() if '[error]' in ln or 'temporarily disabled' in ln][:10], [],
    'nginx error.log: no upstream error, no server marked failed')
is_(nginx_bad_log_lines(ng), [], 'nginx error.log: no [crit]/[alert]/[emerg]')
for h in hosts:
    ctl(h['cfg'], 'shutdown')
    is_(h['proc'].wait(30), 0, '%s: the manager exits 0' % h['name'])
    check_log_clean(h['log'])
done_testing()
