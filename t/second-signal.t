#!/usr/bin/env python3
# A second stop signal while requests are still inside the app ends the
# process at once with _exit() (issue 14, item 9): returning from main()
# into exit() ran atexit handlers and library destructors under threads
# that were still in Python. An app's C atexit handler (one that writes a
# file, here) must not run then; the first signal stays graceful.
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

APP = app_path('exit_hook.wsgi')


def slow_request(addr, secs, out):
    try:
        out['res'] = fcgi_request(addr, 'GET', '/sleep?%s' % secs, timeout=60)
    except Exception as e:  # the connection cut by the exit
        out['res'] = 'error: %s' % e


def start(marker=None):
    return start_responder(APP, '--application-group', '%{GLOBAL}', threads=2,
                           env={'FW_EXIT_MARKER': marker})


# The first signal is graceful: the request finishes, the process exits 0.
r = start()
out = {}
th = threading.Thread(target=slow_request, args=(r.addr, 1, out))
th.start()
wait_log(r, r'sleeping 1')
r.signal(signal.SIGTERM)
rc = r.wait(15)
th.join(15)
is_(rc, 0, 'one SIGTERM during a request: exit status 0')
res = out.get('res')
is_(getattr(res, 'status', res), 200, '... after the request was answered')
check_log_clean(r)

# A second signal: out now, with no atexit handler and no crash.
marker = os.path.join(tmpdir(), 'second.marker')
r = start(marker)
out = {}
th = threading.Thread(target=slow_request, args=(r.addr, 30, out))
th.start()
wait_log(r, r'sleeping 30')
r.signal(signal.SIGTERM)
wait_log(r, r'stopping')
t0 = time.monotonic()
r.signal(signal.SIGTERM)
rc = r.wait(10)
elapsed = time.monotonic() - t0
is_(rc, 1, 'a second SIGTERM during a request in Python: exit status 1')
ok(rc is not None and elapsed < 3, '... within 3 s (%.2f s; the request had 30 s left)' % elapsed)
ok(not os.path.exists(marker), "... without running the app's atexit handler",
   got=open(marker).read() if os.path.exists(marker) else None, expected=None)
like(r.output(), r'second stop signal', 'the log says why')
ok(not os.path.exists(r.addr), 'the socket the responder made is removed')
th.join(15)
ok(not th.is_alive(), 'the cut request sees its connection closed', got=out)
check_log_clean(r)
done_testing()
