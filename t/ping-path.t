#!/usr/bin/env python3
# ping_path (issue 17, php-fpm's ping.path): the worker itself answers 200
# "pong" on that path, before any app, so a FastCGI-only health check
# (HAProxy's fcgi-app, an nginx location) learns that the worker is up and
# reads requests even when every app request fails; every other path
# still goes to the app. A bad ping_path is refused at file:line:column.
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

sock = sock_path('ping.sock')
broken = os.path.join(tmpdir(), 'raises.wsgi')
with open(broken, 'w') as f:
    f.write('def application(environ, start_response):\n    raise RuntimeError("down")\n')
pools = '''  p:
    listen: %s
    allow_root: true
    ping_path: /fcgiwsgi-ping
    apps:
      - {mount: /, script: %s}
''' % (sock, broken)
cfg = manager_config(pools, name='ping.yaml')
m = start_fcgiwsgi(cfg, ['p'])
r = fcgi_request(sock, uri='/fcgiwsgi-ping')
is_((r.status, r.body), (200, b'pong\n'), 'ping_path: 200 pong from the worker')
is_(dict(r.headers).get('Content-Type'), 'text/plain', '... as text/plain')
r = fcgi_request(sock, uri='/fcgiwsgi-ping?from=haproxy')
is_((r.status, r.body), (200, b'pong\n'), '... whatever the query string')
r = fcgi_request(sock, method='HEAD', uri='/fcgiwsgi-ping')
is_((r.status, r.body), (200, b''), 'HEAD: no body')
is_(fcgi_request(sock, uri='/').status, 500, 'another path goes to the app (which fails: 500)')
is_(fcgi_request(sock, uri='/fcgiwsgi-ping/x').status, 500, '... and so does a longer path')
is_(len(re.findall(r'exception in the WSGI app', m.output())), 2,
    'the app saw the two other requests, never a ping')
m.signal(15)
is_(m.wait(30), 0, 'the manager stops with 0')

bad = manager_config(pools.replace('/fcgiwsgi-ping', 'fcgiwsgi ping'), name='bad.yaml')
p = subprocess.run([program('fcgiwsgi'), '-t', '-c', bad], capture_output=True, text=True)
like(p.stdout + p.stderr, r'bad\.yaml:8:16: error: .ping_path. must be a path',
     'a ping_path that is no path: refused at file:line:column')
done_testing()
