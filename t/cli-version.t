#!/usr/bin/env python3
# --help/-h and --version/-v on all three programs (issue 16); --version
# names what the program embeds or links that an operator may need to know.
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

want = {
    'fcgiwsgi': [r'^fcgiwsgi \d', r'CPython 3\.\d+', r'libyaml \d'],
    'fcgiwsgi-responder': [r'^fcgiwsgi-responder \d', r'CPython 3\.\d+'],
    'fcgiwsgi-ctl': [r'^fcgiwsgi-ctl \d', r'libyaml \d'],
}
for prog, patterns in want.items():
    for flag in ('-h', '--help'):
        p = subprocess.run([program(prog), flag], capture_output=True, text=True, timeout=30)
        ok(p.returncode == 0 and 'usage' in p.stdout.lower(), '%s %s: usage on stdout, exit 0'
           % (prog, flag), got=(p.returncode, p.stdout[:200], p.stderr[:200]))
    for flag in ('-v', '--version'):
        p = subprocess.run([program(prog), flag], capture_output=True, text=True, timeout=30)
        is_(p.returncode, 0, '%s %s: exit 0' % (prog, flag))
        for pat in patterns:
            like(p.stdout, pat, '%s %s names %s' % (prog, flag, pat))
done_testing()
