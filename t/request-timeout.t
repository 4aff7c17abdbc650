#!/usr/bin/env python3
# request_timeout (issue 14, item 2): the clock is the app's own time (a
# slow upload does not trip it); an app past it is interrupted with
# fcgiwsgi.RequestTimeout in its own thread, answered 504, and the worker
# serves on; a call that cannot be interrupted (blocked in C, or C code
# holding the GIL) is answered 504 and its worker stops accepting at once,
# lets its other requests finish within graceful_timeout and exits; the
# one blamed is the one that ran longest; and a worker never outlives its
# master by more than graceful_timeout.
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
sock = sock_path('to.sock')
cfg = manager_config('''  to:
    listen: %s
    processes: 1
    threads: 4
    request_timeout: 1s
    graceful_timeout: 4s
    allow_root: true
    apps:
      - {mount: /, script: %s}
''' % (sock, app_path('timeout_app.wsgi')), name='timeout.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: 'starting -> running' in m.output(), timeout=30, what='worker ready')


def get(uri, timeout=60, **kw):
    try:
        return fcgi_request(sock, 'GET', uri, params=PARAMS, timeout=timeout, **kw)
    except (FcgiError, OSError) as e:
        return e


def status(res):
    return getattr(res, 'status', repr(res))


def trickle(data, pause, n):
    size = -(-len(data) // n)
    for i in range(0, len(data), size):
        time.sleep(pause)
        yield data[i:i + size]


def upload(data, pause, n):
    return fcgi_request(sock, 'POST', '/upload', params=dict(PARAMS, CONTENT_LENGTH=str(len(data))),
                        stdin_chunks=trickle(data, pause, n), timeout=60)


def in_background(uri, delay=0.0, body=None):
    out = {}

    def run():
        time.sleep(delay)
        out['t0'] = time.monotonic()
        try:
            out['res'] = get(uri) if body is None else upload(body, 0.3, 10)
        except (FcgiError, OSError) as e:
            out['res'] = e
        out['t1'] = time.monotonic()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def ready_count():
    return m.output().count('starting -> running')


pid0 = get('/').body

# 1. A slow upload: 2.4 s of client time, well over request_timeout.
body = b'u' * 65536
res = upload(body, 0.3, 8)
is_(status(res), 200, 'an upload trickling in for 2.4 s is not cut by a 1 s request_timeout')
is_(res.body.split()[1] if status(res) == 200 else None, b'65536', '... and the app read all of it')

# 2. A loop in Python: interrupted in its own thread; a bystander sleeping
# in the same worker completes; the worker is not replaced.
mark = len(m.output())
by, by_out = in_background('/sleep/0.8', delay=0.5)
t0 = time.monotonic()
res = get('/spin/30')
took = time.monotonic() - t0
is_(status(res), 504, 'a Python loop past request_timeout gets 504')
ok(took < 4, '... soon after the limit (%.2f s, limit 1 s)' % took)
by.join(20)
is_(status(by_out.get('res')), 200, 'a request sleeping in the same worker meanwhile completes')
out = m.output()[mark:]
like(out, r'GET /spin/30: the app has run for \d+ ms, past request_timeout \(1000 ms\)',
     'the log names the request that ran too long')
like(out, r'(?s)GET /spin/30: interrupted past request_timeout.*fcgiwsgi\.RequestTimeout',
     "... and shows the exception's traceback")
like(out, r'stack \(GET /spin/30\):.*in application', '... and its Python stack')
is_(get('/').body, pid0, 'the same worker serves on (not replaced)')
is_(ready_count(), 1, 'no worker was started in its place')

# 2b. The same loop after the response has begun: no 504 can be sent any
# more, so the response is cut (the client must not take it for whole),
# the interruption is logged, and the worker serves on.
mark = len(m.output())
res = get('/stream-spin/30')
body = getattr(res, 'body', b'')
# (Without FCGI_KEEP_CONN a broken response ends with a record header of
# version 0, which web servers take for an upstream error: README.)
ok(isinstance(res, FcgiError) and 'bad record version 0' in str(res),
   'a response interrupted after its first block is not passed off as whole',
   got=(status(res), body[:40]))
like(m.output()[mark:], r'GET /stream-spin/30: interrupted past request_timeout',
     '... the interruption is logged')
is_(get('/').body, pid0, '... and the same worker serves on')

# 3. A sleep in C: the exception cannot land; 504 after the unwind grace,
# the worker stops accepting, its other request finishes, a new worker
# serves what comes next.
mark = len(m.output())
# The bystander is in flight when the verdict comes (about 6 s in), and its
# time is the client's (an upload trickling for 3 s), not the app's.
by, by_out = in_background('/upload', delay=4.5, body=b'b' * 20000)
t0 = time.monotonic()
res = get('/sleep/60')
took = time.monotonic() - t0
is_(status(res), 504, 'a call blocked in C past request_timeout gets 504')
ok(took < 1 + 5 + 3, '... after the unwind grace (%.2f s)' % took)
after = get('/')
ok(status(after) == 200 and after.body != pid0, 'a request after that is served by a new worker',
   got=(status(after), getattr(after, 'body', None), pid0))
by.join(20)
is_(status(by_out.get('res')), 200, "the stuck worker's other request completes within "
    'graceful_timeout')
wait_log(m, r'exited \(exit status 4\)', timeout=15, after=mark)
like(m.output()[mark:], r'GET /sleep/60: stuck for \d+ ms of app time; it did not unwind',
     'the log says why the worker stops')
pid1 = after.body

# 4. C code holding the GIL, and an innocent request that arrived after it
# and waits for the GIL: the hog is blamed and answered, the innocent one is
# not blamed; the worker stops accepting and exits within graceful_timeout.
mark = len(m.output())
inn, inn_out = in_background('/', delay=0.3)
t0 = time.monotonic()
res = get('/hog', timeout=30)
took = time.monotonic() - t0
is_(status(res), 504, 'a regex holding the GIL past request_timeout gets 504')
ok(took < 1 + 1 + 2, '... without waiting for the unwind grace (%.2f s)' % took)
t_verdict = time.monotonic()
after = get('/')
ok(status(after) == 200 and after.body not in (pid0, pid1), 'the next request is served by a '
   'new worker', got=(status(after), getattr(after, 'body', None)))
wait_log(m, r'exiting: (1 request stuck past request_timeout|requests still running after graceful_timeout)', timeout=15,
         after=mark)
ok(time.monotonic() - t_verdict < 4 + 3, 'the stuck worker exits within graceful_timeout')
inn.join(20)
out = m.output()[mark:]
unlike(out, r'GET / : |GET /: the app has run', 'the innocent request is not blamed')
ok(status(inn_out.get('res')) == 200 or re.search(r'GET /: cut after \d+ ms', out),
   'the innocent request completes, or is logged as cut', got=status(inn_out.get('res')))

# 5. The master dies while a worker is stuck holding the GIL: the worker
# exits within graceful_timeout.
wait_for(lambda: status(get('/')) == 200, timeout=20, what='a worker again')
mark = len(m.output())
hog, hog_out = in_background('/hog')
time.sleep(0.5)
wait_for(lambda: 'the app has run' in m.output()[mark:], timeout=10, what='the hog noticed')
m_out = re.findall(r'\[pool to pid (\d+)\] starting -> running', m.output())
worker_pid = int(m_out[-1]) if m_out else None
os.kill(m.pid, signal.SIGKILL)
m.wait(10)
t0 = time.monotonic()
gone = wait_for(lambda: worker_pid is None or not os.path.exists('/proc/%d' % worker_pid)
                or open('/proc/%d/stat' % worker_pid).read().split()[2] == 'Z',
                timeout=20, what='the orphaned worker to exit')
ok(gone and time.monotonic() - t0 < 4 + 3, 'a worker stuck in C exits within graceful_timeout '
   'of its master dying (%.1f s)' % (time.monotonic() - t0))
check_log_clean(m)
done_testing()
