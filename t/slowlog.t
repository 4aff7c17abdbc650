#!/usr/bin/env python3
# slowlog_timeout (issue 17, "Slow log"): an app call still running past it
# gets its Python stack logged once, at warn, with its method and URI, and
# runs on to its normal answer; with request_timeout it is the warning
# before the interrupt; a call under it logs nothing. Through the responder
# (--slowlog-timeout) and through the manager (the pool key reaches its
# workers).
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

APP = app_path('slowlog_app.wsgi')
PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
SLOW = r'warn .*GET (%s): slow: the app has run for (\d+) ms, past slowlog_timeout \((\d+) ms\)'


def get(addr, uri, timeout=30):
    try:
        return fcgi_request(addr, 'GET', uri, params=PARAMS, timeout=timeout)
    except (FcgiError, OSError) as e:
        return e


def slow_lines(p, uri):
    return re.findall(SLOW % re.escape(uri), p.output())


def stack_of(p, uri):
    """The stack lines logged for uri's slow call."""
    tag = 'stack (slow request GET %s)' % uri
    return [ln for ln in p.output().splitlines() if tag in ln]


r = start_responder(APP, '--slowlog-timeout', '300ms', threads=3)
t0 = time.monotonic()
res = get(r.addr, '/sleep/1.2')
took = time.monotonic() - t0
is_((getattr(res, 'status', res), getattr(res, 'body', None)), (200, b'done'),
    'a call past slowlog_timeout runs on to its normal answer')
ok(took >= 1.1, 'and is not cut short (%.2f s for a 1.2 s call)' % took)
wait_for(lambda: stack_of(r, '/sleep/1.2'), timeout=5, what='its stack')
lines = slow_lines(r, '/sleep/1.2')
is_(len(lines), 1, 'one slow line for the call, not one a tick')
if lines:
    ms = int(lines[0][1])
    ok(300 <= ms < 1000, 'logged when it passed 300 ms (at %d ms)' % ms)
stack = '\n'.join(stack_of(r, '/sleep/1.2'))
like(stack, r'in sleeping_in_c', 'its stack names the function the request is in')
like(stack, re.escape(APP) + r'", line \d+', 'with the file and line')
like(stack, r'warn .*stack \(slow request GET /sleep/1\.2\)', 'at warn, tagged with the request')

# two slow calls at once: each its own line and stack
ths = [threading.Thread(target=get, args=(r.addr, u)) for u in ('/sleep/0.8', '/spin/0.8')]
for t in ths:
    t.start()
for t in ths:
    t.join(30)
wait_for(lambda: stack_of(r, '/sleep/0.8') and stack_of(r, '/spin/0.8'), timeout=5,
         what='both stacks')
is_((len(slow_lines(r, '/sleep/0.8')), len(slow_lines(r, '/spin/0.8'))), (1, 1),
    'two slow calls at once: one line each')
like('\n'.join(stack_of(r, '/spin/0.8')), r'in spinning_in_python',
     'the spinning one shows the Python loop it is in')

res = get(r.addr, '/sleep/0.05')
is_(getattr(res, 'status', res), 200, 'a quick call is answered')
time.sleep(0.5)
is_(slow_lines(r, '/sleep/0.05'), [], 'and logs no slow line')
r.stop()

# with request_timeout: the slow stack first, then the interrupt
r = start_responder(APP, '--slowlog-timeout', '200ms', '--request-timeout', '800ms', threads=1)
res = get(r.addr, '/spin/5')
is_(getattr(res, 'status', res), 504, 'past request_timeout as well: 504')
out = r.output()
i_slow = out.find('GET /spin/5: slow: the app has run for')
i_to = out.find('past request_timeout')
ok(0 <= i_slow < i_to, 'the slow line comes before the request_timeout line')
is_(len(slow_lines(r, '/spin/5')), 1, 'once')
is_(getattr(get(r.addr, '/'), 'status', None), 200, 'the worker serves on')
r.stop()

p = subprocess.run(
    [program('fcgiwsgi-responder'), '--slowlog-timeout', 'soon', APP], capture_output=True, text=True)
isnt(p.returncode, 0, '--slowlog-timeout soon: refused')
like(p.stderr, r'--slowlog-timeout soon: expected a duration', 'with what it expected')

# the pool key reaches the workers
sock = sock_path('slow.sock')
cfg = manager_config('''  slow:
    listen: %s
    processes: 1
    threads: 2
    slowlog_timeout: 250ms
    allow_root: true
    apps: [{mount: /, script: %s}]
''' % (sock, APP), name='slow.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: 'starting -> running' in m.output(), timeout=30, what='worker ready')
is_(getattr(get(sock, '/sleep/0.7'), 'status', None), 200, 'manager: the slow call is answered')
wait_for(lambda: stack_of(m, '/sleep/0.7'), timeout=5, what='its stack in the manager log')
like('\n'.join(stack_of(m, '/sleep/0.7')), r'\[pool slow pid \d+\].*in sleeping_in_c',
     "manager: the pool's worker logged the stack")
is_(len(slow_lines(m, '/sleep/0.7')), 1, 'manager: one slow line')
m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
done_testing()
