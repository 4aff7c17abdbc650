#!/bin/sh
# The benchmark of issue 7 (not part of make check): installs what it needs
# from Debian, builds fcgiwsgi, and runs t/bench/bench.py, which writes
# t/bench/results/DATE.md (the table), .json (every run) and .png (chart).
#   sh t/bench/run.sh [seconds per run] [rounds]
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-10}
rounds=${2:-3}
need=""
for pkg in nginx wrk uwsgi-core uwsgi-plugin-python3 apache2 libapache2-mod-wsgi-py3 \
           php-fpm libfcgi-dev spawn-fcgi python3-flask gnuplot-nox valgrind; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
done
if [ -n "$need" ]; then
    echo "installing:$need"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/dev/null
fi
# Debian starts these services on install; the benchmark runs its own.
for svc in apache2 nginx php8.2-fpm; do
    systemctl stop "$svc" 2>/dev/null || service "$svc" stop 2>/dev/null || true
done
cd "$top"
[ -x ./fcgiwsgi ] || { [ -x ./configure ] || ./autogen.sh; ./configure >/dev/null; }
make -j"$(nproc)" >/dev/null
exec python3 t/bench/bench.py --seconds "$secs" --rounds "$rounds"
