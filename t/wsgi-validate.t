#!/usr/bin/env python3
# PEP 3333 under wsgiref.validate: a varied request suite against the
# responder, with no validator assertion, warning or traceback in the log.
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

SERVER = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}


def req(addr, method, uri, body=b'', **kw):
    params = dict(SERVER)
    params.update(kw.pop('params', {}))
    return fcgi_request(addr, method, uri, body=body, params=params, **kw)


def summary(data):
    return {'len': len(data), 'sha1': hashlib.sha1(data).hexdigest()}


for threads in (1, 4):
    r = start_responder(app_path('validate.wsgi'), threads=threads)
    a = r.addr
    label = '[%d thread%s] ' % (threads, 's' if threads > 1 else '')

    res = req(a, 'GET', '/hello?x=1&y=%20')
    is_(res.status, 200, label + 'GET with a query')
    is_(res.body, b'hello x=1&y=%20', label + 'QUERY_STRING passed intact')

    for size in (0, 1, 100 * 1024, 10 * 1024 * 1024):
        data = os.urandom(size)
        res = req(a, 'POST', '/echo', body=data)
        is_(res.status, 200, label + 'POST %d bytes with CONTENT_LENGTH' % size)
        is_(json.loads(res.body or b'{}'), summary(data), label + 'echoed %d bytes exactly' % size)
    data = os.urandom(1024 * 1024 + 17)
    res = req(a, 'POST', '/echo', body=data, content_length=False)
    is_(json.loads(res.body or b'{}'), summary(data),
        label + 'body without CONTENT_LENGTH read to the end of the stream')

    lines = b''.join(b'line %d\n' % i for i in range(5000)) + b'x' * 100000 + b'\nlast'
    expect = summary(lines)
    for route in ('/readline', '/readlines', '/iter'):
        res = req(a, 'POST', route, body=lines)
        got = json.loads(res.body or b'{}')
        is_((got.get('len'), got.get('sha1'), got.get('lines'), got.get('longest')),
            (expect['len'], expect['sha1'], 5002, 100001), label + route + ' sees every line')
    res = req(a, 'POST', '/readline', body=lines, content_length=False)
    got = json.loads(res.body or b'{}')
    is_(got.get('sha1'), expect['sha1'], label + 'readline without CONTENT_LENGTH')
    res = req(a, 'POST', '/readline-limited', body=b'abcdefghij\nk\n')
    got = json.loads(res.body or b'{}')
    is_((got.get('lines'), got.get('longest')), (3, 7), label + 'readline(size) stops at size')

    res = req(a, 'GET', '/write')
    is_(res.body, b'one,two,three', label + 'write() then the iterable, in order')

    before = req(a, 'GET', '/closed').body
    res = req(a, 'GET', '/gen')
    is_(res.body, b''.join(b'chunk%d;' % i for i in range(5)), label + 'generator body')
    after = req(a, 'GET', '/closed').body
    is_(int(after) - int(before), 1, label + 'close() called exactly once')

    res = req(a, 'GET', '/exc_info')
    is_((res.status, res.body), (503, b'replaced'), label + 'start_response with exc_info replaces the status')

    res = req(a, 'GET', '/cookies')
    is_(res.header_all('Set-Cookie'), ['a=1; Path=/', 'b=2; Path=/'], label + 'two Set-Cookie headers')

    res = req(a, 'HEAD', '/head')
    is_((res.status, res.body, res.header('Content-Length')), (200, b'', '100'),
        label + 'HEAD: headers without a body')

    src = open(app_path('validate.wsgi'), 'rb').read()
    res = req(a, 'GET', '/file')
    is_(res.body, src[10:], label + 'file_wrapper sends the file from its current position')

    res = req(a, 'GET', '/nocontent')
    is_((res.status, res.body, res.header('Content-Length')), (204, b'', None), label + '204 has no body')

    res = req(a, 'GET', '/env', params={'HTTPS': 'on'})
    env = json.loads(res.body or b'{}')
    is_(env.get('wsgi.url_scheme'), 'https', label + 'HTTPS=on gives wsgi.url_scheme https')
    is_(env.get('wsgi.multithread'), threads > 1, label + 'wsgi.multithread follows --threads')
    is_(env.get('wsgi.multiprocess'), False, label + 'a lone responder is not multiprocess')
    is_((env.get('wsgi.run_once'), env.get('wsgi.input_terminated'), env.get('wsgi.version')),
        (False, True, [1, 0]), label + 'run_once, input_terminated, version')
    is_(env.get('fcgiwsgi.script'), app_path('validate.wsgi'), label + 'fcgiwsgi.script')
    res = req(a, 'GET', '/env')
    is_(json.loads(res.body or b'{}').get('wsgi.url_scheme'), 'http', label + 'plain http by default')

    res = req(a, 'GET', '/errors')
    is_(res.status, 200, label + 'wsgi.errors usable')
    wait_log(r, r'to wsgi\.errors')
    like(r.output(), r'app \S+validate\.wsgi: two lines', label + 'wsgi.errors lines reach the log tagged with the app')

    r.stop()
    out = r.output()
    unlike(out, r'AssertionError|WSGIWarning|Traceback', label + 'no validator complaint or traceback')
    check_log_clean(r)

done_testing()
