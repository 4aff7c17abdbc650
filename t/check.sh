#!/bin/sh
# The whole test suite, from a fresh clone: install what is missing, build
# with -Werror, run `make check` (unit and integration tests), then build the
# unit tests again under AddressSanitizer/UBSan and run them.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
sh t/deps.sh build test
./autogen.sh >/dev/null
jobs=$(nproc 2>/dev/null || echo 2)

./configure --enable-werror >/dev/null
make -j"$jobs"
make -j"$jobs" check || { cat test-suite.log; exit 1; }

# Sanitizers: a separate out-of-tree build of the unit tests.
asan=$(mktemp -d "${TMPDIR:-/tmp}/fcgiwsgi-asan.XXXXXX")
trap 'rm -rf "$asan"' EXIT
make distclean >/dev/null
# Unit tests with leak checking; integration tests (the real responder under
# ASan/UBSan) without it, since CPython does not free everything at exit.
(cd "$asan" && "$top/configure" --enable-werror --enable-asan >/dev/null &&
    make -j"$jobs" >/dev/null &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        make -j"$jobs" check TESTS='$(UNIT_TESTS)' &&
    ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
        make -j"$jobs" check TESTS='$(INTEGRATION_TESTS)') ||
    { cat "$asan/test-suite.log" 2>/dev/null; exit 1; }
# Other CPython versions, where this machine has them (pyenv's shared-library
# builds): the embedding code must build and run on 3.12 and 3.13 too.
if command -v pyenv >/dev/null 2>&1; then
    for v in 3.12 3.13; do
        prefix=$(ls -d "$(pyenv root)"/versions/$v.* 2>/dev/null | tail -1)
        [ -n "$prefix" ] && [ -f "$prefix/lib/pkgconfig/python3-embed.pc" ] || continue
        b=$(mktemp -d "${TMPDIR:-/tmp}/fcgiwsgi-py$v.XXXXXX")
        (cd "$b" && "$top/configure" --enable-werror --with-python="$prefix" >/dev/null &&
            make -j"$jobs" >/dev/null &&
            make -j"$jobs" check TESTS='t/interp-gil.t t/own-gil.t t/slowlog.t t/wsgi-validate.t t/interpreters.t t/subinterp-refusal.t t/errors.t t/manager.t t/manager-timeout.t t/spawn-template.t t/spawn-template-hooks.t') ||
            { cat "$b/test-suite.log" 2>/dev/null; exit 1; }
        rm -rf "$b"
        echo "CPython $v ($prefix): passed"
    done
fi

# Bounded fuzzing runs (libFuzzer, ASan, UBSan): the configuration loader, then
# the FastCGI record codec and environ builder against libfcgi (at least 60 s).
sh t/fuzz/run.sh "${FUZZ_SECONDS:-20}" >"${TMPDIR:-/tmp}/fcgiwsgi-fuzz.log" 2>&1 ||
    { tail -50 "${TMPDIR:-/tmp}/fcgiwsgi-fuzz.log"; exit 1; }
echo "all tests passed"
