# A PEP 3333 exercise wrapped in wsgiref.validate: any server-side breach of
# the spec raises AssertionError (or a WSGIWarning, turned into an error),
# which the server answers with a 500 and a traceback in its log.
import hashlib
import json
import os
import sys
import warnings
from wsgiref.validate import WSGIWarning, validator

warnings.simplefilter('error', WSGIWarning)
closed = {'count': 0}


class Closing:
    """An iterable whose close() the server must call exactly once."""

    def __init__(self, chunks):
        self.chunks = chunks

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        closed['count'] += 1


def body_summary(data):
    return {'len': len(data), 'sha1': hashlib.sha1(data).hexdigest()}


def inner(environ, start_response):
    path = environ['PATH_INFO']
    inp = environ['wsgi.input']
    text = [('Content-Type', 'text/plain')]
    if path == '/hello':
        start_response('200 OK', text)
        return [b'hello ', environ['QUERY_STRING'].encode('latin-1')]
    if path == '/echo':
        chunks = []
        while True:
            block = inp.read(65536)
            if not block:
                break
            chunks.append(block)
        data = b''.join(chunks)
        start_response('200 OK', [('Content-Type', 'application/json')])
        return [json.dumps(body_summary(data)).encode()]
    if path in ('/readline', '/readlines', '/iter', '/readline-limited'):
        if path == '/readline':
            lines = []
            while True:
                line = inp.readline()
                if not line:
                    break
                lines.append(line)
        elif path == '/readline-limited':
            lines = []
            while True:
                line = inp.readline(7)
                if not line:
                    break
                lines.append(line)
        elif path == '/readlines':
            lines = inp.readlines()
        else:
            lines = [line for line in inp]
        data = b''.join(lines)
        out = body_summary(data)
        out['lines'] = len(lines)
        out['longest'] = max([len(x) for x in lines] or [0])
        start_response('200 OK', [('Content-Type', 'application/json')])
        return [json.dumps(out).encode()]
    if path == '/write':
        write = start_response('200 OK', text)
        write(b'one,')
        write(b'two,')
        return [b'three']
    if path == '/gen':
        def gen():
            for i in range(5):
                yield b'chunk%d;' % i
        start_response('200 OK', text)
        return Closing(gen())
    if path == '/closed':
        start_response('200 OK', text)
        return [str(closed['count']).encode()]
    if path == '/exc_info':
        start_response('200 OK', text)
        try:
            raise ValueError('failed after start_response')
        except ValueError:
            start_response('503 Try Later', text, sys.exc_info())
        return [b'replaced']
    if path == '/cookies':
        start_response('200 OK', text + [('Set-Cookie', 'a=1; Path=/'),
                                         ('Set-Cookie', 'b=2; Path=/')])
        return [b'two cookies']
    if path == '/head':
        start_response('200 OK', text + [('Content-Length', '100')])
        return [b'x' * 100]
    if path == '/file':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        f = open(__file__, 'rb')
        f.read(10)  # the wrapper sends from the current position
        return environ['wsgi.file_wrapper'](f, 4096)
    if path == '/nocontent':
        start_response('204 No Content', [])
        return []
    if path == '/env':
        out = {k: v for k, v in environ.items() if isinstance(v, str)}
        for k in ('wsgi.multithread', 'wsgi.multiprocess', 'wsgi.run_once',
                  'wsgi.input_terminated', 'wsgi.version'):
            out[k] = environ[k]
        start_response('200 OK', [('Content-Type', 'application/json')])
        return [json.dumps(out).encode()]
    if path == '/errors':
        environ['wsgi.errors'].write('to wsgi.errors\n')
        environ['wsgi.errors'].writelines(['two ', 'lines\n'])
        environ['wsgi.errors'].flush()
        start_response('200 OK', text)
        return [b'logged']
    start_response('404 Not Found', text)
    return [b'no route ' + path.encode('latin-1')]


application = validator(inner)
