#!/usr/bin/env python3
# Log injection (issue 14, item 8): every byte a peer controls that reaches
# a log line (method, URI, SCRIPT_FILENAME, header values an app passes on,
# what the control socket is sent) must not start a line of its own or
# carry a CR, an ESC or another control byte into the log: such bytes are
# written as \xHH. An app's own multi-line output (a traceback) still gives
# several lines, each with the full prefix. Checked in the standalone
# responder's stderr and in the manager's log.
import os
import re
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

APP = app_path('log_inject.wsgi')
EVIL = 'x\r\nFORGED line\x1b[2J\x07\x7f'
HEAD = re.compile(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ')


def raw(addr, params):
    """One request with exactly these params (a list of pairs)."""
    with FcgiConn(addr) as c:
        return c.request(params)


def check_log(text, label):
    lines = text.split('\n')
    forged = [ln for ln in lines if ln.startswith('FORGED')]
    ok(not forged, '%s: no line starts with what the peer sent' % label,
       got=forged[:5], expected=[])
    stray = [ln for ln in lines if ln and not HEAD.match(ln)]
    ok(not stray, '%s: every line starts with a timestamp' % label, got=stray[:5],
       expected=[])
    ctl = sorted({'%02x' % ord(ch) for ch in text if ord(ch) < 0x20 and ch not in '\n\t'
                  or ord(ch) == 0x7f})
    ok(not ctl, '%s: no control byte but LF and TAB in the log' % label, got=ctl,
       expected=[])


# ---- the standalone responder, its log on stderr
r = start_responder(APP, '--mount', '/', threads=2)
base = cgi_params('GET', '/')
bad = dict(base, REQUEST_METHOD='GET\r\nFORGED method', REQUEST_URI='/x\r\nFORGED uri',
           CONTENT_LENGTH='nope')
is_(raw(r.addr, list(bad.items())).status, 400, 'a bad request with CR LF in method and URI: 400')
res = raw(r.addr, list(dict(base, REQUEST_URI='/raise?a\r\nFORGED traceback',
                            QUERY_STRING='a\r\nFORGED traceback').items()))
is_(res.status, 500, 'an app raising with the URI in its message: 500')
res = raw(r.addr, list(dict(base, REQUEST_URI='/errors', HTTP_X_EVIL=EVIL).items()))
is_(res.status, 200, 'an app writing a header value to wsgi.errors: 200')
wait_log(r, r'the peer sent', timeout=5)
r.stop()
check_log(r.output(), 'responder')
like(r.output(), r'GET\\x0d\\x0aFORGED method /x\\x0d\\x0aFORGED uri: bad request',
     'responder: method and URI are in the log, escaped')
check_log_clean(r)

# ---- SCRIPT_FILENAME mode: the file name a peer sends is logged
r = start_responder(None, threads=1)
res = raw(r.addr, list(dict(base, SCRIPT_FILENAME='/nonexistent\r\nFORGED file\x1b[0m').items()))
is_(res.status, 404, 'SCRIPT_FILENAME naming no file, with CR LF: 404')
wait_log(r, r'is not a file', timeout=5)
r.stop()
check_log(r.output(), 'responder, SCRIPT_FILENAME mode')
like(r.output(), r'nonexistent\\x0d\\x0aFORGED file\\x1b\[0m',
     'SCRIPT_FILENAME mode: the name is logged with \\xHH escapes')

# ---- the manager: its log, its workers' captured output, the control socket
sock = sock_path('mgr.sock')
cfg = manager_config('''  web:
    listen: %s
    processes: 1
    threads: 2
    allow_root: true
    apps: [{mount: /, script: %s}]
''' % (sock, APP))
m = start_fcgiwsgi(cfg, ['web'])
for path, status in (('/raise?\r\nFORGED', 500), ('/errors', 200), ('/print', 200)):
    res = raw(sock, list(dict(base, REQUEST_URI=path, QUERY_STRING='', HTTP_X_EVIL=EVIL).items()))
    is_(res.status, status, 'manager: %s answered %d' % (path.split('?')[0], status))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(cfg + '.ctl')
s.sendall(b'status\rFORGED control\x1b[2J\n\n')
answer = b''
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    answer += chunk
s.close()
ok(answer, 'the control socket answered a command with control bytes')
wait_log(m, r'control: ', timeout=5)
wait_log(m, r'the peer sent', timeout=5)
m.stop()
text = m.output()
check_log(text, 'manager log')
like(text, r'control: status\\x0dFORGED control\\x1b\[2J from',
     'manager log: the control command is logged with \\xHH escapes')
check_log_clean(m)
done_testing()
