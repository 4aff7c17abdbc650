# t/own-gil.t and t/bench/own_gil.py: /cpu/S runs Python for S seconds of
# wall time (at most 10) and answers the thread's CPU time over it and its
# start and end on the monotonic clock, as "cpu start end": two such calls
# at once use more CPU than wall time only where they do not share a GIL.
# /runs/S runs Python for S seconds too (at most 10) and answers when it ran:
# "start end" lines, one per stretch in which the loop never paused for
# 0.2 ms or more (at most 20000; the last one runs to the end). Stretches
# of two calls that overlap in time ran at once: one GIL cannot do that.
# /work/N runs N rounds of a fixed CPU-bound loop (at most 10000).
# /pid answers the worker's pid. /probe answers what this interpreter can import and do; /decimal divides
# with the decimal module (its C part _decimal where the interpreter takes
# it); /asyncio runs a coroutine.
import time


def spin(seconds):
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


def runs(seconds):
    now = time.monotonic
    t = start = now()
    end = t + seconds
    out = []
    while t < end:
        n = now()
        if n - t >= 0.0002:
            if len(out) < 20000:
                out.append('%.6f %.6f' % (start, t))
            start = n
        t = n
    out.append('%.6f %.6f' % (start, t))
    return '\n'.join(out)


def work(rounds):
    total = 0
    for _ in range(rounds):
        for i in range(1000):
            total += i * i % 7
    return total


def probe():
    out = []
    for mod in ('ctypes', 'pyexpat', '_decimal', '_datetime', 'json', 'sqlite3', 'ssl'):
        try:
            __import__(mod)
            out.append('%s ok' % mod)
        except ImportError as e:
            out.append('%s refused (%s)' % (mod, e))
    import os
    import subprocess
    import sys
    try:
        out.append('subprocess %s' % subprocess.run(
            [sys.executable, '-c', 'print(1)'], capture_output=True, timeout=30).stdout.strip())
    except Exception as e:
        out.append('subprocess refused (%s)' % e)
    try:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        out.append('fork ok')
    except Exception as e:
        out.append('fork refused (%s)' % e)
    return '\n'.join(out)


def application(environ, start_response):
    path = environ['PATH_INFO']
    body = 'ok'
    if path.startswith('/cpu/'):
        t0, c0 = time.monotonic(), time.thread_time()
        spin(min(float(path.split('/')[2]), 10.0))
        body = '%.6f %.6f %.6f' % (time.thread_time() - c0, t0, time.monotonic())
    elif path.startswith('/runs/'):
        body = runs(min(float(path.split('/')[2]), 10.0))
    elif path.startswith('/work/'):
        body = str(work(min(int(path.split('/')[2]), 10000)))
    elif path == '/probe':
        body = probe()
    elif path == '/pid':
        import os
        body = str(os.getpid())
    elif path == '/asyncio':
        import asyncio
        body = asyncio.run(asyncio.sleep(0, 'asyncio'))
    elif path == '/decimal':
        import decimal
        body = '%s %s' % (decimal.Decimal(1) / 3, decimal.__file__.rsplit('/', 1)[-1])
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body.encode()]
