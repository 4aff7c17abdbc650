#!/bin/sh
# Installs the Debian 12 packages a step needs, if they are missing:
#   sh t/deps.sh build [nginx] [test]
# Without root or apt-get it only reports what is missing.
set -eu
pkgs=""
for what in "$@"; do
    case $what in
    build) pkgs="$pkgs build-essential autoconf automake pkg-config python3-dev libyaml-dev libfcgi-dev curl" ;;
    nginx) pkgs="$pkgs nginx-light" ;;
    test) pkgs="$pkgs nginx-light libfcgi-bin python3 tmux clang-14 libclang-rt-14-dev openssl lighttpd lighttpd-mod-openssl apache2 libapache2-mod-fcgid python3-flask python3-django python3-httpbin python3-venv haproxy h2o mandoc man-db groff-base debhelper lintian xz-utils systemd prometheus" ;;
    *) echo "t/deps.sh: unknown step '$what'" >&2; exit 2 ;;
    esac
done
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "missing Debian packages:$missing (install them as root)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Debian starts nginx, lighttpd, Apache, HAProxy, H2O and Prometheus when it installs
# them (on port 80 and others); the tests run their own. A policy-rc.d that
# exits 101 tells invoke-rc.d (and deb-systemd-invoke) not to start any
# service; ours is only put there if there is none, and removed after.
policy=/usr/sbin/policy-rc.d
if [ ! -e $policy ]; then
    trap 'rm -f $policy' EXIT
    trap 'rm -f $policy; exit 1' HUP INT TERM
    printf '#!/bin/sh\n# t/deps.sh: no service starts while it installs packages\nexit 101\n' >$policy
    chmod 755 $policy
fi
apt-get update -q
apt-get install -y -q --no-install-recommends $missing
# In case a service started anyway (a policy-rc.d of the machine's own that
# allows it): stop it.
for svc in nginx lighttpd apache2 haproxy h2o prometheus; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet $svc 2>/dev/null; then
        systemctl stop $svc || true
    fi
done
