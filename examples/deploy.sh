#!/bin/sh
# A release-symlink deploy of one pool, waiting for its recycle:
#
#   deploy.sh [-c CONFIG | -s SOCKET] POOL LINK RELEASE
#
# LINK is the symlink the pool's scripts are reached through (e.g.
# /srv/blog/current, with `script: /srv/blog/current/blog.wsgi`), RELEASE the
# directory of the new release. LINK is repointed atomically (a new symlink
# renamed over it), then `fcgiwsgi-ctl restart POOL` recycles the pool and
# returns when the new generation serves, or with the reason it could not
# start (an import error, say). In that case the old generation is still
# serving the old release: LINK is pointed back at it, so that a worker the
# pool starts later (max_requests, a crash) loads the old code too, and the
# script exits 1. FCGIWSGI_CTL names another fcgiwsgi-ctl.
set -eu
ctl=${FCGIWSGI_CTL:-fcgiwsgi-ctl}
how=
case "${1:-}" in
-c | -s)
    [ $# -ge 2 ] || { echo "deploy.sh: $1 needs an argument" >&2; exit 2; }
    how="$1 $2"
    shift 2
    ;;
esac
if [ $# -ne 3 ]; then
    echo "usage: deploy.sh [-c CONFIG | -s SOCKET] POOL LINK RELEASE" >&2
    exit 2
fi
pool=$1 link=$2 release=$3

[ -d "$release" ] || { echo "deploy.sh: $release is not a directory" >&2; exit 2; }
if [ -e "$link" ] && [ ! -L "$link" ]; then
    echo "deploy.sh: $link exists and is not a symlink" >&2
    exit 2
fi
previous=$(readlink "$link" 2>/dev/null || true)

# rename(2) replaces the link in one step: a worker that starts meanwhile
# sees the old release or the new one, never no link at all.
point() {
    tmp="$link.deploy.$$"
    ln -sfn "$1" "$tmp"
    mv -T "$tmp" "$link"
}

point "$release"
echo "deploy.sh: $link -> $release; recycling pool $pool"
# $how is unquoted on purpose: it is empty or two words.
# shellcheck disable=SC2086
if out=$($ctl $how restart "$pool" 2>&1); then
    [ -z "$out" ] || echo "$out"
    echo "deploy.sh: pool $pool serves $release"
    exit 0
fi
echo "$out" >&2
if [ -n "$previous" ]; then
    point "$previous"
    echo "deploy.sh: the new release did not start; $link -> $previous again (the pool still serves it)" >&2
else
    echo "deploy.sh: the new release did not start" >&2
fi
exit 1
