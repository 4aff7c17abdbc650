#!/usr/bin/env python3
# The access log (issue 17): each field for known requests (a GET, a POST
# with a body, the app's 404, a 500, a path under no mount), what a peer
# sends escaped (CR, LF, quotes in the URI and a header), N threads x M
# requests giving N*M whole lines, no line lost across a logrotate-style
# rename + reopen-logs or a recycle, the file 0640 with the pool's group
# and not writable by its user, and bad formats refused by -t with
# FILE:LINE:COLUMN.
import grp
import os
import re
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

d = tmpdir()
os.chmod(d, 0o711)  # the pool's user reads its access log below
main_log = os.path.join(d, 'main.log')
access = os.path.join(d, 'acc', 'access.log')  # its directory is made by the master
sock = sock_path('acc.sock')
root = os.geteuid() == 0
FMT = ('%h %{remote}p "%r" %m %U %q %H %s %b %B %{app}D %D %T %P %{pool}w %{generation}w '
       '%{mount}w %{thread}w "%{HTTP_USER_AGENT}e" "%{X-Test}i" %t %{iso}t')
POOLS = '''  acc:
    listen: %s
    listen_mode: "0666"
    processes: 1
    threads: 4
%s    access_log: acc/access.log
    access_format: '%s'
    max_params: 16K
    apps:
      - {mount: /a, script: %s}
''' % (sock, '    user: nobody\n    group: nogroup\n' if root else '    allow_root: true\n', FMT,
       app_path('access_app.wsgi'))
cfg = manager_config(POOLS, name='acc.yaml', log=main_log)
m = spawn([program('fcgiwsgi'), '-c', cfg])


def text(path):
    try:
        with open(path, encoding='utf-8', errors='surrogateescape') as f:
            return f.read()
    except FileNotFoundError:
        return ''


def lines(*paths):
    return [ln for p in paths for ln in text(p).splitlines()]


wait_for(lambda: 'starting -> running' in text(main_log), timeout=30, what='the pool ready')
st = os.stat(access)
is_(stat.S_IMODE(st.st_mode), 0o640, 'the access log is created 0640')
if root:
    is_(st.st_gid, grp.getgrnam('nogroup').gr_gid, "... with the pool's group")
    p = subprocess.run(['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--',
                        'sh', '-c', 'echo forged >> "$0"', access], capture_output=True)
    ok(p.returncode != 0, "the pool's user cannot write to it")
    p = subprocess.run(['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--',
                        'cat', access], capture_output=True)
    is_(p.returncode, 0, '... but can read it (its group)')
else:
    skip('not root: no pool user to try', 3)

PARAMS = {'HTTP_USER_AGENT': 'ua/1.0', 'HTTP_X_TEST': 'xt', 'REMOTE_PORT': '40001'}
is_(fcgi_request(sock, 'GET', '/a/hello?q=1', params=PARAMS).status, 200, 'a GET')
is_(fcgi_request(sock, 'POST', '/a/post', body=b'x' * 1234, params=PARAMS).body, b'x' * 1234,
    'a POST with a body')
is_(fcgi_request(sock, 'GET', '/a/missing', params=PARAMS).status, 404, "the app's 404")
r500 = fcgi_request(sock, 'GET', '/a/raise', params=PARAMS)
is_(r500.status, 500, 'an app error')
r404 = fcgi_request(sock, 'GET', '/elsewhere', params=PARAMS)
is_(r404.status, 404, 'a path under no mount')
evil = {'HTTP_USER_AGENT': b'evil\r\nFAKE 200 "quoted" \\ \x1b[31m\xff', 'HTTP_X_TEST': '"'}
evil_uri = '/a/hello?x=\r\n127.0.0.1 "GET / HTTP/1.1" 200'
is_(fcgi_request(sock, 'GET', evil_uri, params=evil).status, 200, 'an injection attempt')
wait_for(lambda: len(lines(access)) >= 6, timeout=5, what='six lines within a tick or two')
got = lines(access)
is_(len(got), 6, 'six requests, six lines') or diag('\n'.join(got))
T = r'\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d'
W = r'(\d+) (\d+) (\d+\.\d{3}) (\d+) acc 0 '


def line_re(request, method, uri, query, status, clf, b, mount, ua, xt):
    return (r'^127\.0\.0\.1 40001 "%s" %s %s %s HTTP/1\.1 %d %s %d ' % (
        re.escape(request), method, re.escape(uri), re.escape(query), status, clf, b) +
        W + re.escape(mount) + r' [0-3] "%s" "%s" ' % (re.escape(ua), re.escape(xt)) + T + '$')


body500 = len(r500.body)
body404 = len(r404.body)
want = [
    line_re('GET /a/hello?q=1 HTTP/1.1', 'GET', '/a/hello?q=1', '?q=1', 200, '5', 5, '/a',
            'ua/1.0', 'xt'),
    line_re('POST /a/post HTTP/1.1', 'POST', '/a/post', '', 200, '1234', 1234, '/a', 'ua/1.0',
            'xt'),
    line_re('GET /a/missing HTTP/1.1', 'GET', '/a/missing', '', 404, '4', 4, '/a', 'ua/1.0', 'xt'),
    line_re('GET /a/raise HTTP/1.1', 'GET', '/a/raise', '', 500, str(body500), body500, '/a',
            'ua/1.0', 'xt'),
    line_re('GET /elsewhere HTTP/1.1', 'GET', '/elsewhere', '', 404, str(body404), body404, '-',
            'ua/1.0', 'xt'),
]
names = ['GET', 'POST with a body', "the app's 404", 'the 500', 'no mount (404)']
uris = ['/a/hello?q=1 ', '/a/post ', '/a/missing ', '/a/raise ', '/elsewhere ']


def line_of(uri):
    """Lines of a tick come in no set order across request threads."""
    found = [ln for ln in got if ('"GET ' + uri) in ln or ('"POST ' + uri) in ln]
    return found[0] if len(found) == 1 else '%d lines for %s' % (len(found), uri)


for w, name, uri in zip(want, names, uris):
    if like(line_of(uri), w, 'the line of the %s, field by field' % name):
        continue
    diag('wanted %s' % w)
mm = re.match(want[0], line_of(uris[0]))
if mm:
    app_us, total_us, total_s, pid = int(mm.group(1)), int(mm.group(2)), mm.group(3), int(mm.group(4))
    ok(0 < app_us <= total_us < 5000000, 'app time within total time (%d <= %d us)'
       % (app_us, total_us))
    is_(total_s, '%d.%03d' % (total_us // 1000000, total_us // 1000 % 1000), '%T is %D in seconds')
    ok(pid != m.proc.pid and pid > 0, "the worker's pid")
else:
    skip('no GET line', 3)
esc = ([ln for ln in got if 'evil' in ln] or [''])[0]
is_(esc.split('"')[1] if '"' in esc else '',
    'GET /a/hello?x=\\x0d\\x0a127.0.0.1 \\x22GET / HTTP/1.1\\x22 200 HTTP/1.1',
    'CR, LF and quotes in the URI as \\xHH')
like(esc, r'"evil\\x0d\\x0aFAKE 200 \\x22quoted\\x22 \\x5c \\x1b\[31m\\xff" "\\x22" ',
     'and in headers (ESC, a backslash, a byte that is not UTF-8)')
ok('\r' not in text(access) and all(ln.count('"') == 6 for ln in got),
   'no CR anywhere, and every line has its 6 quotes (nothing forged)')

# Refused with 431 before the params are complete: logged too, with what
# had arrived (all but a big last header), or nothing ("-") when the first
# param was the big one.
big = dict(PARAMS, HTTP_X_BIG='x' * 20000)
r431 = fcgi_request(sock, 'GET', '/a/big?b=1', params=big)
is_(r431.status, 431, 'a 20 KB header past max_params 16K: 431')
r431b = fcgi_request(sock, 'GET', '/a/first', params={'GATEWAY_INTERFACE': 'x' * 20000})
is_(r431b.status, 431, '... and a first param past it: 431')
try:
    wait_for(lambda: len([ln for ln in lines(access) if ' 431 ' in ln]) >= 2, timeout=5,
             what='the 431 lines')
except TimeoutError:
    pass
got431 = [ln for ln in lines(access) if ' 431 ' in ln]
is_(len(got431), 2, 'two 431s, two lines') or diag('\n'.join(lines(access)[-3:]))
b431 = len(r431.body)
like(([ln for ln in got431 if '/a/big' in ln] or [''])[0],
     line_re('GET /a/big?b=1 HTTP/1.1', 'GET', '/a/big?b=1', '?b=1', 431, str(b431), b431, '-',
             'ua/1.0', 'xt'), '... the first with the params that came before the big one')
like(([ln for ln in got431 if '/a/big' not in ln] or [''])[0],
     r'^- - "- - -" - -  - 431 %d %d \d+ \d+ \d+\.\d{3} \d+ acc 0 - [0-3] "-" "-" ' % (
         len(r431b.body), len(r431b.body)) + T + '$', '... the second with "-" for all it lacks')

# N threads x M requests: exactly N*M whole lines, each once.
before = len(lines(access))
N, M = 8, 60
errors = []


def client(n):
    for j in range(M):
        try:
            r = fcgi_request(sock, 'GET', '/a/hello?c=%d-%d' % (n, j), params=PARAMS)
            if r.status != 200:
                errors.append(r.status)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))


ts = [threading.Thread(target=client, args=(n,)) for n in range(N)]
for t in ts:
    t.start()
for t in ts:
    t.join(120)
is_(errors, [], '%d clients x %d requests served' % (N, M))
wait_for(lambda: len(lines(access)) >= before + N * M, timeout=5, what='every line')
new = lines(access)[before:]
ids = [re.search(r' /a/hello\?c=(\d+-\d+) ', ln) for ln in new]
whole = [ln for ln in new if re.match(want[0].replace(re.escape('/a/hello?q=1'), r'\S+')
                                      .replace(re.escape('?q=1'), r'\S+'), ln)]
is_(len(new), N * M, '%d lines, no more' % (N * M))
is_(len(whole), N * M, 'every one whole and well-formed')
is_(sorted(i.group(1) for i in ids if i), sorted('%d-%d' % (n, j) for n in range(N)
                                                 for j in range(M)), 'each request once')
threads_seen = {ln.split(' acc 0 /a ')[1][0] for ln in whole if ' acc 0 /a ' in ln}
ok(len(threads_seen) > 1, 'written by several request threads (%s)' % sorted(threads_seen))


class Sender:
    """Sequential requests numbered from 0 until stop(); keeps which answered."""

    def __init__(self, tag):
        self.tag, self.done, self.failed, self.stopping = tag, [], [], False
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        i = 0
        end = time.monotonic() + 60
        while not self.stopping and time.monotonic() < end and i < 5000:
            try:
                r = fcgi_request(sock, 'GET', '/a/hello?%s=%d' % (self.tag, i), params=PARAMS)
                (self.done if r.status == 200 else self.failed).append(i)
            except Exception:  # noqa: BLE001
                self.failed.append(i)
            i += 1

    def stop(self):
        self.stopping = True
        self.t.join(30)


def logged(tag, *paths):
    found = (re.search(r'"GET /a/hello\?%s=(\d+) ' % tag, ln) for ln in lines(*paths))
    return sorted(int(f.group(1)) for f in found if f)


# logrotate: rename, reopen-logs, while requests keep coming.
s = Sender('rot')
wait_for(lambda: len(s.done) >= 50, timeout=20, what='requests before the rotation')
os.rename(access, access + '.1')
rc, out, err = ctl(cfg, 'reopen-logs')
is_(rc, 0, 'reopen-logs') or diag(out + err)
wait_for(lambda: len(logged('rot', access)) >= 50, timeout=20, what='lines in the new file')
s.stop()
is_(s.failed, [], 'no request failed across the rotation')
try:
    wait_for(lambda: logged('rot', access + '.1', access) == s.done, timeout=5,
             what='every line of the rotation')
except TimeoutError:
    seen = logged('rot', access + '.1', access)
    diag('missing %s, extra %s' % (sorted(set(s.done) - set(seen)),
                                   [x for x in seen if seen.count(x) > 1 or x not in s.done]))
is_(logged('rot', access + '.1', access), s.done,
    'every request of the rotation is in the old or the new file (%d)' % len(s.done))
ok(logged('rot', access + '.1') and logged('rot', access), '... some in each')
st = os.stat(access)
is_(stat.S_IMODE(st.st_mode), 0o640, 'the new file is 0640 too')

# A recycle: the old worker's last lines are written before it exits.
s = Sender('rec')
wait_for(lambda: len(s.done) >= 50, timeout=20, what='requests before the recycle')
rc, out, err = ctl(cfg, 'restart', 'acc')
is_(rc, 0, 'restart during load') or diag(out + err)
n_at_restart = len(s.done)
wait_for(lambda: len(s.done) >= n_at_restart + 50, timeout=20, what='requests after the recycle')
s.stop()
is_(s.failed, [], 'no request failed across the recycle')
try:
    wait_for(lambda: logged('rec', access) == s.done, timeout=5, what='every line of the recycle')
except TimeoutError:
    seen = logged('rec', access)
    diag('missing %s, extra %s' % (sorted(set(s.done) - set(seen)),
                                   [x for x in seen if seen.count(x) > 1 or x not in s.done]))
is_(logged('rec', access), s.done, 'every request of the recycle logged once (%d)' % len(s.done))
gens = set(re.findall(r' acc (\d) /a ', '\n'.join(ln for ln in lines(access) if '?rec=' in ln)))
is_(sorted(gens), ['0', '1'], 'by both generations')

m.signal(15)
is_(m.wait(30), 0, 'the manager stops with 0')
check_log_clean(main_log)

# -t: bad formats and targets, with FILE:LINE:COLUMN.
bad = manager_config('''  p:
    listen: %s
    allow_root: true
    access_log: p.log
    access_format: "%%h \\"%%r\\" %%Q"
    apps:
      - {mount: /, script: %s}
  q:
    listen: %s
    allow_root: true
    access_log: syslog
    access_format: '%%{x}Y'
    apps:
      - {mount: /, script: %s}
''' % (sock_path('p.sock'), app_path('access_app.wsgi'), sock_path('q.sock'),
       app_path('access_app.wsgi')), name='bad.yaml')
p = subprocess.run([program('fcgiwsgi'), '-t', '-c', bad], capture_output=True, text=True)
is_(p.returncode, 1, '-t: bad access log settings fail the check')
like(p.stderr, r"bad\.yaml:9:31: error: 'access_format': unknown directive '%Q'",
     '... the column of the bad directive, past the escaped quotes')
like(p.stderr, r"bad\.yaml:16:21: error: 'access_format': unknown directive '%Y'",
     '... in a single-quoted one')
like(p.stderr, r"bad\.yaml:15:17: error: 'access_log' must be the path of a file",
     '... and a syslog target refused')
done_testing()
