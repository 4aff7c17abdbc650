#!/usr/bin/env python3
# examples/deploy.sh, the release-symlink deploy the README shows, driven
# against a real manager under load: a good release is served when the
# script returns, with no request failed; a release that cannot import makes
# the script fail with the import error, the symlink points at the release
# still served, and a worker started afterwards loads that one too.
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

DEPLOY = os.path.join(src_dir(), 'examples', 'deploy.sh')
PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
d = tmpdir()
releases = os.path.join(d, 'releases')


def release(name, broken=False):
    path = os.path.join(releases, name)
    os.makedirs(path)
    with open(os.path.join(path, 'app.wsgi'), 'w') as f:
        if broken:
            f.write("raise ImportError('release %s needs a module that is not there')\n" % name)
        f.write('def application(environ, start_response):\n'
                "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                "    return [b'%s']\n" % name.encode().decode())
    return path


r1, r2, r3 = release('r1'), release('r2'), release('r3', broken=True)
current = os.path.join(d, 'current')
os.symlink(r1, current)
sock = sock_path('deploy.sock')
cfg = manager_config('''  web:
    listen: %s
    processes: 2
    allow_root: true
    apps: [{mount: /, script: %s/app.wsgi}]
''' % (sock, current), name='deploy.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: m.output().count('starting -> running') >= 2, timeout=30, what='workers ready')
is_(fcgi_request(sock, 'GET', '/', params=PARAMS).body, b'r1', 'release r1 is served at start')

ENV = dict(os.environ, FCGIWSGI_CTL=program('fcgiwsgi-ctl'))


def deploy(rel):
    p = subprocess.run(['sh', DEPLOY, '-c', cfg, 'web', current, rel], env=ENV,
                       capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def served():
    return {fcgi_request(sock, 'GET', '/', params=PARAMS).body for _ in range(8)}


load = Load(sock, clients=4, params=PARAMS)
time.sleep(0.3)
rc, out, err = deploy(r2)
is_(rc, 0, 'a good release: deploy.sh exits 0', ) or diag(out + err)
is_(served(), {b'r2'}, 'when it returns, every answer comes from the new release')
is_(os.readlink(current), r2, 'the link points at it')

rc, out, err = deploy(r3)
is_(rc, 1, 'a release that cannot import: deploy.sh exits 1')
like(err, r'needs a module that is not there', 'and prints the import error')
like(err, r'current -> .*r2 again', 'and says it pointed the link back')
is_(os.readlink(current), r2, 'the link points at the release still served')
is_(served(), {b'r2'}, 'the pool still serves r2')
time.sleep(0.3)
load.stop()
fails = load.failures()
for f in fails[:5]:
    diag('failed: %r' % (f[2:],))
is_(len(fails), 0, 'no request failed during both deploys (%d served)' % len(load.results))
ok(len(load.results) > 50, 'requests were served throughout (%d)' % len(load.results))

# A worker started after the failed deploy (here: a killed one is replaced)
# loads the release the link points at again.
st = json.loads(ctl(cfg, 'status', 'web', '--json')[1])['pools'][0]
victim = st['workers'][0]['pid']
os.kill(victim, signal.SIGKILL)


def replaced():
    ws = json.loads(ctl(cfg, 'status', 'web', '--json')[1])['pools'][0]['workers']
    return victim not in [w['pid'] for w in ws] and len(ws) == 2 and all(
        w['state'] in ('idle', 'busy') for w in ws)


wait_for(replaced, timeout=30, interval=0.2, what='a replacement worker')
is_(served(), {b'r2'}, 'a replacement worker serves r2 as well')

rc, out, err = subprocess.run(['sh', DEPLOY, 'web', current], capture_output=True,
                              env=ENV).returncode, '', ''
is_(rc, 2, 'deploy.sh with missing arguments: usage, exit 2')
m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
done_testing()
