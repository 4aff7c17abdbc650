#!/usr/bin/env python3
# The Django deploy the README's "Operating on Debian" shows, end to end: a
# project made by `django-admin startproject` (Debian's python3-django),
# migrated and collectstatic'ed, served by a pool with python_path and
# DJANGO_SETTINGS_MODULE, behind nginx with conf/snippets/nginx-django.conf
# (static files from disk by nginx, the rest to the pool): the admin login
# page, its stylesheet (not from the app), and a CSRF-protected login POST
# that reaches the database.
import hashlib
import os
import re
import signal
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

if not os.access('/usr/sbin/nginx', os.X_OK):
    skip_all('nginx not installed')
if not os.access('/usr/bin/django-admin', os.X_OK):
    skip_all('python3-django not installed')

d = tmpdir()
release = os.path.join(d, 'releases', 'r1')
os.makedirs(release)
static_root = os.path.join(d, 'static')
PY = '/usr/bin/python3'


def run(argv, cwd=None):
    p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=180)
    if p.returncode:
        diag('%s: exit %d\n%s%s' % (' '.join(argv), p.returncode, p.stdout, p.stderr))
    return p.returncode


is_(run(['/usr/bin/django-admin', 'startproject', 'mysite', release]), 0,
    'django-admin startproject')
with open(os.path.join(release, 'mysite', 'settings.py'), 'a') as f:
    f.write("\nDEBUG = False\nALLOWED_HOSTS = ['127.0.0.1', 'localhost']\n"
            "STATIC_ROOT = %r\n" % static_root)
current = os.path.join(d, 'current')
os.symlink(release, current)
is_(run([PY, 'manage.py', 'migrate', '--noinput'], cwd=current), 0, 'manage.py migrate')
is_(run([PY, 'manage.py', 'collectstatic', '--noinput'], cwd=current), 0,
    'manage.py collectstatic')
css = os.path.join(static_root, 'admin', 'css', 'base.css')
ok(os.path.isfile(css), 'collectstatic wrote the admin stylesheet')

sock = sock_path('mysite.sock')
cfg = manager_config('''  mysite:
    listen: %s
    processes: 2
    allow_root: true
    python_path: [%s]
    env: {DJANGO_SETTINGS_MODULE: mysite.settings}
    apps: [{mount: /, script: %s/mysite/wsgi.py}]
''' % (sock, current, current), name='mysite.yaml')
p = subprocess.run([program('fcgiwsgi'), '-t', '-c', cfg], capture_output=True, text=True)
is_(p.returncode, 0, 'fcgiwsgi -t accepts the pool') or diag(p.stderr)
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: m.output().count('starting -> running') >= 2, timeout=60, what='workers ready')
snippet = web_snippet('nginx-django.conf', SOCKET=sock, STATIC_ROOT=static_root)
ngx = start_nginx('server {\n    listen 127.0.0.1:@PORT@;\n    include %s;\n}\n' % snippet)
addr = ('127.0.0.1', ngx.port)

r = http_request(addr, 'GET', '/admin/login/?next=/admin/')
is_(r.status, 200, 'GET /admin/login/ through nginx: 200')
like(r.body.decode("utf-8", "replace"), r'href="/static/admin/css/base\.css"', 'the page links its stylesheet under /static/')
token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', r.body.decode("utf-8", "replace"))
cookie = re.search(r'csrftoken=([^;]+)', r.header('Set-Cookie') or '')
ok(token and cookie, 'the login form carries a CSRF token and cookie')

s = http_request(addr, 'GET', '/static/admin/css/base.css')
with open(css, 'rb') as f:
    want = f.read()
is_((s.status, hashlib.sha1(s.body).hexdigest()), (200, hashlib.sha1(want).hexdigest()),
    'the stylesheet arrives whole')
is_(s.header('X-Frame-Options'), None, 'served by nginx from disk (no Django header on it)')
ok(s.header('Expires') is not None, "with the snippet's expires")

if token and cookie:
    body = urllib.parse.urlencode({'csrfmiddlewaretoken': token.group(1), 'username': 'nobody',
                                   'password': 'wrong', 'next': '/admin/'}).encode()
    r = http_request(addr, 'POST', '/admin/login/?next=/admin/', body=body, headers={
        'Content-Type': 'application/x-www-form-urlencoded',
        'Cookie': 'csrftoken=' + cookie.group(1),
        'Referer': 'http://127.0.0.1:%d/admin/login/' % ngx.port})
    is_(r.status, 200, 'a login POST with the CSRF token is taken (200, not 403)')
    like(r.body.decode("utf-8", "replace"), r'Please enter the correct username and password',
         'and checked against the database: wrong credentials')
r = http_request(addr, 'POST', '/admin/login/', body=b'username=x', headers={
    'Content-Type': 'application/x-www-form-urlencoded'})
is_(r.status, 403, 'a POST without the token: 403 from Django')
r = http_request(addr, 'GET', '/nowhere/')
is_(r.status, 404, "an unknown path: Django's 404")
check_log_clean(m)
ngx.stop()
m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
done_testing()
