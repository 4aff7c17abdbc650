# t/status-requests.t: an app that lies in its own scoreboard slot. /lie
# writes, in the "what thread i serves now" entries of struct fw_slot
# (fcgi/slot.h, 2026-12: entries of 192 bytes from offset 32), a method
# that is no token and a path of control bytes, quotes, backslashes and
# 0xff without a terminating NUL (entry 1), and a good-looking request left
# with an odd seqlock count, as if torn for ever (entry 2). It writes from
# a thread of its own 0.3 s after the request, when the request thread
# that served it has cleared its entry, whichever that was.
import ctypes
import threading
import time

ENTRY0, ENTRY = 32, 192


def own_slot():
    with open('/proc/self/maps') as f:
        for line in f:
            parts = line.split()
            if len(parts) > 5 and 'fcgiwsgi-slot' in parts[5] and parts[1].startswith('rw'):
                return int(parts[0].split('-')[0], 16)
    return None


def put(at, data):
    ctypes.memmove(at, data, len(data))


def lie(base):
    now_ms = int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1000)
    e1 = base + ENTRY0 + ENTRY
    ctypes.c_uint32.from_address(e1).value = 2
    put(e1 + 16, b'GET\r\nX-Evil:1\x00\x00\x00')
    put(e1 + 32, (b'\x1b[2J"\\\xff' + b'A' * 200)[:160])
    ctypes.c_int64.from_address(e1 + 8).value = now_ms - 50
    e2 = base + ENTRY0 + 2 * ENTRY
    ctypes.c_uint32.from_address(e2).value = 7
    put(e2 + 16, b'GET\x00')
    put(e2 + 32, b'/torn\x00')
    ctypes.c_int64.from_address(e2 + 8).value = now_ms - 50


def application(environ, start_response):
    base = own_slot()
    if environ['PATH_INFO'] == '/lie' and base:
        threading.Timer(0.3, lie, (base,)).start()
    body = b'slot at %x' % (base or 0)
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
