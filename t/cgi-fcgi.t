#!/usr/bin/env python3
# The responder driven by libfcgi's own client, cgi-fcgi: -bind -connect to a
# unix socket and to TCP, then the FastCGI fd-0 convention, once with
# `cgi-fcgi -start` creating the socket and once with a socket the test
# hands over as stdin.
import atexit
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

CGI_FCGI = shutil.which('cgi-fcgi') or '/usr/bin/cgi-fcgi'
if not os.access(CGI_FCGI, os.X_OK):
    skip_all('cgi-fcgi not installed (libfcgi-bin)')

RESPONDER = program('fcgiwsgi-responder')
APP = app_path('slow_app.wsgi')


def cgi(addr, method, uri, body=b''):
    """One request through `cgi-fcgi -bind -connect addr`; returns
    (exit status, HTTP status, headers dict, body, stderr)."""
    path, _, query = uri.partition('?')
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
           'REQUEST_METHOD': method, 'REQUEST_URI': uri, 'QUERY_STRING': query,
           'SERVER_NAME': 'localhost', 'SERVER_PORT': '80',
           'SERVER_PROTOCOL': 'HTTP/1.1', 'GATEWAY_INTERFACE': 'CGI/1.1'}
    if body or method in ('POST', 'PUT'):
        env['CONTENT_LENGTH'] = str(len(body))
        env['CONTENT_TYPE'] = 'application/octet-stream'
    try:
        p = subprocess.run([CGI_FCGI, '-bind', '-connect', addr], input=body,
                           env=env, capture_output=True, timeout=20)
    except subprocess.TimeoutExpired as e:
        return None, None, {}, e.stdout or b'', b'timed out'
    out = p.stdout
    sep = out.find(b'\r\n\r\n')
    seplen = 4
    if sep < 0:
        sep, seplen = out.find(b'\n\n'), 2
    if sep < 0:
        return p.returncode, None, {}, out, p.stderr
    headers = {}
    for line in out[:sep].replace(b'\r\n', b'\n').split(b'\n'):
        k, _, v = line.decode('latin-1').partition(':')
        headers[k.strip().lower()] = v.strip()
    status = headers.get('status', '200')
    code = int(status.split()[0]) if status.split() and status.split()[0].isdigit() else None
    return p.returncode, code, headers, out[sep + seplen:], p.stderr


def exercise(addr, label):
    rc, status, _, body, err = cgi(addr, 'GET', '/echo?a=1&b=%20')
    is_((rc, status, body), (0, 200, b'echo a=1&b=%20'), label + ': GET status and body')
    if rc != 0:
        diag('cgi-fcgi stderr: %r' % err)
    data = os.urandom(200 * 1024 + 3)
    rc, status, _, body, err = cgi(addr, 'POST', '/upload', data)
    try:
        got = json.loads(body)
    except ValueError:
        got = body
    is_((rc, status, got), (0, 200, {'len': len(data), 'sha1': hashlib.sha1(data).hexdigest()}),
        label + ': POST body echoed (length and sha1)')
    rc, status, _, body, _ = cgi(addr, 'GET', '/nowhere')
    is_((rc, status), (0, 404), label + ': the app\'s own 404 passes through')


def stopped(proc, label):
    rc = proc.stop()
    is_(rc, 0, label + ': exits 0 on SIGTERM')
    like(proc.output(), r'stopped', label + ': log says stopped')
    check_log_clean(proc, label + ': log clean')


# --- -bind -connect to a unix socket (--listen path)
r = start_responder(APP, threads=2)
exercise(r.addr, 'unix socket')
stopped(r, 'unix socket responder')

# --- -bind -connect to TCP 127.0.0.1:PORT
port = free_port()
r = start_responder(APP, threads=2, listen=('127.0.0.1', port))
exercise('127.0.0.1:%d' % port, 'tcp')
stopped(r, 'tcp responder')

# --- fd 0 convention (a): cgi-fcgi -start creates the socket and execs the app
d = tmpdir()
sock = sock_path('start.sock')
pidfile = os.path.join(d, 'start.pid')
logfile = os.path.join(d, 'start-responder.log')
wrapper = os.path.join(d, 'start-wrapper.sh')
with open(wrapper, 'w') as f:
    # cgi-fcgi -start runs appPath without arguments: a wrapper adds them and
    # records the responder's pid (exec keeps it).
    f.write('#!/bin/sh\necho $$ > %s\nexec %s --threads 2 --log %s %s\n' % (
        pidfile, RESPONDER, logfile, APP))
os.chmod(wrapper, 0o755)

started_pid = []


def _kill_started():
    for pid in started_pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


atexit.register(_kill_started)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


p = subprocess.run([CGI_FCGI, '-start', '-connect', sock, wrapper],
                   capture_output=True, timeout=20)
is_(p.returncode, 0, 'cgi-fcgi -start exits 0')
pid = None
try:
    wait_for(lambda: os.path.exists(pidfile) and open(pidfile).read().strip(), 10,
             what='the wrapper pid file')
    pid = int(open(pidfile).read().strip())
    started_pid.append(pid)
    wait_log(logfile, r'ready: 2 request threads', timeout=30)
except (TimeoutError, ValueError) as e:
    diag('responder started by cgi-fcgi -start did not get ready: %s' % e)
    diag(open(logfile).read() if os.path.exists(logfile) else '(no log)')
ok(pid is not None and pid_alive(pid), 'responder started by cgi-fcgi -start is running')
exercise(sock, 'cgi-fcgi -start (fd 0)')
if pid is not None:
    os.kill(pid, signal.SIGTERM)
    try:
        wait_for(lambda: not pid_alive(pid), 15, what='pid %d to exit' % pid)
        gone = True
    except TimeoutError:
        gone = False
    ok(gone, 'cgi-fcgi -start responder exits on SIGTERM')
    like(open(logfile).read(), r'stopping \(Terminated\)[\s\S]*stopped',
         'cgi-fcgi -start responder logs stopping then stopped')
    check_log_clean(logfile, 'cgi-fcgi -start responder: log clean')
else:
    skip('responder not started', 3)

# --- fd 0 convention (b): the test hands a listening socket over as stdin
sock = sock_path('fd0.sock')
lsock = listen(sock)
r = spawn([RESPONDER, '--threads', '2', '--log-level', 'info', APP], stdin=lsock)
lsock.close()  # the responder holds its own copy
try:
    wait_log(r, r'ready: 2 request threads', timeout=30)
    ready = True
except (TimeoutError, RuntimeError) as e:
    diag(str(e))
    ready = False
ok(ready, 'responder with a listening socket on fd 0 and no --listen gets ready')
exercise(sock, 'socket on fd 0')
unlike(r.output(), r'listening on', 'fd-0 responder does not open a socket of its own')
stopped(r, 'fd-0 responder')
ok(os.path.exists(sock), 'the inherited socket file is left alone (the responder did not create it)')

# tcp listening socket on fd 0
port = free_port()
lsock = listen(('127.0.0.1', port))
r = spawn([RESPONDER, '--log-level', 'info', APP], stdin=lsock)
lsock.close()
wait_log(r, r'ready: 1 request threads', timeout=30)
exercise('127.0.0.1:%d' % port, 'tcp socket on fd 0')
stopped(r, 'tcp fd-0 responder')

done_testing()
