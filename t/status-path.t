#!/usr/bin/env python3
# ping_path and status_path (issue 17, php-fpm's ping.path and
# pm.status_path): the worker itself answers them, before any app, for
# servers that only speak FastCGI. ping_path: 200 "pong", so a health check
# learns that the worker is up and reads requests even when every app
# request fails. status_path: the pool's status (text, or ?json), from the
# page the master publishes twice a second for the pool, which the worker
# maps read-only: answered while the app is busy, and it shows the pool's
# own figures. Other paths still go to the app; bad values are refused at
# file:line:column.
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

sock = sock_path('ping.sock')
broken = os.path.join(tmpdir(), 'raises.wsgi')
with open(broken, 'w') as f:
    f.write('def application(environ, start_response):\n    raise RuntimeError("down")\n')
pools = '''  p:
    listen: %s
    allow_root: true
    ping_path: /fcgiwsgi-ping
    status_path: /fcgiwsgi-status
    threads: 2
    apps:
      - {mount: /, script: %s}
''' % (sock, broken)
cfg = manager_config(pools, name='ping.yaml')
m = start_fcgiwsgi(cfg, ['p'])
r = fcgi_request(sock, uri='/fcgiwsgi-ping')
is_((r.status, r.body), (200, b'pong\n'), 'ping_path: 200 pong from the worker')
is_(dict(r.headers).get('Content-Type'), 'text/plain', '... as text/plain')
r = fcgi_request(sock, uri='/fcgiwsgi-ping?from=haproxy')
is_((r.status, r.body), (200, b'pong\n'), '... whatever the query string')
r = fcgi_request(sock, method='HEAD', uri='/fcgiwsgi-ping')
is_((r.status, r.body), (200, b''), 'HEAD: no body')
is_(fcgi_request(sock, uri='/').status, 500, 'another path goes to the app (which fails: 500)')
is_(fcgi_request(sock, uri='/fcgiwsgi-ping/x').status, 500, '... and so does a longer path')
is_(len(re.findall(r'exception in the WSGI app', m.output())), 2,
    'the app saw the two other requests, never a ping')

def status(query=''):
    return fcgi_request(sock, uri='/fcgiwsgi-status' + query)


r = wait_for(lambda: (lambda r: r if r.status == 200 else None)(status()), timeout=10,
             what='the status page published')
like(r.body.decode(), r'^pool p: fixed, 1 process x 2 threads', 'status_path: the pool\'s status')
# The page is at most 500 ms old: wait for the two 500s to be on it.
body = wait_for(lambda: (lambda b: b if re.search(r'5xx [2-9]', b) else None)(
    status().body.decode()), timeout=10, what='the 500s on the page')
like(body, r'requests by status: 1xx 0, 2xx \d+, 3xx 0, 4xx 0, 5xx [2-9]',
     '... with its figures (the 500s), within half a second')
unlike(r.body.decode(), r'master pid|config', '... and nothing of the master but the pool')
is_(dict(r.headers).get('Content-Type'), 'text/plain; charset=utf-8', '... as text')
r = status('?json')
is_(dict(r.headers).get('Content-Type'), 'application/json', '?json: JSON')
import json  # noqa: E402
doc = json.loads(r.body)
is_([p['name'] for p in doc['pools']], ['p'], '... of this pool alone')
r = fcgi_request(sock, method='HEAD', uri='/fcgiwsgi-status')
ok(r.status == 200 and r.body == b'', 'HEAD: no body')
# The app's file made slow; while a request sleeps in it, the other thread
# answers status_path, showing the busy one.
with open(broken, 'w') as f:
    f.write('import time\n\ndef application(environ, start_response):\n'
            '    time.sleep(2)\n    raise RuntimeError("down")\n')
ctl(cfg, 'restart', 'p')
import threading  # noqa: E402
t = threading.Thread(target=lambda: fcgi_request(sock, uri='/slow', timeout=20))
t.start()
body = wait_for(lambda: (lambda b: b if 'GET /slow' in b else None)(status().body.decode()),
                timeout=10, what='the busy request on the page')
like(body, r'workers: 0 starting, 0 idle, 1 busy', 'a thread busy in the app: status_path answers '
     'from the other, showing it')
t.join()

# The app cannot write its pool's page: not by mprotect on its mapping,
# nor by opening the memfd again read-write (through map_files, as root).
with open(broken, 'w') as f:
    f.write('''import ctypes, mmap, os

def application(environ, start_response):
    out = []
    for line in open('/proc/self/maps'):
        if 'fcgiwsgi-page' in line:
            rng = line.split()[0]
            break
    else:
        rng = None
        out.append('no page mapped')
    if rng:
        lo = int(rng.split('-')[0], 16)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        if libc.mprotect(lo, 4096, 3) == 0:
            out.append('mprotect made it writable')
        else:
            out.append('mprotect: %d' % ctypes.get_errno())
        try:
            fd = os.open('/proc/self/map_files/' + rng, os.O_RDWR)
            try:
                mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_WRITE)
                out.append('reopened and mapped writable')
            except OSError as e:
                out.append('reopen map: %d' % e.errno)
            try:
                os.pwrite(fd, b'x', 0)
                out.append('written')
            except OSError as e:
                out.append('write: %d' % e.errno)
        except OSError as e:
            out.append('reopen: %d' % e.errno)
    body = ' '.join(out).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
''')
ctl(cfg, 'restart', 'p')
r = fcgi_request(sock, uri='/try')
diag(r.body.decode())
like(r.body.decode(), r'^mprotect: \d+', 'the app finds its pool\'s page mapped')
unlike(r.body.decode(), r'writable|written', 'the app cannot write its pool\'s page (%s)'
       % r.body.decode())

m.signal(15)
is_(m.wait(30), 0, 'the manager stops with 0')

bad = manager_config(pools.replace('/fcgiwsgi-ping', 'fcgiwsgi ping'), name='bad.yaml')
p = subprocess.run([program('fcgiwsgi'), '-t', '-c', bad], capture_output=True, text=True)
like(p.stdout + p.stderr, r'bad\.yaml:8:16: error: .ping_path. must be a path',
     'a ping_path that is no path: refused at file:line:column')
bad = manager_config(pools.replace('/fcgiwsgi-status', '/fcgiwsgi-ping'), name='bad2.yaml')
p = subprocess.run([program('fcgiwsgi'), '-t', '-c', bad], capture_output=True, text=True)
like(p.stdout + p.stderr, r'bad2\.yaml:9:18: error: .status_path. is the same as .ping_path.',
     'status_path equal to ping_path: refused')
done_testing()
