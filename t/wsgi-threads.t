#!/usr/bin/env python3
# Threads an app starts that use the request's streams (issue 14, item 1):
# wsgi.input read by a thread pool and by two threads at once, write()
# from a thread while the gateway iterates, and threads that are still
# reading or writing when the request ends. During the request they must
# work; after it they must get a clear Python exception; the worker never
# touches freed state (run under ASan) and serves on.
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

APP = os.path.join(tmpdir(), 'threads.wsgi')
with open(APP, 'w') as f:
    f.write('''
import concurrent.futures
import hashlib
import threading
import time

results = {}
cond = threading.Condition()


def record(key, what):
    with cond:
        results[key] = what
        cond.notify_all()


def describe(e):
    return '%s: %s' % (type(e).__name__, e)


def application(environ, start_response):
    path = environ['PATH_INFO']
    key = environ['QUERY_STRING']
    inp = environ['wsgi.input']
    if path == '/pool-read':
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            data = ex.submit(inp.read).result()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [hashlib.sha1(data).hexdigest().encode()]
    if path == '/two-readers':
        got = [0, 0]
        def reader(i):
            while True:
                b = inp.read(997)
                if not b:
                    return
                got[i] += len(b)
        ts = [threading.Thread(target=reader, args=(i,)) for i in (0, 1)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'%d' % sum(got)]
    if path == '/late-read':
        # The thread blocks in read() (the client holds the body back)
        # while the request returns.
        def late():
            try:
                data = inp.read()
                record(key, 'data %d' % len(data))
            except Exception as e:
                record(key, describe(e))
            time.sleep(1)  # the request is over by now
            try:
                inp.read(1)
                record(key + '-after', 'no exception')
            except Exception as e:
                record(key + '-after', describe(e))
        threading.Thread(target=late).start()
        time.sleep(0.1)
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'ok']
    if path == '/thread-write':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        def writer():
            n = 0
            try:
                while True:
                    write(b'w' * 3000)
                    n += 1
            except Exception as e:
                record(key, 'wrote %d, then %s' % (n, describe(e)))
        t = threading.Thread(target=writer)
        t.start()
        def gen():
            for i in range(40):
                yield b'g' * 20000
        return gen()
    if path == '/result':
        with cond:
            cond.wait_for(lambda: key in results, timeout=20)
            body = results.get(key, 'no result').encode()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [body]
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
''')

r = start_responder(APP, threads=2)


def result(key):
    return fcgi_request(r.addr, 'GET', '/result?' + key).body.decode()


body = os.urandom(300000)
import hashlib  # noqa: E402
res = fcgi_request(r.addr, 'POST', '/pool-read', body=body)
is_(res.body.decode(), hashlib.sha1(body).hexdigest(),
    'a thread pool reads the whole upload during the request')

for i in range(5):
    res = fcgi_request(r.addr, 'POST', '/two-readers', body=body,
                       stdin_chunks=[body[j:j + 50000] for j in range(0, len(body), 50000)])
    if res.body != b'%d' % len(body):
        break
is_(res.body.decode(), str(len(body)), 'two threads reading one body share it, '
    'every byte once (5 rounds)')

# A thread still blocked in read() when the request ends: the client sends
# the rest of the body only after the response.
for i in range(5):
    key = 'late%d' % i
    params = cgi_params('POST', '/late-read?' + key, b'x' * 200000)
    with FcgiConn(r.addr) as c:
        c.send_raw(begin_request(1) + records(FCGI_PARAMS, 1, encode_params(params)) +
                   records(FCGI_STDIN, 1, b'x' * 1000, end=False))
        # The app returns at once; the request thread then drains the body
        # while the app's thread is still in read().
        time.sleep(0.4)
        out = None
        try:
            c.send_raw(records(FCGI_STDIN, 1, b'x' * 199000))
            rec = c.read_record(timeout=10)
            while rec and rec[0] != FCGI_END_REQUEST:
                rec = c.read_record(timeout=10)
            out = rec
        except Exception as e:  # noqa: BLE001
            out = e
    if not out or isinstance(out, Exception):
        break
ok(out and not isinstance(out, Exception) and out[0] == FCGI_END_REQUEST,
   'a thread blocked in wsgi.input.read(): the request still ends (5 rounds)', got=out)
like(result('late0'), r'^(data \d+|\w+Error: .*)$', '... the thread gets data or an exception')
like(result('late0-after'), r'^\w+Error: .*request', '... and reading after the end raises '
     'a clear exception')

for i in range(10):
    key = 'write%d' % i
    try:
        res = fcgi_request(r.addr, 'GET', '/thread-write?' + key, timeout=20)
        fine = res.status == 200
    except FcgiError as e:
        res, fine = e, False
    if not fine:
        break
ok(fine, 'write() from a thread while the gateway iterates: valid FastCGI records '
   '(10 rounds)', got=res)
like(result('write0'), r'^wrote \d+, then \w+Error: .*request',
     "... and the thread's write() after the end raises a clear exception")

is_(fcgi_request(r.addr, 'GET', '/').status, 200, 'the worker serves on')
ok(r.alive(), 'the responder did not crash')
r.stop()
check_log_clean(r)
done_testing()
