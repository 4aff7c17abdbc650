#!/usr/bin/env python3
# A Flask app in a virtualenv, as the README's "Operating on Debian" section
# deploys one: `python_home: VENV` runs the pool's apps in that venv (its
# sys.prefix, its site-packages first), with Debian's Flask seen through
# --system-site-packages, and `fcgiwsgi -t` accepts it.
import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

try:
    subprocess.run(['/usr/bin/python3', '-c', 'import flask, venv'], check=True,
                   capture_output=True)
except (OSError, subprocess.CalledProcessError):
    skip_all("Debian's python3-flask and python3-venv are not installed")

d = tmpdir()
venv = os.path.join(d, 'venv')
subprocess.run(['/usr/bin/python3', '-m', 'venv', '--system-site-packages', '--without-pip', venv],
               check=True, capture_output=True, timeout=120)
site = subprocess.run([os.path.join(venv, 'bin', 'python3'), '-c',
                       'import sysconfig; print(sysconfig.get_path("purelib"))'],
                      check=True, capture_output=True, text=True).stdout.strip()
# A module only the venv has, as `pip install` into it would leave.
with open(os.path.join(site, 'venv_only_marker.py'), 'w') as f:
    f.write("WHERE = 'the venv'\n")
script = os.path.join(d, 'flaskapp.wsgi')
with open(script, 'w') as f:
    f.write('''import json, sys
import flask
import venv_only_marker
app = flask.Flask(__name__)

@app.route('/')
def index():
    return flask.jsonify(prefix=sys.prefix, base_prefix=sys.base_prefix,
                         marker=venv_only_marker.WHERE, flask=flask.__file__,
                         site_first=[p for p in sys.path if p.endswith('site-packages')][:1])

application = app
''')
sock = sock_path('venv.sock')
cfg = manager_config('''  flask:
    listen: %s
    processes: 1
    allow_root: true
    python_home: %s
    apps: [{mount: /, script: %s}]
''' % (sock, venv, script), name='venv.yaml')
p = subprocess.run([program('fcgiwsgi'), '-t', '-c', cfg], capture_output=True, text=True)
is_(p.returncode, 0, 'fcgiwsgi -t accepts a venv of the embedded CPython') or diag(p.stderr)
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: 'starting -> running' in m.output(), timeout=30, what='the worker ready')
res = fcgi_request(sock, 'GET', '/', params={'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'})
is_(res.status, 200, 'the Flask app in the venv answers')
got = json.loads(res.body)
is_(os.path.realpath(got['prefix']), os.path.realpath(venv), "sys.prefix is the venv")
is_(got['base_prefix'], '/usr', "sys.base_prefix is Debian's CPython")
is_(got['marker'], 'the venv', "a module installed only in the venv imports")
is_([os.path.realpath(x) for x in got['site_first']], [os.path.realpath(site)],
    "the venv's site-packages comes before the system's")
like(got['flask'], r'^/usr/lib/python3/dist-packages/flask/', "Debian's Flask through --system-site-packages")
m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
done_testing()
