#!/usr/bin/env python3
# spawn: template (issue 18, part 1): a pool's template imports its app
# once and forks ready workers. They are the master's children, ran the
# app's os.register_at_fork(after_in_child=) handlers and reseeded random;
# a replacement is forked, not imported again; a template that dies is
# respawned while its workers serve; threads started at import are named
# in the log; an unprivileged pool works too; a failed deploy keeps the
# old generation, whose template still replaces its workers; the config
# checks say file:line:column.
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

d = tmpdir()
os.chmod(d, 0o755)
PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
APP = '''import os, random, threading, time
VERSION = %r
with open(%r, 'a') as f:
    f.write('import %%d\\n' %% os.getpid())
applog = open(%r + '.' + VERSION, 'a')  # a file the app opens at import
forked = []
os.register_at_fork(after_in_child=lambda: forked.append(os.getpid()))
if os.environ.get('TEMPLATE_THREAD'):
    threading.Thread(target=time.sleep, args=(3600,), name='warmer', daemon=True).start()
time.sleep(0.5)  # a slow import


def application(environ, start_response):
    applog.write('served %%d\\n' %% os.getpid())
    applog.flush()
    body = ('%%s pid=%%d forked=%%s rand=%%r' %% (
        VERSION, os.getpid(), forked == [os.getpid()], random.random())).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
'''
logdir = os.path.join(d, 'logs')  # where the apps open their files (nobody's too)
os.mkdir(logdir)
os.chmod(logdir, 0o777)
imports = os.path.join(d, 'imports')
open(imports, 'w').close()
os.chmod(imports, 0o666)


def write_app(path, version, broken=False):
    with open(path + '.new', 'w') as f:
        f.write(APP % (version, imports, os.path.join(logdir, os.path.basename(path) + '.log'))
                + ('\ndef broken(:\n' if broken else ''))
    os.chmod(path + '.new', 0o644)
    os.rename(path + '.new', path)


def import_count():
    with open(imports) as f:
        return len(f.read().split('\n')) - 1


def ppid(pid):
    with open('/proc/%d/stat' % pid) as f:
        return int(f.read().rsplit(')', 1)[1].split()[1])


def live_pids(m, pool):
    out = m.output()
    spawned = re.findall(r'\[pool %s pid (\d+)\] spawned' % pool, out)
    exited = set(re.findall(r'\[pool %s pid (\d+)\] exited' % pool, out))
    return {int(p) for p in spawned if p not in exited}


def templates(m, pool):
    out = m.output()
    spawned = re.findall(r'\[pool %s template pid (\d+)\] spawned' % pool, out)
    exited = set(re.findall(r'\[pool %s template pid (\d+)\] exited' % pool, out))
    return [int(p) for p in spawned if p not in exited]


# --- the configuration checks ---------------------------------------------
def check(body):
    path = os.path.join(d, 'check.yaml')
    with open(path, 'w') as f:
        f.write('pools:\n  p:\n    listen: %s\n    allow_root: true\n    spawn: template\n%s'
                % (sock_path('check.sock'), body))
    r = subprocess.run([program('fcgiwsgi'), '-t', '-c', path], capture_output=True, text=True)
    return r.returncode, r.stderr + r.stdout


script = os.path.join(d, 'app.wsgi')
write_app(script, 'v1')
rc, out = check('    apps:\n      - {mount: /a, script: %s}\n      - {mount: /b, script: %s}\n'
                % (script, script))
isnt(rc, 0, 'two apps with their own groups and spawn: template are refused')
like(out, r'check\.yaml:7:9: .*every app runs in the main interpreter.*"%\{GLOBAL\}"',
     'the error names the app at file:line:column and the fix')
rc, out = check('    apps:\n      - {mount: /a, script: %s, application_group: "%%{GLOBAL}"}\n'
                '      - {mount: /b, script: %s, application_group: "%%{GLOBAL}"}\n'
                % (script, script))
is_(rc, 0, 'two apps in %{GLOBAL} are fine')
rc, out = check('    preload: false\n    apps: [{mount: /, script: %s}]\n' % script)
like(out, r"check\.yaml:6:14: .*'preload: false' with 'spawn: template' \(line 5\)",
     'preload: false with spawn: template is refused at its line')
rc, out = check('    apps: [{mount: /, script: %s, application_group: mine}]\n' % script)
like(out, r'check\.yaml:6:\d+: .*main interpreter', 'a named group of its own is refused')
path = os.path.join(d, 'bad.yaml')
with open(path, 'w') as f:
    f.write('pools:\n  p:\n    listen: %s\n    spawn: forked\n    apps: [{mount: /, script: %s}]\n'
            % (sock_path('x.sock'), script))
r = subprocess.run([program('fcgiwsgi'), '-t', '-c', path], capture_output=True, text=True)
like(r.stderr, r'bad\.yaml:4:12: .*spawn.*fresh.*template', 'an unknown spawn: value is refused')

# --- a pool of two workers, one of them run as nobody ------------------------
user_script = os.path.join(d, 'user.wsgi')
write_app(user_script, 'u1')
sock = sock_path('tmpl.sock')
usock = sock_path('tmpl-user.sock')
# A pool run as nobody, where nobody can load the build's libpython (not
# a pyenv build under /root).
ldd = subprocess.run(['ldd', program('fcgiwsgi')], capture_output=True, text=True).stdout
with_nobody = os.geteuid() == 0 and not re.search(r'libpython\S* => /root/', ldd)
nob_pool = '''  nob:
    listen: %s
    listen_mode: "0666"
    user: nobody
    processes: 1
    spawn: template
    env: {TEMPLATE_THREAD: "1"}
    apps: [{mount: /, script: %s}]
''' % (usock, user_script)
cfg = manager_config('''  web:
    listen: %s
    processes: 2
    threads: 2
    allow_root: true
    spawn: template
    apps: [{mount: /, script: %s}]
''' % (sock, script) + (nob_pool if with_nobody else ''), name='tmpl.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
n_nob = 1 if with_nobody else 0
wait_for(lambda: len(live_pids(m, 'web')) == 2 and len(live_pids(m, 'nob')) == n_nob and
         m.output().count('starting -> running') >= 2 + n_nob, timeout=30, what='workers ready')
master = m.proc.pid
pids = live_pids(m, 'web')
diag('workers: %r' % sorted(pids))
is_(import_count(), 1 + n_nob,
    'each pool imported its app once (in its template), not once per worker')
is_(sorted(ppid(p) for p in pids | live_pids(m, 'nob')), [master] * (2 + n_nob),
    "the forked workers are the master's children")
tmpl = templates(m, 'web')
is_(len(tmpl), 1, 'one template for the pool')
is_(ppid(tmpl[0]), master, "the template is the master's child")
rc, out, err = ctl(cfg, 'status', 'web')
like(out, r'  template: pid %d, ready, up ' % tmpl[0], 'status names the template')
rc, out, err = ctl(cfg, 'status', 'web', '--json')
st = json.loads(out)['pools'][0]
is_((st['spawn'], st['template']['pid'], st['template']['state']), ('template', tmpl[0], 'ready'),
    "status --json has the template")
with open('/proc/%d/cmdline' % next(iter(pids))) as f:
    title = f.read().split('\0')[0]
is_(title, 'fcgiwsgi: pool web gen 0', 'a forked worker is titled as a worker')

bodies = set()
for _ in range(40):
    bodies.add(fcgi_request(sock, 'GET', '/', params=PARAMS).body.decode())
    if len({b.split()[1] for b in bodies}) == 2:
        break
seen = {b.split()[1] for b in bodies}
is_(len(seen), 2, 'both workers answer')
ok(all('forked=True' in b for b in bodies), "each ran the app's after_in_child handler once, itself")
rands = {}
for b in bodies:
    rands.setdefault(b.split()[1], set()).add(b.split()[3])
firsts = [sorted(v)[0] for v in rands.values()]
ok(len(set(rands[p].pop() for p in rands)) == 2, "random is reseeded in each worker")
like(m.output(), r'\[pool web pid \d+\] spawned \(generation 0\): forked by the template in \d+ ms',
     'the log says each worker was forked')
with open(os.path.join(logdir, 'app.wsgi.log.v1')) as f:
    served = f.read().split('\n')[:-1]
ok(len(served) >= 2 and {int(l.split()[1]) for l in served} == {int(b.split()[1][4:]) for b in bodies}
   and all(l.startswith('served ') for l in served),
   "a file the app opened at import is still its own in every forked worker",
   got=served[:4])

if with_nobody:
    r = fcgi_request(usock, 'GET', '/', params=PARAMS)
    is_(r.status, 200, 'the unprivileged pool serves')
    upid = next(iter(live_pids(m, 'nob')))
    with open('/proc/%d/status' % upid) as f:
        like(f.read(), r'Uid:\s+65534\s', 'its forked worker runs as nobody')
    like(m.output(),
         r'\[pool nob pid \d+\] the template runs 1 other thread at fork: \S+ \(tid \d+\)'
         r'.*threading module knows: warmer', 'a thread started at import is named in the log')
else:
    skip('not root, or nobody cannot load this build\'s libpython', 3)

# --- a replacement is forked, not imported -----------------------------------
victim = sorted(pids)[0]
os.kill(victim, signal.SIGKILL)
wait_for(lambda: live_pids(m, 'web') - pids and victim not in live_pids(m, 'web'),
         timeout=20, what='the killed worker replaced')
is_(import_count(), 1 + n_nob, 'the replacement did not import the app again')
new = sorted(live_pids(m, 'web') - pids)
diag('replacement: %r, now %r' % (new, sorted(live_pids(m, 'web'))))
is_([ppid(p) for p in new], [master], "the replacement is the master's child too")

# --- the template dies: workers serve on, a new template comes ---------------
load = Load(sock, clients=4, params=PARAMS)
time.sleep(0.3)
os.kill(tmpl[0], signal.SIGKILL)
wait_for(lambda: len(templates(m, 'web')) == 1 and templates(m, 'web')[0] != tmpl[0],
         timeout=20, what='a new template')
wait_log(m, r'\[pool web template pid %d\] ready' % templates(m, 'web')[0], timeout=20)
time.sleep(0.3)
load.stop()
is_(len(load.failures()), 0, 'no request failed while the template died and came back')
like(m.output(), r'\[pool web\] the template died \(1 in a row\)', 'its death is logged as a crash')
is_(import_count(), 2 + n_nob, 'the new template imported the app')

# --- a stuck template is killed and replaced ---------------------------------
stuck = templates(m, 'web')[0]
os.kill(stuck, signal.SIGSTOP)
victim = sorted(live_pids(m, 'web'))[0]
os.kill(victim, signal.SIGKILL)
wait_log(m, r'\[pool web template pid %d\] answered no fork request for 10 s; killing it'
         % stuck, timeout=30)
wait_for(lambda: len(live_pids(m, 'web')) == 2 and stuck not in templates(m, 'web'),
         timeout=30, what='a new template and its worker')
ok(True, 'a stopped template is killed after 10 s without a fork, and a new one forks')

# --- a failed deploy keeps the old generation and its template ---------------
old_tmpl = templates(m, 'web')[0]
write_app(script, 'v2', broken=True)
mark = len(m.output())
rc, out, err = ctl(cfg, 'restart', 'web')
isnt(rc, 0, 'a restart to a broken app fails')
like(m.output()[mark:], r'recycle to generation \d+ failed: an app of the new generation failed '
     r'to import in its template', 'the failure names the template')
wait_for(lambda: len(templates(m, 'web')) == 1, timeout=20, what="the failed template's exit")
is_(templates(m, 'web'), [old_tmpl], "the old generation's template stays")
victim = sorted(live_pids(m, 'web'))[0]
os.kill(victim, signal.SIGKILL)
wait_for(lambda: len(live_pids(m, 'web')) == 2 and victim not in live_pids(m, 'web'),
         timeout=20, what='a worker of the kept generation replaced')
r = fcgi_request(sock, 'GET', '/', params=PARAMS)
like(r.body.decode(), r'^v1 ', 'the kept generation serves, and its template still forks')

# --- and a good deploy goes through ------------------------------------------
write_app(script, 'v3')
load = Load(sock, clients=4, params=PARAMS)
time.sleep(0.3)
rc, out, err = ctl(cfg, 'restart', 'web')
is_(rc, 0, 'a restart to a good app succeeds')
time.sleep(0.3)
load.stop()
is_(len(load.failures()), 0, 'no request failed in the recycle')
wait_for(lambda: old_tmpl not in templates(m, 'web'), timeout=20, what='the old template gone')
like(fcgi_request(sock, 'GET', '/', params=PARAMS).body.decode(), r'^v3 ', 'the new code serves')

# --- a worker that dies in its fork handler, before its hello ----------------
dies = os.path.join(d, 'dies.wsgi')
with open(dies, 'w') as f:
    f.write('import os\nos.register_at_fork(after_in_child=lambda: os._exit(3))\n'
            'def application(e, sr):\n    sr("200 OK", [])\n    return [b"x"]\n')
cfg2 = manager_config('''  dies:
    listen: %s
    processes: 1
    allow_root: true
    spawn: template
    apps: [{mount: /, script: %s}]
''' % (sock_path('dies.sock'), dies), name='dies.yaml')
m2 = spawn([program('fcgiwsgi'), '-c', cfg2])
wait_log(m2, r'\[pool dies\] a worker forked by the template exited before its hello.*'
         r'\(3 in a row\): next spawn in', timeout=30)
ok(True, 'a worker that dies before its hello is given up, with the back-off')
rc, out, err = ctl(cfg2, 'status', 'dies', '--json')
st = json.loads(out)['pools'][0]
ok(st['crashes'] >= 3 and st['template'] and st['template']['state'] == 'ready',
   'status counts the crashes, and the template stays', got=(st['crashes'], st['template']))
m2.signal(signal.SIGTERM)
is_(m2.wait(30), 0, 'that manager stops with 0')
check_log_clean(m2)

m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
ok(not templates(m, 'web') and not templates(m, 'nob'), 'every template exited')
check_log_clean(m)
done_testing()
