#!/usr/bin/env python3
# A deploy that cannot import is abandoned, and the old generation serves.
# The broken script stays on disk, though, and every worker started after
# that imports it: a max_requests replacement here, and the same for a
# crash or a dynamic spawn. As long as workers with a good import are
# serving, such a worker must not answer 500s: it is stopped, the old
# workers go on (a retiring one past its max_requests), and spawning backs
# off. A fixed script is then picked up by the next recycle.
import json
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
d = tmpdir()
script = os.path.join(d, 'app.wsgi')
shutil.copy(app_path('mgr_app.wsgi'), script)
sock = sock_path('broken-disk.sock')
cfg = manager_config('''  web:
    listen: %s
    processes: 2
    max_requests: 40
    max_requests_jitter: 0
    allow_root: true
    apps: [{mount: /, script: %s}]
''' % (sock, script), name='broken-disk.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: m.output().count('starting -> running') >= 2, timeout=30, what='workers ready')

# Break the script on disk: the watch recycles, the recycle is abandoned.
with open(script, 'a') as f:
    f.write('\ndef broken(:\n')
wait_log(m, r'\[pool web\] recycle to generation \d+ failed', timeout=20)
mark = len(m.output())

# 4 clients for 4 s: far past max_requests, so both workers ask for
# replacements, and every replacement imports the broken script.
load = Load(sock, clients=4, params=PARAMS)
time.sleep(4)
load.stop()
fails = load.failures()
for r in fails[:5]:
    diag('failed: %r' % (r[2:],))
served = sum(1 for r in load.results if r[2] == 200)
is_(len(fails), 0, 'no request failed while replacements could not import (%d ok)' % served)
ok(served > 200, 'the old workers served past their max_requests (%d requests)' % served)
late = m.output()[mark:]
like(late, r"a new worker's app failed to import; the workers that have it loaded keep serving",
     'a replacement that cannot import is stopped')
unlike(late, r'serving although an app failed to import', 'and never told to serve')
spawns = len(re.findall(r'spawned \(generation', late))
ok(1 <= spawns <= 6, 'spawning backs off (%d replacements tried in 4 s)' % spawns)
like(late, r'next spawn in [1-9]\d* ms', 'with a growing delay')
rc, out, err = ctl(cfg, 'status', 'web')
like(out, r"back-off: \d+ failures? in a row, next spawn in [^:]+: a new worker's app failed "
     r"to import\n(.*\n)*.*SyntaxError", 'status says why spawning backs off, with the error')
rc, out, err = ctl(cfg, 'status', 'web', '--json')
reason = json.loads(out)['pools'][0]['backoff_reason']
like(reason, r"(?s)^a new worker's app failed to import\n.*SyntaxError", 'and so does --json')

# The fix on disk: the watch recycles, and the new workers serve.
shutil.copy(app_path('mgr_app.wsgi'), script)
wait_log(m, r'\[pool web\] recycle done', timeout=30, after=mark)
res = fcgi_request(sock, 'GET', '/', params=PARAMS)
is_(res.status, 200, 'the fixed script is served after its recycle')
m.stop()
check_log_clean(m, patterns=('crit', 'AddressSanitizer', 'runtime error:', 'Fatal Python error'))
done_testing()
