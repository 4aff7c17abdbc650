# t/scoreboard-isolation.t: an app that goes after the manager's shared
# memory. /scan lists the shared writable mappings it can see; /old sets
# oldest_start_ms to 1 (and the state to busy) at every slot-sized stride,
# the layout of struct fw_slot in 2026-12 (what a hostile tenant did to get
# other pools' workers killed for request_timeout); /fill fills each
# mapping with 0x41. Every answer: pid, bytes of shared writable mappings,
# their names, bytes of shared mappings of any mode, slot fds it holds.
import ctypes
import os


def shared_maps(writable=True):
    out = []
    with open('/proc/self/maps') as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split('-'))
            perms = parts[1]
            name = parts[5] if len(parts) > 5 else ''
            if perms[3] == 's' and (perms.startswith('rw') or not writable):
                out.append((lo, hi, name))
    return out


def application(environ, start_response):
    path = environ['PATH_INFO']
    maps = shared_maps()
    if path == '/old':
        for lo, hi, name in maps:
            for at in range(lo, hi - 2224, 2224):
                ctypes.c_int.from_address(at).value = 3
                ctypes.c_int64.from_address(at + 24).value = 1
    if path == '/fill':
        for lo, hi, name in maps:
            ctypes.memset(lo, 0x41, hi - lo)
    # What else it could read: shared memory of any mode (not files such
    # as glibc's gconv cache, mapped shared read-only), and slot fds.
    mem = [(lo, hi, n) for lo, hi, n in shared_maps(writable=False)
           if not (n.startswith('/') and not n.startswith('/memfd:') and os.path.isfile(n))]
    readable = sum(hi - lo for lo, hi, _ in mem)
    slot_fds = 0
    for fd in os.listdir('/proc/self/fd'):
        try:
            slot_fds += 'fcgiwsgi-slot' in os.readlink('/proc/self/fd/' + fd)
        except OSError:
            pass
    body = ('%d %d %s %d %d %s' % (os.getpid(), sum(hi - lo for lo, hi, _ in maps),
                                   ','.join(n or 'anon' for _, _, n in maps) or '-',
                                   readable, slot_fds,
                                   ','.join(sorted({n or 'anon' for _, _, n in mem})))).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
