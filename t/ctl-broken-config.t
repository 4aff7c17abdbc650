#!/usr/bin/env python3
# fcgiwsgi-ctl -c CONFIG takes only `control:` from the main file (issue
# 16): a pool file broken by the operator must not keep them from the
# running manager (status, and the reload that reports the error).
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

d = tmpdir()
os.mkdir(os.path.join(d, 'pools.d'))
sock = sock_path('p.sock')
main = os.path.join(d, 'main.yaml')
with open(main, 'w') as f:
    f.write('log: stderr\nlog_level: info\ncontrol: ctl.sock\ninclude: [pools.d/*.yaml]\n')
pool = os.path.join(d, 'pools.d', 'p.yaml')
with open(pool, 'w') as f:
    f.write('pools:\n  p:\n    listen: %s\n    allow_root: true\n    apps:\n'
            '      - {mount: /, script: %s}\n' % (sock, app_path('mgr_app.wsgi')))
m = spawn([program('fcgiwsgi'), '-c', main])
wait_for(lambda: 'starting -> running' in m.output(), timeout=30, what='worker ready')
rc, out, err = ctl(main, 'status')
is_(rc, 0, 'status through -c CONFIG') or diag(out + err)
with open(pool, 'w') as f:
    f.write('pools:\n  p:\n    listen: [unclosed\n')
rc, out, err = ctl(main, 'status')
is_(rc, 0, 'with a pool file broken: status through -c CONFIG still reaches the manager') \
    or diag(out + err)
like(out, r'\bp\b', '... and shows the pool')
rc, out, err = ctl(main, 'reload')
isnt(rc, 0, 'reload reports the broken file')
like(out + err, r'p\.yaml:\d+:\d+', '... with its position')
m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
done_testing()
