#!/usr/bin/env python3
# A request header sent twice reaches us as two params of one name (nginx,
# lighttpd and Apache all do this): the app must see both values joined,
# ", " between them and "; " for Cookie, as gunicorn and CGI servers give
# them (issue 14, item 7). HTTP_HOST is the exception: a second one is an
# nginx config overriding the first (conf/snippets/nginx.conf), so the last
# stands. Sent
# here as raw FastCGI params, and through real nginx when it is installed.
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

APP = app_path('web_env.wsgi')


def environ_of(res):
    try:
        return json.loads(res.body)
    except ValueError:
        return {}


r = start_responder(APP, threads=2)
base = list(cgi_params('GET', '/env', params={'HTTP_HOST': None}).items())
pairs = base + [('HTTP_X_REP', 'a'), ('HTTP_COOKIE', 'a=1'), ('HTTP_HOST', 'first.example'),
                ('HTTP_X_REP', 'b'), ('HTTP_COOKIE', 'b=2'), ('HTTP_HOST', 'second.example'),
                ('HTTP_X_ONCE', 'x')]
with FcgiConn(r.addr) as c:
    res = c.request(pairs)
env = environ_of(res)
is_(res.status, 200, 'raw params: 200')
is_(env.get('HTTP_X_REP'), 'a, b', 'raw params: X-Rep twice: both values, joined with ", "')
is_(env.get('HTTP_COOKIE'), 'a=1; b=2', 'raw params: Cookie twice: joined with "; "')
is_(env.get('HTTP_HOST'), 'second.example',
    'raw params: HTTP_HOST twice: not joined, the last stands (nginx configs override it so)')
is_(env.get('HTTP_X_ONCE'), 'x', 'raw params: a header sent once as it was')

# Many repeats of one name within max_params: the value holds them all,
# and the worker does not spend quadratic time on them.
many = base + [('HTTP_X_MANY', 'v%d' % i) for i in range(5000)]
with FcgiConn(r.addr) as c:
    res = c.request(many)
env = environ_of(res)
want = ', '.join('v%d' % i for i in range(5000))
got = env.get('HTTP_X_MANY') or ''
ok(got == want, '5000 repeats of one header: every value, in order',
   got='%d bytes: %s...' % (len(got), got[:40]), expected='%d bytes: %s...' % (len(want), want[:40]))
is_(fcgi_request(r.addr, 'GET', '/env').status, 200, 'the responder serves on')
r.stop()
check_log_clean(r)

if not os.access('/usr/sbin/nginx', os.X_OK):
    skip('nginx not installed', 3)
else:
    r = start_responder(APP, threads=2)
    ng = start_nginx('''
server {
    listen 127.0.0.1:@PORT@;
    location / {
        include /etc/nginx/fastcgi_params;
        fastcgi_pass unix:%s;
    }
}
''' % r.addr)
    res = http_request(('127.0.0.1', ng.port), 'GET', '/env',
                       headers=[('X-Rep', 'a'), ('Cookie', 'a=1'), ('X-Rep', 'b'),
                                ('Cookie', 'b=2')])
    env = environ_of(res)
    is_(env.get('HTTP_X_REP'), 'a, b', 'nginx: X-Rep twice: "a, b"')
    is_(env.get('HTTP_COOKIE'), 'a=1; b=2', 'nginx: Cookie twice: "a=1; b=2"')
    r.stop()
    check_log_clean(r, 'nginx: no crash or sanitizer lines in the responder log')
done_testing()
