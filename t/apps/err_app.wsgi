# Misbehaving WSGI app for t/errors.t: each route breaks PEP 3333 in one
# way (or behaves), and a few counters let the test see what the server did
# (calls of the app, close() calls) through /stats.
import json
import sys
import threading
import time

lock = threading.Lock()
stats = {'calls': 0, 'closes': 0, 'close_raises': 0}
stale = {}  # the write() of an earlier request, for /write-stale


def bump(key):
    with lock:
        stats[key] += 1


class Closing:
    """An iterable counting its close() calls; may raise while iterating
    (after `fail_after` items) or in close() itself."""

    def __init__(self, chunks, fail_after=None, close_raises=False):
        self.chunks = chunks
        self.fail_after = fail_after
        self.close_raises = close_raises

    def __iter__(self):
        for i, chunk in enumerate(self.chunks):
            if self.fail_after is not None and i == self.fail_after:
                raise RuntimeError('iteration-failed-4711')
            yield chunk

    def close(self):
        bump('closes')
        if self.close_raises:
            bump('close_raises')
            raise RuntimeError('close-failed-8642')


def endless(n, size):
    block = b'z' * size
    for _ in range(n):
        yield block


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    text = [('Content-Type', 'text/plain')]
    if path == '/stats':
        start_response('200 OK', [('Content-Type', 'application/json')])
        with lock:
            return [json.dumps(stats).encode()]
    bump('calls')
    if path == '/ok':
        start_response('200 OK', text)
        return [b'ok']
    if path == '/raise':
        raise RuntimeError('raised-before-start-5150')
    if path == '/none':
        start_response('200 OK', text)
        return None
    if path == '/int':
        start_response('200 OK', text)
        return 42
    if path == '/str-list':
        start_response('200 OK', text)
        return ['a str, not bytes']
    if path == '/str-gen':
        start_response('200 OK', text)

        def gen():
            yield 'a str, not bytes'
        return gen()
    if path == '/twice':
        start_response('200 OK', text)
        start_response('404 Not Found', text)
        return [b'second start_response was accepted']
    if path == '/write-before':
        # start_response is a bound method of the response object: reach
        # its write() without calling start_response first.
        owner = getattr(start_response, '__self__', None)
        write = getattr(owner, 'write', None)
        if write is None:
            start_response('299 No Write Handle', text)
            return [b'cannot reach write() before start_response']
        write(b'written before start_response')
        start_response('200 OK', text)
        return [b'write before start_response was accepted']
    if path == '/write-stash':
        stale['write'] = start_response('200 OK', text)
        return [b'stashed']
    if path == '/write-stale':
        w = stale.get('write')
        if w is None:
            start_response('299 Nothing Stashed', text)
            return [b'no stale write']
        w(b'written through an earlier request')
        start_response('200 OK', text)
        return [b'stale write was accepted']
    if path == '/crlf-value':
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('X-Ok', 'a\r\nX-Injected: yes')])
        return [b'header injection was accepted']
    if path == '/lf-value':
        start_response('200 OK', [('X-Ok', 'a\nX-Injected: yes')])
        return [b'header injection was accepted']
    if path == '/cr-value':
        start_response('200 OK', [('X-Ok', 'a\rX-Injected: yes')])
        return [b'header injection was accepted']
    if path == '/crlf-status':
        start_response('200 OK\r\nX-Injected: yes', text)
        return [b'status injection was accepted']
    if path == '/lf-status':
        start_response('200 OK\nX-Injected: yes', text)
        return [b'status injection was accepted']
    if path == '/gen-fail':
        start_response('200 OK', text)

        def gen():
            yield b'first-chunk;'
            yield b'second-chunk;'
            raise RuntimeError('generator-failed-after-data-9321')
        return gen()
    if path == '/short-length':
        # Declares 100 bytes and sends 10.
        start_response('200 OK', text + [('Content-Length', '100')])
        return [b'0123456789']
    if path == '/close-ok':
        start_response('200 OK', text)
        return Closing([b'one;', b'two;', b'three'])
    if path == '/close-iter-fail':
        start_response('200 OK', text)
        return Closing([b'one;', b'two;', b'three'], fail_after=1)
    if path == '/close-big':
        # Far more than any socket buffer: the client goes away long before.
        start_response('200 OK', text)
        return Closing(endless(16384, 65536))
    if path == '/close-raises':
        start_response('200 OK', text)
        return Closing([b'complete ', b'body'], close_raises=True)
    if path == '/read-all':
        data = environ['wsgi.input'].read()
        start_response('200 OK', text)
        return [b'read %d bytes' % len(data)]
    if path == '/print':
        tag = environ.get('QUERY_STRING', '')
        print('print-marker-' + tag)
        sys.stderr.write('stderr-marker-' + tag + '\n')
        sys.stdout.flush()
        start_response('200 OK', text)
        return [b'done']
    if path == '/print-many':
        # 200 lines of exactly 3000 characters, unique to this request:
        # "MARK<n>-<line>-" then the request's letter repeated.
        n = int(environ.get('QUERY_STRING', '0'))
        letter = chr(ord('A') + n)
        for i in range(200):
            head = 'MARK%02d-%03d-' % (n, i)
            print(head + letter * (3000 - len(head)))
            if i % 50 == 0:
                time.sleep(0.001)  # let the other threads interleave
        start_response('200 OK', text)
        return [b'printed']
    start_response('404 Not Found', text)
    return [b'no such route']
