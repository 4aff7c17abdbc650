#!/usr/bin/env python3
# Errors and bad input (DESIGN.md "Errors and bad input"): misbehaving apps,
# limits, malformed FastCGI, scripts that fail to load, and app output that
# must reach the log (never the response). After each failure the worker
# must answer a normal request.
import json
import os
import re
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

APP = app_path('err_app.wsgi')
ESC_APP = re.escape(APP)


def req(addr, uri, method='GET', **kw):
    return fcgi_request(addr, method, uri, **kw)


def stats(addr):
    res = req(addr, '/stats')
    try:
        return json.loads(res.body)
    except ValueError:
        return {'unparsable': res.body}


def mark(proc):
    """Offset of the end of the log, for log checks that follow it."""
    return len(proc.output())


def log_has(proc, regex, name, after=0, timeout=5):
    """One test: the log matches regex (at or after offset `after`)."""
    try:
        m = wait_log(proc, regex, timeout=timeout, after=after)
        return ok(True, name) and m
    except (TimeoutError, RuntimeError) as e:
        ok(False, name, got=proc.output()[after:][-3000:], expected='a match for %r' % regex)
        diag(str(e).splitlines()[0])
        return None


def served_after(proc, label):
    """One test: a normal request right after is answered 200."""
    try:
        res = req(proc.addr, '/ok', timeout=10)
        got = (res.status, res.body)
    except (FcgiError, OSError) as e:
        got = 'error: %s' % e
    return is_(got, (200, b'ok'), label + ': the worker serves a normal request right after')


def status_of(proc, uri, **kw):
    try:
        return req(proc.addr, uri, timeout=10, **kw)
    except (FcgiError, OSError) as e:
        diag('%s: %s' % (uri, e))
        return None


def status(res):
    return res.status if res is not None else 'no response'


# one line of an err entry about the app: each line of a traceback repeats it
ERR_LINE = r'[-0-9]+ [0-9:.]+ err \[responder pid \d+\] app ' + ESC_APP + ': '
ERR_PREFIX = r'\n' + ERR_LINE
ERR_FIRST = r'(?m)^' + ERR_LINE

# ---------------------------------------------------------------- app errors
r = start_responder(APP)
a = r.addr
res = req(a, '/ok')
is_((res.status, res.body), (200, b'ok'), 'the error app answers normally')

# 1. raises before start_response
m0 = mark(r)
res = status_of(r, '/raise')
is_(status(res), 500, 'exception before start_response: 500')
unlike(res.body if res else b'', rb'raised-before-start', 'the exception text is not in the response')
log_has(r, ERR_FIRST + r'GET /raise: exception in the WSGI app' + ERR_PREFIX + r'Traceback \(most recent call last\):'
        r'(' + ERR_PREFIX + r'.*)+' + ERR_PREFIX + r'RuntimeError: raised-before-start-5150\n',
        'the traceback and the message are logged, every line with the same prefix', after=m0)
served_after(r, 'after an exception')

# 2. non-iterables
for uri, tname in (('/none', 'NoneType'), ('/int', 'int')):
    m0 = mark(r)
    res = status_of(r, uri)
    is_(status(res), 500, 'app returning a %s: 500' % tname)
    log_has(r, ERR_FIRST + 'GET ' + uri + r': .*non-iterable' + r'(' + ERR_PREFIX + r'.*)*'
            + ERR_PREFIX + r"TypeError: .*'" + tname + "'",
            'returning a %s is logged' % tname, after=m0)
    served_after(r, 'after returning a %s' % tname)

# 3. str instead of bytes
for uri in ('/str-list', '/str-gen'):
    m0 = mark(r)
    res = status_of(r, uri)
    is_(status(res), 500, '%s: an app yielding str gets a 500' % uri)
    unlike(res.stdout if res else b'', rb'a str, not bytes', '%s: the str never reaches the response' % uri)
    log_has(r, ERR_FIRST + 'GET ' + uri + r':(.|\n)*?TypeError: .*str', '%s: logged as a TypeError' % uri, after=m0)
    served_after(r, 'after %s' % uri)

# 4. start_response twice without exc_info
m0 = mark(r)
res = status_of(r, '/twice')
is_(status(res), 500, 'start_response called twice without exc_info: 500')
unlike(res.stdout if res else b'', rb'second start_response', 'the second call did not go through')
log_has(r, ERR_FIRST + r'GET /twice:(.|\n)*?' + ERR_PREFIX + r'\w+Error: .*start_response', 'the second call raised, logged', after=m0)
served_after(r, 'after start_response twice')

# 5. write() before start_response (and through a write() of an ended request)
m0 = mark(r)
res = status_of(r, '/write-before')
is_(status(res), 500, 'write() before start_response: 500')
unlike(res.stdout if res else b'', rb'written before|was accepted', 'nothing written reaches the response')
log_has(r, ERR_FIRST + r'GET /write-before:(.|\n)*?' + ERR_PREFIX + r'\w+Error: .*write\(\)', 'logged', after=m0)
served_after(r, 'after write() before start_response')
res = req(a, '/write-stash')
is_((res.status, res.body), (200, b'stashed'), 'a request keeps its write() callable')
res = status_of(r, '/write-stale')
is_(status(res), 500, "write() of an earlier, finished request: 500")
unlike(res.stdout if res else b'', rb'written through', 'the stale write reaches no response')
served_after(r, 'after a stale write()')

# 6. CR/LF injection in header values and the status
for uri in ('/crlf-value', '/lf-value', '/cr-value', '/crlf-status', '/lf-status'):
    m0 = mark(r)
    res = status_of(r, uri)
    is_(status(res), 500, '%s: 500' % uri)
    is_(res.header('X-Injected') if res else None, None, '%s: no injected header in the response' % uri)
    unlike(res.stdout if res else b'', rb'X-Injected|was accepted', '%s: the injected text is not in the response' % uri)
    log_has(r, ERR_FIRST + 'GET ' + uri + r':(.|\n)*?ValueError', '%s: ValueError logged' % uri, after=m0)
    served_after(r, 'after %s' % uri)

# 7. a generator raising after it yielded data: the web server must see a
# broken response. FastCGI has no record for that: the data yielded so far,
# then (the server did not ask to keep the connection, so a bare EOF would
# look like the end of a whole response to nginx) a record of version 0,
# which every server takes for an upstream error; never END_REQUEST.
m0 = mark(r)
with FcgiConn(a, timeout=10) as c:
    c.send_raw(begin_request(1) + records(FCGI_PARAMS, 1, encode_params(cgi_params('GET', '/gen-fail')))
               + records(FCGI_STDIN, 1, b''))
    raw = c.read_all(timeout=10)
stdout, kinds, pos = b'', [], 0
while pos + 8 <= len(raw):
    ver, typ, rid, clen, plen = struct.unpack_from('>BBHHBx', raw, pos)
    if ver != 1:
        kinds.append('broken')
        break
    kinds.append(typ)
    if typ == FCGI_STDOUT:
        stdout += raw[pos + 8:pos + 8 + clen]
    pos += 8 + clen + plen
ok(c.eof and FCGI_END_REQUEST not in kinds and kinds[-1:] == ['broken'],
   'exception after the headers: no END_REQUEST, a broken record, then the connection closes',
   got=(c.eof, kinds))
like(stdout, rb'(?s)^Status: 200.*\r\n\r\nfirst-chunk;second-chunk;$',
     'the data yielded before the exception was sent')
log_has(r, ERR_FIRST + r'GET /gen-fail: exception while iterating(.|\n)*?RuntimeError: generator-failed-after-data-9321',
        'the traceback is logged', after=m0)
served_after(r, 'after an exception mid-response')

# 8. close() exactly once
before = stats(a)
res = req(a, '/close-ok')
is_((res.status, res.body), (200, b'one;two;three'), 'a closable iterable is sent whole')
is_(stats(a).get('closes', 0) - before.get('closes', 0), 1, 'close() called exactly once on success')

before = stats(a)
try:
    res = req(a, '/close-iter-fail', timeout=10)
    ok(False, 'exception while iterating after data: connection cut', got=res,
       expected='FcgiError')
except FcgiError:
    ok(True, 'exception while iterating after data: connection cut')
is_(stats(a).get('closes', 0) - before.get('closes', 0), 1, 'close() called exactly once after an exception while iterating')
served_after(r, 'after close() on an exception')

# the client goes away mid-response
before = stats(a)
m0 = mark(r)
c = FcgiConn(a, timeout=10)
p = cgi_params('GET', '/close-big')
c.send_raw(begin_request(1) + records(FCGI_PARAMS, 1, encode_params(p)) + records(FCGI_STDIN, 1, b''))
got = 0
for _ in range(1000):  # bounded: ~ 256 KB at up to 64 KB a record
    rec = c.read_record()
    if rec is None:
        break
    got += len(rec[2])
    if got >= 256 * 1024:
        break
c.close()
ok(got >= 256 * 1024, 'the client read part of a large response', got=got, expected='>= 262144')
try:
    wait_for(lambda: stats(a).get('closes', 0) - before.get('closes', 0) >= 1, timeout=15,
             what='close() after the client went away')
except TimeoutError:
    pass
after = stats(a)
is_(after.get('closes', 0) - before.get('closes', 0), 1, 'close() called exactly once when the client went away')
log_has(r, r'GET /close-big: client went away', 'the vanished client is logged', after=m0)
served_after(r, 'after a client went away mid-response')
time.sleep(0.2)  # a second close() would land now
is_(stats(a).get('closes', 0) - before.get('closes', 0), 1, '... and not again later')

# an exception in close(): logged, the response still complete
before = stats(a)
m0 = mark(r)
try:
    res = req(a, '/close-raises', timeout=10)
    got = (res.status, res.body, res.protocol_status)
except FcgiError as e:
    got = 'FcgiError: %s (stdout so far %r)' % (e, e.response.stdout if e.response else None)
is_(got, (200, b'complete body', FCGI_REQUEST_COMPLETE),
    'exception in close(): the response is complete, with END_REQUEST')
is_(stats(a).get('close_raises', 0) - before.get('close_raises', 0), 1, 'close() ran once')
log_has(r, ERR_FIRST + r'GET /close-raises: .*close\(\)(.|\n)*?RuntimeError: close-failed-8642',
        'the exception in close() is logged', after=m0)
served_after(r, 'after an exception in close()')

# 12a. print() and sys.stderr go to the log, never into the response
m0 = mark(r)
res = req(a, '/print?tag4242')
is_((res.status, res.body), (200, b'done'), 'print(): the body is exactly what the app returned')
unlike(bytes(res.stdout) + bytes(res.stderr), rb'marker', 'no printed text in FCGI_STDOUT or FCGI_STDERR')
log_has(r, r'info \[responder pid \d+\] ' + ESC_APP + r' stdout: print-marker-tag4242\n',
        'print() is logged, tagged with the group', after=m0)
log_has(r, r'warn \[responder pid \d+\] ' + ESC_APP + r' stderr: stderr-marker-tag4242\n',
        'sys.stderr is logged, tagged with the group', after=m0)

is_(r.alive(), True, 'the responder survived every app error')
r.stop()
check_log_clean(r)

# 12b. 8 concurrent requests on 4 threads, each printing 200 long lines
r = start_responder(APP, threads=4)
m0 = mark(r)
results = {}


def printer(n):
    try:
        res = req(r.addr, '/print-many', params={'QUERY_STRING': str(n)}, timeout=30)
        results[n] = (res.status, res.body)
    except Exception as e:  # reported below
        results[n] = repr(e)


workers = [threading.Thread(target=printer, args=(n,)) for n in range(8)]
for t in workers:
    t.start()
for t in workers:
    t.join(60)
is_([results.get(n) for n in range(8)], [(200, b'printed')] * 8, '8 concurrent printing requests answered')
line_re = re.compile(r'^[-0-9]+ [0-9:.]+ info \[responder pid \d+\] (.*) stdout: (MARK(\d\d)-(\d{3})-([A-Z]*))$')
try:
    wait_for(lambda: r.output()[m0:].count('MARK') >= 1600, timeout=10, what='1600 printed lines')
except TimeoutError:
    pass
bad, seen = [], set()
for ln in r.output()[m0:].splitlines():
    if 'MARK' not in ln:
        continue
    mm = line_re.match(ln)
    if not mm:
        bad.append(ln[:200] + '...(%d chars)' % len(ln))
        continue
    group, payload, n, i, fill = mm.group(1), mm.group(2), int(mm.group(3)), int(mm.group(4)), mm.group(5)
    letter = chr(ord('A') + n)
    if group != APP or len(payload) != 3000 or fill != letter * len(fill) or ln.count('MARK') != 1:
        bad.append(ln[:200] + '...(%d chars)' % len(ln))
        continue
    seen.add((n, i))
is_(bad[:5], [], 'every printed line is logged whole and unmixed (%d bad)' % len(bad))
is_(len(seen), 1600, 'all 8 x 200 lines are in the log, each once')
r.stop()
check_log_clean(r)

# ------------------------------------------------------------------ limits
r = start_responder(APP, '--max-params', '4K', '--max-body', '1M')
a = r.addr
res = req(a, '/ok', params={'HTTP_X_SMALL': 'x' * 2048})
is_(res.status, 200, 'params under --max-params 4K pass')
m0 = mark(r)
res = status_of(r, '/ok', params={'HTTP_X_BIG': 'x' * 10240})
is_(status(res), 431, 'a 10 KB header param over --max-params 4K: 431')
log_has(r, r'warn .*exceed the limit.*431', 'the 431 is logged', after=m0)
served_after(r, 'after 431')

res = req(a, '/read-all', 'POST', body=b'y' * (512 * 1024))
is_((res.status, res.body), (200, b'read 524288 bytes'), 'a body under --max-body 1M is read')
before = stats(a)
res = status_of(r, '/read-all', method='POST', body=b'y' * (2 * 1024 * 1024))
is_(status(res), 413, 'CONTENT_LENGTH of 2 MB over --max-body 1M: 413')
is_(stats(a).get('calls'), before.get('calls'), 'the app was not called for it')
served_after(r, 'after 413 by CONTENT_LENGTH')

before = stats(a)
res = status_of(r, '/read-all', method='POST', body=b'y' * (2 * 1024 * 1024), content_length=False)
is_(status(res), 413, 'no CONTENT_LENGTH, a 2 MB body read by the app: 413')
is_(stats(a).get('calls', 0) - before.get('calls', 0), 1, 'that one did reach the app')
served_after(r, 'after 413 while reading')

m0 = mark(r)
res = status_of(r, '/read-all', method='POST', params={'CONTENT_LENGTH': '12x'})
is_(status(res), 400, "CONTENT_LENGTH '12x': 400")
log_has(r, r'bad request.*400', 'the 400 is logged', after=m0)
served_after(r, 'after 400')
r.stop()
check_log_clean(r)

# ---------------------------------------------------- malformed FastCGI input
r = start_responder(APP)
a = r.addr


def closed_by_server(c, timeout=5):
    """Reads until EOF; True if the server closed the connection."""
    c.read_all(timeout=timeout)
    return c.eof


def logged_since(m0, label):
    """One test: the server said something about the bad input (DESIGN.md:
    bad FastCGI input gets a closed connection *and a log line*)."""
    return log_has(r, r'(?m)^\S+ \S+ (info|warn|err) \[responder pid \d+\] (?!.*ready:).*',
                   label + ': a log line says why the connection was dropped', after=m0, timeout=3)


def normal_after(label):
    served_after(r, label)
    ok(r.alive(), label + ': the responder is still running')


# a record with version 2
m0 = mark(r)
c = FcgiConn(a, timeout=10)
rec = bytearray(begin_request(1))
rec[0] = 2
c.send_raw(bytes(rec) + records(FCGI_PARAMS, 1, encode_params(cgi_params('GET', '/ok'))) + records(FCGI_STDIN, 1, b''))
ok(closed_by_server(c), 'a version-2 record: the server closes the connection')
c.close()
logged_since(m0, 'a version-2 record')
normal_after('version 2')

# a truncated header, then close
c = FcgiConn(a, timeout=10)
c.send_raw(begin_request(1)[:5])
c.close()
normal_after('a truncated header')

# a record cut short, then the client half-closes: the server must notice
# the end of the stream and close too (not wait forever on its one thread)
c = FcgiConn(a, timeout=10)
c.send_raw(begin_request(1) + record(FCGI_PARAMS, 1, b'\x04\x01ABCDx')[:6])
c.sock.shutdown(socket.SHUT_WR)
ok(closed_by_server(c), 'a truncated record then half-close: the server closes too')
c.close()
normal_after('a truncated record')

# garbage: an HTTP request sent to the FastCGI socket, then random-ish bytes
m0 = mark(r)
c = FcgiConn(a, timeout=10)
c.send_raw(b'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n' + bytes(range(256)) * 4)
ok(closed_by_server(c), 'garbage bytes: the server closes the connection')
c.close()
logged_since(m0, 'garbage bytes')
normal_after('garbage bytes')

# CVE-2025-23016 shape: name and value lengths of ~0x7fffffff each
evil = struct.pack('>II', 0xffffffff, 0xffffffff) + b'A' * 64
c = FcgiConn(a, timeout=10)
c.send_raw(begin_request(1) + record(FCGI_PARAMS, 1, evil))
c.close()
normal_after('params with 0x7fffffff lengths, then close')

m0 = mark(r)
c = FcgiConn(a, timeout=10)
c.send_raw(begin_request(1) + record(FCGI_PARAMS, 1, evil) + record(FCGI_PARAMS, 1, b'') + records(FCGI_STDIN, 1, b''))
data = c.read_all(timeout=5)
ok(c.eof, 'params with 0x7fffffff lengths, stream ended: the server closes (or answers) without hanging',
   got=data[:200], expected='EOF within 5 s')
c.close()
logged_since(m0, 'params with 0x7fffffff lengths')
normal_after('params with 0x7fffffff lengths, then end of params')

# a name length just past the record (1 byte short of a pair)
c = FcgiConn(a, timeout=10)
c.send_raw(begin_request(1) + record(FCGI_PARAMS, 1, b'\x7f\x01abc') + record(FCGI_PARAMS, 1, b'') + records(FCGI_STDIN, 1, b''))
c.read_all(timeout=5)
ok(c.eof, 'a short name-value pair: the server closes or answers', got=c.eof, expected=True)
c.close()
normal_after('a short name-value pair')

# roles other than RESPONDER
for role, rname in ((FCGI_AUTHORIZER, 'AUTHORIZER'), (FCGI_FILTER, 'FILTER')):
    m0 = mark(r)
    try:
        with FcgiConn(a, timeout=10) as c:
            res = c.request(cgi_params('GET', '/ok'), role=role)
        got = (res.status, res.protocol_status)
    except FcgiError as e:
        got = 'FcgiError: %s' % e
    # FastCGI's own answer (spec 5.1): END_REQUEST with FCGI_UNKNOWN_ROLE.
    is_(got, (None, FCGI_UNKNOWN_ROLE), 'FCGI_%s role: END_REQUEST FCGI_UNKNOWN_ROLE' % rname)
    log_has(r, r'role %s is not supported' % rname, 'the unsupported role is logged', after=m0)
    normal_after('after the %s role' % rname)
r.stop()
check_log_clean(r)

# ------------------------------------------------------------- load failures
r = start_responder(None)
a = r.addr
for name, pattern, label in (
        ('err_syntax.wsgi', r'SyntaxError', 'a syntax error'),
        ('err_noapp.wsgi', r"'application'", "no 'application'")):
    m0 = mark(r)
    res = status_of(r, '/', params={'SCRIPT_FILENAME': app_path(name)})
    is_(status(res), 500, '%s: 500' % label)
    log_has(r, r'err \[responder pid \d+\] app ' + re.escape(app_path(name)) + r': (.|\n)*?' + pattern,
            '%s: logged (%s)' % (label, pattern), after=m0)
    res = status_of(r, '/ok', params={'SCRIPT_FILENAME': APP})
    is_((status(res), res.body if res else None), (200, b'ok'), '%s: another script is served right after' % label)
r.stop()
check_log_clean(r)

r = start_responder(app_path('err_noapp.wsgi'), '--callable', 'app')
res = req(r.addr, '/')
is_((res.status, res.body), (200, b'served by app'), '--callable app picks the other name')
r.stop()
check_log_clean(r)

# retry: the import fails while the "database" is down, heals without us
marker = os.path.join(tmpdir(), 'database-up')
r = start_responder(app_path('err_retry.wsgi'), env={'FW_ERR_MARKER': marker})
t0 = time.monotonic()
codes = [status(status_of(r, '/')) for _ in range(10)]
burst = time.monotonic() - t0
is_(codes, [500] * 10, 'while the import fails: 500s')
log_has(r, r'RuntimeError: database down', 'the import error is logged')
attempts = len(re.findall(r'RuntimeError: database down', r.output()))
ok(1 <= attempts <= 1 + int(burst) + 1 and attempts < 11,
   'the import is retried rate-limited, not on every request (%d attempts for 10 requests in %.2f s)' % (attempts, burst),
   got=attempts, expected='1 .. %d' % (2 + int(burst)))
# keep asking (every 0.1 s) until the third attempt: the attempts must be
# spaced by the announced rate limit (1 s), whatever the request rate
attempt_re = re.compile(r'(?m)^\S+ (\d\d):(\d\d):(\d\d\.\d{3}) warn .*' + re.escape(app_path('err_retry.wsgi'))
                        + r': not loaded \(attempt (\d+)\).* next attempt is in (\d+) ms')
polls = 0
for _ in range(80):  # bounded: ~ 8 s
    if len(attempt_re.findall(r.output())) >= 3:
        break
    status_of(r, '/')
    polls += 1
    time.sleep(0.1)
found = [(int(h) * 3600 + int(mi) * 60 + float(sec), int(n), int(ms))
         for h, mi, sec, n, ms in attempt_re.findall(r.output())]
is_([(n, ms) for _, n, ms in found[:3]], [(1, 1000), (2, 1000), (3, 1000)],
    'the import is retried at most once a second (%d requests meanwhile)' % (polls + 10))
gaps = [round(found[i + 1][0] - found[i][0], 3) for i in range(min(2, len(found) - 1))]
ok(len(gaps) == 2 and 0.95 <= gaps[0] < 2.5 and 0.95 <= gaps[1] < 2.5,
   'attempts are spaced by the rate limit, not by the requests', got=gaps, expected='[~1.0, ~1.0]')
open(marker, 'w').close()
t1 = time.monotonic()
recovered = None
for _ in range(100):  # bounded: ~ 10 s
    res = status_of(r, '/')
    if res is not None and res.status == 200:
        recovered = (res.status, res.body)
        break
    time.sleep(0.1)
is_(recovered, (200, b'up'), 'once the cause is gone, a later request loads the app (%.1f s)' % (time.monotonic() - t1))
log_has(r, r'loaded after \d+ failed attempts', 'the recovery is logged')
r.stop()
check_log_clean(r)

done_testing()
