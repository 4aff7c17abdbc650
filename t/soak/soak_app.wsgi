# t/soak/run.py's app: the normal endpoints the clients measure (/, /slow,
# /upload, /large) and the faulty ones the fault scheduler hits. run.py
# copies it into its temp dir and rewrites VERSION to recycle the pool.
import ctypes
import os
import re
import time

VERSION = 0
hoard = []   # what /memhog took stays taken, so memory_limit must act
leaked = []  # likewise the fds /fdhog took


def application(environ, start_response):
    path = environ['PATH_INFO']
    status, body = '200 OK', b''
    if path == '/slow':
        time.sleep(0.2)
    elif path == '/upload':
        body = b'%d' % len(environ['wsgi.input'].read())
    elif path == '/large':
        body = b'L' * (1 << 20)
    elif path == '/segfault':
        ctypes.string_at(0)
    elif path == '/spin':
        # Python bytecode: request_timeout can raise RequestTimeout in it.
        end = time.monotonic() + 30
        while time.monotonic() < end:
            pass
    elif path == '/spin-c':
        # One C call holding the GIL: the exception cannot land, so the
        # worker must be replaced instead. The pid file tells run.py which.
        with open(os.path.join(os.path.dirname(__file__), 'spin-c.pid'), 'w') as f:
            f.write('%d' % os.getpid())
        re.match(r'(a+)+$', 'a' * 40 + 'b')
    elif path == '/memhog':
        # 160 MiB, past the pool's memory_limit, and at most 5 s. Bytes
        # made by repetition are written, so they count in RSS.
        end = time.monotonic() + 5
        while len(hoard) < 20 and time.monotonic() < end:
            hoard.append(b'm' * (8 << 20))
            time.sleep(0.02)
        body = b'%d' % len(hoard)
    elif path == '/fdhog':
        try:
            for _ in range(100000):
                leaked.append(os.open('/dev/null', os.O_RDONLY))
        except OSError:
            pass
        body = b'%d' % len(leaked)
    elif path == '/bigline':
        # The raw stdout fd (a C extension's, a subprocess's): it goes
        # through the master's output capture.
        data = b'B' * (10 << 20) + b'\n'
        view = memoryview(data)
        while view:
            view = view[os.write(1, view):]
    elif path == '/bigprint':
        print('P' * (10 << 20))
    elif path == '/chatter':
        for i in range(400):
            print('chatter %d %s' % (i, 'c' * 200))
    body = b'%d %d %s' % (os.getpid(), VERSION, body)
    start_response(status, [('Content-Type', 'text/plain'),
                            ('Content-Length', str(len(body)))])
    return [body]
