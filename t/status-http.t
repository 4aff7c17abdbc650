#!/usr/bin/env python3
# status_listen (issue 17, and /ping of issue 19): the master answers
# /status, /status?json, /metrics and /ping itself, so it answers while
# every worker is busy and while a pool is down; every other request gets
# the right error, and hostile clients (slowloris, a huge head, hundreds of
# connections) neither stop it nor the control socket.
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

port, web_port = free_port(), free_port()
status = '127.0.0.1:%d' % port
broken = os.path.join(tmpdir(), 'broken.wsgi')
with open(broken, 'w') as f:
    f.write('import os\nos._exit(3)\n')
web = '''  web:
    listen: 127.0.0.1:%d
    allowed_clients: [127.0.0.1]
    allow_root: true
    processes: 1
    apps:
      - {mount: /, script: %s}
''' % (web_port, app_path('metrics_app.wsgi'))
top = 'status_listen: %s\n' % status
cfg = manager_config(web, name='sh.yaml', top=top)
m = start_fcgiwsgi(cfg, ['web'])


def get(path, method='GET', headers=None, timeout=10):
    return http_request(status, method, path, headers=headers, timeout=timeout)


def raw(data, timeout=10):
    return http_raw(status, data, timeout=timeout)


r = get('/ping')
is_((r.status, r.body), (200, b'pong\n'), '/ping: 200 pong while the pool serves')
is_(r.header('Connection'), 'close', '... one request per connection')
r = get('/ping', 'HEAD')
is_((r.status, r.body, r.header('Content-Length')), (200, b'', '5'),
    'HEAD /ping: the headers of GET, no body')

# /status is the text of fcgiwsgi-ctl status, /status?json its JSON.
r = get('/status')
rc, out, err = ctl(cfg, 'status')
is_(r.status, 200, '/status: 200')
is_(r.header('Content-Type'), 'text/plain; charset=utf-8', '... as text')


def shape(text):
    # Uptime, ages and sizes move between two reads; the rest must not.
    import re
    text = re.sub(r'up [0-9.hmsd]+', 'up T', text)
    text = re.sub(r'\d+\.\d+M +\S+', 'RSS AGE', text)
    return text


is_(shape(r.body.decode()), shape(out), '... the same text as fcgiwsgi-ctl status')
r = get('/status?json')
rc, out, err = ctl(cfg, 'status', '--json')
a, b = json.loads(r.body), json.loads(out)
is_(r.header('Content-Type'), 'application/json', '/status?json: JSON')
is_(sorted(a['pools'][0].keys()), sorted(b['pools'][0].keys()),
    '... with the keys of status --json')
is_([w['pid'] for w in a['pools'][0]['workers']], [w['pid'] for w in b['pools'][0]['workers']],
    '... and the same workers')

r = get('/metrics')
is_(r.header('Content-Type'), 'application/openmetrics-text; version=1.0.0; charset=utf-8',
    '/metrics: OpenMetrics by default')
ok(r.body.endswith(b'# EOF\n'), '... ending with # EOF')
like(r.body.decode(), r'fcgiwsgi_pool_workers\{pool="web",state="idle"\} 1', '... the pool series')
r = get('/metrics', headers={'Accept': 'text/plain;version=0.0.4;q=0.5,*/*;q=0.1'})
is_(r.header('Content-Type'), 'text/plain; version=0.0.4; charset=utf-8',
    'Accept: text/plain: Prometheus text')
ok(b'# EOF' not in r.body, '... without # EOF')
like(r.body.decode(), r'# TYPE fcgiwsgi_pool_requests_total counter',
     '... counters named with _total in their TYPE line')

# Errors.
is_(get('/nope').status, 404, 'another path: 404')
is_(get('/status?xml').status, 404, '/status with another query: 404')
r = get('/status', 'POST')
is_((r.status, r.header('Allow')), (405, 'GET, HEAD'), 'POST: 405 with Allow')
is_(get('/ping', 'DELETE').status, 405, 'DELETE: 405')
like(raw(b'garbage\r\n\r\n'), rb'^HTTP/1\.1 400 ', 'a malformed request line: 400')
like(raw(b'GET /ping HTTP/1.1\r\n\r\n'), rb'^HTTP/1\.1 400 ', 'HTTP/1.1 without Host: 400')
like(raw(b'GET /ping HTTP/2.0\r\nHost: x\r\n\r\n'), rb'^HTTP/1\.1 505 ', 'HTTP/2.0: 505')
like(raw(b'GET /' + b'a' * 2000 + b' HTTP/1.1\r\nHost: x\r\n\r\n'), rb'^HTTP/1\.1 414 ',
     'a 2000-byte target: 414')
like(raw(b'GET /ping HTTP/1.1\r\nHost: x\r\nX: ' + b'y' * 40000 + b'\r\n\r\n'),
     rb'^HTTP/1\.1 431 ', 'a 40 KB header: 431 (what follows the cap is read and dropped)')
# A head that never ends: cut after the 431 and a bounded read of the rest.
s = connect(status, timeout=10)
sent, t0 = 0, time.monotonic()
try:
    while sent < (64 << 20) and time.monotonic() - t0 < 10:
        s.sendall(b'X-Flood: ' + b'y' * 65536 + b'\r\n')
        sent += 65547
except OSError:
    pass
s.close()
ok(sent < (8 << 20), 'an endless head is cut off (after %d KB)' % (sent >> 10))
is_(get('/ping').status, 200, '... and the server answers the next request')
like(raw(b'GET /ping HTTP/1.1\r\nHost: x\r\n' + b'X: y\r\n' * 100 + b'\r\n'),
     rb'^HTTP/1\.1 431 ', '100 headers: 431')


def ctl_time():
    t0 = time.monotonic()
    rc, out, err = ctl(cfg, 'status')
    return rc, time.monotonic() - t0


# Slowloris: the most connections at once, each sending a byte a second.
slow = []
for i in range(32):
    s = connect(status, timeout=10)
    s.sendall(b'GET /ping HTTP/1.1\r\n')
    slow.append(s)
time.sleep(0.3)
r = raw(b'GET /ping HTTP/1.1\r\nHost: x\r\n\r\n')
like(r, rb'^HTTP/1\.1 503 ', 'with 32 slow clients connected, one more gets 503 at once')
rc, took = ctl_time()
ok(rc == 0 and took < 2, 'the control socket answers meanwhile (%.2f s)' % took)
t0 = time.monotonic()
for s in slow:
    s.settimeout(10)
gone = 0
for s in slow:
    try:
        while True:
            s.sendall(b'X')  # trickle
            d = s.recv(1)
            if not d:
                gone += 1
                break
    except OSError:
        gone += 1
    s.close()
took = time.monotonic() - t0
is_(gone, 32, 'every slow client is dropped ...')
ok(took < 8, '... within the 5 s read deadline (%.1f s)' % took)
wait_for(lambda: get('/ping').status == 200, timeout=10, what='ping again')
ok(True, 'and /ping answers 200 afterwards')

# Hundreds of connections at once, some never sending a byte.
many, errors = [], []
for i in range(300):
    try:
        many.append(connect(status, timeout=10))
    except OSError as e:
        errors.append(e)
rc, took = ctl_time()
ok(rc == 0 and took < 2, '300 connections open: the control socket answers (%.2f s)' % took)
t0 = time.monotonic()
ok(fcgi_request('127.0.0.1:%d' % web_port, uri='/').status == 200, '... and the pool serves')
for s in many:
    s.close()
wait_for(lambda: get('/ping').status == 200, timeout=10, what='ping after the flood')
ok(True, 'and /ping answers 200 once they are gone')

# Every worker busy: the master answers anyway.
busy = threading.Thread(target=lambda: fcgi_request('127.0.0.1:%d' % web_port,
                                                    uri='/sleep/3', timeout=20))
busy.start()
wait_for(lambda: b'GET /sleep/3' in get('/status').body, timeout=10, what='the sleep running')
t0 = time.monotonic()
r = get('/status', timeout=5)
took = time.monotonic() - t0
ok(r.status == 200 and took < 1, 'every worker busy: /status in %.3f s' % took)
like(r.body.decode(), r'workers: 0 starting, 0 idle, 1 busy', '... showing the busy worker')
is_(get('/ping').status, 200, '... and /ping stays 200 (a ready worker is a busy one too)')
busy.join()

# A pool that cannot start (its app exits at import): /ping names it.
manager_config(web + '''  bad:
    listen: %s
    allow_root: true
    apps:
      - {mount: /, script: %s}
''' % (sock_path('bad.sock'), broken), name='sh.yaml', top=top)
rc, out, err = ctl(cfg, 'reload')
is_(rc, 0, 'reload adds a pool whose workers die at start') or diag(out + err)
r = wait_for(lambda: (lambda r: r if r.status == 503 else None)(get('/ping')), timeout=20,
             what='ping 503')
like(r.body.decode(), r'pool bad: no ready worker', '/ping: 503 naming the pool down')
unlike(r.body.decode(), r'pool web', '... and not the one serving')
is_(get('/status').status, 200, '/status answers while a pool is down')
ctl(cfg, 'stop', 'bad')
wait_for(lambda: get('/ping').status == 200, timeout=20, what='ping 200 after stop')
ok(True, 'a pool stopped on purpose: /ping 200 again')

# Drained (issue 19): out of the balancer's rotation.
rc, out, err = ctl(cfg, 'drain', 'web')
is_(rc, 0, 'drain web') or diag(out + err)
r = get('/ping')
is_((r.status, r.body), (503, b'pool web: drained\n'), '/ping: 503 while the pool is drained')
ctl(cfg, 'undrain', 'web')
is_(get('/ping').status, 200, 'undrain: 200 again')

# A reload moves the status server (the pools are untouched).
port2 = free_port()
manager_config(web, name='sh.yaml', top='status_listen: 127.0.0.1:%d\n' % port2)
rc, out, err = ctl(cfg, 'reload')
like(out, r'status_listen: now on 127\.0\.0\.1:%d' % port2, 'reload moves status_listen') \
    or diag(out + err)
r = http_request('127.0.0.1:%d' % port2, 'GET', '/ping')
is_(r.status, 200, '... it answers on the new port')
try:
    connect(status, timeout=2).close()
    ok(False, '... and the old port is closed')
except OSError:
    ok(True, '... and the old port is closed')

m.signal(15)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(m)

# A unix status socket: mode and group set on the file bind() made.
path = sock_path('status.sock')
cfg2 = manager_config(web.replace(str(web_port), str(free_port())), name='sh2.yaml',
                      top='status_listen: %s\nstatus_listen_mode: "0640"\n'
                          'status_listen_group: nogroup\n' % path)
m2 = start_fcgiwsgi(cfg2, ['web'])
st = os.stat(path)
is_(oct(stat.S_IMODE(st.st_mode)), oct(0o640), 'a unix status_listen: its mode')
import grp  # noqa: E402
is_(grp.getgrgid(st.st_gid).gr_name, 'nogroup', '... and its group')
r = http_request('unix:' + path, 'GET', '/ping')
is_((r.status, r.body), (200, b'pong\n'), '/ping over the unix socket')
m2.signal(15)
is_(m2.wait(30), 0, 'that manager stops with 0')
ok(not os.path.exists(path), '... and removes its status socket')

rc = subprocess.run([program('fcgiwsgi'), '-t', '-c', manager_config(
    web, name='sh3.yaml', top='status_listen: 192.0.2.1:9180\n')],
    capture_output=True, text=True)
like(rc.stdout + rc.stderr, r'sh3\.yaml:4:\d+: .*not a loopback address',
     'a status_listen off loopback is refused, at file:line:column')
done_testing()
