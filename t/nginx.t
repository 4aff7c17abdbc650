#!/usr/bin/env python3
# A real nginx in front of fcgiwsgi-responder (fastcgi_pass): the CGI
# environ the app sees (SCRIPT_NAME/PATH_INFO under a mount and at /,
# methods, bodies, headers), response headers and bodies that reach the
# client, upstream keepalive with fastcgi_keep_conn, and unbuffered chunked
# uploads.
import hashlib
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

if not os.access('/usr/sbin/nginx', os.X_OK):
    skip_all('nginx not installed')

APP = app_path('web_env.wsgi')

# R1: mounted at /app on a unix socket; R2: at / over TCP; R3: /ka behind an
# upstream block with keepalive.
r1 = start_responder(APP, '--mount', '/app', threads=2)
tcp_port = free_port()
r2 = start_responder(APP, threads=2, listen=('127.0.0.1', tcp_port))
r3 = start_responder(APP, '--mount', '/ka', threads=2)
port2 = free_port()

conf = '''
    client_max_body_size 100m;
    upstream ka_up {
        server unix:%(sock3)s;
        keepalive 8;
    }
    server {
        listen 127.0.0.1:@PORT@;
        server_name localhost;
        location /app {
            include fastcgi_params;
            fastcgi_pass unix:%(sock1)s;
        }
        location /app/_stream {
            include fastcgi_params;
            fastcgi_request_buffering off;
            fastcgi_pass unix:%(sock1)s;
        }
        location /ka/ {
            include fastcgi_params;
            fastcgi_keep_conn on;
            fastcgi_pass ka_up;
        }
    }
    server {
        listen 127.0.0.1:%(port2)d;
        server_name localhost;
        location / {
            include fastcgi_params;
            fastcgi_pass 127.0.0.1:%(tcp_port)d;
        }
    }
''' % {'sock1': r1.addr, 'sock3': r3.addr, 'port2': port2, 'tcp_port': tcp_port}
ng = start_nginx(conf)
wait_socket(('127.0.0.1', port2), timeout=10, proc=ng)
A1 = ('127.0.0.1', ng.port)
A2 = ('127.0.0.1', port2)


def env_of(addr, method, path, body=None, headers=None):
    """(HttpResponse, environ dict or None)."""
    res = http_request(addr, method, path, body=body, headers=headers, timeout=60)
    try:
        env = json.loads(res.body)
    except ValueError:
        env = None
    return res, env


def sha1(data):
    return hashlib.sha1(data).hexdigest()


# --------------------------------------------------- mounted at /app (unix)
CAFE = 'café'.encode('utf-8').decode('latin-1')
cases = [
    ('/app', ''),
    ('/app/', '/'),
    ('/app/x/y', '/x/y'),
    ('/app/a%20b', '/a b'),
    ('/app/x%2Fy', '/x/y'),
    ('/app/caf%C3%A9', '/' + CAFE),
    ('/app//x/../y', '/y'),
]
for path, want in cases:
    res, env = env_of(A1, 'GET', path)
    got = env and (env.get('SCRIPT_NAME'), env.get('PATH_INFO'))
    is_((res.status, got), (200, ('/app', want)),
        'GET %s: SCRIPT_NAME /app, PATH_INFO %r' % (path, want))

res, env = env_of(A1, 'GET', '/app/x?q=1&r=%20')
env = env or {}
is_((res.status, env.get('SCRIPT_NAME'), env.get('PATH_INFO'), env.get('QUERY_STRING')),
    (200, '/app', '/x', 'q=1&r=%20'), 'query: PATH_INFO without it, QUERY_STRING intact')
is_(env.get('REQUEST_URI'), '/app/x?q=1&r=%20', 'REQUEST_URI passed as the client sent it')

res, env = env_of(A1, 'GET', '/app/info', headers={'X-Custom': 'hello there', 'User-Agent': 'fwtest'})
env = env or {}
is_(env.get('REMOTE_ADDR'), '127.0.0.1', 'REMOTE_ADDR 127.0.0.1')
is_(env.get('HTTP_X_CUSTOM'), 'hello there', 'X-Custom header arrives as HTTP_X_CUSTOM')
is_(env.get('HTTP_USER_AGENT'), 'fwtest', 'User-Agent arrives as HTTP_USER_AGENT')
is_(env.get('REQUEST_METHOD'), 'GET', 'REQUEST_METHOD GET')
is_((env.get('SERVER_NAME'), env.get('SERVER_PORT')), ('localhost', str(ng.port)),
    'SERVER_NAME and SERVER_PORT from nginx')
ok('CONTENT_LENGTH' not in env and 'CONTENT_TYPE' not in env,
   'GET: the empty CONTENT_LENGTH and CONTENT_TYPE nginx sends are removed',
   got={k: env.get(k) for k in ('CONTENT_LENGTH', 'CONTENT_TYPE') if k in env}, expected={})
is_(env.get('fw.body_len'), 0, 'GET: empty wsgi.input')

for method in ('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'):
    res, env = env_of(A1, method, '/app/m')
    is_((res.status, (env or {}).get('REQUEST_METHOD')), (200, method), 'REQUEST_METHOD %s' % method)

res = http_request(A1, 'HEAD', '/app/m')
is_((res.status, res.body), (200, b''), 'HEAD: 200 and no body')
like(res.header('Content-Type') or '', r'application/json', 'HEAD: headers of the GET')
ok(res.header('Content-Length') not in (None, '0'),
   'HEAD: the Content-Length of the GET body', got=res.header('Content-Length'))

for size in (0, 1024 * 1024, 10 * 1024 * 1024):
    data = os.urandom(size)
    res, env = env_of(A1, 'POST', '/app/upload', body=data,
                      headers={'Content-Type': 'application/octet-stream'})
    env = env or {}
    is_((res.status, env.get('CONTENT_LENGTH'), env.get('fw.body_len'), env.get('fw.body_sha1')),
        (200, str(size), size, sha1(data)), 'POST %d bytes arrives intact (CONTENT_LENGTH, sha1)' % size)
is_(env.get('CONTENT_TYPE'), 'application/octet-stream', 'POST: CONTENT_TYPE passed')

res = http_request(A1, 'GET', '/app/_cookies')
is_((res.status, res.header_all('Set-Cookie')), (200, ['a=1; Path=/', 'b=2; Path=/']),
    'two Set-Cookie headers reach the client')
res = http_request(A1, 'GET', '/app/_204')
is_((res.status, res.body), (204, b''), '204: no body')
ok(res.header('Content-Length') in (None, '0') and res.header('Transfer-Encoding') is None,
   '204: no Content-Length body framing', got=res.headers)

# ------------------------------------------------ unbuffered chunked upload
STREAM = 3 * 1024 * 1024
stream_data = os.urandom(STREAM)


def chunks(data, size=65536):
    for i in range(0, len(data), size):
        yield data[i:i + size]


res, env = env_of(A1, 'POST', '/app/_stream', body=chunks(stream_data),
                  headers={'Content-Type': 'application/octet-stream'})
env = env or {}
is_(res.status, 200, 'chunked 3 MB upload with fastcgi_request_buffering off: 200')
is_(env.get('PATH_INFO'), '/_stream', '... reaches the app under the mount')
ok('CONTENT_LENGTH' not in env, '... with no CONTENT_LENGTH in the environ',
   got=env.get('CONTENT_LENGTH'), expected='absent')
is_((env.get('fw.body_len'), env.get('fw.body_sha1')), (STREAM, sha1(stream_data)),
    '... the app reads wsgi.input to the end: length and sha1 match')

res, env = env_of(A1, 'POST', '/app/buffered', body=chunks(stream_data))
env = env or {}
is_((res.status, env.get('CONTENT_LENGTH'), env.get('fw.body_len'), env.get('fw.body_sha1')),
    (200, str(STREAM), STREAM, sha1(stream_data)),
    'chunked 3 MB upload with request buffering on: nginx sets CONTENT_LENGTH, body intact')

# ---------------------------------------------------- at / over TCP
for path, want in (('/', '/'), ('/x/y', '/x/y'), ('/a%20b', '/a b'), ('/app/x', '/app/x'),
                   ('/x//y/./z', '/x/y/z')):
    res, env = env_of(A2, 'GET', path)
    got = env and (env.get('SCRIPT_NAME'), env.get('PATH_INFO'))
    is_((res.status, got), (200, ('', want)), 'at / over TCP: GET %s: SCRIPT_NAME \'\', PATH_INFO %r'
        % (path, want))
data = os.urandom(300000)
res, env = env_of(A2, 'PUT', '/put', body=data)
env = env or {}
is_((res.status, env.get('REQUEST_METHOD'), env.get('fw.body_len'), env.get('fw.body_sha1')),
    (200, 'PUT', len(data), sha1(data)), 'at / over TCP: PUT body intact')

# ------------------------------------- upstream keepalive + fastcgi_keep_conn


def echo(i, tag):
    try:
        res = http_request(A1, 'GET', '/ka/_echo?%s%d' % (tag, i), timeout=20)
        return (res.status, res.body)
    except OSError as e:
        return repr(e)


bad = []
t0 = time.monotonic()
for i in range(300):
    got = echo(i, 's')
    if got != (200, b'echo s%d' % i):
        bad.append((i, got))
        if len(bad) > 5:
            break
is_(bad, [], '300 sequential requests through keepalive upstream: all 200 with the right body')
diag('300 sequential requests in %.2fs' % (time.monotonic() - t0))


def conn_count(proc):
    """Open sockets of proc, minus its listening socket."""
    n = 0
    for fd in os.listdir('/proc/%d/fd' % proc.pid):
        try:
            if os.readlink('/proc/%d/fd/%s' % (proc.pid, fd)).startswith('socket:'):
                n += 1
        except OSError:
            pass
    return n - 1


kept = conn_count(r3)
ok(1 <= kept <= 8, 'the responder holds nginx\'s idle kept connections open (%d)' % kept,
   got=kept, expected='1..8')

errors = []
lock = threading.Lock()


def client(k):
    for i in range(100):
        got = echo(i, 'p%d_' % k)
        if got != (200, b'echo p%d_%d' % (k, i)):
            with lock:
                errors.append((k, i, got))
            if len(errors) > 10:
                return


threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
t0 = time.monotonic()
for t in threads:
    t.start()
for t in threads:
    t.join(60)
is_(errors, [], '4 parallel clients x 100 requests through keepalive upstream: all 200, right bodies')
ok(not any(t.is_alive() for t in threads), 'the parallel clients finished in time')
diag('4 x 100 parallel requests in %.2fs' % (time.monotonic() - t0))
kept = conn_count(r3)
ok(1 <= kept <= 8, 'after the parallel run, at most keepalive (8) idle kept connections (%d)' % kept,
   got=kept, expected='1..8')

# ------------------------------------------------------------- logs
res = http_request(A1, 'GET', '/app/final')
is_(res.status, 200, 'still serving at the end')
bad_lines = nginx_bad_log_lines(ng)
is_(bad_lines, [], 'nginx error.log has no [crit]/[alert]/[emerg]')
with open(ng.error_log, errors='replace') as f:
    upstream_errors = [ln for ln in f if '[error]' in ln]
is_(upstream_errors, [], 'nginx error.log has no [error] (no upstream failures)')
ng.stop()
for name, r in (('mounted /app', r1), ('at / over TCP', r2), ('keepalive /ka', r3)):
    is_(r.stop(), 0, '%s responder stops with 0' % name)
    unlike(r.output(), r'Traceback', '%s responder: no traceback' % name)
    check_log_clean(r, '%s responder: log clean' % name)

done_testing()
