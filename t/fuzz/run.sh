#!/bin/sh
# Fuzzes with libFuzzer under ASan and UBSan, built straight from the sources
# with clang (no autotools):
#   conf_fuzz    conf/ (the YAML loader), corpus t/fuzz/corpus/conf
#   record_fuzz  fcgi/record (the FastCGI codec) and fcgi/environ, with
#                libfcgi as a differential oracle (-lfcgi), corpus
#                t/fuzz/corpus/record (real web servers' bytes, t/fuzz/capture.py)
#   json_fuzz    lib/json and the frame fcgiwsgi-ctl top draws from what it
#                parsed (manager/ctl_top_frame), corpus t/fuzz/corpus/json
#                (status --json of a running manager)
#
#   sh t/fuzz/run.sh [SECONDS] [libFuzzer options...]
#       all: conf and json for SECONDS (default 30) each, then record for
#       max(60, SECONDS)
#   sh t/fuzz/run.sh conf|record|json [SECONDS] [libFuzzer options...]
#       one of them for SECONDS; a long run: sh t/fuzz/run.sh record 3600
#       (add -jobs=N -workers=N to use N cores)
#
# Needs clang-14, libclang-rt-14-dev, libyaml-dev and libfcgi-dev (Debian 12);
# CC overrides the compiler. New inputs go to a scratch corpus in the work
# directory (kept with FW_KEEP_TMP=1); copy the interesting ones into the
# fuzzer's corpus by hand. A crash, a leak or a differential mismatch leaves
# crash-* (or leak-*) there and exits non-zero. FW_FUZZ_STATS=1 (the
# default here) has record_fuzz print what its oracle compared and excluded.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
which=all
case ${1:-} in conf | record | json) which=$1 && shift ;; esac
secs=${1:-30}
[ $# -gt 0 ] && shift
cc=${CC:-clang-14}
work=$(mktemp -d "${TMPDIR:-/tmp}/fcgiwsgi-fuzz.XXXXXX")
[ "${FW_KEEP_TMP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
flags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
    -fno-sanitize-recover=undefined -Wall -Wextra -Wno-unused-parameter -Werror"

# The sources include the autoconf config.h; a minimal one will do.
printf '#define _GNU_SOURCE 1\n#define PACKAGE_VERSION "fuzz"\n#define FW_PYTHON_VERSION "3.11"\n#define FW_PYTHON_PREFIX "/usr"\n#define FW_PYTHON_EXECUTABLE "/usr/bin/python3.11"\n' >"$work/config.h"

build_conf() {
    "$cc" $flags -I"$work" -I"$top" $(pkg-config --cflags yaml-0.1) \
        "$top"/conf/*.c "$top"/lib/units.c "$top"/lib/sock.c "$top"/lib/dir.c "$top"/lib/syslog.c \
        "$top"/lib/accessfmt.c "$top"/lib/accessfmt_render.c "$top"/lib/hash.c "$top"/t/fuzz/conf_fuzz.c \
        $(pkg-config --libs yaml-0.1) -ldl -o "$work/conf_fuzz"
}

build_record() {
    "$cc" $flags -I"$work" -I"$top" \
        "$top"/fcgi/record.c "$top"/fcgi/environ.c "$top"/lib/hash.c "$top"/t/fuzz/record_fuzz.c \
        -lfcgi -o "$work/record_fuzz"
}

build_json() {
    "$cc" $flags -I"$work" -I"$top" \
        "$top"/lib/json.c "$top"/lib/buf.c "$top"/manager/ctl_top_frame.c "$top"/lib/units.c "$top"/t/fuzz/json_fuzz.c \
        -o "$work/json_fuzz"
}

# fuzz NAME SECONDS MAX_LEN [options...]
fuzz() {
    name=$1 s=$2 max_len=$3
    shift 3
    mkdir -p "$work/corpus-$name"
    dict=
    [ -f "$top/t/fuzz/$name.dict" ] && dict=-dict="$top/t/fuzz/$name.dict"
    echo "== ${name}_fuzz for $s s"
    (cd "$work" && TMPDIR="$work" FW_FUZZ_STATS=${FW_FUZZ_STATS:-1} \
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ./"${name}_fuzz" -max_total_time="$s" -rss_limit_mb=1024 -max_len="$max_len" \
        -timeout=10 -artifact_prefix="$work/" -print_final_stats=1 $dict "$@" \
        "$work/corpus-$name" "$top/t/fuzz/corpus/$name") || {
        status=$?
        echo "${name}_fuzz failed (status $status); inputs in $work" >&2
        trap - EXIT
        exit "$status"
    }
}

case $which in
conf) build_conf && fuzz conf "$secs" 65536 "$@" ;;
record) build_record && fuzz record "$secs" 65536 "$@" ;;
json) build_json && fuzz json "$secs" 65536 "$@" ;;
all)
    build_conf
    build_record
    build_json
    fuzz conf "$secs" 65536 "$@"
    fuzz json "$secs" 65536 "$@"
    rsecs=$secs
    [ "$rsecs" -ge 60 ] || rsecs=60
    fuzz record "$rsecs" 65536 "$@"
    ;;
esac
