#!/usr/bin/env python3
# Connection-layer hazards a review found (each failed before its fix):
#   1. bytes a client sent after its request (pipelined garbage, or a
#      pipelined request on the same id) while a slow response was written
#      left a thread spinning on a dead parser and the worker unstoppable;
#   2. bytes left in a request thread's input buffer by a connection it
#      closed were parsed as the start of the next connection it took;
#   3. a half-sent request with client_timeout 0 kept a stopping worker
#      alive for ever.
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

APP = os.path.join(tmpdir(), 'hazard.wsgi')
with open(APP, 'w') as f:
    f.write('''import time
def application(environ, start_response):
    uri = environ.get('REQUEST_URI', '')
    if uri.startswith('/slow'):
        time.sleep(0.2)
    body = ('uri=%s\\n' % uri).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
''')


def req(rid, uri, keep=False):
    return (begin_request(rid, keep_conn=keep)
            + records(FCGI_PARAMS, rid, encode_params(cgi_params('GET', uri)))
            + record(FCGI_STDIN, rid, b''))


def read_for(sock, secs):
    sock.settimeout(secs)
    out = b''
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                break
            out += d
    except (socket.timeout, ConnectionResetError):
        pass
    return out


def cpu_ticks(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return int(fields[11]) + int(fields[12])


def stops_within(r, secs):
    r.proc.send_signal(signal.SIGTERM)
    try:
        r.proc.wait(secs)
        return True
    except Exception:
        return False


# 1. garbage and a pipelined request after a slow request on a kept connection
for name, tail in (('a header of version 2', b'\x02' + b'\0' * 7 + b'xx'),
                   ('a pipelined request on the same id', req(1, '/next', keep=True))):
    r = start_responder(APP, threads=1)
    a = connect(r.addr)
    a.sendall(req(1, '/slow', keep=True) + tail)
    got = read_for(a, 1.5)
    ok(b'uri=/slow' in got, '%s: the slow request is answered' % name, got=got[:80])
    cant_mpx = bytes([1, FCGI_END_REQUEST, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, FCGI_CANT_MPX_CONN])
    ok(cant_mpx not in got, '%s: no CANT_MPX_CONN for the request in flight' % name,
       got=got[:200])
    t0 = cpu_ticks(r.pid)
    time.sleep(1)
    spent = cpu_ticks(r.pid) - t0
    ok(spent < 50, '%s: no thread spins afterwards (%d ticks in 1 s)' % (name, spent))
    res = fcgi_request(r.addr, 'GET', '/other', timeout=3)
    is_(res.status, 200, '%s: another connection is served' % name)
    a.close()
    ok(stops_within(r, 5), '%s: the worker stops on SIGTERM' % name)

# 2. leftovers of a refused connection never reach the next one
r = start_responder(APP, threads=1)
a = connect(r.addr)
a.sendall(begin_request(7, role=FCGI_AUTHORIZER) + req(9, '/FORGED'))
read_for(a, 1)
a.close()
b = connect(r.addr)
got = read_for(b, 1)
is_(got, b'', 'a new connection that sent nothing is sent nothing')
b.sendall(req(1, '/mine'))
got = read_for(b, 2)
unlike(got, rb'FORGED', 'and its own request gets its own answer')
like(got, rb'uri=/mine', '(uri=/mine)')
b.close()
ok(stops_within(r, 5), 'the worker stops')

# 3. a stopping worker does not wait for ever for the rest of a request
r = start_responder(APP, '--client-timeout', '0', threads=2)
a = connect(r.addr)
a.sendall(begin_request(1, keep_conn=True)[:5])
time.sleep(0.3)
t0 = time.monotonic()
ok(stops_within(r, 15), 'client_timeout 0, a half-sent header: the worker stops within 15 s (%.1f s)'
   % (time.monotonic() - t0))
a.close()
done_testing()
