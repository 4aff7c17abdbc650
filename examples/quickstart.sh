#!/bin/sh
# Quick start on Debian 12 as root: install what is missing, build, and serve
# examples/hello.wsgi with the fcgiwsgi manager behind nginx on
# http://127.0.0.1:8080/.
#   sh examples/quickstart.sh          start (again)
#   sh examples/quickstart.sh stop     stop what it started
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
run=/run/fcgiwsgi-example
port=${PORT:-8080}

stop() {
    for f in "$run/nginx.pid" "$run/fcgiwsgi.pid"; do
        if [ -s "$f" ]; then
            pid=$(cat "$f")
            kill "$pid" 2>/dev/null || true
            i=0
            while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
            rm -f "$f"
        fi
    done
}

if [ "${1:-}" = stop ]; then
    stop
    echo "stopped"
    exit 0
fi

sh "$top/t/deps.sh" build nginx
cd "$top"
[ -x configure ] || ./autogen.sh
[ -f Makefile ] || ./configure
make -j"$(nproc)"

stop
mkdir -p "$run"
chmod 755 "$run"
# The app runs as www-data, which may not read a clone under /root.
install -m 644 "$top/examples/hello.wsgi" "$run/hello.wsgi"
sed -e "s|@RUN@|$run|g" "$top/examples/quickstart.yaml" > "$run/fcgiwsgi.yaml"
"$top/fcgiwsgi" -t -c "$run/fcgiwsgi.yaml"
setsid "$top/fcgiwsgi" -c "$run/fcgiwsgi.yaml" </dev/null >"$run/fcgiwsgi.out" 2>&1 &
i=0
until [ -S "$run/hello.sock" ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done

sed -e "s|@RUN@|$run|g" -e "s|@PORT@|$port|g" "$top/conf/nginx-quickstart.conf" > "$run/nginx.conf"
nginx -c "$run/nginx.conf" </dev/null >/dev/null 2>&1
i=0
until [ -s "$run/nginx.pid" ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done

curl -fsS -o /dev/null "http://127.0.0.1:$port/" && echo "fcgiwsgi is serving examples/hello.wsgi on http://127.0.0.1:$port/ (logs in $run; status: ./fcgiwsgi-ctl -c $run/fcgiwsgi.yaml status; stop with: sh examples/quickstart.sh stop)"
