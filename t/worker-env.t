#!/usr/bin/env python3
# A worker's environment is its pool's (issue 16): by default the
# manager's environment is cleared (HOME, USER, LOGNAME, SHELL and PATH for
# the pool's user, LANG/LC_* kept, env: on top), the working directory is
# the user's home (or chdir:), and umask: and rlimit_core: apply; the
# process title names the pool and generation.
import json
import os
import pwd
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
d = tmpdir()
os.chmod(d, 0o755)
work = os.path.join(d, 'work')
os.mkdir(work)
plain, tuned = sock_path('plain.sock'), sock_path('tuned.sock')
user = 'nobody' if os.geteuid() == 0 else None
cfg = manager_config('''  plain:
    listen: %(plain)s
    listen_mode: "0666"
    allow_root: true
    env: {FROM_POOL: yes}
    apps:
      - {mount: /, script: %(app)s}
  tuned:
    listen: %(tuned)s
    listen_mode: "0666"
    allow_root: true
    clear_env: false
    chdir: %(work)s
    umask: "0027"
    rlimit_core: 0
    apps:
      - {mount: /, script: %(app)s}
''' % {'plain': plain, 'tuned': tuned, 'app': app_path('env_app.wsgi'), 'work': work},
    name='env.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg], env={'MANAGER_ONLY_SECRET': 'm-secret',
                                                 'LANG': 'C.UTF-8', 'LC_TIME': 'C'})
wait_for(lambda: m.output().count('starting -> running') >= 2, timeout=30, what='workers ready')


def look(sock):
    return json.loads(fcgi_request(sock, 'GET', '/', params=PARAMS).body)


p = look(plain)
me = pwd.getpwuid(os.geteuid())
ok('MANAGER_ONLY_SECRET' not in p['env'], "the manager's environment is not inherited",
   got=sorted(p['env']))
is_(p['env'].get('FROM_POOL'), 'yes', 'env: is set')
is_(p['env'].get('HOME'), me.pw_dir, "HOME is the pool user's home")
is_(p['env'].get('USER'), me.pw_name, 'USER')
is_(p['env'].get('LOGNAME'), me.pw_name, 'LOGNAME')
is_(p['env'].get('SHELL'), me.pw_shell, 'SHELL')
ok(p['env'].get('PATH', '').startswith('/'), 'a PATH', got=p['env'].get('PATH'))
is_((p['env'].get('LANG'), p['env'].get('LC_TIME')), ('C.UTF-8', 'C'), 'LANG and LC_* are kept')
is_(p['cwd'], me.pw_dir if os.path.isdir(me.pw_dir) else '/', "the working directory is the "
    "user's home")
is_(p['cmdline'], 'fcgiwsgi: pool plain gen 0', 'the process title names the pool')
with open('/proc/%d/cmdline' % m.pid, 'rb') as f:
    is_(f.read().split(b'\0')[0].decode(), 'fcgiwsgi: master (%s)' % cfg,
        "the master's title names its configuration")
t = look(tuned)
is_(t['env'].get('MANAGER_ONLY_SECRET'), 'm-secret', 'clear_env: false keeps the environment')
is_(t['cwd'], work, 'chdir:')
is_(t['umask'], 0o027, 'umask:')
is_(t['core'], 0, 'rlimit_core:')
m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(m)
done_testing()
