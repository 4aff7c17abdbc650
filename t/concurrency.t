#!/usr/bin/env python3
# Request threads really run in parallel: sleeping apps and slow uploads
# overlap under --threads 4 (the GIL is released while the app sleeps and
# while the body is read), and with --threads 1 an idle FCGI_KEEP_CONN
# connection does not pin the only thread.
import hashlib
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

APP = app_path('slow_app.wsgi')
SERVER = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}


def params(method, uri, body=b''):
    return cgi_params(method, uri, body, SERVER)


def parallel(n, fn):
    """Run fn(i) in n threads at once; return (results, wall seconds)."""
    results = [None] * n
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait(10)
            results[i] = fn(i)
        except Exception as e:  # reported through the results
            results[i] = 'error: %r' % e
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, time.monotonic() - t0


# ------------------------------------------------- --threads 4: overlap
r = start_responder(APP, threads=4)


def sleeper(i):
    res = fcgi_request(r.addr, 'GET', '/sleep?1', params=SERVER, timeout=20)
    return (res.status, res.body)


res, wall = parallel(4, sleeper)
is_(res, [(200, b'slept 1')] * 4, '4 concurrent 1 s requests all answered')
ok(wall < 3, '4 concurrent 1 s requests on 4 threads overlap: %.2fs (< 3 s)' % wall,
   got=wall, expected='< 3')

SIZE = 256 * 1024
PIECES = 8
bodies = [os.urandom(SIZE) for _ in range(4)]


def slow_chunks(data):
    step = len(data) // PIECES
    for k in range(PIECES):
        if k:
            time.sleep(1.0 / PIECES)
        yield data[k * step:(k + 1) * step if k < PIECES - 1 else len(data)]


def uploader(i):
    data = bodies[i]
    with FcgiConn(r.addr, timeout=20) as c:
        resp = c.request(params('POST', '/upload', data), stdin_chunks=slow_chunks(data))
    try:
        return (resp.status, json.loads(resp.body))
    except ValueError:
        return (resp.status, resp.body)


res, wall = parallel(4, uploader)
is_(res, [(200, {'len': SIZE, 'sha1': hashlib.sha1(b).hexdigest()}) for b in bodies],
    '4 concurrent slow 256 KB uploads arrive intact')
ok(wall < 3, '4 slow uploads (~1 s each) overlap: %.2fs (< 3 s): the GIL is released '
   'while the body is read' % wall, got=wall, expected='< 3')

# a sleeping request does not hold up fast ones on other threads
holder = {}
th = threading.Thread(target=lambda: holder.update(r=sleeper(0)))
th.start()
wait_log(r, r'sleeping 1')
t0 = time.monotonic()
fast = fcgi_request(r.addr, 'GET', '/hello', params=SERVER, timeout=10)
fast_secs = time.monotonic() - t0
th.join(20)
is_((fast.status, fast.body), (200, b'hello'), 'a fast request while another sleeps')
ok(fast_secs < 0.8, 'the fast request is not held up by the sleeping one (%.2fs)' % fast_secs,
   got=fast_secs, expected='< 0.8')
is_(holder.get('r'), (200, b'slept 1'), 'the sleeping one completes')

is_(r.stop(), 0, '--threads 4 responder stops with 0')
check_log_clean(r)

# ---------------------------------------- --threads 1 and kept connections
r = start_responder(APP, threads=1)

a = FcgiConn(r.addr, timeout=10)
res = a.request(params('GET', '/echo?a1'), keep_conn=True)
is_((res.status, res.body), (200, b'echo a1'), 'keep-conn connection A: first request')

# A now sits idle with the connection open; B must still be served.
t0 = time.monotonic()
try:
    resb = fcgi_request(r.addr, 'GET', '/echo?b1', params=SERVER, timeout=5)
    got = (resb.status, resb.body)
except (OSError, FcgiError) as e:
    got = 'error: %r' % e
secs = time.monotonic() - t0
is_(got, (200, b'echo b1'), 'new connection B answered while A is idle (1 thread)')
ok(secs < 2, 'B answered promptly: %.2fs (< 2 s): the idle kept connection does not pin '
   'the only thread' % secs, got=secs, expected='< 2')

try:
    res = a.request(params('GET', '/echo?a2'), keep_conn=True)
    got = (res.status, res.body)
except (OSError, FcgiError) as e:
    got = 'error: %r' % e
is_(got, (200, b'echo a2'), 'A: a second request on the same kept connection')

# three kept connections, requests round-robin, one thread (each new
# connection sends its first request as soon as it is open)
conns = [a]
bad = []
for rnd in range(20):
    for k in range(3):
        if k == len(conns):
            conns.append(FcgiConn(r.addr, timeout=10))
        c = conns[k]
        q = 'r%dc%d' % (rnd, k)
        try:
            res = c.request(params('GET', '/echo?' + q), keep_conn=True, req_id=1 + rnd % 3)
            if (res.status, res.body) != (200, b'echo ' + q.encode()):
                bad.append((q, res.status, res.body))
        except (OSError, FcgiError) as e:
            bad.append((q, repr(e)))
    if len(bad) > 5:
        break
is_(bad, [], '3 kept connections served round-robin by 1 thread, 20 rounds')
for c in conns:
    c.close()

# a client that connects and sends nothing (yet) must not pin the only
# thread either: from the server's side it is just like an idle kept
# connection
silent = connect(r.addr, timeout=10)
time.sleep(0.2)  # let the responder see the new connection first
t0 = time.monotonic()
try:
    resb = fcgi_request(r.addr, 'GET', '/echo?c1', params=SERVER, timeout=5)
    got = (resb.status, resb.body)
except (OSError, FcgiError) as e:
    got = 'error: %r' % e
secs = time.monotonic() - t0
is_(got, (200, b'echo c1'), 'a request is answered while another client is connected but silent (1 thread)')
ok(secs < 2, '... promptly: %.2fs (< 2 s)' % secs, got=secs, expected='< 2')
silent.close()

# an idle kept connection that the client closes is dropped cleanly
c = FcgiConn(r.addr, timeout=10)
c.request(params('GET', '/hello'), keep_conn=True)
c.close()
res = fcgi_request(r.addr, 'GET', '/hello', params=SERVER, timeout=5)
is_((res.status, res.body), (200, b'hello'), 'still serving after a client closed its idle kept connection')

# 200 sequential requests on one kept connection
bad = []
with FcgiConn(r.addr, timeout=10) as c:
    for i in range(200):
        last = i == 199
        try:
            res = c.request(params('GET', '/echo?n%d' % i), keep_conn=not last)
            if (res.status, res.body) != (200, b'echo n%d' % i):
                bad.append((i, res.status, res.body))
        except (OSError, FcgiError) as e:
            bad.append((i, repr(e)))
            break
        if len(bad) > 5:
            break
    is_(bad, [], '200 sequential requests on one keep-conn connection all succeed')
    try:
        eof = c.read_record(timeout=5) is None
    except (OSError, FcgiError) as e:
        eof = repr(e)
    is_(eof, True, 'the server closes the connection after a request without FCGI_KEEP_CONN')

is_(r.stop(), 0, '--threads 1 responder stops with 0')
check_log_clean(r)

done_testing()
