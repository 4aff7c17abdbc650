#!/usr/bin/env python3
# fcgiwsgi-ctl status (issue 16): each busy worker's current request
# (method and path only: never the query string or userinfo) and its age;
# the last recycle's cause, times and duration, JSON `last_recycle` as
# {seq, cause, started, ended, duration_ms, ok, error, text} and null before
# any; a marker while `scale` holds a pool away from its configuration;
# `watch_scripts: false`. A worker that lies in its own slot gets its lie
# printed escaped and bounded, or not at all.
import json
import os
import re
import shutil
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

ISO = r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$'
d = tmpdir()
script = os.path.join(d, 'app.wsgi')
shutil.copy(app_path('mgr_app.wsgi'), script)
trigger = os.path.join(d, 'deployed')
open(trigger, 'w').close()
web, liar = sock_path('web.sock'), sock_path('liar.sock')
cfg = manager_config('''  web:
    listen: %s
    processes: 2
    threads: 2
    allow_root: true
    watch_scripts: false
    watch: [%s]
    apps: [{mount: /, script: %s}]
  liar:
    listen: %s
    processes: 1
    threads: 3
    allow_root: true
    apps: [{mount: /, script: %s}]
''' % (web, trigger, script, liar, app_path('slot_liar.wsgi')), name='st.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: m.output().count('starting -> running') >= 3, timeout=30, what='workers ready')


def pool_json(name='web'):
    rc, out, err = ctl(cfg, 'status', name, '--json')
    return json.loads(out)['pools'][0]


def text(name='web'):
    return ctl(cfg, 'status', name)[1]


def recycles():
    return len(re.findall(r'\[pool web\] rolling restart to generation', m.output()))


p = pool_json()
is_(p['last_recycle'], None, 'before any recycle: last_recycle is null')
is_((p['recycling'], p['recycle']), (False, None), '... and none runs')
is_((p['scaled'], p['configured_processes']), (False, 2), 'not scaled')
like(text(), r'last recycle: none', 'text: last recycle none')

# a slow request in flight: method and path, no query string, its age
res = []
threads = [threading.Thread(target=lambda: res.append(fcgi_request(web, uri='/sleep/2?token=SECRET'))),
           threading.Thread(target=lambda: res.append(fcgi_request(
               web, uri='/sleep/2', params={'REQUEST_URI': 'http://user:pw@h/sleep/2?x=1'})))]
for t in threads:
    t.start()


def busy_requests():
    return [r for w in pool_json()['workers'] for r in w['requests_now']]


now = wait_for(lambda: len(busy_requests()) == 2 and busy_requests(), timeout=10,
               what='the requests in status')
is_(sorted((r['method'], r['path']) for r in now), [('GET', '/sleep/2')] * 2,
    'JSON requests_now: method and path of each running request')
time.sleep(0.5)
later = busy_requests()
ok(later and min(r['age_ms'] for r in later) >= 400, 'their age grows (%r)' % later)
t_out = text()
like(t_out, r'busy .* GET /sleep/2 for \d+\.\ds', 'text: the request on its worker line')
raw = ctl(cfg, 'status', '--json')[1] + t_out
ok('SECRET' not in raw and 'x=1' not in raw, 'no query string anywhere')
ok('pw@' not in raw and 'user:' not in raw, 'no userinfo of an absolute-form URI')
for t in threads:
    t.join(10)
is_(busy_requests(), [], 'done: no request shown')

# a worker that lies in its slot
fcgi_request(liar, uri='/lie')
time.sleep(1.0)
lies = [r for w in pool_json('liar')['workers'] for r in w['requests_now']]
is_(len(lies), 1, 'liar: the torn entry is not shown, the other is') or diag(lies)
if lies:
    is_(lies[0]['method'], '?', 'liar: a method that is no token prints as ?')
    like(lies[0]['path'], r'^\\x1b\[2J\\x22\\x5c\\xffA+$', 'liar: control bytes, quotes, '
         'backslashes and 0xff escaped as \\xNN')
    ok(len(lies[0]['path']) <= 160 * 4, 'liar: bounded by the slot (%d chars)' % len(lies[0]['path']))
lt = text('liar')
ok('\x1b' not in lt and '\r' not in lt, 'liar: no control byte reaches the terminal')
like(lt, r'\? \\x1b\[2J', 'liar: the text form escapes it too')

# a recycle: its cause, times and duration
is_(ctl(cfg, 'restart', 'web')[0], 0, 'restart')
p = pool_json()
lr = p['last_recycle']
ok(isinstance(lr, dict), 'last_recycle is an object now') or diag(lr)
is_((lr['seq'], lr['cause'], lr['ok'], lr['error']), (1, 'restart', True, None),
    'seq 1, cause restart, ok, no error')
like(lr['started'], ISO, 'started: ISO 8601 UTC')
like(lr['ended'], ISO, 'ended: ISO 8601 UTC')
ok(lr['ended'] >= lr['started'] and 0 <= lr['duration_ms'] < 30000, 'ended after started, '
   'duration_ms %d' % lr['duration_ms'])
like(lr['text'], r'generation \d+ ready', 'its text')
like(text(), r'ok \(restart\): started \d{4}-\d\d-\d\dT[0-9:.]+Z, ended [0-9T:.-]+Z, took \d',
     'text: cause, start, end, duration')

# watch_scripts: false: a changed script recycles nothing
before = recycles()
with open(script, 'w') as f:
    f.write('raise ImportError("broken on purpose")\n')
time.sleep(1.5)
is_(recycles(), before, 'watch_scripts: false: changing the script recycles nothing')

# a failed recycle
rc, out, err = ctl(cfg, 'restart', 'web')
is_(rc, 1, 'restart with a broken script fails')
lr = pool_json()['last_recycle']
is_((lr['seq'], lr['cause'], lr['ok']), (2, 'restart', False), 'last_recycle: not ok')
like(lr['error'], r'broken on purpose', '... its error')
like(text(), r'FAILED \(restart\)', 'text: FAILED')
rc, out, err = ctl(cfg, 'status', '--check')
is_(rc, 1, 'status --check: 1 after a failed recycle')
like(out + err, r'check: pool web: its last recycle failed \(restart, ended \d{4}-[0-9T:.-]+Z\)',
     '... naming the cause and when')

# the watch: file still recycles, with cause watch
shutil.copy(app_path('mgr_app.wsgi'), script)
with open(trigger, 'w') as f:
    f.write('1\n')
wait_for(lambda: (pool_json()['last_recycle'] or {}).get('seq', 0) >= 3, timeout=15,
         what="the watch: file's recycle")
lr = pool_json()['last_recycle']
is_((lr['cause'], lr['ok']), ('watch', True), 'a watch: file changed: cause watch, ok')
is_(ctl(cfg, 'status', '--check')[0], 0, '... and --check is clean again')

m.signal(signal.SIGUSR2)
wait_for(lambda: (pool_json()['last_recycle'] or {}).get('seq', 0) >= 4, timeout=15,
         what='the SIGUSR2 recycle')
is_(pool_json()['last_recycle']['cause'], 'signal', 'SIGUSR2: cause signal')

# scaled away from the configuration
is_(ctl(cfg, 'scale', 'web', '3')[0], 0, 'scale web 3')
p = pool_json()
is_((p['processes'], p['configured_processes'], p['scaled']), (3, 2, True),
    'JSON: processes 3, configured 2, scaled')
like(text(), r'fixed, 3 processes \(SCALED: 2 configured\)', 'text: the marker')
is_(ctl(cfg, 'scale', 'web', '2')[0], 0, 'scale web 2')
is_(pool_json()['scaled'], False, 'back at the configured number: not scaled')

m.stop()
check_log_clean(m)
done_testing()
