#!/usr/bin/env python3
# Interpreters (DESIGN.md "Interpreters"): one sub-interpreter per
# application group, shared groups, %{GLOBAL} as the main interpreter,
# per-thread state kept between requests, a clean stop with Python
# finalized, also when an app left threads behind, and under the manager
# one interpreter per mount by default.
import json
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

A = app_path('interp_a.wsgi')
B = app_path('interp_b.wsgi')
MODS = app_path('interp_mods')


def call(proc, script, uri):
    """GET uri of script (SCRIPT_FILENAME mode if script is given); the
    JSON answer, or {'status': N} / {'error': ...} if there is none."""
    params = {'SCRIPT_FILENAME': script} if script else {}
    try:
        res = fcgi_request(proc.addr, 'GET', uri, params=params, timeout=10)
    except (FcgiError, OSError) as e:
        return {'error': str(e)}
    if res.status != 200:
        return {'status': res.status}
    try:
        return json.loads(res.body)
    except ValueError:
        return {'unparsable': res.body}


def stop_clean(proc, label, within=5):
    """SIGTERM: exit status 0 within `within` s, 'stopped' logged, no fatal."""
    t0 = time.monotonic()
    proc.signal(signal.SIGTERM)
    rc = proc.wait(10)
    took = time.monotonic() - t0
    if rc is None:
        proc.stop(1)
    is_(rc, 0, '%s: SIGTERM -> exit status 0' % label)
    ok(rc is not None and took < within, '%s: stopped within %d s' % (label, within),
       got='%.1f s' % took, expected='< %d s' % within)
    out = proc.output()
    like(out, r'notice \[responder pid \d+\] stopped\n', '%s: "stopped" is logged' % label)
    unlike(out, r'Fatal Python error', '%s: no "Fatal Python error"' % label)
    check_log_clean(proc)
    return rc, took


# ------------------------------------------- 1. isolation: one group per script
r = start_responder(None, '--python-path', MODS)
is_(call(r, A, '/set?alpha').get('set'), 'alpha', 'script A sets its module global')
is_(call(r, B, '/set?beta').get('set'), 'beta', 'script B sets the same module global')
is_(call(r, A, '/get').get('value'), 'alpha', 'A still sees its own value')
is_(call(r, B, '/get').get('value'), 'beta', 'B sees its own value')
is_(call(r, A, '/modules').get('scripts'), [A], "A's sys.modules holds A's script module, not B's")
is_(call(r, B, '/modules').get('scripts'), [B], "B's sys.modules holds B's script module, not A's")
got = call(r, A, '/main')
is_(got.get('group'), A, 'the default application group is the script path')
if got.get('main') is None:
    skip('this Python cannot tell the main interpreter from the others')
else:
    is_(got.get('main'), False, 'a default-group script is not in the main interpreter')

# 4. threading.local between requests on the one request thread
s1 = call(r, A, '/tl-set?t-local-1')
s2 = call(r, A, '/tl-get')
is_((s2.get('value'), s2.get('thread')), ('t-local-1', s1.get('thread')),
    'threading.local set in one request is seen by the next on the same thread')
is_(call(r, B, '/tl-get').get('value'), None, "another interpreter's threading.local is its own")
is_(call(r, A, '/tl-get').get('value'), 't-local-1', '... and A keeps its value after B ran')

# SCRIPT_FILENAME naming no file, and none at all: 404
is_(call(r, app_path('interp_missing.wsgi'), '/get'), {'status': 404}, 'SCRIPT_FILENAME of a missing file: 404')
is_(call(r, MODS, '/get'), {'status': 404}, 'SCRIPT_FILENAME naming a directory: 404')
is_(call(r, None, '/get'), {'status': 404}, 'no SCRIPT_FILENAME (and no script configured): 404')
is_(call(r, A, '/get').get('value'), 'alpha', 'served normally after the 404s')

# 5. clean shutdown after all this
stop_clean(r, 'two sub-interpreters')

# isolation under concurrency: 4 request threads switching between the two
# interpreters, each request must see its own script's value
r = start_responder(None, '--python-path', MODS, threads=4)
call(r, A, '/set?alpha')
call(r, B, '/set?beta')
answers = {}


def hammer(k):
    script, want = (A, 'alpha') if k % 2 == 0 else (B, 'beta')
    answers[k] = [call(r, script, '/get').get('value') == want for _ in range(25)]


workers = [threading.Thread(target=hammer, args=(k,)) for k in range(8)]
for t in workers:
    t.start()
for t in workers:
    t.join(60)
wrong = sum(v.count(False) for v in answers.values()) + 25 * (8 - len(answers))
is_(wrong, 0, '200 concurrent requests on 4 threads, alternating two interpreters: each sees its own value')
stop_clean(r, 'two sub-interpreters, 4 threads')

# ------------------------------------------ 2. sharing: --application-group
r = start_responder(None, '--python-path', MODS, '--application-group', 'shared')
call(r, A, '/set?from-a')
is_(call(r, B, '/get').get('value'), 'from-a', 'group "shared": B sees the value A set')
call(r, B, '/set?from-b')
is_(call(r, A, '/get').get('value'), 'from-b', 'group "shared": A sees the value B set')
is_(call(r, A, '/modules').get('scripts'), sorted([A, B]), 'group "shared": one sys.modules holds both scripts')
got = call(r, B, '/main')
is_(got.get('group'), 'shared', 'fcgiwsgi.application_group is "shared"')
if got.get('main') is None:
    skip('this Python cannot tell the main interpreter from the others')
else:
    is_(got.get('main'), False, 'a named group is a sub-interpreter, not the main one')
stop_clean(r, 'a shared group')

# ------------------------------------- 3. %{GLOBAL}: the main interpreter
r = start_responder(None, '--python-path', MODS, '--application-group', '%{GLOBAL}')
got = call(r, A, '/main')
is_(got.get('group'), '%{GLOBAL}', 'fcgiwsgi.application_group is %{GLOBAL}')
if got.get('main') is None:
    skip('this Python cannot tell the main interpreter from the others')
else:
    is_(got.get('main'), True, '%{GLOBAL} runs the app in the main interpreter')
call(r, A, '/set?global')
is_(call(r, B, '/get').get('value'), 'global', '%{GLOBAL}: both scripts share the main interpreter')
stop_clean(r, '%{GLOBAL}')

# ---------------------------------------------------- single-script mode
for group in (None, '%{GLOBAL}'):
    extra = ('--application-group', group) if group else ()
    label = 'single script%s' % (' in ' + group if group else '')
    r = start_responder(A, '--python-path', MODS, *extra, threads=1)
    s1 = call(r, None, '/tl-set?single')
    s2 = call(r, None, '/tl-get')
    is_((s2.get('value'), s2.get('thread')), ('single', s1.get('thread')),
        '%s: threading.local survives to the next request (--threads 1)' % label)
    got = call(r, None, '/main')
    if got.get('main') is None:
        skip('this Python cannot tell the main interpreter from the others')
    else:
        is_(got.get('main'), group is not None, '%s: main interpreter is %s' % (label, group is not None))
    # One app per responder: per script is per mount; the name stays the path.
    is_(got.get('group'), group or A, '%s: the application group is %s' % (label, group or 'the script path'))
    stop_clean(r, label)

# ------------------------------- 6. threads left behind by the app at stop
# /start: a non-daemon thread ending 0.5 s later and a daemon thread that
# never ends; /quick: only the non-daemon one. The stop must join the
# non-daemon thread (as Python's own exit does) and exit 0 within 10 s. A
# daemon thread may keep a sub-interpreter alive: then the responder warns
# and skips finalization (reported, not failed); with only the non-daemon
# thread, nothing may be left and Python is finalized.
for route, extra in (('/start', ()), ('/start', ('--no-preload',)),
                     ('/start', ('--application-group', '%{GLOBAL}')),
                     ('/quick', ()), ('/quick', ('--no-preload',))):
    label = 'app thread(s) by %s%s' % (route, (' with ' + ' '.join(extra)) if extra else '')
    r = start_responder(app_path('interp_threads.wsgi'), *extra)
    res = fcgi_request(r.addr, 'GET', route, timeout=10)
    like(res.body, rb'^threads: \d+$', '%s: started' % label)
    t0 = time.monotonic()
    r.signal(signal.SIGTERM)
    rc = r.wait(10)
    took = time.monotonic() - t0
    if rc is None:
        r.stop(1)
    ok(rc is not None, '%s: SIGTERM -> the process exits within 10 s' % label,
       got='still running after 10 s' if rc is None else 'exited in %.1f s' % took)
    is_(rc, 0, '%s: exit status 0' % label)
    out = r.output()
    unlike(out, r'Fatal Python error', '%s: no "Fatal Python error"' % label)
    like(out, r'stdout: quick-thread-done\n(.|\n)*stopped\n',
         '%s: the non-daemon thread was joined before the stop' % label)
    warned = [ln.split('] ', 1)[-1] for ln in out.splitlines()
              if 'still has threads' in ln or 'skipping Python finalization' in ln]
    if route == '/quick':
        is_(warned, [], '%s: nothing left running, Python finalized' % label)
    diag('%s: exit status %s after %.1f s; warnings: %s' % (label, rc, took, warned or 'none'))
    check_log_clean(r)


# ------------------------- 7. the manager: the default group is the mount
# mod_wsgi's default group is the resource (host, port, mount), not the
# file: one script at two mounts runs twice, in two interpreters, unless
# the apps name one group (issue 14, item 4: Django at two mounts linked
# one mount's static files from the other's pages). One process, so every
# request meets every interpreter.
sock = sock_path('mgr.sock')
cfg = manager_config('''
  p:
    listen: %(sock)s
    allow_root: true
    python_path: [%(mods)s]
    apps:
      - {mount: /, script: %(a)s}
      - {mount: /one, script: %(a)s}
      - {mount: /two/, script: %(a)s}
      - {mount: /s1, script: %(a)s, application_group: shared}
      - {mount: /s2, script: %(b)s, application_group: shared}
      - {mount: /g, script: %(a)s, application_group: "%%{GLOBAL}"}
''' % {'sock': sock, 'mods': MODS, 'a': A, 'b': B})
m = start_fcgiwsgi(cfg, ['p'])
m.addr = sock
groups = {mount: call(m, None, mount + '/main') for mount in ('', '/one', '/two', '/s1', '/s2', '/g')}
is_({k: v.get('group') for k, v in groups.items()},
    {'': 'p|/', '/one': 'p|/one', '/two': 'p|/two', '/s1': 'shared', '/s2': 'shared',
     '/g': '%{GLOBAL}'},
    'manager: the default application group is "POOL|MOUNT" (mount canonical), a named one '
    'is kept')
is_({k: v.get('main') for k, v in groups.items()},
    {'': False, '/one': False, '/two': False, '/s1': False, '/s2': False, '/g': True}
    if groups['/g'].get('main') is not None else {k: None for k in groups},
    'manager: only %{GLOBAL} runs in the main interpreter')
call(m, None, '/one/set?one')
call(m, None, '/two/set?two')
is_([call(m, None, mount + '/get').get('value') for mount in ('', '/one', '/two')],
    [None, 'one', 'two'], 'manager: one script at /, /one and /two: three interpreters, '
    'each with its own module state')
is_(call(m, None, '/one/modules').get('scripts'), [A],
    "manager: /one's interpreter holds its script's module once")
call(m, None, '/s1/set?sh')
is_(call(m, None, '/s2/get').get('value'), 'sh',
    'manager: two scripts naming group "shared" share one interpreter')
is_(call(m, None, '/s2/modules').get('scripts'), sorted([A, B]),
    'manager: ... whose sys.modules holds both scripts')
out = m.output()
is_(sorted(re.findall(r"\[pool p pid \d+\] created interpreter for application group "
                      r"'([^']*)'", out)),
    ['p|/', 'p|/one', 'p|/two', 'shared'],
    'manager: the log names each interpreter created, by its group')
is_(m.stop(), 0, 'manager: stops with 0')
unlike(m.output(), r'Fatal Python error', 'manager: no "Fatal Python error"')
check_log_clean(m)

done_testing()
