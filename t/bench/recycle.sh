#!/bin/sh
# What clients see while an app's code is reloaded under load, for fcgiwsgi
# and its peers: an app whose import takes 1 s (t/bench/slow_import.wsgi),
# 8 keep-alive clients through one nginx worker for 15 s, three reloads 4 s
# apart after 2 s (each rewrites the script with v2, v3, v4), one row per
# server x reload method x processes (1 and 4, one thread each):
#
#   fcgiwsgi     rewrite the script        (inotify, rolling recycle)   nginx fastcgi_pass unix:
#   uwsgi        --touch-reload SCRIPT     (plain reload)               nginx fastcgi_pass unix:
#   uwsgi        --lazy-apps --touch-chain-reload FILE (chain reload)   nginx fastcgi_pass unix:
#   apache       mod_wsgi daemon mode, rewrite the script (WSGIScriptReloading On)
#                                          nginx proxy_pass (keep-alive) to Apache on loopback
#
#   sh t/bench/recycle.sh [BUILD_DIR]      (default: this repo's top directory)
#
# Prints a markdown table, then one JSON line per row (per-reload details:
# when the new version was first served, how long the old one still was,
# each stall). t/bench/recycle_load.py documents the columns.
# Environment: FW_BENCH_SECS (15), FW_BENCH_PORT (18480: it, +1, +2 are
# used), FW_BENCH_ROWS (a subset, e.g. "fcgiwsgi:1 apache:4"; names are
# fcgiwsgi, uwsgi-touch, uwsgi-chain, apache), FW_BENCH_JSON (also write the
# JSON lines to this file), FW_KEEP_TMP=1 (keep the temp dir and its logs).
# Needs: nginx, uwsgi-core + uwsgi-plugin-python3, apache2 +
# libapache2-mod-wsgi-py3 (Debian packages); runs as root (Apache drops to
# www-data). Only loopback and unix sockets in a temp dir.
#
# Internal: recycle.sh rewrite FILE TOUCH|- VERSION  (the reload command)
set -eu
here=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" = rewrite ]; then
    # A new version of the app, atomically (rename over, as a deploy or an
    # editor does), then touch the trigger file if there is one.
    file=$2 touchf=$3 v=$4
    umask 022
    sed "s/^VERSION = .*/VERSION = \"$v\"/" "$here/slow_import.wsgi" > "$file.new"
    mv -f "$file.new" "$file"
    if [ "$touchf" != - ]; then touch "$touchf"; fi
    exit 0
fi

top=$(cd "${1:-$here/../..}" && pwd)
fw="$top/fcgiwsgi"
[ -x "$fw" ] || { echo "recycle.sh: no $fw (build first, or give the build dir)" >&2; exit 2; }
for p in nginx uwsgi apache2 python3; do
    command -v "$p" >/dev/null || { echo "recycle.sh: $p is missing" >&2; exit 2; }
done
[ -e /usr/lib/apache2/modules/mod_wsgi.so ] || { echo "recycle.sh: mod_wsgi is missing (apt-get install libapache2-mod-wsgi-py3)" >&2; exit 2; }
[ -e /usr/lib/uwsgi/plugins/python3_plugin.so ] || { echo "recycle.sh: uwsgi-plugin-python3 is missing" >&2; exit 2; }

secs=${FW_BENCH_SECS:-15}
port=${FW_BENCH_PORT:-18480}
aport_nginx=$((port + 1))
aport=$((port + 2))
rows=${FW_BENCH_ROWS:-"fcgiwsgi:1 fcgiwsgi:4 uwsgi-touch:1 uwsgi-touch:4 uwsgi-chain:1 uwsgi-chain:4 apache:1 apache:4"}
mods=/usr/lib/apache2/modules

dir=$(mktemp -d /tmp/fwrecycle.XXXXXX)
chmod 755 "$dir"  # nginx workers and mod_wsgi daemons are other users
ngx_pid="" srv_pid=""

# Stop one process we started (by PID): TERM, then KILL after 20 s.
stop_pid() {
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || true
    i=0
    while [ $i -lt 100 ]; do
        st=$(ps -o stat= -p "$1" 2>/dev/null || true)
        case "$st" in ""|Z*) break ;; esac
        sleep 0.2; i=$((i + 1))
    done
    if [ $i -ge 100 ]; then
        echo "recycle.sh: pid $1 still running after 20 s, killing it" >&2
        kill -KILL "$1" 2>/dev/null || true
    fi
    wait "$1" 2>/dev/null || true
}
cleanup() {
    stop_pid "$srv_pid"; srv_pid=""
    if [ -n "$ngx_pid" ]; then kill -TERM "$ngx_pid" 2>/dev/null || true; sleep 0.3; fi
    if [ "${FW_KEEP_TMP:-0}" = 1 ]; then echo "recycle.sh: kept $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat > "$dir/nginx.conf" <<EOC
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/cb; fastcgi_temp_path $dir/ft; proxy_temp_path $dir/pt;
    uwsgi_temp_path $dir/ut; scgi_temp_path $dir/st;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    upstream apache { server 127.0.0.1:$aport; keepalive 16; }
    server {   # FastCGI servers (fcgiwsgi, uWSGI): one socket path, one at a time
        listen 127.0.0.1:$port;
        location / { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$dir/app.sock; }
    }
    server {   # Apache mod_wsgi, over HTTP/1.1 keep-alive
        listen 127.0.0.1:$aport_nginx;
        location / { proxy_pass http://apache; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
EOC
nginx -c "$dir/nginx.conf" -e "$dir/nginx-error.log"
i=0; while [ ! -s "$dir/nginx.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
ngx_pid=$(cat "$dir/nginx.pid")

start_fcgiwsgi() { # rowdir processes
    cat > "$1/fw.yaml" <<EOC
log: $1/fw.log
control: $1/ctl.sock
pools:
  bench:
    listen: $dir/app.sock
    listen_mode: 0666
    processes: $2
    threads: 1
    allow_root: true
    apps: [{mount: /, script: $1/app.wsgi}]
EOC
    "$fw" -c "$1/fw.yaml" > "$1/fw.out" 2>&1 &
    srv_pid=$!
    lport=$port reload="sh $here/recycle.sh rewrite $1/app.wsgi -" label="rewrite (inotify, rolling)"
}

start_uwsgi() { # rowdir processes touch|chain
    if [ "$3" = touch ]; then
        set -- "$1" "$2" --touch-reload "$1/app.wsgi"
        reload="sh $here/recycle.sh rewrite $1/app.wsgi $1/app.wsgi" label="touch-reload"
    else
        touch "$1/chain.trigger"
        set -- "$1" "$2" --lazy-apps --touch-chain-reload "$1/chain.trigger"
        reload="sh $here/recycle.sh rewrite $1/app.wsgi $1/chain.trigger" label="lazy-apps + touch-chain-reload"
    fi
    rd=$1 np=$2; shift 2
    uwsgi --plugin python3 --master --die-on-term --processes "$np" \
        --fastcgi-socket "$dir/app.sock" --chmod-socket=666 --wsgi-file "$rd/app.wsgi" \
        --disable-logging --logto "$rd/uw.log" "$@" > "$rd/uw.out" 2>&1 &
    srv_pid=$!
    lport=$port
}

start_apache() { # rowdir processes
    cat > "$1/httpd.conf" <<EOC
ServerRoot /etc/apache2
ServerName localhost
Listen 127.0.0.1:$aport
PidFile $1/apache.pid
DefaultRuntimeDir $1
Mutex file:$1 default
ErrorLog $1/apache-error.log
LogLevel info
User www-data
Group www-data
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule wsgi_module $mods/mod_wsgi.so
KeepAlive On
MaxKeepAliveRequests 0
WSGISocketPrefix $1/wsgi
WSGIDaemonProcess bench processes=$2 threads=1
WSGIProcessGroup bench
# process-group + application-group: the script is imported when a daemon
# process starts (as fcgiwsgi and uWSGI do), not by its first request.
WSGIScriptAlias / $1/app.wsgi process-group=bench application-group=%{GLOBAL}
<Directory $1>
    Require all granted
</Directory>
EOC
    apache2 -f "$1/httpd.conf" -DFOREGROUND > "$1/apache.out" 2>&1 &
    srv_pid=$!
    lport=$aport_nginx reload="sh $here/recycle.sh rewrite $1/app.wsgi -" label="rewrite (daemon mode)"
}

json_all=""
table="| server | reload | processes | requests | failed | p99 ms | max ms | stall s total | longest stall s | reloads seen |
|---|---|---|---|---|---|---|---|---|---|"
n=0
for r in $rows; do
    server=${r%%:*} procs=${r#*:}
    n=$((n + 1))
    rd="$dir/$n-$server-$procs"
    mkdir -p "$rd"; chmod 755 "$rd"
    sed 's/^VERSION = .*/VERSION = "v1"/' "$here/slow_import.wsgi" > "$rd/app.wsgi"
    chmod 644 "$rd/app.wsgi"
    rm -f "$dir/app.sock"
    case $server in
        fcgiwsgi) start_fcgiwsgi "$rd" "$procs"; name=fcgiwsgi ;;
        uwsgi-touch) start_uwsgi "$rd" "$procs" touch; name=uwsgi ;;
        uwsgi-chain) start_uwsgi "$rd" "$procs" chain; name=uwsgi ;;
        apache) start_apache "$rd" "$procs"; name="apache mod_wsgi" ;;
        *) echo "recycle.sh: unknown row $r" >&2; exit 2 ;;
    esac
    echo "recycle.sh: $name, $label, $procs process(es) (logs in $rd)" >&2
    if out=$(python3 "$here/recycle_load.py" --port "$lport" --duration "$secs" \
            --server "$name" --reload-label "$label" --processes "$procs" --reload-cmd "$reload"); then
        row=$(printf '%s\n' "$out" | grep '^|')
        printf '%s\n' "$row" >&2
        table="$table
$row"
        json_all="$json_all$(printf '%s\n' "$out" | grep '^{')
"
    else
        echo "recycle.sh: the load generator failed for $r" >&2
        table="$table
| $name | $label | $procs | (no run: the server did not answer, see $rd) |"
    fi
    if [ "$server" = fcgiwsgi ]; then
        grep -E 'recycle|abandon|error|crash' "$rd/fw.log" | sed 's/^/    fw.log: /' >&2 || true
    fi
    stop_pid "$srv_pid"; srv_pid=""
done

printf '%s\n\n%s' "$table" "$json_all"
if [ -n "${FW_BENCH_JSON:-}" ]; then printf '%s' "$json_all" > "$FW_BENCH_JSON"; fi
