#!/usr/bin/python3
"""Captures the seed corpus of t/fuzz/record_fuzz.c from real web servers:
nginx, lighttpd, Apache (mod_proxy_fcgi and mod_fcgid) and HAProxy, each
started here on 127.0.0.1 high ports with a temporary configuration, in
front of t/fuzz/capture.py, and sent a few requests (GET, POST with a body,
a chunked upload, several on one connection). Writes SERVER-CASE-N.bin into
the directory given (default t/fuzz/corpus/record). Stops every process it
started, by PID. A server that is not installed is skipped.

    /usr/bin/python3 t/fuzz/capture-servers.py [OUTDIR]
    FW_KEEP_TMP=1 keeps the temporary directory (configs, logs, raw files).
"""
import glob
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURE = os.path.join(HERE, 'capture.py')
PY = '/usr/bin/python3'
procs = []


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(addr, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fam = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
        s = socket.socket(fam)
        try:
            s.connect(addr)
            return
        except OSError:
            time.sleep(0.05)
        finally:
            s.close()
    raise RuntimeError('nothing listens on %r' % (addr,))


def start(argv, log):
    # a minimal environment: mod_fcgid passes the server's PATH on, and the
    # corpus should not carry this machine's
    env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C'}
    p = subprocess.Popen(argv, stdout=open(log, 'ab'), stderr=subprocess.STDOUT,
                         start_new_session=True, env=env)
    procs.append(p)
    return p


def stop(p):
    if p.poll() is None:
        os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()


def capture(tmp, prefix, unix=None, tcp=None):
    out = os.path.join(tmp, 'raw')
    os.makedirs(out, exist_ok=True)
    where = ['--unix', unix] if unix else ['--tcp', str(tcp)]
    p = start([PY, CAPTURE, 'listen'] + where + ['--out', out, '--prefix', prefix],
              os.path.join(tmp, prefix + '.log'))
    wait_for(unix or ('127.0.0.1', tcp))
    return p


def requests(port, kept=True, chunked=True, big=False):
    """GET, POST, a chunked upload, GET: on one client connection when kept
    (the server may then reuse its upstream connection), else one each."""
    conn = None

    def req(method, path, body=None, headers=None, **kw):
        nonlocal conn
        if conn is None or not kept:
            conn = http.client.HTTPConnection('127.0.0.1', port, timeout=20)
        conn.request(method, path, body=body, headers=headers or {}, **kw)
        r = conn.getresponse()
        r.read()
        if not kept:
            conn.close()
        return r.status

    st = [req('GET', '/app/x%2Fy/z?q=1&r=%C3%A9', headers={'Cookie': 'a=b', 'X-Test': 'yes'}),
          req('POST', '/app/form', b'a=1&b=' + b'x' * (30000 if big else 300),
              {'Content-Type': 'application/x-www-form-urlencoded'})]
    if chunked:
        st.append(req('PUT', '/up/load', (b'%05d' % i * 20 for i in range(40)),
                      {'Content-Type': 'application/octet-stream'}, encode_chunked=True))
    st.append(req('HEAD', '/'))
    if conn:
        conn.close()
    return st


def nginx(tmp):
    d = os.path.join(tmp, 'nginx')
    os.makedirs(d)
    sock = os.path.join(tmp, 'nginx.sock')
    fport, p1, p2 = free_port(), free_port(), free_port()
    temps = ''.join('%s_temp_path %s/%s_temp;\n' % (t, d, t)
                    for t in ('client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'))
    conf = os.path.join(d, 'nginx.conf')
    with open(conf, 'w') as f:
        f.write('''daemon off; master_process on; worker_processes 1; %s
pid %s/nginx.pid; error_log %s/error.log info;
events { worker_connections 64; }
http {
  access_log %s/access.log; %s
  client_max_body_size 10m;
  upstream kept { server 127.0.0.1:%d; keepalive 4; }
  server { listen 127.0.0.1:%d;
    location / { include /etc/nginx/fastcgi_params; fastcgi_pass unix:%s; } }
  server { listen 127.0.0.1:%d;
    location / { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on;
                 fastcgi_request_buffering off; fastcgi_pass kept; } }
}
''' % ('user root;' if os.geteuid() == 0 else '', d, d, d, temps, fport, p1, sock, p2))
    c1 = capture(tmp, 'nginx-plain', unix=sock)
    c2 = capture(tmp, 'nginx-keep', tcp=fport)
    n = start(['/usr/sbin/nginx', '-p', d + '/', '-c', conf, '-e', d + '/error.log'],
              d + '/stderr.log')
    wait_for(('127.0.0.1', p1))
    print('nginx plain', requests(p1, kept=False, big=True))
    print('nginx keep-conn, unbuffered', requests(p2))
    for p in (n, c1, c2):
        stop(p)


def lighttpd(tmp):
    d = os.path.join(tmp, 'lighttpd')
    os.makedirs(d + '/htdocs')
    sock = os.path.join(tmp, 'lighttpd.sock')
    fport, port = free_port(), free_port()
    conf = os.path.join(d, 'lighttpd.conf')
    with open(conf, 'w') as f:
        f.write('''server.document-root = "%(d)s/htdocs"
server.bind = "127.0.0.1"
server.port = %(port)d
server.pid-file = "%(d)s/lighttpd.pid"
server.errorlog = "%(d)s/error.log"
server.upload-dirs = ( "%(d)s" )
server.stream-request-body = 0
server.modules = ( "mod_fastcgi" )
fastcgi.server = (
  "/app" => (( "socket" => "%(sock)s", "check-local" => "disable" )),
  "/" => (( "host" => "127.0.0.1", "port" => %(fport)d, "check-local" => "disable" )),
)
''' % {'d': d, 'port': port, 'sock': sock, 'fport': fport})
    c1 = capture(tmp, 'lighttpd-socket', unix=sock)
    c2 = capture(tmp, 'lighttpd-tcp', tcp=fport)
    s = start(['/usr/sbin/lighttpd', '-D', '-f', conf], d + '/stderr.log')
    wait_for(('127.0.0.1', port))
    print('lighttpd', requests(port))
    for p in (s, c1, c2):
        stop(p)


APACHE_MODULES = '/usr/lib/apache2/modules'


def apache_conf(d, port, modules, body):
    lines = ['ServerRoot %s' % d, 'DefaultRuntimeDir %s/run' % d,
             'PidFile %s/run/httpd.pid' % d, 'ErrorLog %s/error.log' % d,
             'LogLevel info', 'ServerName localhost', 'Listen 127.0.0.1:%d' % port]
    if os.geteuid() == 0:
        lines += ['User www-data', 'Group www-data']
    lines += ['LoadModule %s_module %s/mod_%s.so' % (m, APACHE_MODULES, m)
              for m in ['mpm_event', 'authz_core', 'mime', 'alias', 'dir'] + modules]
    lines += ['StartServers 1', 'ServerLimit 1', 'ThreadsPerChild 8',
              'MaxRequestWorkers 8', 'TypesConfig /etc/mime.types',
              'DocumentRoot %s/htdocs' % d, 'AllowEncodedSlashes NoDecode']
    for sub in ('run', 'htdocs'):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    conf = os.path.join(d, 'httpd.conf')
    with open(conf, 'w') as f:
        f.write('\n'.join(lines) + '\n' + body + '\n')
    return conf


def apache_proxy(tmp):
    d = os.path.join(tmp, 'apache-proxy')
    sock = os.path.join(tmp, 'apache.sock')
    fport, port = free_port(), free_port()
    conf = apache_conf(d, port, ['proxy', 'proxy_fcgi'], '''
<Location />
    CGIPassAuth On
</Location>
ProxyPass /app unix:%s|fcgi://localhost/
ProxyPass / fcgi://127.0.0.1:%d/ enablereuse=on
''' % (sock, fport))
    c1 = capture(tmp, 'apache-proxy-socket', unix=sock)
    c2 = capture(tmp, 'apache-proxy-reuse', tcp=fport)
    a = start(['/usr/sbin/apache2', '-f', conf, '-DFOREGROUND'], d + '/stderr.log')
    wait_for(('127.0.0.1', port))
    print('apache mod_proxy_fcgi', requests(port))
    for p in (a, c1, c2):
        stop(p)


def apache_fcgid(tmp):
    if not os.path.exists(APACHE_MODULES + '/mod_fcgid.so'):
        print('mod_fcgid not installed: skipped')
        return
    d = os.path.join(tmp, 'apache-fcgid')
    raw = os.path.join(tmp, 'raw')
    os.makedirs(raw, exist_ok=True)
    os.chmod(raw, 0o777)  # the spawned capture.py runs as www-data
    port = free_port()
    wsgi = os.path.join(d, 'htdocs', 'app.wsgi')
    conf = apache_conf(d, port, ['fcgid'], '''
FcgidIPCDir %(d)s/run/fcgid
FcgidProcessTableFile %(d)s/run/fcgid_shm
FcgidMaxRequestLen 104857600
<Directory "%(d)s/htdocs">
    Options +ExecCGI
    AddHandler fcgid-script .wsgi
    FcgidWrapper "%(py)s %(cap)s listen --fd0 --out %(raw)s --prefix apache-fcgid" .wsgi
    CGIPassAuth On
    Require all granted
</Directory>
Alias /app "%(wsgi)s"
Alias / "%(wsgi)s/"
''' % {'d': d, 'py': PY, 'cap': CAPTURE, 'raw': raw, 'wsgi': wsgi})
    with open(wsgi, 'w') as f:
        f.write('# spawned through FcgidWrapper\n')
    os.chmod(wsgi, 0o755)
    a = start(['/usr/sbin/apache2', '-f', conf, '-DFOREGROUND'], d + '/stderr.log')
    wait_for(('127.0.0.1', port))
    print('apache mod_fcgid', requests(port))
    stop(a)  # mod_fcgid stops the processes it spawned


def haproxy(tmp):
    if not os.access('/usr/sbin/haproxy', os.X_OK):
        print('haproxy not installed: skipped')
        return
    d = os.path.join(tmp, 'haproxy')
    os.makedirs(d)
    sock = os.path.join(tmp, 'haproxy.sock')
    fport, p1, p2 = free_port(), free_port(), free_port()
    conf = os.path.join(d, 'haproxy.cfg')
    with open(conf, 'w') as f:
        f.write('''global
    pidfile %s/haproxy.pid
defaults
    mode http
    timeout connect 5s
    timeout client 20s
    timeout server 20s
fcgi-app kept
    docroot /srv/app
    index index.py
    option keep-conn
    option get-values
fcgi-app plain
    docroot /srv/app
    no option keep-conn
frontend fe_kept
    bind 127.0.0.1:%d
    default_backend be_kept
frontend fe_plain
    bind 127.0.0.1:%d
    default_backend be_plain
backend be_kept
    use-fcgi-app kept
    server s1 127.0.0.1:%d proto fcgi
backend be_plain
    use-fcgi-app plain
    server s2 %s proto fcgi
''' % (d, p1, p2, fport, sock))
    c1 = capture(tmp, 'haproxy-keep', tcp=fport)
    c2 = capture(tmp, 'haproxy-plain', unix=sock)
    h = start(['/usr/sbin/haproxy', '-db', '-f', conf], d + '/stderr.log')
    wait_for(('127.0.0.1', p1))
    print('haproxy fcgi-app keep-conn', requests(p1))
    print('haproxy fcgi-app', requests(p2, kept=False))
    for p in (h, c1, c2):
        stop(p)


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1
                          else os.path.join(HERE, 'corpus', 'record'))
    tmp = tempfile.mkdtemp(prefix='fcgiwsgi-capture.')
    os.chmod(tmp, 0o755)  # web server workers run as www-data
    try:
        for f in (nginx, lighttpd, apache_proxy, apache_fcgid, haproxy):
            try:
                f(tmp)
            except Exception as e:  # one server's trouble should not stop the rest
                print('%s: %s' % (f.__name__, e))
        os.makedirs(out, exist_ok=True)
        counts = {}
        for path in sorted(glob.glob(os.path.join(tmp, 'raw', '*.bin')),
                           key=lambda p: (p.rsplit('-', 2)[0], int(p.rsplit('-', 1)[1][:-4]))):
            if os.path.getsize(path) == 0:
                continue  # a connection that sent nothing (a health check)
            prefix = os.path.basename(path).rsplit('-', 2)[0]
            counts[prefix] = counts.get(prefix, 0) + 1
            shutil.copy(path, os.path.join(out, '%s-%d.bin' % (prefix, counts[prefix])))
        print('captured:', counts)
    finally:
        for p in procs:
            stop(p)
        if os.environ.get('FW_KEEP_TMP') == '1':
            print('kept', tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
