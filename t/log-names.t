#!/usr/bin/env python3
# Log lines above debug carry no C function name (issue 16): the responder
# and the manager go through a start, requests, an app error, a reload, a
# log reopen and a stop at log_level info, and no line above debug starts its
# message with the name of a function defined in our sources (t/unit/log.c
# checks that debug lines keep theirs).
import os
import re
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
LEVEL_LINE = re.compile(r'^\S+ \S+ (err|warn|notice|info) ', re.M)

names = c_function_names()
ok('fw_worker_run' in names and 'fw_log_write' in names and 'main' in names,
   'the C function names are collected from the sources (%d)' % len(names))
ok(log_function_name_lines('2026-12-02 06:44:08.146 notice [responder pid 1] fw_worker_run: '
                           'ready: x\n2026-12-02 06:44:08.146 notice main: listening on x\n') ==
   ['2026-12-02 06:44:08.146 notice [responder pid 1] fw_worker_run: ready: x',
    '2026-12-02 06:44:08.146 notice main: listening on x'],
   'the check finds a function name after the prefix, or right after the level')


def check_names(text, what):
    bad = log_function_name_lines(text)
    is_(bad[:10], [], '%s: no line above debug names a C function' % what)
    n = len(LEVEL_LINE.findall(text))
    ok(n >= 10, '%s: ... of %d lines above debug' % (what, n))


# The responder: start, a request, an app error, a stop.
r = start_responder(app_path('err_app.wsgi'), log_level='info')
is_(fcgi_request(r.addr, 'GET', '/ok', params=PARAMS).status, 200, 'responder: a request')
is_(fcgi_request(r.addr, 'GET', '/raise', params=PARAMS).status, 500, 'responder: an app error')
wait_log(r, r'Traceback', timeout=10)
r.signal(signal.SIGTERM)
is_(r.wait(20), 0, 'responder: stops with 0')
text = r.output()
like(text, r'\] ready: 1 request threads', 'responder: "ready" reads on its own')
check_names(text, 'responder')

# The manager: start, requests, an app error, a reload, reopen-logs, a stop.
d = tmpdir()
log = os.path.join(d, 'names.log')
sock = sock_path('names.sock')
POOLS = '''  names:
    listen: %s
    processes: 2
    allow_root: true
    apps:
      - {mount: /, script: %s}
''' % (sock, app_path('err_app.wsgi'))
cfg = manager_config(POOLS, name='names.yaml', log=log)
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: open(log).read().count('starting -> running') >= 2 if os.path.exists(log)
         else False, timeout=30, what='workers ready')
is_(fcgi_request(sock, 'GET', '/ok', params=PARAMS).status, 200, 'manager: a request')
is_(fcgi_request(sock, 'GET', '/raise', params=PARAMS).status, 500, 'manager: an app error')
wait_log(log, r'Traceback', timeout=10)
manager_config(POOLS + '    max_requests: 1000\n', name='names.yaml', log=log)
rc, so, se = ctl(cfg, 'reload')
is_(rc, 0, 'manager: reload') or diag(so + se)
wait_log(log, r'recycle done', timeout=30)
rc, so, se = ctl(cfg, 'reopen-logs')
is_(rc, 0, 'manager: reopen-logs') or diag(so + se)
m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'manager: stops with 0')
text = open(log).read()
like(text, r'notice \[pool names\] listening on ', 'manager: "listening on" reads on its own')
check_names(text, 'manager')

done_testing()
