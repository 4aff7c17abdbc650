#!/bin/sh
# Quick start on Debian 12 as root: install what is missing, build, and serve
# examples/hello.wsgi through nginx on http://127.0.0.1:8080/.
#   sh examples/quickstart.sh          start (again)
#   sh examples/quickstart.sh stop     stop what it started
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
run=/run/fcgiwsgi-example
port=${PORT:-8080}

stop() {
    for f in "$run/nginx.pid" "$run/responder.pid"; do
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
"$top/fcgiwsgi-responder" --listen "$run/hello.sock" --socket-mode 0660 --threads 4 \
    --log "$run/responder.log" "$top/examples/hello.wsgi" </dev/null &
echo $! > "$run/responder.pid"
i=0
until [ -S "$run/hello.sock" ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
chgrp www-data "$run/hello.sock"

sed -e "s|@RUN@|$run|g" -e "s|@PORT@|$port|g" "$top/conf/nginx-quickstart.conf" > "$run/nginx.conf"
nginx -c "$run/nginx.conf"
i=0
until [ -s "$run/nginx.pid" ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done

curl -fsS -o /dev/null "http://127.0.0.1:$port/" && echo "fcgiwsgi is serving examples/hello.wsgi on http://127.0.0.1:$port/ (logs in $run; stop with: sh examples/quickstart.sh stop)"
