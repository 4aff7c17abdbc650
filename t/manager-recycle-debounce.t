#!/usr/bin/env python3
# One change, one recycle (issue 16): a deploy that repoints a symlink or
# rewrites the script and then runs `fcgiwsgi-ctl restart` trips the file
# watcher too. Whichever comes first, the pool recycles once, and the
# restart answers with that recycle's outcome. Without a file change, two
# restarts still make two recycles. Counted from the log's "rolling restart
# to generation N" lines.
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

d = tmpdir()
script = os.path.join(d, 'app.wsgi')
with open(app_path('mgr_app.wsgi')) as f:
    # Imports take 0.8 s, so the watcher's recycle still runs when the
    # restart that follows it lands, however slow the machine is.
    APP = 'import time\ntime.sleep(0.8)\n' + f.read()
with open(script, 'w') as f:
    f.write(APP)
sock = sock_path('debounce.sock')
cfg = manager_config('''  web:
    listen: %s
    processes: 2
    allow_root: true
    apps: [{mount: /, script: %s}]
''' % (sock, script), name='debounce.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: m.output().count('starting -> running') >= 2, timeout=30, what='workers ready')

SETTLE = 2.5  # well past the watcher's 300 ms debounce and a recycle of this app


def recycles():
    return len(re.findall(r'\[pool web\] rolling restart to generation \d+', m.output()))


def edit(tag):
    # A new file renamed over the script, as editors and deploys do.
    tmp = script + '.new'
    with open(tmp, 'w') as g:
        g.write(APP + '\n# %s\n' % tag)
    os.rename(tmp, script)


def idle():
    wait_for(lambda: 'recycling to generation' not in ctl(cfg, 'status', 'web')[1],
             timeout=30, what='no recycle running')


# the restart lands first (right after the change, inside the debounce)
before = recycles()
edit('one')
rc, out, err = ctl(cfg, 'restart', 'web')
is_(rc, 0, 'restart right after a change: ok') or diag(out + err)
like(out, r'generation \d+ ready', '... answered with the recycle it made')
time.sleep(SETTLE)
idle()
is_(recycles() - before, 1, 'restart, then the watcher: one recycle, not two') or diag(m.tail(30))
like(m.output(), r'a watched file changed: .*app\.wsgi, before the recycle to generation \d+ '
     r'began \(restart\): no other recycle', "... the watcher's trigger says it was covered")

# the watcher first: the restart lands while (or just after) its recycle runs
before = recycles()
n_watch = m.output().count('(a watched file changed')
edit('two')
wait_for(lambda: m.output().count('(a watched file changed') > n_watch, timeout=10,
         what="the watcher's recycle")
rc, out, err = ctl(cfg, 'restart', 'web')
is_(rc, 0, "restart during the watcher's recycle: ok") or diag(out + err)
like(out, r'generation \d+ ready', "... answered with the watcher's recycle")
time.sleep(SETTLE)
idle()
is_(recycles() - before, 1, 'the watcher, then restart: one recycle, not two') or diag(m.tail(30))

# no change in between: each restart is a recycle of its own
before = recycles()
is_(ctl(cfg, 'restart', 'web')[0], 0, 'a restart without a change')
is_(ctl(cfg, 'restart', 'web')[0], 0, 'another one')
time.sleep(0.5)
is_(recycles() - before, 2, 'two restarts without a file change: two recycles')

# a change that comes after a restart's recycle began is not covered by it
before = recycles()
is_(ctl(cfg, 'restart', 'web')[0], 0, 'a restart')
edit('three')
time.sleep(SETTLE)
idle()
is_(recycles() - before, 2, 'a change after the recycle began: a recycle of its own')

m.stop()
check_log_clean(m)
done_testing()
