#!/usr/bin/env python3
# What an app says reaches the log at a level that fits (issue 16): its
# tracebacks at err, stderr and wsgi.errors at warn, plain stdout at info,
# so `log_level: warn` still shows every app error; and a log_level change
# reaches running workers with a reload, without a recycle.
import os
import re
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
sock = sock_path('lv.sock')
POOLS = '''  lv:
    listen: %s
    processes: 1
    allow_root: true
    apps:
      - {mount: /, script: %s}
''' % (sock, app_path('loglevel_app.wsgi'))
cfg = manager_config(POOLS, name='lv.yaml', log_level='warn')
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_socket(sock, timeout=30, proc=m)
wait_for(lambda: fcgi_request(sock, 'GET', '/', params=PARAMS).status == 200, timeout=30,
         what='the pool serving')
fcgi_request(sock, 'GET', '/?one', params=PARAMS)
fcgi_request(sock, 'GET', '/raise?one', params=PARAMS)
wait_log(m, r'app-exception-one', timeout=10)
out = m.output()
like(out, r'app-stderr-one', 'log_level warn: sys.stderr is logged')
like(out, r'app-wsgi-errors-one', 'log_level warn: wsgi.errors is logged')
like(out, r'err .*RuntimeError: app-exception-one', '... the traceback at err')
unlike(out, r'app-stdout-one', '... and plain stdout is not (it is info)')
like(out, r'warn .*app-stderr-one', 'stderr is at warn')

workers_before = out.count('starting -> running')
mark = len(out)
manager_config(POOLS, name='lv.yaml', log_level='info')
rc, so, se = ctl(cfg, 'reload')
is_(rc, 0, 'reload to log_level info') or diag(so + se)
fcgi_request(sock, 'GET', '/?two', params=PARAMS)
wait_log(m, r'app-stderr-two', timeout=10, after=mark)
out = m.output()
like(out[mark:], r'info .*app-stdout-two', 'after the reload, the running worker logs stdout '
     'at info')
is_(out.count('starting -> running'), workers_before, '... without a recycle')
m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(m, patterns=[p for p in BAD_LOG_PATTERNS if 'Traceback' not in p])
done_testing()
