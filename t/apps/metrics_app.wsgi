# t/metrics.t and t/status-http.t: answers the status its path names
# (/code/404), sleeps on demand (/sleep/0.2), else 200. /lie writes into
# its own scoreboard slot as a lying app would (fcgi/slot.h: by_class, six
# uint64 counters from offset 3624): 2xx far past anything possible, 4xx
# back to 0.
import ctypes

import time

BY_CLASS = 3624


def own_slot():
    with open('/proc/self/maps') as f:
        for line in f:
            parts = line.split()
            if len(parts) > 5 and 'fcgiwsgi-slot' in parts[5] and parts[1].startswith('rw'):
                return int(parts[0].split('-')[0], 16)
    return None


def application(environ, start_response):
    path = environ['PATH_INFO']
    status = '200 OK'
    if path.startswith('/code/'):
        code = int(path.split('/')[2])
        status = '%d Status %d' % (code, code)
    elif path.startswith('/sleep/'):
        time.sleep(float(path.split('/')[2]))
    elif path == '/lie':
        base = own_slot()
        ctypes.c_uint64.from_address(base + BY_CLASS + 8).value = 1 << 62
        ctypes.c_uint64.from_address(base + BY_CLASS + 24).value = 0
    body = b'' if status[0] in '13' or status.startswith('204') else b'metrics app\n'
    start_response(status, [('Content-Type', 'text/plain'),
                            ('Content-Length', str(len(body)))])
    return [body]
