#!/usr/bin/env python3
# Rolling recycles under load (SIGUSR2 here; fcgiwsgi-ctl and file watching
# use the same path): the new generation is started and ready before the
# old one stops, no request fails; a new generation that cannot import its
# app is abandoned and the old one keeps serving.
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
d = tmpdir()
script = os.path.join(d, 'app.wsgi')
shutil.copy(app_path('mgr_app.wsgi'), script)
sock = sock_path('recycle.sock')
cfg = manager_config('''  web:
    listen: %s
    processes: 2
    threads: 2
    allow_root: true
    apps: [{mount: /, script: %s}]
''' % (sock, script), name='recycle.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: m.output().count('starting -> running') >= 2, timeout=30, what='workers ready')


class RecycleLoad(Load):
    """fwtest's Load with 4 clients on the pool, counting outcomes."""

    def __init__(self):
        super().__init__(sock, clients=4, params=PARAMS)

    def finish(self):
        self.stop()
        self.ok = sum(1 for r in self.results if r[2] == 200)
        self.failed = len(self.failures())
        for r in self.failures()[:5]:
            diag('failed: %r' % (r[2:],))
        return self


def live_pids():
    out = m.output()
    spawned = re.findall(r'\[pool web pid (\d+)\] spawned', out)
    exited = set(re.findall(r'\[pool web pid (\d+)\] exited', out))
    return {int(p) for p in spawned if p not in exited}


# a successful rolling restart under load
old = live_pids()
load = RecycleLoad()
time.sleep(0.3)
m.signal(signal.SIGUSR2)
wait_for(lambda: 'rolling restart to generation 1' in m.output(), timeout=10, what='the restart')
wait_for(lambda: not (old & live_pids()) and len(live_pids()) == 2, timeout=20,
         what='the old generation replaced')
time.sleep(0.3)
load.finish()
diag('restart under load: %d ok, %d failed' % (load.ok, load.failed))
is_(load.failed, 0, 'no request failed during a rolling restart')
ok(load.ok > 50, 'requests were served throughout (%d)' % load.ok)
ok(not (old & live_pids()), 'all workers are new')
is_(fcgi_request(sock, 'GET', '/', params=PARAMS).body.split()[4], b'1',
    "environ['fcgiwsgi.generation'] says which generation answered")
new = live_pids()

# a broken new version of the script: the change itself triggers the
# recycle, the new generation cannot import it and is abandoned, and the
# old one keeps serving
load = RecycleLoad()
time.sleep(0.3)
with open(script, 'a') as f:
    f.write('\ndef broken(:\n')
wait_log(m, r'\[pool web\] recycle to generation \d+ failed: .*generation 1 keeps serving', timeout=20)
ok(True, 'the failed recycle is reported')
like(m.output(), r'rolling restart to generation 2 \(a watched file changed: [^)]*\.wsgi\)',
     'writing the script triggered the recycle')
time.sleep(0.5)
load.finish()
is_(load.failed, 0, 'no request failed while the broken generation was tried')
is_(live_pids(), new, 'generation 1 is still the one serving')
like(m.output(), r'SyntaxError', 'the import error is in the log')

# fixed: the next change goes through
shutil.copy(app_path('mgr_app.wsgi'), script)
wait_for(lambda: 'rolling restart to generation 3' in m.output(), timeout=10, what='the restart')
wait_for(lambda: not (new & live_pids()) and len(live_pids()) == 2, timeout=20,
         what='generation 3 serving')
res = fcgi_request(sock, 'GET', '/', params=PARAMS)
is_(res.status, 200, 'after a fix, the next recycle goes through')

# a changed script recycles the pool by itself: an editor's rename-over
gen3 = live_pids()
load = RecycleLoad()
tmp = script + '.tmp'
shutil.copy(app_path('mgr_app.wsgi'), tmp)
with open(tmp, 'a') as f:
    f.write('\n# edited\n')
os.rename(tmp, script)
wait_log(m, r'rolling restart to generation 4 \(a watched file changed: [^)]*\)', timeout=15)
ok(True, 'renaming a new version over the script triggers a recycle')
wait_for(lambda: not (gen3 & live_pids()) and len(live_pids()) == 2, timeout=20,
         what='generation 4 serving')
load.finish()
is_(load.failed, 0, 'no request failed during the watched-file recycle (%d ok)' % load.ok)
time.sleep(1.5)
is_(m.output().count('a watched file changed'), 3, 'one recycle per change (debounced)')

# Both new workers fail to import, the second one 1.5 s after the first,
# whose failure has already abandoned the generation and stopped it: the
# second must not be told to serve (it answered 500s for a moment, and a
# full parallel run caught one).
gen4 = live_pids()
flag = os.path.join(d, 'first-import')
with open(script, 'w') as f:
    f.write('import os, time\n'
            'try:\n'
            '    os.close(os.open(%r, os.O_CREAT | os.O_EXCL | os.O_WRONLY))\n'
            'except FileExistsError:\n'
            '    time.sleep(1.5)\n'
            'raise RuntimeError("broken on purpose")\n' % flag)
load = RecycleLoad()
mark = len(m.output())
wait_log(m, r'\[pool web\] recycle to generation 5 failed', timeout=20, after=mark)
if os.environ.get('FW_TEST_SPAWN') == 'template':
    # One import, in generation 5's template: no worker is forked from it.
    wait_log(m, r'\[pool web template pid \d+\] exited', timeout=20, after=mark)
    time.sleep(1.5)
    is_(len(re.findall(r'\[pool web pid \d+\] spawned \(generation 5\)', m.output())), 0,
        'no worker is forked from a failed template')
else:
    wait_for(lambda: m.output().count('spawned (generation 5)') == 2 and
             len(re.findall(r'\[pool web pid \d+\] exited', m.output()[mark:])) == 2,
             timeout=20, what='both generation-5 workers gone')
load.finish()
is_(load.failed, 0, 'no request failed while a slow second import also failed (%d ok)' % load.ok)
unlike(m.output()[mark:], r'serving although an app failed to import',
       "an abandoned generation's late worker is not told to serve")
is_(live_pids(), gen4, 'generation 4 is still the one serving')
m.signal(signal.SIGTERM)
is_(m.wait(20), 0, 'stops with 0')
check_log_clean(m, patterns=('crit', 'alert', 'AddressSanitizer', 'runtime error:', 'Fatal Python error'))
done_testing()
