#!/usr/bin/env python3
# When `fcgiwsgi-ctl restart` returns, the old generation takes no more
# connections: the master ends a recycle only once every old worker has
# said it stopped accepting, not when it was sent its SIGTERM (a request
# made right after `restart` returned could reach an old worker in the
# moment before it read the signal: t/deploy.t saw the old release served,
# 1 run in 10).
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
ROUNDS = 8
d = tmpdir()
script = os.path.join(d, 'gen.wsgi')
with open(script, 'w') as f:
    f.write('def application(environ, start_response):\n'
            "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
            "    return [b'%d' % environ['fcgiwsgi.generation']]\n")
sock = sock_path('ret.sock')
cfg = manager_config('''  ret:
    listen: %s
    processes: 4
    threads: 2
    watch_scripts: false
    allow_root: true
    apps: [{mount: /, script: %s}]
''' % (sock, script), name='ret.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: m.output().count('starting -> running') >= 4, timeout=30, what='workers ready')

# Clients keep every worker busy, so old ones are in the middle of
# accepting when the restart's SIGTERMs go out.
stop = threading.Event()


def hammer():
    while not stop.is_set():
        try:
            fcgi_request(sock, 'GET', '/', params=PARAMS, timeout=10)
        except (FcgiError, OSError):
            pass


bg = [threading.Thread(target=hammer, daemon=True) for _ in range(6)]
for t in bg:
    t.start()
stale = []
for gen in range(1, ROUNDS + 1):
    rc, out, err = ctl(cfg, 'restart', 'ret')
    if rc:
        diag('restart: %d %s%s' % (rc, out, err))
    got = []
    lock = threading.Lock()

    def probe():
        for _ in range(5):
            try:
                b = fcgi_request(sock, 'GET', '/', params=PARAMS, timeout=10).body
            except (FcgiError, OSError) as e:
                b = repr(e).encode()
            with lock:
                got.append(b)

    ps = [threading.Thread(target=probe) for _ in range(4)]
    for t in ps:
        t.start()
    for t in ps:
        t.join(30)
    bad = [b for b in got if b != b'%d' % gen]
    if bad:
        stale.append((gen, bad[:3]))
stop.set()
for t in bg:
    t.join(30)
is_(stale, [], 'after each of %d restarts, every new request is answered by the new '
    'generation' % ROUNDS)
like(m.output(), r'recycle done', 'the recycles ran')
m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
done_testing()
