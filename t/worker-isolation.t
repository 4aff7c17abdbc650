#!/usr/bin/env python3
# A worker's address space carries its own pool's settings and nothing
# else (issue 15): workers are forked and then exec'd, so an app cannot
# find another pool's `env:` secret in its memory (a fork of the master,
# which parsed the whole file, held it), and each worker has its own ASLR
# layout.
import binascii
import os
import re
import secrets
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
secret = 'victim-secret-' + secrets.token_hex(12)
victim = sock_path('victim.sock')
snoop = sock_path('snoop.sock')
cfg = manager_config('''  victim:
    listen: %(v)s
    processes: 1
    allow_root: true
    env: {SECRET_V: %(secret)s}
    apps:
      - {mount: /, script: %(app)s}
  snoop:
    listen: %(s)s
    processes: 2
    allow_root: true
    apps:
      - {mount: /, script: %(app)s}
''' % {'v': victim, 's': snoop, 'secret': secret, 'app': app_path('mem_scan.wsgi')},
    name='iso.yaml')
m = spawn([program('fcgiwsgi'), '-c', cfg])
wait_for(lambda: m.output().count('starting -> running') >= 3, timeout=30, what='workers ready')

# What the scan finds of a string only this request carries: the baseline
# of copies the request itself makes.
probe = 'probe-' + secrets.token_hex(12)


def scan(addr, needle):
    hexed = binascii.hexlify(needle.encode()).decode()
    return fcgi_request(addr, 'GET', '/scan?' + hexed, params=PARAMS).body.decode()


def count(found):
    return sum(int(x.rsplit(':', 1)[1]) for x in found.split()[1:] if x != '-')


base = scan(snoop, probe)
hits = scan(snoop, secret)
diag('probe: %s; secret: %s' % (base, hits))
# The search string itself is in the app's memory once (where the scan may
# or may not reach it: a sanitizer's heap is in mappings it skips).
ok(count(hits) <= max(count(base), 1), "another pool's env: secret is nowhere in a worker's "
   "memory but in the request's own copy", got=hits, expected=base)
like(scan(victim, secret), r'^\d+ \S', "(the victim pool's own worker has it: the scan works)")

layouts = set()
pids = set()
for i in range(40):
    pid, libc = fcgi_request(snoop, 'GET', '/layout', params=PARAMS).body.decode().split()
    pids.add(pid)
    layouts.add(libc)
    if len(pids) >= 2:
        break
ok(len(pids) >= 2, 'both workers of the pool answered')
ok(len(layouts) >= 2, 'each worker has its own address layout (libc at %s)' % ', '.join(layouts))
m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(m)
done_testing()
