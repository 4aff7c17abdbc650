#!/bin/sh
# A first side-by-side look (not the full benchmark of t/bench/): hello world
# through one nginx worker to fcgiwsgi-responder and to uWSGI's FastCGI
# socket, same process and thread counts, wrk -t2 -c16, interleaved rounds.
#   sh t/bench/first-look.sh [seconds per run] [rounds]
# Needs: nginx, wrk, uwsgi-core, uwsgi-plugin-python3 (Debian packages).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-10}
rounds=${2:-3}
dir=$(mktemp -d /tmp/fwbench.XXXXXX)
chmod 755 "$dir"  # nginx workers run as another user
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; sleep 0.5; rm -rf "$dir"; }
trap cleanup EXIT INT TERM
app="$top/t/bench/hello.wsgi"
port=18080

cat > "$dir/nginx.conf" <<EOC
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/cb; fastcgi_temp_path $dir/ft; proxy_temp_path $dir/pt;
    uwsgi_temp_path $dir/ut; scgi_temp_path $dir/st;
    server {
        listen 127.0.0.1:$port;
        location /fw  { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$dir/fw.sock; }
        location /uw  { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$dir/uw.sock; }
    }
}
EOC
nginx -c "$dir/nginx.conf" -e "$dir/nginx-error.log"
sleep 0.5
pids="$pids $(cat "$dir/nginx.pid")"

start_fw() { # processes threads
    python3 - "$dir/fw.sock" "$1" "$2" "$top/fcgiwsgi-responder" "$app" "$dir" <<'EOP'
import os, socket, subprocess, sys
path, procs, threads, prog, app, d = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
if os.path.exists(path): os.unlink(path)
s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(1024); os.chmod(path, 0o666)
with open(os.path.join(d, 'fw.pids'), 'w') as f:
    for i in range(procs):
        p = subprocess.Popen([prog, '--threads', threads, '--log', os.path.join(d, 'fw.log'), app],
                             stdin=s, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        f.write('%d\n' % p.pid)
EOP
    sleep 1
}
stop_fw() { for p in $(cat "$dir/fw.pids"); do kill "$p"; done; sleep 0.5; }
start_uw() {
    uwsgi --plugin python3 --fastcgi-socket "$dir/uw.sock" --chmod-socket=666 --processes "$1" --threads "$2" \
        --wsgi-file "$app" --master --disable-logging --daemonize "$dir/uw.log" --pidfile "$dir/uw.pid" >/dev/null
    sleep 1.5
}
stop_uw() { uwsgi --stop "$dir/uw.pid" >/dev/null 2>&1 || true; sleep 1; }

run() { # name path
    wrk -t2 -c16 -d"${secs}s" --latency "http://127.0.0.1:$port$2" > "$dir/wrk.out"
    rps=$(awk '/Requests\/sec/ {print $2}' "$dir/wrk.out")
    p50=$(awk '$1=="50%" {print $2}' "$dir/wrk.out")
    p99=$(awk '$1=="99%" {print $2}' "$dir/wrk.out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$dir/wrk.out")
    echo "$1 rps=$rps p50=$p50 p99=$p99 non2xx=${non2xx:-0}"
}

for shape in "2 1" "1 4"; do
    set -- $shape
    for r in $(seq "$rounds"); do
        start_fw "$1" "$2"; wrk -t2 -c16 -d2s "http://127.0.0.1:$port/fw" >/dev/null
        run "fcgiwsgi ${1}x$2 round $r" /fw; stop_fw
        start_uw "$1" "$2"; wrk -t2 -c16 -d2s "http://127.0.0.1:$port/uw" >/dev/null
        run "uwsgi    ${1}x$2 round $r" /uw; stop_uw
    done
done
