#!/usr/bin/env python3
# Apps no one here wrote, served by the fcgiwsgi manager behind nginx (the
# shipped conf/snippets/nginx.conf) and driven over real HTTP like a
# browser: a Flask app at / (Debian's python3-flask), httpbin at /httpbin
# (python3-httpbin) and a Django project at /app and /app/sub
# (python3-django): sessions and cookies, redirects (which must carry
# SCRIPT_NAME), form posts with Django's CSRF protection, multipart file
# uploads, external URLs over HTTP and HTTPS, file downloads through
# wsgi.file_wrapper (with ranges and conditional requests), the frameworks'
# own 404 and 500 pages, HEAD on streamed responses, repeated request
# headers, and one script at two mounts of a pool (each its own interpreter:
# the Django admin links its own mount's static files).
import datetime
import hashlib
import http.cookies
import json
import os
import re
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

if not os.access('/usr/sbin/nginx', os.X_OK):
    skip_all('nginx not installed')
for pkg, mod in (('python3-flask', 'flask'), ('python3-django', 'django'),
                 ('python3-httpbin', 'httpbin')):
    if not os.path.isdir('/usr/lib/python3/dist-packages/' + mod):
        skip_all('%s not installed' % pkg)

sock = sock_path('app.sock')
fcgi_port = free_port()
peer_file = os.path.join(tmpdir(), 'data.bin')
file_data = os.urandom(5 << 20)
with open(peer_file, 'wb') as f:
    f.write(file_data)
file_sha1 = hashlib.sha1(file_data).hexdigest()
# Two processes each: a session started in one must work in the other.
# The Django script is mounted twice in one pool (nginx's `location /app`
# takes /app/sub too; the longest mount wins), with the default application
# group.
cfg = manager_config('''
  app:
    listen: %(sock)s
    listen_mode: "0666"
    processes: 2
    threads: 4
    allow_root: true
    env: {FW_PEER_FILE: %(file)s}
    apps:
      - mount: /app
        script: %(django)s
      - mount: /app/sub
        script: %(django)s
  site:
    listen: 127.0.0.1:%(port)d
    processes: 2
    threads: 4
    allow_root: true
    env: {FW_PEER_FILE: %(file)s}
    apps:
      - mount: /
        script: %(flask)s
      - mount: /httpbin
        script: %(httpbin)s
''' % {'sock': sock, 'port': fcgi_port, 'django': app_path('peer_django.wsgi'),
       'flask': app_path('peer_flask.wsgi'), 'httpbin': app_path('peer_httpbin.wsgi'),
       'file': peer_file})
mgr = start_fcgiwsgi(cfg, ['app', 'site'])
tls = web_tls_cert()
ng, A, T = start_nginx_snippet('nginx.conf', tls, SOCKET=sock, FCGI_PORT=fcgi_port)


class Browser:
    """Cookies kept across requests, redirects followed on request."""

    def __init__(self, addr):
        self.addr, self.jar = addr, {}

    def go(self, method, path, body=None, headers=None, follow=False):
        h = dict(headers or {})
        if self.jar:
            h['Cookie'] = '; '.join('%s=%s' % kv for kv in sorted(self.jar.items()))
        res = http_request(self.addr, method, path, body=body, headers=h)
        for line in res.header_all('Set-Cookie'):
            c = http.cookies.SimpleCookie()
            c.load(line)
            for name, m in c.items():
                if m['max-age'] == '0' or '1970' in m['expires']:
                    self.jar.pop(name, None)
                else:
                    self.jar[name] = m.value
        res.text = res.body.decode('utf-8', 'replace')
        if follow and res.status in (301, 302, 303, 307, 308):
            u = urllib.parse.urlsplit(res.header('Location'))
            return self.go('GET', u.path + ('?' + u.query if u.query else ''), follow=True)
        return res


def form(fields):
    return (urllib.parse.urlencode(fields),
            {'Content-Type': 'application/x-www-form-urlencoded'})


def multipart(fields, files):
    boundary = 'fwtest' + os.urandom(8).hex()
    out = b''
    for k, v in fields.items():
        out += ('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                % (boundary, k, v)).encode()
    for k, (fname, data) in files.items():
        out += ('--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
                'Content-Type: application/octet-stream\r\n\r\n'
                % (boundary, k, fname)).encode() + data + b'\r\n'
    out += ('--%s--\r\n' % boundary).encode()
    return out, {'Content-Type': 'multipart/form-data; boundary=' + boundary}


def msg(res):
    m = re.search(r'<p id="msg">(.*?)</p>', res.text)
    return m and m.group(1)


# ------------------------------------------------------------------ Flask at /
b = Browser(A)
r1 = b.go('GET', '/')
r2 = b.go('GET', '/')
is_((r1.status, msg(r1), r2.status, msg(r2)), (200, 'visits=1', 200, 'visits=2'),
    'Flask: the session cookie carries a counter across requests')
ok('session' in b.jar, 'Flask: session cookie set', got=b.jar)
r = b.go('POST', '/login', *form({'user': 'alice'}))
is_((r.status, r.header('Location')), (302, '/me'), 'Flask: form post answers a redirect to /me')
r = b.go('GET', r.header('Location') or '/me')
is_((r.status, msg(r)), (200, 'user=alice'), 'Flask: the redirect target sees the logged-in user')
is_(Browser(A).go('GET', '/me', follow=True).status, 200,
    'Flask: without the session, /me redirects back to the index')
is_(b.go('POST', '/login', *form({'user': ''})).status, 400, 'Flask: empty form field: 400')
data = os.urandom(2 << 20)
r = b.go('POST', '/upload', *multipart({'note': 'hi'}, {'file': ('a b.bin', data)}))
is_((r.status, json.loads(r.body) if r.status == 200 else r.text),
    (200, {'name': 'a b.bin', 'size': len(data), 'sha1': hashlib.sha1(data).hexdigest(),
           'field': 'hi'}), 'Flask: 2 MB multipart upload arrives whole with its form field')
r = b.go('GET', '/cookies')
is_(sorted(c.split(';')[0] for c in r.header_all('Set-Cookie')), ['first=1', 'second=2'],
    'Flask: two Set-Cookie headers')
r = b.go('GET', '/ext')
is_(json.loads(r.body) if r.status == 200 else r.text,
    {'me': 'http://127.0.0.1:%d/me' % ng.port, 'secure': False,
     'root': 'http://127.0.0.1:%d/' % ng.port}, 'Flask: external URLs')
if tls:
    r = https_request(T, 'GET', '/ext')
    is_(json.loads(r.body) if r.status == 200 else r.body,
        {'me': 'https://127.0.0.1:%d/me' % T[1], 'secure': True,
         'root': 'https://127.0.0.1:%d/' % T[1]}, 'Flask over TLS: https external URLs')
else:
    skip('no openssl: no TLS')
r = b.go('GET', '/file')
etag = r.header('ETag')
is_((r.status, hashlib.sha1(r.body).hexdigest(), r.header('Content-Length')),
    (200, file_sha1, str(len(file_data))), 'Flask: send_file of 5 MB (wsgi.file_wrapper)')
r = b.go('GET', '/file', headers={'Range': 'bytes=1000-1999'})
is_((r.status, r.body, r.header('Content-Range')),
    (206, file_data[1000:2000], 'bytes 1000-1999/%d' % len(file_data)),
    'Flask: send_file with a Range: 206 and the right bytes')
r = b.go('GET', '/file', headers={'If-None-Match': etag or '"none"'})
is_((r.status, r.body), (304, b''), 'Flask: send_file with If-None-Match: 304, no body')
r = b.go('GET', '/nope')
ok(r.status == 404 and 'Not Found' in r.text, 'Flask: its 404 page', got=(r.status, r.text[:200]))
r = b.go('GET', '/boom')
ok(r.status == 500 and 'Internal Server Error' in r.text, 'Flask: its 500 page',
   got=(r.status, r.text[:200]))
r = b.go('HEAD', '/')
is_((r.status, r.body), (200, b''), 'Flask: HEAD: 200, no body')

# ------------------------------------------------------------ Django at /app
d = Browser(A)
r1 = d.go('GET', '/app/')
r2 = d.go('GET', '/app/')
is_((r1.status, msg(r1), r2.status, msg(r2)), (200, 'visits=1', 200, 'visits=2'),
    'Django: the session (signed cookie) carries a counter across requests')
like(r1.text, r'<p id="root">/app</p>', 'Django: SCRIPT_NAME is /app')
like(r1.text, r'href="/app/form/"', 'Django: reverse() includes the mount')
r = d.go('GET', '/app/form')
is_((r.status, r.header('Location')), (301, '/app/form/'),
    'Django: APPEND_SLASH redirect keeps the mount')
r = d.go('GET', '/app/form/')
m = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', r.text)
ok(r.status == 200 and m and 'csrftoken' in d.jar, 'Django: the form page sets a CSRF token',
   got=(r.status, d.jar))
token = m.group(1) if m else ''
like(r.text, r'action="/app/form/"', 'Django: the form posts back under the mount')
r = d.go('POST', '/app/form/', *form({'name': 'bob'}))
is_(r.status, 403, 'Django: a post without the CSRF token is refused (403)')
r = d.go('POST', '/app/form/', *form({'name': 'bob', 'csrfmiddlewaretoken': token}))
is_((r.status, r.header('Location')), (302, '/app/thanks/'),
    'Django: a post with the CSRF token redirects to /app/thanks/')
r = d.go('GET', '/app/thanks/')
ok(r.status == 200 and msg(r) == 'name=bob' and 'saved bob' in r.text,
   'Django: the redirect target shows the saved name and the flash message',
   got=(r.status, r.text[:300]))
data = os.urandom(3 << 20)
body, hdrs = multipart({'note': 'up', 'csrfmiddlewaretoken': token},
                       {'file': ('x.bin', data)})
r = d.go('POST', '/app/upload/', body, hdrs)
is_((r.status, json.loads(r.body) if r.status == 200 else r.text),
    (200, {'name': 'x.bin', 'size': len(data), 'sha1': hashlib.sha1(data).hexdigest(),
           'note': 'up'}), 'Django: 3 MB multipart upload (to a temporary file) arrives whole')
r = d.go('GET', '/app/abs/?x=1')
is_(json.loads(r.body) if r.status == 200 else r.text,
    {'abs': 'http://127.0.0.1:%d/app/abs/?x=1' % ng.port, 'secure': False,
     'host': '127.0.0.1:%d' % ng.port, 'path': '/app/abs/', 'path_info': '/abs/'},
    'Django: build_absolute_uri, get_host, path and path_info')
if tls:
    r = https_request(T, 'GET', '/app/abs/?x=1')
    is_(json.loads(r.body) if r.status == 200 else r.body,
        {'abs': 'https://127.0.0.1:%d/app/abs/?x=1' % T[1], 'secure': True,
         'host': '127.0.0.1:%d' % T[1], 'path': '/app/abs/', 'path_info': '/abs/'},
        'Django over TLS: is_secure() and an https absolute URI')
else:
    skip('no openssl: no TLS')
r = d.go('GET', '/app/file/')
is_((r.status, hashlib.sha1(r.body).hexdigest(), r.header('Content-Disposition')),
    (200, file_sha1, 'attachment; filename="data.bin"'),
    'Django: FileResponse of 5 MB (wsgi.file_wrapper)')
r = d.go('GET', '/app/nope/')
ok(r.status == 404 and 'peersite: page not found' in r.text, 'Django: its 404 page',
   got=(r.status, r.text[:200]))
r = d.go('GET', '/app/boom/')
ok(r.status == 500 and 'peersite: server error' in r.text, 'Django: its 500 page',
   got=(r.status, r.text[:200]))
r = d.go('GET', '/nope-outside')
is_(r.status, 404, 'a path outside /app goes to Flask (its 404)')

# ------------------------------------- Django at /app and /app/sub, one script
# Django prefixes a relative STATIC_URL with the SCRIPT_NAME of the first
# request that reads it, and keeps it for the interpreter's life: two mounts
# sharing an interpreter link one mount's static files from the other's
# pages (issue 14, item 4). Both mounts in turn, 6 times each: each of the
# pool's two processes then renders both.
URL_ATTR = re.compile(r'\b(?:href|src|action)="([^"]*)"')


def site_relative(html):
    return [u for u in URL_ATTR.findall(html) if u.startswith('/') and not u.startswith('//')]


def under(url, mount, other):
    """url is under mount/, and not under other/ where that is inside it."""
    return url.startswith(mount + '/') and not (other.startswith(mount + '/') and
                                                url.startswith(other + '/'))


MOUNTS = (('/app/sub', '/app'), ('/app', '/app/sub'))
seen = {m: [] for m, _ in MOUNTS}
pages = {}
for _ in range(6):
    for mount, other in MOUNTS:
        r = Browser(A).go('GET', mount + '/admin/login/')
        urls = pages[mount] = site_relative(r.text)
        seen[mount].append((r.status, [u for u in urls if not under(u, mount, other)]
                            if urls else 'no site-relative URL'))
for mount, other in MOUNTS:
    bad = [s for s in seen[mount] if s != (200, [])]
    ok(not bad, 'Django admin at %s (one script at two mounts of a pool): every site-relative '
       'href, src and action of %s/admin/login/, 6 times, is under %s/ and not under %s/'
       % (mount, mount, mount, other), got=bad[:2])
assets = [u for u in pages['/app/sub'] if u.startswith('/app/sub/static/')]
ok('/app/sub/static/admin/css/base.css' in assets,
   'Django admin at /app/sub links its stylesheet under /app/sub/static/', got=assets)
got = [(u, Browser(A).go('GET', u).status) for u in assets]
is_([g for g in got if g[1] != 200], [], 'Django admin at /app/sub: each of its %d static '
    'files is served under the mount' % len(got))

# ------------------------------------------------------------ httpbin at /httpbin
# RFC 9110 9.3.2: a HEAD's Content-Length, if any, is the GET's. Werkzeug
# answers HEAD with an empty body; nothing may derive "0" from it (issue
# 14, item 3).
for path in ('/httpbin/stream/3', '/httpbin/stream-bytes/10'):
    g = http_request(A, 'GET', path)
    h = http_request(A, 'HEAD', path)
    ok(g.status == 200 and h.status == 200 and h.body == b'' and
       h.header('Content-Length') in (None, str(len(g.body))),
       "httpbin: HEAD %s: no Content-Length, or the GET's (not 0)" % path,
       got=(g.status, h.status, 'GET body %d bytes' % len(g.body),
            'HEAD Content-Length %s' % h.header('Content-Length')))
# nginx passes each of two same-named headers as a param of its own; a
# CGI server joins them (RFC 9110 5.3).
r = http_request(A, 'GET', '/httpbin/headers', headers=[('X-Rep', 'a'), ('X-Rep', 'b')])
rep = json.loads(r.body).get('headers', {}).get('X-Rep') if r.status == 200 else r.status
ok(rep in ('a, b', 'a,b'), 'httpbin: two X-Rep headers reach the app as "a, b"', got=rep)

# ------------------------------------------------------------------ logs
out = mgr.output()
is_(len(re.findall(r'ZeroDivisionError', out)) >= 2 and
    len(re.findall(r'Traceback', out)), 2,
    'the log holds the two expected tracebacks (Flask and Django /boom), no others')
# Django sets TZ for the whole process (os.environ['TZ'] and time.tzset(),
# from settings.TIME_ZONE): the worker's own log lines must keep the
# manager's clock, so the shared log stays in order.
stamps = re.findall(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.\d+ ', out, re.M)
secs = [datetime.datetime.strptime(t, '%Y-%m-%d %H:%M:%S').timestamp() for t in stamps]
backwards = [(stamps[i], stamps[i + 1]) for i in range(len(secs) - 1) if secs[i + 1] < secs[i] - 60]
ok(not backwards, 'log timestamps stay in one time zone (UTC) after Django sets TZ',
   got=backwards[:3])
is_(nginx_bad_log_lines(ng), [], 'nginx: error.log has no [crit]/[alert]/[emerg]')
is_(mgr.stop(), 0, 'manager stops with 0')
check_log_clean(mgr, 'manager log clean')
done_testing()
