#!/usr/bin/env python3
# fcgiwsgi-ctl status --check (issue 16): exit 0 while every pool has a
# ready worker, 1 with a line naming the pool when one has none (its app
# fails to import and it backs off) or its last recycle failed; a pool
# stopped on purpose is not a failure.
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

good, bad = sock_path('good.sock'), sock_path('bad.sock')
broken = os.path.join(tmpdir(), 'broken.wsgi')
with open(broken, 'w') as f:
    f.write('import os\nos._exit(3)\n')
cfg = manager_config('''  good:
    listen: %s
    allow_root: true
    apps:
      - {mount: /, script: %s}
''' % (good, app_path('mgr_app.wsgi')), name='chk.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: 'starting -> running' in m.output(), timeout=30, what='worker ready')
rc, out, err = ctl(cfg, 'status', '--check')
is_(rc, 0, 'status --check: 0 while every pool serves') or diag(out + err)
rc, out, err = ctl(cfg, 'status', '--json', '--check')
is_(rc, 0, 'status --json --check: 0 too')
import json  # noqa: E402
ok(json.loads(out) is not None, '... and the output stays one JSON document')

manager_config('''  good:
    listen: %s
    allow_root: true
    apps:
      - {mount: /, script: %s}
  bad:
    listen: %s
    allow_root: true
    apps:
      - {mount: /, script: %s}
''' % (good, app_path('mgr_app.wsgi'), bad, broken), name='chk.yaml')
rc, out, err = ctl(cfg, 'reload')
wait_for(lambda: 'worker died young' in m.output() or 'died' in m.output(), timeout=20,
         what='the bad pool failing')
rc, out, err = ctl(cfg, 'status', '--check')
is_(rc, 1, 'a pool whose workers die at start: status --check exits 1')
like(out + err, r'check: pool bad: (no ready worker|backing off)', '... naming the pool')
unlike(out + err, r'check: pool good', '... and not the good one')
rc, out, err = ctl(cfg, 'stop', 'bad')
wait_for(lambda: ctl(cfg, 'status', '--check')[0] == 0, timeout=20, what='check clean again')
ok(True, 'a pool stopped on purpose does not fail the check')
m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
done_testing()
