# t/worker-isolation.t: what a worker's own memory holds. /scan?NEEDLE
# searches every readable mapping of this process for NEEDLE (hex); /layout
# tells where libc is mapped (each exec'd worker gets its own ASLR layout,
# a forked one shares its master's).
import binascii
import os


def readable_maps():
    with open('/proc/self/maps') as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split('-'))
            name = parts[5] if len(parts) > 5 else ''
            if parts[1][0] == 'r' and name not in ('[vvar]', '[vsyscall]'):
                yield lo, hi, name


def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/scan':
        needle = binascii.unhexlify(environ['QUERY_STRING'])
        found = []
        with open('/proc/self/mem', 'rb', 0) as mem:
            for lo, hi, name in readable_maps():
                # Huge reservations (a sanitizer's shadow) hold no config.
                if hi - lo > 1 << 30:
                    continue
                n = 0
                tail = b''
                for at in range(lo, hi, 1 << 22):
                    try:
                        mem.seek(at)
                        data = tail + mem.read(min(1 << 22, hi - at))
                    except (OSError, ValueError, OverflowError):
                        break
                    n += data.count(needle)
                    tail = data[-(len(needle) - 1):]
                if n:
                    found.append('%s:%d' % (name or 'anon', n))
        body = ('%d %s' % (os.getpid(), ' '.join(found) or '-')).encode()
    else:
        libc = [lo for lo, hi, name in readable_maps() if 'libc.so' in name]
        body = ('%d %x' % (os.getpid(), libc[0] if libc else 0)).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
