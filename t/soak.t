#!/usr/bin/env python3
# The fault soak's short form (issue 15; t/soak/run.py is the long one): the
# whole fault mix against a real manager for ~25 s under 8 clients. Failures
# in flight at a fault are allowed (a kill -9 takes its worker's requests
# with it); any other failed request, a master that grew or kept fds, or a
# manager that stops answering is a failure.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'soak'))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lib'))
import run as soak_run  # noqa: E402
from fwtest import *  # noqa: E402,F401

SECONDS = 22
# Room for malloc arenas and the loop's buffers settling after start: a
# leak per fault or per request over ~10,000 requests and ~15 faults would
# pass this only if it is under ~20 bytes a request.
RSS_GROWTH_MAX_KB = 2048

with open(program('fcgiwsgi'), 'rb') as f:
    # The ASan build: its quarantine keeps freed memory, and it reports the
    # mix's deliberate segfaults itself; the plain build checks both.
    SANITIZED = b'libasan.so' in f.read()
s = soak_run.soak(SECONDS, interval=1.5, rewrite_every=8, seed=int(os.environ.get('FW_SOAK_SEED', '15')),
                  quiet=True)
for line in soak_run.report(s).splitlines():
    diag(line)

ok(s.get('requests', 0) > 1000, 'the load ran', got=s.get('requests'), expected='> 1000 requests')
ok(s.get('faults', 0) >= 8, 'the faults ran', got=s.get('faults'), expected='>= 8 faults')
is_(s.get('failed_other'), 0, 'no request failed outside a fault (a recycle or a bystander pool loses nothing)')
ok(s.get('master_alive'), 'the master survived the mix')
is_(s.get('status_exit'), 0, 'fcgiwsgi-ctl status answers after the mix')
ok(s.get('settled_at_end'), 'both pools are back at their size, nothing starting or stopping')
growth = (s.get('master_rss_kb_end') or 0) - (s.get('master_rss_kb_start') or 0)
if SANITIZED:
    skip("the master's RSS is not measured under AddressSanitizer (its quarantine keeps freed "
         "memory)")
else:
    ok(growth < RSS_GROWTH_MAX_KB, "the master's RSS grew by less than %d kB" % RSS_GROWTH_MAX_KB,
       got='%d kB (%s -> %s)' % (growth, s.get('master_rss_kb_start'), s.get('master_rss_kb_end')))
fds0, fds1 = s.get('master_fds_start'), s.get('master_fds_end')
ok(fds0 is not None and fds1 is not None and abs(fds1 - fds0) <= 2,
   "the master's fds are back to their count at start (+-2)", got='%s -> %s' % (fds0, fds1))
is_(s.get('bystander_pids_end'), s.get('bystander_pids_start'),
    "the bystander pool's workers are the same processes")
ok(len(s.get('versions_served', [])) >= 3, 'each script rewrite was served',
   got=s.get('versions_served'), expected='versions 0, 1, 2')
if SANITIZED:
    skip('crit/alert/sanitizer lines: AddressSanitizer reports the deliberate segfaults')
else:
    is_(s.get('log_events', {}).get('crit/alert/sanitizer lines', 0), 0,
        'no crit, alert or sanitizer line in the log')
is_(s.get('master_exit'), 0, 'the master stops with 0')
done_testing()
