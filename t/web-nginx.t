#!/usr/bin/env python3
# nginx in front of the fcgiwsgi manager, through the shipped snippets:
# conf/snippets/nginx.conf (the app at /app on a unix socket, the one at /
# over TCP; included in a plain and in a TLS server block) and
# conf/snippets/nginx-keepconn.conf (the same with fastcgi_keep_conn,
# upstream keepalive and fastcgi_request_buffering off). For each, the
# environ matrix of fwtest.web_matrix at /app and at /; then chunked uploads
# buffered and unbuffered, kept connections held by the workers, and
# parallel clients through the kept connections.
import hashlib
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

if not os.access('/usr/sbin/nginx', os.X_OK):
    skip_all('nginx not installed')
APP = app_path('web_matrix.wsgi')
tls = web_tls_cert()
if not tls:
    diag('openssl missing: no TLS checks')

mgr, sock, fcgi_port = start_web_pools(APP)

# ------------------------------------------- nginx.conf: plain and TLS
ng, A, T = start_nginx_snippet('nginx.conf', tls, SOCKET=sock, FCGI_PORT=fcgi_port)
web_matrix(A, '/app', 'nginx', big=True, tls_addr=T, stream=True)
web_matrix(A, '', 'nginx', tls_addr=T, stream=True)
res, env = web_env(A, 'GET', '/apple')
is_(res.status, 404, 'nginx: /apple (location /app, outside the mount) is a 404')


def chunks(data, size=65536):
    for i in range(0, len(data), size):
        yield data[i:i + size]


data = os.urandom(3 << 20)
res, env = web_env(A, 'POST', '/app/chunked', body=chunks(data))
is_((res.status, env.get('CONTENT_LENGTH'), env.get('fw.body_len'), env.get('fw.body_sha1'),
     'HTTP_TRANSFER_ENCODING' in env),
    (200, str(len(data)), len(data), hashlib.sha1(data).hexdigest(), False),
    'nginx: chunked 3 MB upload, buffered: CONTENT_LENGTH set, body whole, '
    'no stale HTTP_TRANSFER_ENCODING')

# ------------------------------------------- nginx-keepconn.conf


def worker_pid(addr, prefix):
    return web_env(addr, 'GET', prefix + '/_proc')[1].get('pid')


kc_port = free_port()
kc = web_snippet('nginx-keepconn.conf', PORT=kc_port, SOCKET=sock, FCGI_PORT=fcgi_port)
app_pid, site_pid = worker_pid(A, '/app'), worker_pid(A, '')
base = {p: web_kept_sockets(p) for p in (app_pid, site_pid)}
ng2 = start_nginx('include %s;\n' % kc, port=kc_port)
K = ('127.0.0.1', kc_port)
web_matrix(K, '/app', 'nginx keep-conn', stream=True)
web_matrix(K, '', 'nginx keep-conn', big=True)
# One small request per upstream before counting: the streamed 50 MB ends
# with a client that closes the moment it has the last byte, and when that
# beats nginx to our FCGI_END_REQUEST, nginx takes it for a client abort
# and drops that upstream connection (seen once in a CI run: 0 kept).
web_env(K, 'GET', '/app/_proc')
web_env(K, 'GET', '/_proc')
kept = {p: web_kept_sockets(p) - base[p] for p in (app_pid, site_pid)}
ok(all(1 <= n <= 8 for n in kept.values()),
   'nginx keep-conn: each worker holds nginx\'s idle kept connections (1..8)', got=kept)

res, env = web_env(K, 'POST', '/app/chunked', body=chunks(data))
is_((res.status, 'CONTENT_LENGTH' in env, env.get('HTTP_TRANSFER_ENCODING'),
     env.get('wsgi.input_terminated'), env.get('fw.body_len'), env.get('fw.body_sha1')),
    (200, False, 'chunked', True, len(data), hashlib.sha1(data).hexdigest()),
    'nginx keep-conn: chunked 3 MB upload, unbuffered: no CONTENT_LENGTH, '
    'wsgi.input_terminated, read to the end')

errors = []
lock = threading.Lock()


def client(k):
    for i in range(60):
        prefix = '/app' if i % 2 else ''
        try:
            r = http_request(K, 'GET', '%s/_echo?c%d_%d' % (prefix, k, i), timeout=20)
            got = (r.status, r.body)
        except OSError as e:
            got = repr(e)
        if got != (200, b'echo c%d_%d' % (k, i)):
            with lock:
                errors.append((k, i, got))
            if len(errors) > 10:
                return


threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join(60)
is_(errors, [], 'nginx keep-conn: 4 parallel clients x 60 requests, all answered right')
kept = {p: web_kept_sockets(p) - base[p] for p in (app_pid, site_pid)}
ok(all(1 <= n <= 8 for n in kept.values()),
   'nginx keep-conn: after the parallel run, at most keepalive (8) kept connections', got=kept)

for h, name in ((ng, 'nginx'), (ng2, 'nginx keep-conn')):
    is_(nginx_bad_log_lines(h), [], '%s: error.log has no [crit]/[alert]/[emerg]' % name)
    with open(h.error_log, errors='replace') as f:
        is_([ln for ln in f if '[error]' in ln], [], '%s: error.log has no [error]' % name)
is_(mgr.stop(), 0, 'manager stops with 0')
check_log_clean(mgr, 'manager log clean')
unlike(mgr.output(), r'Traceback', 'manager: no traceback')
done_testing()
