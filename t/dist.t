#!/usr/bin/env python3
# make distcheck: the tarball builds out of tree from a read-only source
# directory, installs and uninstalls cleanly, and passes a bounded part of
# the suite there (the configuration loader, the man pages, a manager: the
# whole suite is what CI runs, and inside distcheck it would take as long
# again); and the tarball holds every file git tracks.
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

if os.environ.get('FW_IN_DISTCHECK'):
    skip_all('already inside make distcheck')
if build_sanitized():
    skip_all('distcheck configures a plain build of its own: the plain build runs it')
if not shutil.which('xz'):
    skip_all('no xz (Debian: xz-utils)')

b = build_dir()
TESTS = 't/unit/conf t/unit/control_path t/conf-cli.t t/man.t t/manager.t'
# Not the outer make's jobserver or its command-line variables (TESTS).
env = {k: v for k, v in os.environ.items() if k not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL')}
env['FW_IN_DISTCHECK'] = '1'
started = time.monotonic()
p = subprocess.run(['make', '-C', b, '-j2', 'distcheck', 'TESTS=' + TESTS],
                   capture_output=True, text=True, timeout=900, env=env)
took = time.monotonic() - started
ok(p.returncode == 0 and 'archives ready for distribution' in p.stdout, 'make distcheck',
   got=(p.stdout[-4000:] + p.stderr[-4000:]))
tests = [line for line in p.stdout.splitlines() if line.startswith('# TOTAL:') or line.startswith('# FAIL:')]
diag('make distcheck: %.1f s; %s' % (took, '; '.join(tests)))

version = None
with open(os.path.join(b, 'Makefile')) as f:
    for line in f:
        if line.startswith('PACKAGE_VERSION = '):
            version = line.split('=', 1)[1].strip()
tarball = os.path.join(b, 'fcgiwsgi-%s.tar.xz' % version)
ok(os.path.isfile(tarball), 'the tarball ' + os.path.basename(tarball))
git = subprocess.run(['git', '-C', src_dir(), 'ls-files'], capture_output=True, text=True)
if not os.path.isfile(tarball):
    skip('no tarball to list')
elif git.returncode == 0:
    listed = subprocess.run(['tar', 'tJf', tarball], capture_output=True, text=True).stdout
    inside = {n.split('/', 1)[1] for n in listed.splitlines() if '/' in n}
    # .keep files hold empty directories in git; .gitignore is git's own.
    missing = [n for n in git.stdout.splitlines()
               if n not in inside and not n.endswith('/.keep') and n != '.gitignore']
    is_(missing, [], 'the tarball holds every file git tracks (EXTRA_DIST is complete)')
else:
    skip('not a git checkout: nothing to compare the tarball with')
if os.path.isfile(tarball):
    os.unlink(tarball)
done_testing()
