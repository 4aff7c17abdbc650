#!/usr/bin/env python3
# spawn: template, what happens between a fork and a forked worker's hello,
# and a template whose import failed (issue 18's review leftovers):
# - an at-fork handler slower than 10 s, within startup_timeout, gives a
#   worker (the master gave such a worker up at 10 s);
# - one that never returns is ended at startup_timeout: no process is left
#   behind (the master has no pid to kill; the worker times itself);
# - a root template whose worker forges its hello's credentials to name
#   another pool's worker is refused: the named process does not hold the
#   channel (the master took that pid as its own worker);
# - a template whose app failed to import is replaced once a worker it
#   forked imports the app on a retry, so later forks need no retry of
#   their own; status says "import failed" meanwhile.
import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

if os.geteuid() != 0:
    skip_all('needs root (a root pool forging its credentials)')

d = tmpdir()
PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
marks = os.path.join(d, 'marks')
imports = os.path.join(d, 'imports')
victim_file = os.path.join(d, 'victim')
forged_flag = os.path.join(d, 'forged')
libdir = os.path.join(d, 'lib')
os.mkdir(libdir)

HOOKED = '''import os, time
def hook():
    with open(%r, 'a') as f:
        f.write('%%s %%d\\n' %% (os.environ['POOL'], os.getpid()))
    time.sleep(float(os.environ['HOOK_SLEEP']))
os.register_at_fork(after_in_child=hook)


def application(environ, start_response):
    body = ('pid=%%d' %% os.getpid()).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
''' % marks

VICTIM = '''import os
with open(%r, 'w') as f:
    f.write(str(os.getpid()))


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'victim']
''' % victim_file

# Its first forked worker says a hello of its own before the real one, with
# credentials naming the victim pool's worker (root may name any pid).
FORGER = '''import os, socket, struct, time
def forge():
    if os.path.exists(%r):
        return
    open(%r, 'w').close()
    for _ in range(200):
        if os.path.exists(%r):
            break
        time.sleep(0.1)
    with open(%r) as f:
        victim = int(f.read())
    # On every connected unix stream socket it has: one is its channel.
    for fd in range(3, 256):
        try:
            s = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if (s.family == socket.AF_UNIX and s.type == socket.SOCK_STREAM and
                    not s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)):
                s.sendmsg([b'H'], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS,
                                    struct.pack('iII', victim, 0, 0))], socket.MSG_DONTWAIT)
        except OSError:
            pass
        s.close()
os.register_at_fork(after_in_child=forge)


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('pid=%%d' %% os.getpid()).encode()]
''' % (forged_flag, forged_flag, victim_file, victim_file)

HEAL = '''import os
with open(%r, 'a') as f:
    f.write('%%d\\n' %% os.getpid())
import healhelper


def application(environ, start_response):
    body = ('healed pid=%%d %%s' %% (os.getpid(), healhelper.WORD)).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
''' % imports

scripts = {}
for name, text in (('hooked', HOOKED), ('victim', VICTIM), ('forger', FORGER), ('heal', HEAL)):
    scripts[name] = os.path.join(d, name + '.wsgi')
    with open(scripts[name], 'w') as f:
        f.write(text)
socks = {n: sock_path('hooks-%s.sock' % n) for n in ('slow', 'stuck', 'victim', 'forger', 'heal')}


def pool(name, script, extra=''):
    return '''  %s:
    listen: %s
    processes: 1
    allow_root: true
%s    apps: [{mount: /, script: %s}]
''' % (name, socks[name], extra, script)


cfg = manager_config(
    pool('slow', scripts['hooked'],
         '    spawn: template\n    env: {POOL: slow, HOOK_SLEEP: "11"}\n') +
    pool('stuck', scripts['hooked'],
         '    spawn: template\n    startup_timeout: 2s\n'
         '    env: {POOL: stuck, HOOK_SLEEP: "3600"}\n') +
    pool('victim', scripts['victim']) +
    pool('forger', scripts['forger'], '    spawn: template\n') +
    pool('heal', scripts['heal'], '    spawn: template\n    python_path: [%s]\n' % libdir),
    name='hooks.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
master = m.proc.pid


def children_of(pid):
    with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
        return {int(p) for p in f.read().split()}


def marked(pool_name):
    try:
        with open(marks) as f:
            return [int(l.split()[1]) for l in f if l.split()[0] == pool_name]
    except FileNotFoundError:
        return []


def pool_json(name):
    rc, out, err = ctl(cfg, 'status', name, '--json')
    return json.loads(out)['pools'][0] if rc == 0 else None


def templates(name):
    out = m.output()
    spawned = re.findall(r'\[pool %s template pid (\d+)\] spawned' % name, out)
    exited = set(re.findall(r'\[pool %s template pid (\d+)\] exited' % name, out))
    return [int(p) for p in spawned if p not in exited]


# --- the forged hello ---------------------------------------------------------
wait_for(lambda: os.path.exists(victim_file), timeout=30, what="the victim pool's worker")
with open(victim_file) as f:
    victim = int(f.read())
refused = (r'\[pool forger\] a worker forked by the template \(pid %d\) comes from a '
           r'process that does not hold its channel: given up' % victim)


def forger_pids():
    st = pool_json('forger')
    return [w['pid'] for w in st['workers']] if st else []


wait_for(lambda: re.search(refused, m.output()) or victim in forger_pids(), timeout=30,
         what='the forged hello refused or taken')
ok(victim not in forger_pids(), "the forger's pool does not count the victim as its worker",
   got=forger_pids())
like(m.output(), refused, "a hello naming another pool's worker is refused")
wait_for(lambda: fcgi_request(socks['forger'], 'GET', '/', params=PARAMS).status == 200,
         timeout=30, what='the forger pool serving from a worker of its own')
r = fcgi_request(socks['forger'], 'GET', '/', params=PARAMS)
isnt(r.body.decode(), 'pid=%d' % victim, 'and its answer comes from a worker of its own')
ok(os.path.exists('/proc/%d' % victim), 'the victim lives')
is_(fcgi_request(socks['victim'], 'GET', '/', params=PARAMS).body, b'victim',
    'and still serves its own pool')

# --- an at-fork handler of 11 s, startup_timeout 60 s ------------------------
wait_for(lambda: marked('slow'), timeout=30, what="the slow pool's first fork")
t0 = time.time()
r = None
while time.time() - t0 < 40:
    try:
        r = fcgi_request(socks['slow'], 'GET', '/', params=PARAMS, timeout=30)
    except (FcgiError, OSError) as e:
        diag('the slow pool: %s' % e)
        r = None
    if r and r.status == 200:
        break
    time.sleep(0.5)
is_(r and r.body.decode(), 'pid=%d' % marked('slow')[0],
    'a worker whose at-fork handler took 11 s serves (startup_timeout is 60 s)')
unlike(m.output(), r'\[pool slow\] a worker forked by the template .*given up',
       'it was not given up')
unlike(m.output(), r'\[pool slow template pid \d+\] answered no fork request',
       'nor its template killed')

# --- an at-fork handler that never returns, startup_timeout 2 s ---------------
wait_for(lambda: len(marked('stuck')) >= 2, timeout=30,
         what='the stuck pool trying a second fork')
first = marked('stuck')[0]
wait_for(lambda: not os.path.exists('/proc/%d' % first), timeout=10,
         what='the first stuck worker gone')
ok(True, 'a worker stuck before its hello ends itself at startup_timeout')
like(m.output(), r'\[pool stuck\] a worker forked by the template (exited before its hello|did not '
     r'say hello within startup_timeout)', 'it is given up, and logged')
ok(first not in children_of(master), 'nothing of it is left a child of the master')
tmpl = templates('stuck')
unlike(m.output(), r'\[pool stuck template pid \d+\] answered no fork request',
       'its template, which forked, is not taken for stuck')

# --- a template whose import failed -------------------------------------------
wait_log(m, r'\[pool heal template pid \d+\] ready in \d+ ms \(generation 0\): an app failed to '
         r'import', timeout=30)
first_tmpl = templates('heal')[0]
rc, out, err = ctl(cfg, 'status', 'heal')
like(out, r'  template: pid %d, import failed, up ' % first_tmpl,
     'status says the template failed its import')
wait_for(lambda: fcgi_request(socks['heal'], 'GET', '/', params=PARAMS).status == 500,
         timeout=20, what='its forked worker answering 500')
with open(os.path.join(libdir, 'healhelper.py'), 'w') as f:
    f.write("WORD = 'mended'\n")
t0 = time.time()
while time.time() - t0 < 20:
    r = fcgi_request(socks['heal'], 'GET', '/', params=PARAMS)
    if r.status == 200:
        break
    time.sleep(0.3)
like(r.body.decode(), r'^healed pid=\d+ mended$', 'a retry in the worker imports the mended app')
healed_worker = int(re.search(r'pid=(\d+)', r.body.decode()).group(1))
wait_log(m, r'\[pool heal template pid %d\] ready -> stopping \(a worker it forked imports its '
         r'app now' % first_tmpl, timeout=20)
wait_for(lambda: templates('heal') and templates('heal')[0] != first_tmpl and
         re.search(r'\[pool heal template pid %d\] ready in \d+ ms \(generation 0\)\n'
                   % templates('heal')[0], m.output()), timeout=30, what='a new template, ready')
new_tmpl = templates('heal')[0]
rc, out, err = ctl(cfg, 'status', 'heal')
like(out, r'  template: pid %d, ready, up ' % new_tmpl, 'status: the new template is ready')
os.kill(healed_worker, signal.SIGKILL)
wait_for(lambda: fcgi_request(socks['heal'], 'GET', '/', params=PARAMS).status == 200 and
         re.search(r'\[pool heal pid (?!%d)\d+\] spawned' % healed_worker, m.output()),
         timeout=30, what='a replacement serving')
with open(imports) as f:
    last_import = int(f.read().split()[-1])
is_(last_import, new_tmpl, "the replacement did not import again: the new template's import serves")

# --- the master's children are its workers and templates ----------------------
st = json.loads(ctl(cfg, 'status', '--json')[1])
known = {w['pid'] for p in st['pools'] for w in p['workers']} | \
        {p['template']['pid'] for p in st['pools'] if p.get('template')}
stray = children_of(master) - known - set(marked('stuck')[-1:])
is_(sorted(stray), [], 'no child of the master is unaccounted for')

m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(m)
done_testing()
