#!/usr/bin/env python3
# Signals the worker handles (HUP, USR1, USR2: logged and ignored by a lone
# responder) delivered straight to the thread that is reading a request's
# body, many times a second: the request must not
# notice. (With SO_RCVTIMEO on the socket, Linux returns EINTR whatever
# SA_RESTART says, and libfcgi failed the read: the app got OSError
# mid-upload.)
import ctypes
import hashlib
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

libc = ctypes.CDLL(None, use_errno=True)
SYS_tgkill = 234  # x86_64


def tgkill_all(pid, sig):
    """The signal to every thread of pid, each as a thread-directed one."""
    try:
        tids = [int(t) for t in os.listdir('/proc/%d/task' % pid)]
    except OSError:
        return
    for tid in tids:
        libc.syscall(SYS_tgkill, pid, tid, sig)


class Pelter:
    """Sends HUP, USR1 and USR2 to every thread of pid every 2 ms until
    stopped (bounded by its own deadline)."""

    def __init__(self, pid, seconds=30):
        self.pid, self.sent, self.done = pid, 0, threading.Event()
        self.deadline = time.monotonic() + seconds
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        sigs = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
        while not self.done.is_set() and time.monotonic() < self.deadline:
            tgkill_all(self.pid, sigs[self.sent % 3])
            self.sent += 1
            time.sleep(0.002)

    def stop(self):
        self.done.set()
        self.t.join()


r = start_responder(app_path('slow_app.wsgi'), threads=2, log_level='notice')
body = os.urandom(4 << 20)
sha = hashlib.sha1(body).hexdigest()

# An upload that trickles in: the request thread waits for the body again
# and again while the signals land on it.
p = Pelter(r.pid)
chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)]


def slow_chunks():
    for i, c in enumerate(chunks):
        if i % 4 == 0:
            time.sleep(0.02)
        yield c


with FcgiConn(r.addr, timeout=60) as c:
    res = c.request(cgi_params('POST', '/upload', body=body), stdin_chunks=slow_chunks())
p.stop()
diag('%d signals sent during the upload' % p.sent)
ok(p.sent > 100, 'signals were sent throughout (%d)' % p.sent)
is_(res.status, 200, 'a trickled 4 MiB upload under signals: 200')
try:
    got = json.loads(res.body)
except ValueError:
    got = res.body[:200]
is_(got, {'len': len(body), 'sha1': sha}, 'the app read the whole body')

res = fcgi_request(r.addr, 'GET', '/hello')
is_(res.status, 200, 'the responder still serves')
r.stop()
check_log_clean(r)
done_testing()
