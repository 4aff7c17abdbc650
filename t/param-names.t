#!/usr/bin/env python3
# Param names are interned once per interpreter in a bounded table
# (pyhost/module.c): far more distinct names than the table holds, long
# names, and names differing in one byte or only in length must all reach
# the app as sent, request after request.
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

r = start_responder(app_path('web_env.wsgi'))
BASE = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
bad = []
for i in range(600):  # the table has 256 slots, filled to 3/4
    names = {'HTTP_X_%d' % i: 'v%d' % i, 'HTTP_X_%d_' % i: 'w%d' % i,
             'HTTP_' + 'L' * (40 + i % 40): 'long%d' % i,
             'HTTP_\xe9T\xe9_%d' % (i % 7): 'latin%d' % i}
    res = fcgi_request(r.addr, params=dict(BASE, **names))
    env = json.loads(res.body)
    for k, v in names.items():
        k = k.encode('utf-8').decode('latin-1')  # sent as UTF-8 bytes; WSGI keys are latin-1
        if env.get(k) != v:
            bad.append((i, k, env.get(k), v))
is_(bad[:5], [], '600 requests with 2400 distinct or near-identical names: every one as sent')
res = fcgi_request(r.addr, params=dict(BASE, HTTP_X_1='again'))
is_(json.loads(res.body).get('HTTP_X_1'), 'again', 'a cached name carries a new value')
ok('HTTP_X_1_' not in json.loads(res.body), 'and names from earlier requests do not leak in')
r.stop()
check_log_clean(r)
done_testing()
