#!/bin/sh
# A rolling release-symlink deploy of one pool across hosts behind a load
# balancer (nginx `upstream`: conf/snippets/nginx-upstream.conf), one host
# at a time:
#
#   rolling-deploy.sh [-w SECONDS] [-t SECONDS] POOL RELEASE CONTROL LINK [CONTROL LINK]...
#
# Each host is a CONTROL (its control socket, or its configuration file
# when it ends in .yaml or .yml) and a LINK (the symlink its pool's scripts
# are reached through). RELEASE is the new release's directory; a relative
# one is taken from LINK's directory (so `releases/v2` suits hosts that
# each keep their releases beside their link). For each host in turn:
#   1. fcgiwsgi-ctl drain --wait POOL: the listener refuses connections (the
#      balancer sends them to the other hosts at once), requests in flight
#      and kept connections finish (at most -t SECONDS, default 60);
#   2. deploy.sh: LINK -> RELEASE, fcgiwsgi-ctl restart POOL, which fails
#      with the import error if the new code cannot start: LINK is then
#      pointed back and the host keeps its old generation;
#   3. fcgiwsgi-ctl undrain POOL; status --check says the pool serves, and
#      FCGIWSGI_CHECK, if set, is run (a request to the host, say) with
#      CONTROL as its $1;
#   4. SECONDS (-w, default 10: nginx's fail_timeout) pass, so that the
#      balancer takes the host back before the next one leaves.
# A failure stops the deploy there: that host is undrained serving its old
# code, the hosts before it serve the new release, the ones after it the
# old one, and the script exits 1. FCGIWSGI_CTL names another fcgiwsgi-ctl.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
ctl=${FCGIWSGI_CTL:-fcgiwsgi-ctl}
settle=10 drain_timeout=60
while [ "${1:-}" = -w ] || [ "${1:-}" = -t ]; do
    [ $# -ge 2 ] || { echo "rolling-deploy.sh: $1 needs a number of seconds" >&2; exit 2; }
    case "$2" in
    '' | *[!0-9]*) echo "rolling-deploy.sh: $1 needs a number of seconds" >&2; exit 2 ;;
    esac
    if [ "$1" = -w ]; then settle=$2; else drain_timeout=$2; fi
    shift 2
done
if [ $# -lt 4 ] || [ $(( ($# - 2) % 2 )) -ne 0 ]; then
    echo "usage: rolling-deploy.sh [-w SECONDS] [-t SECONDS] POOL RELEASE CONTROL LINK" \
        "[CONTROL LINK]..." >&2
    exit 2
fi
pool=$1 release=$2
shift 2

how() {
    case "$1" in
    *.yaml | *.yml) echo "-c $1" ;;
    *) echo "-s $1" ;;
    esac
}

say() { echo "rolling-deploy.sh: $*"; }

# $(how ...) is unquoted on purpose: two words.
# shellcheck disable=SC2046
host_ctl() { $ctl $(how "$control") "$@"; }

n=0 total=$(( $# / 2 ))
while [ $# -gt 0 ]; do
    control=$1 link=$2
    shift 2
    case "$control" in /*) ;; *) control=$(pwd)/$control ;; esac
    n=$((n + 1))
    say "host $n/$total ($control): draining pool $pool"
    if ! host_ctl -t "$drain_timeout" drain --wait "$pool"; then
        host_ctl undrain "$pool" || true
        say "host $n: drain failed; stopped here (undrained, still on its old release)" >&2
        exit 1
    fi
    ok=1
    # shellcheck disable=SC2046
    (cd "$(dirname "$link")" &&
        FCGIWSGI_CTL=$ctl sh "$here/deploy.sh" $(how "$control") "$pool" "$(basename "$link")" \
            "$release") || ok=0
    if ! host_ctl undrain "$pool"; then
        say "host $n: undrain failed: the host is out of the balancer's rotation" >&2
        exit 1
    fi
    if [ $ok = 0 ]; then
        say "host $n: stopped here: it serves its old release; hosts 1..$((n - 1)) serve $release" >&2
        exit 1
    fi
    if ! host_ctl status --check "$pool" >/dev/null ||
        { [ -n "${FCGIWSGI_CHECK:-}" ] && ! sh -c "$FCGIWSGI_CHECK" check "$control"; }; then
        say "host $n: restarted on $release but its check failed; stopped here" >&2
        exit 1
    fi
    say "host $n: serves $release"
    if [ $# -gt 0 ] && [ "$settle" != 0 ]; then
        say "waiting $settle s for the balancer to take host $n back"
        sleep "$settle"
    fi
done
say "pool $pool serves $release on all $total hosts"
