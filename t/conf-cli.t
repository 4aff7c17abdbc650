#!/usr/bin/env python3
# fcgiwsgi -t: checks a configuration and never starts anything; and the
# daemon refuses a bad configuration with the same messages.
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

prog = program('fcgiwsgi')
d = tmpdir()


def run(*args):
    p = subprocess.run([prog] + list(args), capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


example = os.path.join(src_dir(), 'conf', 'fcgiwsgi.yaml.example')
rc, out, err = run('-t', '-c', example)
is_(rc, 0, 'the shipped example is valid')
is_(out, '%s: configuration OK (1 pools, 1 apps)\n' % example, 'it says so, with the counts')

sock = os.path.join(d, 'never.sock')
bad = os.path.join(d, 'bad.yaml')
with open(bad, 'w') as f:
    f.write('''pools:
  web:
    listen: %s
    threds: 4
    processes: 0
    apps:
      - mount: /
        script: /nonexistent/app.wsgi
''' % sock)
rc, out, err = run('-t', '-c', bad)
is_(rc, 1, 'an invalid configuration exits 1')
is_(out, '', 'nothing on stdout')
like(err, r'%s:4:5: error: .*threds.*did you mean .threads.' % bad, 'unknown key: file:line:column and a suggestion')
like(err, r'%s:5:16: error: .*processes' % bad, 'out-of-range value located exactly')
like(err, r'%s:8:17: error: .*/nonexistent/app\.wsgi' % bad, 'missing script named with its location')
ok(not os.path.exists(sock), '-t never starts anything (no socket was created)')

rc, out, err = run('-c', bad)
is_(rc, 2, 'the daemon refuses to start on a bad configuration (exit 2: do not restart)')
like(err, r'threds', 'with the same messages')
ok(not os.path.exists(sock), 'and creates nothing')

# Numbers the check accepts must run: a jitter of 2^64-1 once passed -t and
# crashed the master (random() % (jitter + 1) is % 0), and 2^63 ms turned
# negative in the worker.
huge = os.path.join(d, 'huge.yaml')
with open(huge, 'w') as f:
    f.write('''pools:
  web:
    listen: %s
    allow_root: true
    max_requests: 1000
    max_requests_jitter: 18446744073709551615
    graceful_timeout: 9223372036854775808ms
    apps: [{script: %s}]
''' % (sock, os.path.join(src_dir(), 'examples', 'hello.wsgi')))
rc, out, err = run('-t', '-c', huge)
is_(rc, 1, 'a number out of its range fails the check')
like(err, r'%s:6:26: error: .max_requests_jitter. is out of range: expected a whole number from 0 to \d+'
     % huge, 'the jitter: FILE:LINE:COLUMN and the allowed range')
like(err, r'%s:7:23: error: .graceful_timeout. is out of range: expected a duration from 0 to \d+h'
     % huge, 'a duration past what the code carries: FILE:LINE:COLUMN and the allowed range')

empty = os.path.join(d, 'empty-pools.yaml')
with open(empty, 'w') as f:
    f.write('log: stderr\n')
rc, out, err = run('-t', '-c', empty)
like(err, r'^%s:1:1: error: no pool is defined' % empty, '"no pool is defined" has a position too')

# The installed layout: the main file includes pools.d/*.yaml, empty until
# the first app is added; the manager then starts with no pool.
layout = os.path.join(d, 'layout')
os.makedirs(os.path.join(layout, 'pools.d'))
with open(os.path.join(layout, 'fcgiwsgi.yaml'), 'w') as f:
    f.write('log: stderr\ninclude: [pools.d/*.yaml]\n')
rc, out, err = run('-t', '-c', os.path.join(layout, 'fcgiwsgi.yaml'))
is_(rc, 0, 'no pool, but an include: valid (an empty pools.d)')
like(err, r'fcgiwsgi\.yaml:2:10: warning: no pool is defined yet', 'with a warning at the include')
like(out, r'configuration OK \(0 pools, 0 apps\)', 'and the counts')

rc, out, err = run('-t', '-c', os.path.join(d, 'missing.yaml'))
is_(rc, 1, 'a missing file is an invalid configuration')
like(err, r'missing\.yaml', 'named in the message')
rc, out, err = run('--bogus')
is_(rc, 2, 'an unknown option exits 2')
done_testing()
