#!/bin/sh
# Fuzzes conf/ (the YAML loader) with libFuzzer under ASan and UBSan: builds
# t/fuzz/conf_fuzz straight from the conf/ and lib/ sources with clang (no
# autotools), then runs it over t/fuzz/corpus/conf for a bounded time.
#
#   sh t/fuzz/run.sh [SECONDS] [libFuzzer options...]     (default 30 s)
#
# Needs clang-14 and libclang-rt-14-dev (Debian 12); CC overrides the
# compiler. New inputs go to a scratch corpus in the work directory (kept
# with FW_KEEP_TMP=1); copy the interesting ones into t/fuzz/corpus/conf by
# hand. A crash leaves crash-* there and exits non-zero.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-30}
[ $# -gt 0 ] && shift
cc=${CC:-clang-14}
work=$(mktemp -d "${TMPDIR:-/tmp}/fcgiwsgi-fuzz.XXXXXX")
[ "${FW_KEEP_TMP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT

# The sources include the autoconf config.h; a minimal one will do.
printf '#define _GNU_SOURCE 1\n#define PACKAGE_VERSION "fuzz"\n' >"$work/config.h"
"$cc" -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Wall -Wextra -Wno-unused-parameter -Werror \
    -I"$work" -I"$top" $(pkg-config --cflags yaml-0.1) \
    "$top"/conf/*.c "$top"/lib/units.c "$top"/lib/sock.c "$top"/t/fuzz/conf_fuzz.c \
    $(pkg-config --libs yaml-0.1) -ldl -o "$work/conf_fuzz"

mkdir "$work/corpus"
cd "$work"
TMPDIR="$work" \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ./conf_fuzz -max_total_time="$secs" -rss_limit_mb=512 -max_len=65536 -timeout=10 \
    -artifact_prefix="$work/" -print_final_stats=1 "$@" \
    "$work/corpus" "$top/t/fuzz/corpus/conf" || {
    status=$?
    echo "fuzzing failed (status $status); inputs in $work" >&2
    trap - EXIT
    exit "$status"
}
