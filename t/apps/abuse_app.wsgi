# The app behind t/protocol-abuse.t: small routes, and a record of which
# requests called the app and which had their result's close() called, so
# the test can ask afterwards (/state?TAG) whether close() ran on a path
# the web server cut short.
#   /            200 'ok' (X-Pid: the worker's pid)
#   /echo        the body back (X-Len: its length); a body shorter than
#                CONTENT_LENGTH raises (the app sees it and errors)
#   /lazy?TAG    reads the body only while its result is iterated
#   /slow?TAG&S  streams for S seconds (default 1), a block every 0.1 s
#   /big?TAG     streams 64 KiB blocks, up to 256 MiB or 20 s
#   /state?TAG   JSON {"called": bool, "closed": bool} for TAG
import json
import os
import threading
import time

lock = threading.Lock()
called, closed = set(), set()
TEXT = [('Content-Type', 'text/plain')]


class Tracked:
    """The app's result: its blocks, and a close() that leaves a mark."""

    def __init__(self, tag, blocks):
        self.tag, self.blocks = tag, blocks

    def __iter__(self):
        return iter(self.blocks)

    def close(self):
        with lock:
            closed.add(self.tag)


def query(environ):
    q = environ.get('QUERY_STRING', '')
    tag, _, rest = q.partition('&')
    return tag or '-', rest


def read_body(environ):
    inp = environ['wsgi.input']
    out = []
    while True:
        block = inp.read(65536)
        if not block:
            return b''.join(out)
        out.append(block)


def slow_blocks(secs):
    end = time.monotonic() + secs
    yield b'start\n'
    while time.monotonic() < end:
        time.sleep(0.1)
        yield b'.' * 100 + b'\n'


def big_blocks():
    block = b'b' * 65536
    end = time.monotonic() + 20
    for _ in range(4096):
        if time.monotonic() > end:
            return
        yield block


def lazy_blocks(environ):
    yield read_body(environ)


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    tag, rest = query(environ)
    if path in ('/lazy', '/slow', '/big'):
        with lock:
            called.add(tag)
    if path == '/':
        start_response('200 OK', TEXT + [('X-Pid', str(os.getpid()))])
        return [b'ok']
    if path == '/echo':
        body = read_body(environ)
        want = environ.get('CONTENT_LENGTH') or ''
        if want.isdigit() and int(want) != len(body):
            raise ValueError('short body: CONTENT_LENGTH %s, got %d bytes' % (want, len(body)))
        start_response('200 OK', TEXT + [('X-Len', str(len(body)))])
        return [body]
    if path == '/lazy':
        start_response('200 OK', TEXT)
        return Tracked(tag, lazy_blocks(environ))
    if path == '/slow':
        start_response('200 OK', TEXT)
        return Tracked(tag, slow_blocks(float(rest or '1')))
    if path == '/big':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return Tracked(tag, big_blocks())
    if path == '/state':
        with lock:
            state = {'called': tag in called, 'closed': tag in closed}
        start_response('200 OK', [('Content-Type', 'application/json')])
        return [json.dumps(state).encode()]
    start_response('404 Not Found', TEXT)
    return [b'no route']
