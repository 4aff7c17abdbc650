#!/usr/bin/env python3
# Extensions that cannot live in a sub-interpreter (issue 18, part 2). Two
# test modules of our own, built here with the embedded CPython's headers:
# one refuses any interpreter but the main one with PyO3's ImportError, one
# is single-phase init, which CPython 3.12+ refuses where the interpreter
# checks extensions. A refusal gets one line naming the module and the fix,
# in the log, in `fcgiwsgi-ctl status` and in a failed restart's output;
# `application_group: auto` moves a lone app to the main interpreter, where
# it serves, with a warning; in a pool of two apps the default group gets
# the line and 500s, with no crash loop; -t refuses auto beside an app that
# is not in %{GLOBAL}; the responder takes auto with its SCRIPT.
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
FIX = r'set application_group: "%\{GLOBAL\}" for this app'
PYO3 = ('PyO3 modules do not yet support subinterpreters, see '
        'https://github.com/PyO3/pyo3/issues/576')
prog = program('fcgiwsgi')
d = tmpdir()


def make_var(name):
    with open(os.path.join(build_dir(), 'Makefile')) as f:
        m = re.search(r'^%s = (.*)$' % name, f.read(), re.M)
    return m.group(1).strip() if m else ''


# The modules, against the headers the build embeds (pyenv's 3.12 and 3.13
# builds too: configure --with-python puts them in PYTHON_CFLAGS).
ext = os.path.join(d, 'ext')
os.makedirs(ext)
for mod in ('fw_pyo3like', 'fw_singlephase'):
    cmd = (shlex.split(make_var('CC') or 'cc') + ['-shared', '-fPIC', '-O2', '-Wall', '-Werror']
           + shlex.split(make_var('PYTHON_CFLAGS'))
           + ['-o', os.path.join(ext, mod + '.so'),
              os.path.join(src_dir(), 't', 'ext', mod + '.c')])
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        bail_out('building %s failed: %s\n%s' % (mod, ' '.join(cmd), p.stderr))
vers = subprocess.run([prog, '--version'], capture_output=True, text=True, timeout=30).stdout
embedded = tuple(int(x) for x in re.search(r'CPython (\d+)\.(\d+)', vers).groups())
mods = os.path.join(src_dir(), 't', 'apps', 'refusal_mods')


def pool(name, apps, extra=''):
    return '''  %s:
    listen: %s
    allow_root: true
    processes: 1
    python_path: [%s, %s]
%s    apps:
%s''' % (name, sock_path(name + '.sock'), ext, mods, extra, apps)


def app(script, mount='/', group=None):
    return '      - {mount: %s, script: %s%s}\n' % (
        mount, app_path(script), ', application_group: %s' % group if group else '')


pools = (pool('one', app('refuse_pyo3.wsgi'))
         + pool('auto', app('refuse_pyo3.wsgi', group='auto'))
         + pool('two', app('refuse_pyo3.wsgi') + app('mgr_app.wsgi', '/b')))
single = embedded >= (3, 12)
if single:
    pools += (pool('single', app('refuse_single.wsgi'))
              + pool('singleauto', app('refuse_single.wsgi', group='auto')))
cfg = manager_config(pools, name='refusal.yaml')
p = subprocess.run([prog, '-t', '-c', cfg], capture_output=True, text=True, timeout=60)
is_(p.returncode, 0, '-t passes') or diag(p.stderr)

m = spawn([prog, '-c', cfg])
for name in ('one', 'auto', 'two') + (('single', 'singleauto') if single else ()):
    wait_log(m, r'\[pool %s pid \d+\] starting -> running' % name, timeout=60)


def get(name, uri='/'):
    return fcgi_request(sock_path(name + '.sock'), 'GET', uri, params=PARAMS)


# A lone app in its default group: the clear line, 500s, status and restart.
line = (r'\[pool one pid \d+\] app %s: module fw_pyo3like cannot be imported in a '
        r'sub-interpreter \(%s\): %s\n' % (re.escape(app_path('refuse_pyo3.wsgi')),
                                           re.escape(PYO3), FIX))
like(m.output(), line, 'the log names the module, PyO3\'s text and the fix, through the '
     'RuntimeError the package re-raised')
is_(get('one').status, 500, 'the app answers 500')
rc, out, err = ctl(cfg, 'status', 'one')
like(out, r'\n  import failed \(requests get 500, retried\): module fw_pyo3like cannot be '
     r'imported in a sub-interpreter \(%s\): %s\n' % (re.escape(PYO3), FIX),
     'status shows the line') or diag(out + err)
rc, out, err = ctl(cfg, 'status', 'one', '--json')
like(json.loads(out)['pools'][0].get('import_error'), r'^module fw_pyo3like .*: %s$' % FIX,
     'and so does --json')
rc, out, err = ctl(cfg, 'restart', 'one')
isnt(rc, 0, 'restart fails')
like(out + err, r'module fw_pyo3like cannot be imported in a sub-interpreter \(%s\): %s'
     % (re.escape(PYO3), FIX), 'restart\'s output names the module and the fix') or diag(out + err)

# application_group: auto, alone in its pool: served from the main interpreter.
res = get('auto')
is_((res.status, res.body), (200, b'%{GLOBAL} main'), 'auto: the app serves from the main '
    'interpreter')
like(m.output(), r'\[pool auto pid \d+\] app %s: module fw_pyo3like cannot be imported in a '
     r'sub-interpreter \(%s\); application_group: auto moved the app to the main interpreter '
     r'\(%%\{GLOBAL\}\), where it serves\n' % (re.escape(app_path('refuse_pyo3.wsgi')),
                                               re.escape(PYO3)),
     'with a warning that says why')
unlike(m.output(), r'\[pool auto pid \d+\] (app \S+: loading the WSGI script failed|'
       r'.*set application_group)', 'and no error line')
rc, out, err = ctl(cfg, 'status', 'auto')
unlike(out, r'import failed', 'status of auto shows no import error') or diag(out)

# Two apps in one pool, default groups: the line, 500s for that app only,
# and no crash loop.
like(m.output(), r'\[pool two pid \d+\] app %s: module fw_pyo3like cannot be imported in a '
     r'sub-interpreter \(.*\): %s\n' % (re.escape(app_path('refuse_pyo3.wsgi')), FIX),
     'two apps: the line')
pid = None
for i in range(3):
    is_(get('two').status, 500, 'two apps: / answers 500 (%d)' % i)
    res = get('two', '/b/')
    is_(res.status, 200, 'two apps: /b serves (%d)' % i)
    pid = pid or res.body.split()[0]
    is_(res.body.split()[0], pid, 'the same worker (%d)' % i)
    time.sleep(0.6)  # past the 1 s import retry
unlike(m.output(), r'\[pool two\] worker died', 'no worker of pool two died')
rc, out, err = ctl(cfg, 'status', 'two')
like(out, r'  back-off: none\n', 'status: no back-off') or diag(out)
like(out, r'  import failed .*: module fw_pyo3like .*%s\n' % FIX, 'status: the line') or diag(out)

if single:
    sline = (r'\[pool single pid \d+\] app %s: module fw_singlephase cannot be imported in a '
             r'sub-interpreter \(module fw_singlephase does not support loading in '
             r'subinterpreters\): %s\n' % (re.escape(app_path('refuse_single.wsgi')), FIX))
    like(m.output(), sline, 'CPython %d.%d refuses the single-phase module: the line names it'
         % embedded)
    is_(get('single').status, 500, 'and the app answers 500')
    rc, out, err = ctl(cfg, 'status', 'single')
    like(out, r'  import failed .*: module fw_singlephase .*%s\n' % FIX, 'status: the line')
    res = get('singleauto')
    is_((res.status, res.body), (200, b'%{GLOBAL} fw_singlephase'),
        'auto: it serves from the main interpreter')
else:
    skip('CPython %d.%d does not check single-phase modules' % embedded, 4)

m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(m)

# The responder: auto with its one SCRIPT; without one, refused.
r = start_responder(app_path('refuse_pyo3.wsgi'), '--application-group', 'auto',
                    '--python-path', ext, '--python-path', mods)
res = fcgi_request(r.addr, 'GET', '/', params=PARAMS)
is_((res.status, res.body), (200, b'%{GLOBAL} main'), 'responder, auto: served from the main '
    'interpreter')
r.stop()
p = subprocess.run([program('fcgiwsgi-responder'), '--listen', sock_path('nos.sock'),
                    '--application-group', 'auto'], capture_output=True, text=True, timeout=60)
is_(p.returncode, 2, 'responder: auto without a SCRIPT is a usage error')
like(p.stderr, r'--application-group auto needs a SCRIPT', 'saying why') or diag(p.stderr)

# -t: auto beside an app that is not in %{GLOBAL} would cost it its isolation.
bad = manager_config(pool('mixed', app('refuse_pyo3.wsgi', group='auto')
                          + app('mgr_app.wsgi', '/b', group='shared')), name='mixed.yaml')
p = subprocess.run([prog, '-t', '-c', bad], capture_output=True, text=True, timeout=60)
isnt(p.returncode, 0, '-t refuses auto beside an app in a sub-interpreter')
like(p.stderr, r'mixed\.yaml:\d+:\d+: .*application_group: auto.*every other app of pool '
     r"'mixed' must be in \"%\{GLOBAL\}\"", 'naming file:line:column and why') or diag(p.stderr)
good = manager_config(pool('mixed', app('refuse_pyo3.wsgi', group='auto')
                           + app('mgr_app.wsgi', '/b', group='"%{GLOBAL}"')), name='good.yaml')
p = subprocess.run([prog, '-t', '-c', good], capture_output=True, text=True, timeout=60)
is_(p.returncode, 0, 'and accepts it beside %{GLOBAL} apps') or diag(p.stderr)
done_testing()
