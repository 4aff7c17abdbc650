#!/usr/bin/python3
"""A FastCGI responder that records what web servers send, for the seed
corpus of t/fuzz/record_fuzz.c (t/fuzz/corpus/record/).

Every connection's bytes, exactly as received, go to OUT/PREFIX-N.bin (N
counts connections). Each request is answered with a minimal valid response
(STDOUT "Status: 200 OK...ok", an empty STDOUT, END_REQUEST) once its STDIN
has ended, so the server is satisfied; with FCGI_KEEP_CONN the connection
stays open for the next request, else it is closed after the answer.
FCGI_GET_VALUES is answered too. Nothing here checks the stream: a server
that sends something odd is recorded as it is.

    capture.py listen --unix PATH --out DIR --prefix NAME
    capture.py listen --tcp PORT --out DIR --prefix NAME   (127.0.0.1 only)
    capture.py listen --fd0 --out DIR --prefix NAME
        the listening socket is fd 0 (a server that spawns its FastCGI
        process, such as mod_fcgid); stops on SIGTERM or SIGINT
    capture.py seeds DIR
        writes the hand-written seeds (GET_VALUES, aborts, unknown role,
        multiplexing, padding, odd splits) into DIR

t/fuzz/capture-servers.py runs the web servers in front of this script
(see the end of this file for what each capture is). Run with
/usr/bin/python3; only the standard library.
"""
import argparse
import os
import signal
import socket
import struct
import sys
import threading

BEGIN, ABORT, END, PARAMS, STDIN, STDOUT = 1, 2, 3, 4, 5, 6
GET_VALUES, GET_VALUES_RESULT = 9, 10


def record(rtype, rid, content=b'', pad=None):
    if pad is None:
        pad = -len(content) % 8
    return (struct.pack('>BBHHBB', 1, rtype, rid, len(content), pad, 0)
            + content + b'\0' * pad)


def nv_len(n):
    return bytes([n]) if n < 128 else struct.pack('>I', n | 0x80000000)


def pairs(items):
    out = b''
    for name, value in items:
        if isinstance(name, str):
            name = name.encode()
        if isinstance(value, str):
            value = value.encode()
        out += nv_len(len(name)) + nv_len(len(value)) + name + value
    return out


def decode_pairs(data):
    out, i = {}, 0
    while i < len(data):
        lens = []
        for _ in range(2):
            if data[i] & 0x80:
                lens.append(struct.unpack('>I', data[i:i + 4])[0] & 0x7fffffff)
                i += 4
            else:
                lens.append(data[i])
                i += 1
        out[data[i:i + lens[0]]] = data[i + lens[0]:i + lens[0] + lens[1]]
        i += lens[0] + lens[1]
    return out


def response(rid, head=False):
    body = b'Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n' + (b'' if head else b'ok')
    return (record(STDOUT, rid, body) + record(STDOUT, rid)
            + record(END, rid, struct.pack('>IB3x', 0, 0)))


def serve(conn, path):
    """Records one connection and answers its requests."""
    buf = b''
    keep, params, head = {}, {}, {}
    with open(path, 'wb') as f:
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                break
            if not data:
                break
            f.write(data)
            f.flush()
            buf += data
            close = False
            while len(buf) >= 8:
                _, rtype, rid, clen, pad = struct.unpack('>BBHHB', buf[:7])
                if len(buf) < 8 + clen + pad:
                    break
                content = buf[8:8 + clen]
                buf = buf[8 + clen + pad:]
                out = b''
                if rtype == BEGIN and clen == 8:
                    keep[rid] = bool(content[2] & 1)
                    params[rid] = b''
                elif rtype == PARAMS and rid in params:
                    params[rid] += content
                    if not content:  # a HEAD response has no body (HAProxy checks)
                        try:
                            head[rid] = decode_pairs(params[rid]).get(b'REQUEST_METHOD') == b'HEAD'
                        except (IndexError, struct.error):
                            pass
                elif rtype == GET_VALUES and rid == 0:
                    out = record(GET_VALUES_RESULT, 0, pairs(
                        [('FCGI_MAX_CONNS', '8'), ('FCGI_MAX_REQS', '8'),
                         ('FCGI_MPXS_CONNS', '0')]))
                elif rtype == STDIN and clen == 0 and rid in keep:
                    out = response(rid, head.pop(rid, False))
                    params.pop(rid, None)
                    close = not keep.pop(rid)
                if out:
                    try:
                        conn.sendall(out)
                    except OSError:
                        close = True
                if close:
                    break
            if close:
                break
    conn.close()


def listen(args):
    if args.fd0:
        lsock = socket.socket(fileno=0)
    elif args.unix:
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(args.unix):
            os.unlink(args.unix)
        lsock.bind(args.unix)
        os.chmod(args.unix, 0o777)  # for servers whose workers are not root
        lsock.listen(64)
    else:
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(('127.0.0.1', args.tcp))
        lsock.listen(64)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    os.makedirs(args.out, exist_ok=True)
    n = 0
    while True:
        conn, _ = lsock.accept()
        n += 1
        # several processes (mod_fcgid) may write to one directory
        path = os.path.join(args.out, '%s-%d-%d.bin' % (args.prefix, os.getpid(), n))
        threading.Thread(target=serve, args=(conn, path), daemon=True).start()


def nginx_like(rid, keep, method='GET', uri='/x?y=1', body=b'', extra=()):
    params = [('SCRIPT_FILENAME', '/srv/x'), ('QUERY_STRING', uri.partition('?')[2]),
              ('REQUEST_METHOD', method), ('CONTENT_TYPE', ''),
              ('CONTENT_LENGTH', str(len(body)) if body else ''),
              ('SCRIPT_NAME', uri.partition('?')[0]), ('REQUEST_URI', uri),
              ('SERVER_PROTOCOL', 'HTTP/1.1'), ('HTTP_HOST', 'localhost')] + list(extra)
    out = record(BEGIN, rid, struct.pack('>HB5x', 1, 1 if keep else 0))
    out += record(PARAMS, rid, pairs(params)) + record(PARAMS, rid)
    if body:
        out += record(STDIN, rid, body)
    return out + record(STDIN, rid)


def seeds(d):
    os.makedirs(d, exist_ok=True)
    gv = pairs([('FCGI_MAX_CONNS', ''), ('FCGI_MAX_REQS', ''), ('FCGI_MPXS_CONNS', '')])
    s = {}
    s['hand-get-values'] = record(GET_VALUES, 0, gv)
    s['hand-get-values-many'] = record(GET_VALUES, 0, pairs(
        [('FCGI_MAX_CONNS', '')] * 200 + [('X_UNKNOWN', 'v')])) + nginx_like(1, False)
    s['hand-get-values-between'] = (nginx_like(1, True) + record(GET_VALUES, 0, gv)
                                    + nginx_like(2, True))
    s['hand-get-values-in-params'] = (
        record(BEGIN, 1, struct.pack('>HB5x', 1, 1))
        + record(PARAMS, 1, pairs([('A', 'b')])) + record(GET_VALUES, 0, gv)
        + record(PARAMS, 1, pairs([('C', 'd')])) + record(PARAMS, 1)
        + record(STDIN, 1, b'xyz') + record(STDIN, 1))
    # the params cut inside a pair, then the abort
    s['hand-abort-mid-params'] = (
        record(BEGIN, 1, struct.pack('>HB5x', 1, 1))
        + record(PARAMS, 1, pairs([('REQUEST_METHOD', 'POST'), ('REQUEST_URI', '/a')])[:-3])
        + record(ABORT, 1) + nginx_like(2, True))
    s['hand-abort-mid-stdin'] = (
        nginx_like(1, True, 'POST', '/app/p', b'')[:-8]
        + record(STDIN, 1, b'part') + record(ABORT, 1) + nginx_like(3, True))
    s['hand-unknown-role'] = (record(BEGIN, 1, struct.pack('>HB5x', 2, 1))
                              + record(PARAMS, 1, pairs([('A', 'b')])) + record(PARAMS, 1)
                              + record(STDIN, 1) + nginx_like(2, True))
    s['hand-role-99-close'] = record(BEGIN, 1, struct.pack('>HB5x', 99, 0)) + nginx_like(2, False)
    s['hand-multiplexed'] = (record(BEGIN, 1, struct.pack('>HB5x', 1, 1))
                             + record(BEGIN, 2, struct.pack('>HB5x', 1, 1))
                             + record(PARAMS, 2, pairs([('Z', 'z')])) + record(PARAMS, 2)
                             + record(PARAMS, 1, pairs([('REQUEST_URI', '/a')]))
                             + record(PARAMS, 1) + record(STDIN, 2, b'no')
                             + record(STDIN, 1, b'yes') + record(STDIN, 1))
    p = pairs([('REQUEST_METHOD', 'GET'), ('REQUEST_URI', '/pad')])
    s['hand-padding-255'] = (record(BEGIN, 1, struct.pack('>HB5x', 1, 0), 255)
                             + record(PARAMS, 1, p, 255) + record(PARAMS, 1, b'', 255)
                             + record(STDIN, 1, b'body', 255) + record(STDIN, 1, b'', 255))
    s['hand-no-padding'] = (record(BEGIN, 1, struct.pack('>HB5x', 1, 0), 0)
                            + record(PARAMS, 1, p, 0) + record(PARAMS, 1, b'', 0)
                            + record(STDIN, 1, b'body', 0) + record(STDIN, 1, b'', 0))
    # one record per byte of the params and the body
    one = record(BEGIN, 7, struct.pack('>HB5x', 1, 1))
    for b in p:
        one += record(PARAMS, 7, bytes([b]), 0)
    one += record(PARAMS, 7, b'', 0)
    for b in b'split body':
        one += record(STDIN, 7, bytes([b]), 0)
    s['hand-one-record-per-byte'] = one + record(STDIN, 7, b'', 0)
    s['hand-long-lengths'] = (record(BEGIN, 1, struct.pack('>HB5x', 1, 0))
                              + record(PARAMS, 1, pairs([('N' * 200, 'v' * 300),
                                                         ('', ''), ('E', '')]))
                              + record(PARAMS, 1) + record(STDIN, 1))
    s['hand-huge-lengths'] = (record(BEGIN, 1, struct.pack('>HB5x', 1, 0))
                              + record(PARAMS, 1, b'\xff\xff\xff\xff\xff\xff\xff\xfe')
                              + record(PARAMS, 1) + record(STDIN, 1))
    s['hand-strays-and-unknown'] = (record(STDIN, 9, b'late') + record(ABORT, 9)
                                    + record(77, 0, b'abc') + record(0, 5, b'zz')
                                    + record(200, 1, b'') + nginx_like(1, True)
                                    + record(ABORT, 1) + nginx_like(2, False))
    s['hand-data-record'] = (nginx_like(1, True)[:-8] + record(8, 1, b'filter data')
                             + record(STDIN, 1))
    s['hand-nul-and-eq'] = (record(BEGIN, 1, struct.pack('>HB5x', 1, 0))
                            + record(PARAMS, 1, pairs([('A=B', 'c'), ('N\0L', 'v\0w'),
                                                       ('REQUEST_URI', '/a%00b')]))
                            + record(PARAMS, 1) + record(STDIN, 1))
    s['hand-chunked-body'] = (
        nginx_like(1, True, 'POST', '/up', b'', [('HTTP_TRANSFER_ENCODING', 'chunked')])[:-8]
        + b''.join(record(STDIN, 1, bytes([65 + i]) * (i * 37 % 500 + 1)) for i in range(20))
        + record(STDIN, 1))
    s['hand-version-2'] = b'\x02' + nginx_like(1, False)[1:]
    for name, data in s.items():
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    li = sub.add_parser('listen')
    g = li.add_mutually_exclusive_group(required=True)
    g.add_argument('--unix')
    g.add_argument('--tcp', type=int)
    g.add_argument('--fd0', action='store_true')
    li.add_argument('--out', required=True)
    li.add_argument('--prefix', default='conn')
    se = sub.add_parser('seeds')
    se.add_argument('dir')
    args = ap.parse_args()
    if args.cmd == 'listen':
        listen(args)
    else:
        seeds(args.dir)


if __name__ == '__main__':
    sys.exit(main())

# How t/fuzz/corpus/record/ was captured: t/fuzz/capture-servers.py starts
# each server (Debian 12: nginx-light 1.22, lighttpd 1.4.69, apache2 2.4 with
# mod_proxy_fcgi and libapache2-mod-fcgid, haproxy 2.6) on 127.0.0.1 with a
# temporary configuration in front of this script, sends GET, POST, a
# chunked upload and HEAD with http.client, and names the files
# SERVER-CASE-N.bin:
#   nginx-plain-N          fastcgi_pass (unix socket), no keep-conn, request
#                          buffering on: one request per connection
#   nginx-keep-1           fastcgi_keep_conn on + keepalive, request buffering
#                          off: four requests on one connection, the chunked
#                          upload's STDIN streamed as it arrived
#   lighttpd-socket/tcp-N  mod_fastcgi over a unix socket and over TCP
#   apache-proxy-socket-N  mod_proxy_fcgi over a unix socket
#   apache-proxy-reuse-1   mod_proxy_fcgi over TCP with enablereuse=on: two
#                          requests on one connection
#   apache-fcgid-N         mod_fcgid spawning `capture.py listen --fd0`
#   haproxy-keep-1         fcgi-app with option keep-conn and option
#                          get-values: GET_VALUES first, then four requests
#                          (ids 1, 3, 5, 7) on one connection
#   haproxy-plain-N        fcgi-app without keep-conn (unix socket)
# The hand-* files are from `capture.py seeds`.
