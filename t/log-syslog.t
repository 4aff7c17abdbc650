#!/usr/bin/env python3
# log: syslog:SOCKET (issue 16): the test is the syslog daemon, a unix
# datagram socket of its own. The master's and the workers' lines arrive as
# RFC 3164 datagrams, "<PRI>Mmm dd hh:mm:ss fcgiwsgi[PID]: [pool P pid N]
# message", the level as priority (facility daemon, or log_facility), each
# process under its own pid, control bytes escaped; a daemon that restarts
# (its socket made anew) gets the lines again. A syslog socket that nobody
# reads, or that is not there, costs the master nothing: it serves, and its
# control socket answers.
import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PARAMS = {'SERVER_NAME': 'localhost', 'SERVER_PORT': '80'}
HEAD = re.compile(r'^<(\d+)>([A-Z][a-z]{2}) ([ \d]\d) (\d\d:\d\d:\d\d) fcgiwsgi\[(\d+)\]: (.*)$',
                  re.S)
d = tmpdir()


class Syslogd:
    """A unix datagram socket at path, read by a thread into .lines."""

    def __init__(self, path, read=True):
        self.path, self.lines, self.lock = path, [], threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if os.path.exists(path):
            os.unlink(path)
        self.sock.bind(path)
        self.stop = False
        if read:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.lines.append(data.decode('utf-8', 'replace'))

    def close(self):
        self.stop = True
        self.sock.close()
        os.unlink(self.path)

    def find(self, regex, after=0):
        with self.lock:
            return [ln for ln in self.lines[after:] if re.search(regex, ln)]

    def wait(self, regex, timeout=15, after=0):
        wait_for(lambda: self.find(regex, after), timeout=timeout, what='syslog: ' + regex)
        return self.find(regex, after)


path = os.path.join(d, 'log.sock')
sd = Syslogd(path)
sock = sock_path('sl.sock')
POOLS = '''  sl:
    listen: %s
    processes: 2
    allow_root: true
    apps:
      - {mount: /e, script: %s}
      - {mount: /, script: %s}
  filed:
    listen: %s
    processes: 1
    allow_root: true
    log: filed.log
    apps:
      - {mount: /, script: %s}
''' % (sock, app_path('err_app.wsgi'), app_path('mgr_app.wsgi'), sock_path('filed.sock'),
       app_path('mgr_app.wsgi'))
filed_log = os.path.join(d, 'filed.log')
cfg = manager_config(POOLS, name='sl.yaml', log='syslog:' + path)
with open(cfg, 'a') as f:
    f.write('log_facility: local3\n')
m = spawn([program('fcgiwsgi'), '-c', cfg])
sd.wait(r'\] starting -> running', timeout=30)
wait_for(lambda: len(sd.find(r'\] starting -> running')) >= 2, timeout=30, what='2 workers')

started = sd.wait(r'fcgiwsgi \S+ started: 2 pools')[0]
h = HEAD.match(started)
ok(h is not None, 'a master line is <PRI>Mmm dd hh:mm:ss fcgiwsgi[pid]: message', got=started)
if h:
    is_(int(h.group(1)), 19 * 8 + 5, '... priority local3.notice (log_facility: local3)')
    is_(int(h.group(5)), m.pid, "... the master's pid")
    ok(time.strftime('%b') in (h.group(2), time.strftime('%b', time.localtime(time.time() - 60))),
       '... the month in local time, as syslog(3) writes it', got=h.group(2))
ok(not any(ln.endswith('\n') for ln in sd.lines), 'no datagram ends with a newline')

ready = sd.find(r'\[pool sl pid \d+\] ready: ')
ok(len(ready) >= 2, "each worker's own lines come to syslog", got=len(ready))
for ln in ready[:2]:
    h = HEAD.match(ln)
    ok(h and int(h.group(5)) == int(re.search(r'pid (\d+)\]', ln).group(1)) and
       int(h.group(1)) == 19 * 8 + 5,
       "... as notice, under the worker's own pid", got=ln)

mark = len(sd.lines)
is_(fcgi_request(sock, 'GET', '/print', params=dict(PARAMS, QUERY_STRING='a\x1b[2Jb\rc')).status,
    200, 'a request that prints')
line = sd.wait(r'printed-by-the-app', after=mark)[0]
h = HEAD.match(line)
ok(h and int(h.group(1)) == 19 * 8 + 6, "the app's print() at info", got=line)
ok('a\\x1b[2Jb\\x0dc' in line and '\x1b' not in line and '\r' not in line,
   '... control bytes escaped as in the file log', got=line)
is_(fcgi_request(sock, 'GET', '/e/raise', params=PARAMS).status, 500, 'an app error')
tb = sd.wait(r'RuntimeError: raised-before-start-5150', after=mark)[0]
ok(HEAD.match(tb) and int(HEAD.match(tb).group(1)) == 19 * 8 + 3,
   '... its traceback at err, a datagram per line', got=tb)
ok(sd.find(r'\] app \S+err_app.wsgi: Traceback \(most recent call last\):$', after=mark),
   '... the traceback\'s first line alone in its datagram')

# A pool with a file of its own, under a syslog main log.
is_(fcgi_request(sock_path('filed.sock'), 'GET', '/print?to-the-file', params=PARAMS).status, 200,
    'a pool with log: FILE serves')
wait_log(filed_log, r'info \[pool filed pid \d+\] .*printed-by-the-app to-the-file', timeout=10)
ok(True, "... its app's print() in its file, in the file format")
like(open(filed_log).read(), r'notice \[pool filed\] listening on ', "... the master's lines about it")
ok(not sd.find(r'to-the-file|\[pool filed[ \]]'), '... none of them in syslog')

rc, out, err = ctl(cfg, 'reopen-logs')
is_(rc, 0, 'reopen-logs with a syslog log') or diag(out + err)

# The daemon restarts: its socket goes and comes back at the same path.
sd.close()
time.sleep(0.3)
fcgi_request(sock, 'GET', '/print?lost', params=PARAMS)
sd = Syslogd(path)
time.sleep(1.2)  # past the reconnect's once-a-second limit
for i in range(3):
    fcgi_request(sock, 'GET', '/print?back%d' % i, params=PARAMS)
    time.sleep(0.3)
sd.wait(r'printed-by-the-app back', timeout=10)
ok(True, 'after the daemon restarted, workers log to its new socket')
rc, out, err = ctl(cfg, 'status')
sd.wait(r'control: status from', timeout=10)
ok(True, '... and so does the master')
m.signal(signal.SIGTERM)
is_(m.wait(30), 0, 'the manager stops with 0')
sd.wait(r'notice|stopped', timeout=5)
ok(sd.find(r'fcgiwsgi\[%d\]: stopped$' % m.pid), '"stopped" is the last word', got=sd.lines[-3:])
check_log_clean(m)
sd.close()


# A syslog nobody reads (its queue full), and one that is not there.
def check_unread(target, what, sd=None):
    sock = sock_path('full.sock')
    cfg = manager_config('''  full:
    listen: %s
    processes: 2
    allow_root: true
    apps:
      - {mount: /, script: %s}
''' % (sock, app_path('mgr_app.wsgi')), name='full.yaml', log=target)
    m = spawn([program('fcgiwsgi'), '-c', cfg])
    wait_socket(sock, timeout=30, proc=m)
    wait_for(lambda: fcgi_request(sock, 'GET', '/', params=PARAMS).status == 200, timeout=30,
             what='serving')
    worst_status = worst_req = 0.0
    for i in range(20):
        t0 = time.monotonic()
        # Each writes 50 lines of 1.5 KB to stdout: the master logs them.
        r = fcgi_request(sock, 'GET', '/raw-output', params=PARAMS, timeout=10)
        worst_req = max(worst_req, time.monotonic() - t0)
        if r.status != 200:
            break
        t0 = time.monotonic()
        rc, out, err = ctl(cfg, 'status', timeout=10)
        worst_status = max(worst_status, time.monotonic() - t0)
        if rc != 0:
            break
    is_((r.status, rc), (200, 0), '%s: 20 requests logging 50 lines each served, status answered'
        % what)
    ok(worst_status < 1.0, '%s: status answered within 1 s every time' % what,
       got='%.3f s' % worst_status)
    ok(worst_req < 3.0, '%s: no request waited more than a worker\'s one wait on the log' % what,
       got='%.3f s' % worst_req)
    diag('%s: worst status %.3f s, worst request %.3f s' % (what, worst_status, worst_req))
    m.signal(signal.SIGTERM)
    is_(m.wait(30), 0, '%s: stops with 0' % what)
    return m


full = Syslogd(os.path.join(d, 'full.log.sock'), read=False)
check_unread('syslog:' + full.path, 'a full syslog socket')
full.close()
m = check_unread('syslog:' + os.path.join(d, 'absent.sock'), 'no syslog socket')
like(m.output(), r"warning: 'log': no syslog socket at \S+absent.sock",
     '... which the start warns about on stderr')
done_testing()
