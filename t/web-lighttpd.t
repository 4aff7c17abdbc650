#!/usr/bin/env python3
# lighttpd (mod_fastcgi) in front of fcgiwsgi, through the shipped snippets:
# conf/snippets/lighttpd.conf to the manager's pools (the app at /app on a
# unix socket, the one at / over TCP), and conf/snippets/lighttpd-spawn.conf,
# where lighttpd starts fcgiwsgi-responder itself (bin-path). For each, the
# environ matrix of fwtest.web_matrix at /app and at /: SCRIPT_NAME and
# PATH_INFO, QUERY_STRING, headers, methods, bodies up to 50 MB, a 50 MB
# streamed response with the worker's memory flat, cookies, 204/304, and
# wsgi.url_scheme https on lighttpd's TLS port.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

if not os.access(LIGHTTPD, os.X_OK):
    skip_all('lighttpd not installed')
APP = app_path('web_matrix.wsgi')
tls = web_tls_cert() if lighttpd_has_tls() else None
if not tls:
    diag('lighttpd-mod-openssl or openssl missing: no TLS checks')

# ------------------------------------------- to the manager's pools
mgr, sock, fcgi_port = start_web_pools(APP)
tls_port = free_port() if tls else None
lt = start_lighttpd('include "%s"\n' % web_snippet('lighttpd.conf', SOCKET=sock,
                                                   FCGI_PORT=fcgi_port),
                    tls_port=tls_port, tls=tls)
A = ('127.0.0.1', lt.port)
T = ('127.0.0.1', tls_port) if tls else None
web_matrix(A, '/app', 'lighttpd socket', big=True, tls_addr=T, stream=True)
web_matrix(A, '', 'lighttpd socket', tls_addr=T)
# lighttpd 1.4.69 exits 1 from a SIGTERM when a client connection is still
# open at the end (src/server.c: `if (NULL == srv->conns) rc = 0;`), which
# the test's own last keep-alive connection may be; a crash (a signal)
# still fails here.
rc = lt.stop()
if rc:
    diag('lighttpd exited %d; its stderr:\n%s' % (rc, lt.tail(30)))
ok(rc in (0, 1), 'lighttpd (socket) stops by itself (status %d)' % rc)
check_log_clean(lt.error_log, 'lighttpd (socket): error.log clean')

# ------------------------------------------- lighttpd spawns the responder
lt2 = start_lighttpd('include "%s"\n' % web_snippet(
    'lighttpd-spawn.conf', out_dir=tmpdir(), RESPONDER=program('fcgiwsgi-responder'),
    RUNDIR=tmpdir(), APP_SCRIPT=APP, SITE_SCRIPT=APP), tls_port=free_port() if tls else None,
    tls=tls)
A2 = ('127.0.0.1', lt2.port)
T2 = ('127.0.0.1', lt2.tls_port) if tls else None
res, info = web_env(A2, 'GET', '/app/_proc', timeout=60)
res_root, info_root = web_env(A2, 'GET', '/_proc', timeout=60)
pids = [p for p in (info.get('pid'), info_root.get('pid')) if p]


def ppid(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return int(f.read().rsplit(')', 1)[1].split()[1])
    except OSError:
        return None


is_([ppid(p) for p in pids], [lt2.pid, lt2.pid],
    'lighttpd spawn: both apps answer from responders that lighttpd started')
ok(len(set(pids)) == 2, 'lighttpd spawn: one responder per app', got=pids)
web_matrix(A2, '/app', 'lighttpd spawn', tls_addr=T2, stream=True)
web_matrix(A2, '', 'lighttpd spawn', big=True, tls_addr=T2)
rc = lt2.stop()
ok(rc in (0, 1), 'lighttpd (spawn) stops by itself (status %d)' % rc)
gone = []
try:
    wait_for(lambda: all(not os.path.exists('/proc/%d' % p) or ppid(p) != lt2.pid for p in pids),
             timeout=15, what='responders to exit')
    gone = pids
except TimeoutError:
    pass
is_(gone, pids, 'lighttpd spawn: the responders exit with lighttpd')
check_log_clean(lt2.error_log, 'lighttpd (spawn): error.log (with the responders\' log) clean')
unlike(open(lt2.error_log, errors='replace').read(), r'Traceback|\berr\b',
       'lighttpd (spawn): no traceback or error from the responders')

is_(mgr.stop(), 0, 'manager stops with 0')
check_log_clean(mgr, 'manager log clean')
unlike(mgr.output(), r'Traceback', 'manager: no traceback')
done_testing()
