#!/usr/bin/env python3
"""The side-by-side benchmark (issue 7): every row behind one nginx worker
(or plain HTTP for mod_wsgi), wrk -t2 -c16 --latency, a warm-up before each
run, rows interleaved in rounds so machine drift hits all alike, medians.

For each row: req/s, p50, p99, the backend's CPU time per request (user +
sys of its processes, from /proc, over the run, divided by the requests),
and RSS per worker (idle, before any load, and after the runs). Separately,
instructions per hello request under callgrind (repeatable whatever the
machine is doing) for the C responder, fcgiwsgi and uWSGI.

    python3 t/bench/bench.py [--seconds 10] [--rounds 3] [--out t/bench/results]

Run by t/bench/run.sh, which installs what it needs. Everything listens on
127.0.0.1 or unix sockets in a temp dir, and is stopped by PID at the end.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
# Where fcgiwsgi was built: the source tree (run.sh builds there), or an
# out-of-tree build directory.
BUILD = os.environ.get('FW_BUILDDIR', TOP)
CLK_TCK = os.sysconf('SC_CLK_TCK')
PAGE = os.sysconf('SC_PAGE_SIZE')

# Rows measured while a scraper reads the status server's /metrics.
SCRAPED = {'fw21obs'}
SCRAPE_EVERY_S = 1.0

# id, label, how the load reaches it (nginx location or a full URL), backend, wrk script
ROWS = [
    ('nginx', 'nginx `return 200` (HTTP ceiling)', '/ret', None, None),
    ('c2', 'C libfcgi hello, 2 processes (FastCGI ceiling)', '/c2', 'c2', None),
    ('fw21', 'fcgiwsgi hello 2x1', '/fw21', 'fw:fw21', None),
    # The same pool with its access log on (the default format, to a file).
    ('fw21al', 'fcgiwsgi hello 2x1 access_log on', '/fw21al', 'fw:fw21al', None),
    # Everything of issue 17 on: the access log, and the master's status
    # server (status_listen) scraped at /metrics every second while it runs.
    ('fw21obs', 'fcgiwsgi hello 2x1 access_log on, /metrics scraped 1/s', '/fw21obs',
     'fw:fw21obs', None),
    ('uw21', 'uWSGI hello 2x1', '/uw21', 'uw21', None),
    ('fw14', 'fcgiwsgi hello 1x4', '/fw14', 'fw:fw14', None),
    ('uw14', 'uWSGI hello 1x4', '/uw14', 'uw14', None),
    ('fwdyn', 'fcgiwsgi hello dynamic 1..4', '/fwdyn', 'fw:fwdyn', None),
    ('uwdyn', 'uWSGI hello cheaper 1..4', '/uwdyn', 'uwdyn', None),
    ('fw21ka', 'fcgiwsgi hello 2x1, keep-conn', '/fw21ka', 'fw:fw21', None),
    ('fw14ka', 'fcgiwsgi hello 1x4, keep-conn', '/fw14ka', 'fw:fw14', None),
    ('c2ka', 'C libfcgi hello 2x1, keep-conn', '/c2ka', 'c2', None),
    # One process, one thread: no connection can wait behind another
    # process, so its p99/p50 is the machine's tail, not our balancing.
    ('fw11ka', 'fcgiwsgi hello 1x1, keep-conn', '/fw11ka', 'fw:fw11', None),
    ('modwsgi', 'mod_wsgi daemon 2x1 (HTTP to Apache)', 'apache:/', 'modwsgi', None),
    ('php', 'php-fpm static 2, hello.php', '/php', 'php', None),
    ('flaskfw', 'Flask JSON on fcgiwsgi 2x1', '/flaskfw/json', 'fw:flaskfw', None),
    ('flaskuw', 'Flask JSON on uWSGI 2x1', '/flaskuw/json', 'uwflask', None),
    # Memory, like for like: uWSGI imports in each worker (as we do) instead
    # of importing in its master and forking; and our main interpreter.
    ('flaskuwl', 'Flask JSON on uWSGI 2x1 --lazy-apps', '/flaskuwl/json', 'uwflasklazy', None),
    ('flaskfwg', 'Flask JSON on fcgiwsgi 2x1, %{GLOBAL}', '/flaskfwg/json', 'fw:flaskfwg', None),
    ('bigfw', '1 MiB response, fcgiwsgi 2x1', '/bigfw', 'fw:bigfw', None),
    ('biguw', '1 MiB response, uWSGI 2x1', '/biguw', 'uwbig', None),
    ('postfw', '1 MiB POST echo, fcgiwsgi 2x1', '/bigfw', 'fw:bigfw', 'post.lua'),
    ('postuw', '1 MiB POST echo, uWSGI 2x1', '/biguw', 'uwbig', 'post.lua'),
]


def log(msg):
    print('[bench %s] %s' % (time.strftime('%H:%M:%S'), msg), file=sys.stderr, flush=True)


def run(argv, **kw):
    return subprocess.run(argv, check=True, **kw)


def wait_path(path, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path):
            return
        time.sleep(0.05)
    raise RuntimeError('timed out waiting for %s' % path)


def wait_http(port, path='/', timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=5) as s:
                s.sendall(b'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' % path.encode())
                if s.recv(64).startswith(b'HTTP/1.1 200'):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError('port %d path %s never answered 200' % (port, path))


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def children(pid):
    """pid's descendants (from /proc), not pid itself."""
    kids = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open('/proc/%s/stat' % d) as f:
                    ppid = int(f.read().rsplit(')', 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def cpu_ticks(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except OSError:
        return 0


def rss(pid):
    try:
        with open('/proc/%d/statm' % pid) as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:
        return 0


def pss(pid):
    """Proportional set size: shared pages divided among their sharers, so
    a forked worker is not credited with memory it shares (RSS counts only
    pages it touched since the fork, PSS also splits those)."""
    try:
        with open('/proc/%d/smaps_rollup' % pid) as f:
            m = re.search(r'^Pss:\s+(\d+) kB', f.read(), re.M)
        return int(m.group(1)) * 1024 if m else 0
    except OSError:
        return 0


class Backend:
    """Something that serves rows: its processes (for CPU) and its workers
    (for RSS) are found from /proc when asked, since pools change."""

    def __init__(self, name, proc=None, pids_fn=None, workers_fn=None):
        self.name, self.proc = name, proc
        self._pids, self._workers = pids_fn, workers_fn

    def pids(self):
        return self._pids() if self._pids else [self.proc.pid] + children(self.proc.pid)

    def workers(self):
        return self._workers() if self._workers else children(self.proc.pid)


class Bench:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix='fwbench.')
        os.chmod(self.dir, 0o755)
        self.procs = []
        self.backends = {}
        self.port = free_port()
        self.apache_port = free_port()
        # The status server only when a scraped row runs: the other rows'
        # masters are as before.
        chosen = [r[0] for r in ROWS if not args.rows or r[0] in args.rows.split(',')]
        self.status_port = free_port() if SCRAPED & set(chosen) else None

    def path(self, name):
        return os.path.join(self.dir, name)

    def spawn(self, argv, name, **kw):
        out = open(self.path(name + '.out'), 'w')
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                             **kw)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        for pidfile in ('nginx.pid', 'apache.pid', 'php-fpm.pid'):
            try:
                with open(self.path(pidfile)) as f:
                    os.kill(int(f.read().strip()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        time.sleep(1)

    # ---------------------------------------------------------------- backends
    def start_c(self):
        exe = self.path('hello_fcgi')
        run(['cc', '-O2', '-o', exe, os.path.join(HERE, 'hello_fcgi.c'), '-lfcgi'])
        sock = self.path('c2.sock')
        s = socket.socket(socket.AF_UNIX)
        s.bind(sock)
        s.listen(1024)
        os.chmod(sock, 0o666)
        ps = [self.spawn([exe], 'c2-%d' % i, stdin=s) for i in range(2)]
        s.close()
        self.backends['c2'] = Backend('c2', pids_fn=lambda: [p.pid for p in ps],
                                      workers_fn=lambda: [p.pid for p in ps])

    def start_fw(self):
        prog = os.path.join(BUILD, 'fcgiwsgi')
        hello = os.path.join(HERE, 'hello.wsgi')
        pools = {
            'fw21': ('processes: 2', hello, '/'),
            'fw21al': ('processes: 2\n    access_log: %s' % self.path('fw21al-access.log'), hello,
                       '/'),
            'fw21obs': ('processes: 2\n    access_log: %s' % self.path('fw21obs-access.log'),
                        hello, '/'),
            'fw14': ('processes: 1\n    threads: 4', hello, '/'),
            'fwdyn': ('processes: {min: 1, max: 4, min_spare: 1, max_spare: 4}', hello, '/'),
            'fw11': ('processes: 1', hello, '/'),
            'flaskfw': ('processes: 2', os.path.join(HERE, 'flask.wsgi'), '/flaskfw'),
            'flaskfwg': ('processes: 2', os.path.join(HERE, 'flask.wsgi'), '/flaskfwg'),
            'bigfw': ('processes: 2\n    max_body: 2M', os.path.join(HERE, 'big.wsgi'), '/'),
        }
        cfg = self.path('fw.yaml')
        with open(cfg, 'w') as f:
            f.write('log: %s\nlog_level: warn\ncontrol: %s\n'
                    % (self.path('fw.log'), self.path('fw-ctl.sock')))
            if self.status_port:
                f.write('status_listen: 127.0.0.1:%d\n' % self.status_port)
            f.write('pools:\n')
            for name, (model, script, mount) in pools.items():
                group = ', application_group: "%{GLOBAL}"' if name == 'flaskfwg' else ''
                f.write('  %s:\n    listen: %s\n    listen_mode: 0666\n    %s\n'
                        '    allow_root: true\n    apps: [{mount: %s, script: %s%s}]\n'
                        % (name, self.path(name + '.sock'), model, mount, script, group))
        master = self.spawn([prog, '-c', cfg], 'fw')
        wait_path(self.path('fw-ctl.sock'))
        ctl = os.path.join(BUILD, 'fcgiwsgi-ctl')

        def pool_pids(name):
            out = subprocess.run([ctl, '-s', self.path('fw-ctl.sock'), 'status', name, '--json'],
                                 capture_output=True, check=True).stdout
            return [w['pid'] for w in json.loads(out)['pools'][0]['workers']]

        for name in pools:
            self.backends['fw:' + name] = Backend(
                name, pids_fn=lambda n=name: [master.pid] + pool_pids(n),
                workers_fn=lambda n=name: pool_pids(n))

    def start_uwsgi(self):
        hello = os.path.join(HERE, 'hello.wsgi')
        shapes = {
            'uw21': (['--processes', '2'], hello),
            'uw14': (['--processes', '1', '--threads', '4'], hello),
            'uwdyn': (['--processes', '4', '--cheaper', '1', '--cheaper-initial', '1',
                       '--cheaper-step', '1'], hello),
            'uwflask': (['--processes', '2'], os.path.join(HERE, 'flask.wsgi')),
            'uwflasklazy': (['--processes', '2', '--lazy-apps'], os.path.join(HERE, 'flask.wsgi')),
            'uwbig': (['--processes', '2', '--buffer-size', '65535'],
                      os.path.join(HERE, 'big.wsgi')),
        }
        for name, (shape, script) in shapes.items():
            p = self.spawn(['uwsgi', '--plugin', 'python3', '--fastcgi-socket',
                            self.path(name + '.sock'), '--chmod-socket=666', '--master',
                            '--disable-logging', '--wsgi-file', script] + shape, name)
            self.backends[name] = Backend(name, proc=p)
            wait_path(self.path(name + '.sock'))

    def start_php(self):
        fpm = shutil.which('php-fpm') or next(iter(sorted(
            f for f in os.listdir('/usr/sbin') if re.match(r'php-fpm[\d.]+$', f))), None)
        if fpm and not os.path.isabs(fpm):
            fpm = '/usr/sbin/' + fpm
        if not fpm:
            log('php-fpm not installed: no php row')
            return
        conf = self.path('php-fpm.conf')
        with open(conf, 'w') as f:
            f.write('[global]\npid = %s\nerror_log = %s\ndaemonize = no\n'
                    '[bench]\nuser = www-data\ngroup = www-data\nlisten = %s\n'
                    'listen.mode = 0666\npm = static\npm.max_children = 2\n'
                    % (self.path('php-fpm.pid'), self.path('php-fpm.log'), self.path('php.sock')))
        p = self.spawn([fpm, '-y', conf, '-F', '-R'], 'php')
        self.backends['php'] = Backend('php', proc=p)
        wait_path(self.path('php.sock'))

    def start_apache(self):
        mods = '/usr/lib/apache2/modules'
        if not os.path.exists(os.path.join(mods, 'mod_wsgi.so')):
            log('mod_wsgi not installed: no mod_wsgi row')
            return
        conf = self.path('apache.conf')
        with open(conf, 'w') as f:
            f.write('''ServerRoot /etc/apache2
ServerName localhost
Listen 127.0.0.1:%(port)d
PidFile %(dir)s/apache.pid
ErrorLog %(dir)s/apache-error.log
DefaultRuntimeDir %(dir)s
User www-data
Group www-data
LoadModule mpm_event_module %(mods)s/mod_mpm_event.so
LoadModule authz_core_module %(mods)s/mod_authz_core.so
LoadModule wsgi_module %(mods)s/mod_wsgi.so
StartServers 1
ServerLimit 2
ThreadsPerChild 64
MaxRequestWorkers 128
KeepAlive On
MaxKeepAliveRequests 0
WSGISocketPrefix %(dir)s/wsgi
WSGIDaemonProcess bench processes=2 threads=1 display-name=fwbench
WSGIProcessGroup bench
WSGIApplicationGroup %%{GLOBAL}
WSGIScriptAlias / %(app)s
<Directory %(here)s>
    Require all granted
</Directory>
''' % {'port': self.apache_port, 'dir': self.dir, 'mods': mods, 'here': HERE,
       'app': os.path.join(HERE, 'hello.wsgi')})
        p = self.spawn(['apache2', '-f', conf, '-DFOREGROUND'], 'apache')

        def daemons():
            out = []
            for pid in children(p.pid):
                try:
                    with open('/proc/%d/cmdline' % pid, 'rb') as f:
                        # display-name overwrites argv[0] in place: as long as "apache2"
                        if f.read().split(b'\0')[0] == b'fwbench':
                            out.append(pid)
                except OSError:
                    pass
            return out

        self.backends['modwsgi'] = Backend('modwsgi', pids_fn=daemons, workers_fn=daemons)
        wait_http(self.apache_port)

    def start_nginx(self):
        d = self.dir
        conf = self.path('nginx.conf')
        fc = 'include /etc/nginx/fastcgi_params; '
        locs = ['location = /ret { return 200 "Hello, world!\\n"; }',
                'location = /php { %s fastcgi_param SCRIPT_FILENAME %s; fastcgi_pass unix:%s; }'
                % (fc, os.path.join(HERE, 'hello.php'), self.path('php.sock'))]
        ups = []
        for loc, sock in (('c2', 'c2'), ('fw21', 'fw21'), ('fw21al', 'fw21al'),
                          ('fw21obs', 'fw21obs'), ('uw21', 'uw21'),
                          ('fw14', 'fw14'),
                          ('uw14', 'uw14'), ('fwdyn', 'fwdyn'), ('uwdyn', 'uwdyn'),
                          ('flaskfw', 'flaskfw'), ('flaskfwg', 'flaskfwg'), ('bigfw', 'bigfw'),
                          ('biguw', 'uwbig')):
            locs.append('location /%s { %s fastcgi_pass unix:%s; }'
                        % (loc, fc, self.path(sock + '.sock')))
        # uWSGI takes SCRIPT_NAME and PATH_INFO as nginx sends them.
        for loc, sock in (('flaskuw', 'uwflask'), ('flaskuwl', 'uwflasklazy')):
            locs.append('location /%s { %s fastcgi_param SCRIPT_NAME /%s; '
                        'fastcgi_param PATH_INFO /json; fastcgi_pass unix:%s; }'
                        % (loc, fc, loc, self.path(sock + '.sock')))
        for loc, sock in (('fw21ka', 'fw21'), ('fw14ka', 'fw14'), ('c2ka', 'c2'),
                          ('fw11ka', 'fw11')):
            ups.append('upstream %s_up { server unix:%s; keepalive 16; }'
                       % (loc, self.path(sock + '.sock')))
            locs.append('location /%s { %s fastcgi_keep_conn on; fastcgi_pass %s_up; }'
                        % (loc, fc, loc))
        with open(conf, 'w') as f:
            f.write('''worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_max_body_size 4m;
    client_body_buffer_size 2m;
    fastcgi_buffers 64 16k;
    client_body_temp_path %(d)s/cb; fastcgi_temp_path %(d)s/ft; proxy_temp_path %(d)s/pt;
    uwsgi_temp_path %(d)s/ut; scgi_temp_path %(d)s/st;
    %(ups)s
    server {
        listen 127.0.0.1:%(port)d;
        %(locs)s
    }
}
''' % {'d': d, 'port': self.port, 'ups': '\n    '.join(ups), 'locs': '\n        '.join(locs)})
        run(['nginx', '-c', conf, '-e', self.path('nginx-error.log')])
        wait_path(self.path('nginx.pid'))

    # ---------------------------------------------------------------- measuring
    def url(self, where):
        if where.startswith('apache:'):
            return 'http://127.0.0.1:%d%s' % (self.apache_port, where[7:])
        return 'http://127.0.0.1:%d%s' % (self.port, where)

    def wrk(self, url, secs, script=None):
        argv = ['wrk', '-t2', '-c16', '-d%ds' % secs, '--latency']
        if script:
            argv += ['-s', os.path.join(HERE, script)]
        out = subprocess.run(argv + [url], capture_output=True, text=True, check=True).stdout
        return parse_wrk(out)

    def scraper(self, stop, got):
        """GET /metrics every SCRAPE_EVERY_S until stop is set, at most
        seconds + 10 times: what Prometheus does. got collects the status
        of each and the size of its page."""
        url = 'http://127.0.0.1:%d/metrics' % self.status_port
        for i in range(self.args.seconds + 10):
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    got.append((r.status, len(r.read())))
            except OSError as e:
                got.append((repr(e), 0))
            if stop.wait(max(0.0, SCRAPE_EVERY_S - (time.monotonic() - t0))):
                break

    def measure(self, row):
        rid, label, where, backend, script = row
        b = self.backends.get(backend) if backend else None
        url = self.url(where)
        self.wrk(url, 2, script)  # warm-up
        stop, scrapes, t = threading.Event(), [], None
        if rid in SCRAPED:
            t = threading.Thread(target=self.scraper, args=(stop, scrapes))
            t.start()
        pids = b.pids() if b else []
        before = {p: cpu_ticks(p) for p in pids}
        try:
            r = self.wrk(url, self.args.seconds, script)
        finally:
            stop.set()
            if t:
                t.join(5)
        if b:
            after_pids = set(pids) | set(b.pids())
            ticks = sum(cpu_ticks(p) - before.get(p, 0) for p in after_pids)
            r['cpu_us'] = ticks / CLK_TCK * 1e6 / r['requests'] if r['requests'] else None
        if t:
            r['scrapes'] = len(scrapes)
            bad = [s for s in scrapes if s[0] != 200]
            if bad:
                r['errors'] = (r['errors'] + '; ' if r['errors'] else '') + \
                    'scrapes failed: %s' % bad[:3]
        return r


def parse_wrk(out):
    def dur(s):
        m = re.match(r'([\d.]+)(us|ms|s|m)$', s)
        v = float(m.group(1))
        return v * {'us': 1e-3, 'ms': 1, 's': 1e3, 'm': 6e4}[m.group(2)]

    lat = dict(re.findall(r'^\s+(50|99)%\s+(\S+)', out, re.M))
    reqs = re.search(r'(\d+) requests in', out)
    non2xx = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    errors = re.search(r'Socket errors: (.*)', out)
    return {
        'rps': float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1)),
        'p50_ms': dur(lat['50']),
        'p99_ms': dur(lat['99']),
        'requests': int(reqs.group(1)),
        'non2xx': int(non2xx.group(1)) if non2xx else 0,
        'errors': errors.group(1).strip() if errors else '',
    }


# ---------------------------------------------------------------- callgrind
def fcgi_hello_requests(addr, n, uri=b'/'):
    """n GET requests over one FastCGI connection each, minimal params."""
    def rec(t, rid, content):
        return struct.pack('!BBHHBx', 1, t, rid, len(content), 0) + content

    def pair(k, v):
        return bytes([len(k), len(v)]) + k + v

    params = b''.join(pair(k, v) for k, v in (
        (b'REQUEST_METHOD', b'GET'), (b'REQUEST_URI', uri), (b'SCRIPT_NAME', b''),
        (b'PATH_INFO', uri), (b'SERVER_NAME', b'localhost'), (b'SERVER_PORT', b'80'),
        (b'SERVER_PROTOCOL', b'HTTP/1.1'), (b'QUERY_STRING', b'')))
    msg = (rec(1, 1, struct.pack('!HB5x', 1, 0)) + rec(4, 1, params) + rec(4, 1, b'')
           + rec(5, 1, b''))
    for _ in range(n):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(60)
            s.connect(addr)
            s.sendall(msg)
            data = b''
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            if b'200' not in data[:200] and b'Hello' not in data:
                raise RuntimeError('bad answer: %r' % data[:200])


def callgrind_ir(argv, sock, n, workdir, stdin_sock=False, uri=b'/'):
    """Total instructions of a process serving n requests for uri."""
    out = os.path.join(workdir, 'cg.%d.out' % n)
    if os.path.exists(sock):
        os.unlink(sock)
    kw = {}
    if stdin_sock:
        s = socket.socket(socket.AF_UNIX)
        s.bind(sock)
        s.listen(64)
        kw['stdin'] = s
    p = subprocess.Popen(['valgrind', '--tool=callgrind', '--callgrind-out-file=' + out]
                         + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, **kw)
    if stdin_sock:
        s.close()
    try:
        end = time.monotonic() + 120
        while True:
            try:
                fcgi_hello_requests(sock, 1, uri)
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.5)
        fcgi_hello_requests(sock, n - 1, uri)
    finally:
        os.killpg(p.pid, signal.SIGINT if 'uwsgi' in argv[0] else signal.SIGTERM)
        try:
            p.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    total = 0
    for f in os.listdir(workdir):
        if f.startswith('cg.%d.out' % n):
            with open(os.path.join(workdir, f)) as fh:
                m = re.search(r'^(?:summary|totals): (\d+)', fh.read(), re.M)
                total += int(m.group(1)) if m else 0
            os.unlink(os.path.join(workdir, f))
    return total


def instructions_per_request(bench, n1=200, n2=1200, app='hello.wsgi', uri=b'/', with_c=True):
    d = bench.path('cg')
    os.makedirs(d, exist_ok=True)
    hello = os.path.join(HERE, app)
    cases = {
        'C libfcgi': ([bench.path('hello_fcgi')], True),
        'fcgiwsgi': ([os.path.join(BUILD, 'fcgiwsgi-responder'), '--log', os.path.join(d, 'fw.log'),
                      hello], True),
        'uWSGI': (['uwsgi', '--plugin', 'python3', '--fastcgi-socket', os.path.join(d, 'cg.sock'),
                   '--disable-logging', '--wsgi-file', hello, '--processes', '1'], False),
    }
    if not with_c:
        del cases['C libfcgi']
    result = {}
    for name, (argv, stdin_sock) in cases.items():
        sock = os.path.join(d, 'cg.sock')
        a = callgrind_ir(argv, sock, n1, d, stdin_sock, uri)
        b = callgrind_ir(argv, sock, n2, d, stdin_sock, uri)
        result[name] = (b - a) / (n2 - n1)
        log('instructions per request (%s %s), %s: %.0f' % (app, uri.decode(), name, result[name]))
    return result


# ---------------------------------------------------------------- report
def machine_line():
    cpu = ''
    try:
        with open('/proc/cpuinfo') as f:
            cpu = re.search(r'model name\s*:\s*(.*)', f.read()).group(1)
    except (OSError, AttributeError):
        pass
    # The servers' CPython, not the one running this script.
    py = subprocess.run(['/usr/bin/python3', '--version'], capture_output=True,
                        text=True).stdout.strip()
    return '%s, %d cores, %s, %s, %s' % (cpu or platform.processor(), os.cpu_count(),
                                         platform.platform(), py or 'python3 ?',
                                         datetime.date.today().isoformat())


def report(results, idle_rss, post_rss, ipr, args, post_pss=None):
    post_pss = post_pss or {}
    med = {}
    for rid, runs in results.items():
        med[rid] = {k: statistics.median([r[k] for r in runs if r.get(k) is not None])
                    if any(r.get(k) is not None for r in runs) else None
                    for k in ('rps', 'p50_ms', 'p99_ms', 'cpu_us')}
        med[rid]['non2xx'] = sum(r['non2xx'] for r in runs)
        med[rid]['errors'] = '; '.join(sorted({r['errors'] for r in runs if r['errors']}))
    peer = {'fw21': 'uw21', 'fw21al': 'uw21', 'fw21obs': 'uw21', 'fw14': 'uw14', 'fwdyn': 'uwdyn', 'flaskfw': 'flaskuw',
            'flaskfwg': 'flaskuw', 'flaskuwl': 'flaskuw',
            'bigfw': 'biguw', 'postfw': 'postuw', 'fw21ka': 'uw21', 'fw14ka': 'uw14'}
    ceiling = med.get('c2', {}).get('rps')
    lines = ['# fcgiwsgi benchmark', '',
             'Machine: ' + machine_line(), '',
             'Command: `sh t/bench/run.sh %d %d` (wrk -t2 -c16 --latency, one nginx worker, '
             '%d s per run after a 2 s warm-up, %d interleaved rounds, medians)'
             % (args.seconds, args.rounds, args.seconds, args.rounds), '',
             '| row | req/s | p50 ms | p99 ms | backend CPU µs/req | RSS/worker idle MB '
             '| RSS/worker after MB | PSS/worker after MB | vs uWSGI req/s | vs uWSGI CPU '
             '| vs C ceiling |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for rid, label, *_ in ROWS:
        if rid not in med:
            continue
        m = med[rid]
        p = med.get(peer.get(rid, ''), {})

        def ratio(a, b):
            return '%.2f' % (a / b) if a and b else ''

        def mb(v):
            return '%.1f' % (v / 1048576) if v else ''

        lines.append('| %s | %.0f | %.2f | %.2f | %s | %s | %s | %s | %s | %s | %s |' % (
            label, m['rps'], m['p50_ms'], m['p99_ms'],
            '%.1f' % m['cpu_us'] if m['cpu_us'] else '', mb(idle_rss.get(rid)),
            mb(post_rss.get(rid)), mb(post_pss.get(rid)), ratio(m['rps'], p.get('rps')),
            ratio(m['cpu_us'], p.get('cpu_us')),
            ratio(m['rps'], ceiling) if rid != 'nginx' else ''))
        if m['non2xx'] or m['errors']:
            lines[-1] += ' **non-2xx: %d; %s**' % (m['non2xx'], m['errors'])
    if ipr:
        lines += ['', 'Instructions per request (callgrind: the difference between 1200 and '
                  '200 requests, one process, one thread; user space only):', '']
        lines += ['| server | app | instructions/request | vs uWSGI |', '|---|---|---:|---:|']
        for name, v in ipr.items():
            app = 'Flask JSON' if name.endswith(' (Flask)') else 'hello'
            peer_v = ipr.get('uWSGI (Flask)' if app == 'Flask JSON' else 'uWSGI')
            lines.append('| %s | %s | %.0f | %s |' % (name.replace(' (Flask)', ''), app, v,
                                                      '%.2f' % (v / peer_v) if peer_v else ''))
    return '\n'.join(lines) + '\n', med


def chart(med, out_png, workdir):
    if not shutil.which('gnuplot'):
        log('gnuplot missing: no chart')
        return
    data = os.path.join(workdir, 'chart.dat')
    with open(data, 'w') as f:
        for rid, label, *_ in ROWS:
            if rid in med and rid != 'nginx':
                f.write('"%s" %.0f %.1f\n' % (label.replace('`', ''), med[rid]['rps'],
                                             med[rid]['cpu_us'] or 0))
    script = '''set terminal pngcairo size 1400,800 font ",10" noenhanced
set output "%s"
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.8
set xtics rotate by -35 scale 0
set ylabel "requests/s"
set y2label "backend CPU us/request"
set y2tics
set ytics nomirror
set key top right
set bmargin 12
set rmargin 10
plot "%s" using 2:xtic(1) title "req/s" axes x1y1, "" using 3 title "CPU us/req" axes x1y2
''' % (out_png, data)
    subprocess.run(['gnuplot'], input=script, text=True, check=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seconds', type=int, default=10)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--rows', default='', help='comma-separated row ids (default: all)')
    ap.add_argument('--no-callgrind', action='store_true')
    ap.add_argument('--out', default=os.path.join(HERE, 'results'))
    args = ap.parse_args()
    rows = [r for r in ROWS if not args.rows or r[0] in args.rows.split(',')]
    b = Bench(args)
    # Only the servers the chosen rows need (--rows fw21,fw21al needs no uWSGI).
    need = {r[3] for r in rows if r[3]}
    try:
        if 'c2' in need:
            b.start_c()
        if any(n.startswith('fw:') for n in need):
            b.start_fw()
        if any(n.startswith('uw') for n in need):
            b.start_uwsgi()
        if 'php' in need:
            b.start_php()
        if 'modwsgi' in need:
            b.start_apache()
        b.start_nginx()
        time.sleep(2)
        rows = [r for r in rows if not r[3] or r[3] in b.backends]
        for r in rows:
            wait_http(b.port if not r[2].startswith('apache:') else b.apache_port,
                      r[2][7:] if r[2].startswith('apache:') else r[2])
        time.sleep(1)
        idle_rss = {}
        for r in rows:
            if r[3]:
                w = b.backends[r[3]].workers()
                idle_rss[r[0]] = statistics.mean(rss(p) for p in w) if w else None
        results = {r[0]: [] for r in rows}
        for rnd in range(args.rounds):
            for r in rows:
                res = b.measure(r)
                results[r[0]].append(res)
                log('round %d %-8s %8.0f req/s p50 %.2f ms p99 %.2f ms cpu %s us/req'
                    % (rnd + 1, r[0], res['rps'], res['p50_ms'], res['p99_ms'],
                       '%.1f' % res['cpu_us'] if res.get('cpu_us') else '-'))
        post_rss, post_pss = {}, {}
        for r in rows:
            if r[3]:
                w = b.backends[r[3]].workers()
                post_rss[r[0]] = statistics.mean(rss(p) for p in w) if w else None
                post_pss[r[0]] = statistics.mean(pss(p) for p in w) if w else None
        ipr = {} if args.no_callgrind else instructions_per_request(b)
        if not args.no_callgrind and 'flaskfw' in results:
            ipr_flask = instructions_per_request(b, app='flask.wsgi', uri=b'/json', with_c=False)
            ipr.update({k + ' (Flask)': v for k, v in ipr_flask.items()})
        text, med = report(results, idle_rss, post_rss, ipr, args, post_pss)
        os.makedirs(args.out, exist_ok=True)
        day = datetime.date.today().isoformat()
        with open(os.path.join(args.out, day + '.md'), 'w') as f:
            f.write(text)
        with open(os.path.join(args.out, day + '.json'), 'w') as f:
            json.dump({'machine': machine_line(), 'runs': results, 'idle_rss': idle_rss,
                       'post_rss': post_rss, 'post_pss': post_pss, 'instructions': ipr}, f,
                      indent=1)
        chart(med, os.path.join(args.out, day + '.png'), b.dir)
        print(text)
    finally:
        b.stop_all()
        if os.environ.get('FW_KEEP_TMP'):
            log('kept ' + b.dir)
        else:
            shutil.rmtree(b.dir, ignore_errors=True)


if __name__ == '__main__':
    main()
