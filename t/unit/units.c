/* lib/units: sizes and durations. */
#include "config.h"

#include "lib/units.h"
#include "tap.h"

#include <errno.h>
#include <string.h>

int main(void)
{
    uint64_t v = 0;
    ok(fw_units_parse_size("100", &v) == 0 && v == 100, "plain bytes");
    ok(fw_units_parse_size("4K", &v) == 0 && v == 4096, "K");
    ok(fw_units_parse_size("100M", &v) == 0 && v == 100ULL << 20, "M");
    ok(fw_units_parse_size("2g", &v) == 0 && v == 2ULL << 30, "g lower case");
    ok(fw_units_parse_size("1MB", &v) == 0 && v == 1ULL << 20, "MB");
    ok(fw_units_parse_size("7B", &v) == 0 && v == 7, "B");
    ok(fw_units_parse_size("", &v) < 0, "empty refused");
    ok(fw_units_parse_size("1.5G", &v) < 0, "fraction refused");
    ok(fw_units_parse_size("-1", &v) < 0, "negative refused");
    ok(fw_units_parse_size("10 M", &v) < 0, "space refused");
    ok(fw_units_parse_size("10X", &v) < 0, "unknown unit refused");
    ok(fw_units_parse_size("99999999999999999999", &v) < 0, "overflow refused");
    ok(fw_units_parse_size("20000000000T", &v) < 0, "overflow by unit refused");
    ok(fw_units_parse_duration_ms("30s", &v) == 0 && v == 30000, "s");
    ok(fw_units_parse_duration_ms("250ms", &v) == 0 && v == 250, "ms");
    ok(fw_units_parse_duration_ms("2m", &v) == 0 && v == 120000, "m");
    ok(fw_units_parse_duration_ms("1h", &v) == 0 && v == 3600000, "h");
    ok(fw_units_parse_duration_ms("5", &v) == 0 && v == 5000, "bare number is seconds");
    ok(fw_units_parse_duration_ms("5d", &v) < 0, "unknown unit refused");
    ok(fw_units_parse_duration_ms("s", &v) < 0, "unit without number refused");
    errno = 0;
    ok(fw_units_parse_duration_ms("99999999999999999999s", &v) < 0 && errno == ERANGE,
       "too many digits: ERANGE, not malformed");
    errno = 0;
    ok(fw_units_parse_size("20000000000T", &v) < 0 && errno == ERANGE, "overflow by unit: ERANGE");
    errno = 0;
    ok(fw_units_parse_size("1.5G", &v) < 0 && errno == EINVAL, "malformed: EINVAL");
    ok(fw_units_parse_duration_bounded("576h", &v) == 0 && v == FW_UNITS_DURATION_MAX_MS,
       "576h is the longest duration");
    ok(FW_UNITS_DURATION_MAX_MS <= 2147483647, "and it fits poll()'s int timeout");
    v = 7;
    errno = 0;
    ok(fw_units_parse_duration_bounded("2073600001ms", &v) < 0 && errno == ERANGE && v == 7,
       "1 ms more is refused, and nothing stored");
    ok(fw_units_parse_size_bounded("1T", &v) == 0 && v == FW_UNITS_SIZE_MAX_BYTES,
       "1T is the largest size");
    ok(fw_units_parse_size_bounded("1099511627777", &v) < 0 && errno == ERANGE,
       "1 byte more is refused");
    char buf[32];
    fw_units_format_duration(FW_UNITS_DURATION_MAX_MS, buf, sizeof(buf));
    is_str(buf, "576h", "the bound formats as 576h");
    fw_units_format_duration(90000, buf, sizeof(buf));
    is_str(buf, "90s", "90 s");
    fw_units_format_duration(1500, buf, sizeof(buf));
    is_str(buf, "1500ms", "1500 ms");
    fw_units_format_duration(0, buf, sizeof(buf));
    is_str(buf, "0", "0");
    fw_units_format_size(1024, buf, sizeof(buf));
    is_str(buf, "1K", "1K");
    fw_units_format_size(FW_UNITS_SIZE_MAX_BYTES, buf, sizeof(buf));
    is_str(buf, "1T", "1T");
    fw_units_format_size(1000, buf, sizeof(buf));
    is_str(buf, "1000", "1000 bytes");
    fw_units_format_elapsed(0, buf, sizeof(buf));
    is_str(buf, "0.0s", "elapsed 0");
    fw_units_format_elapsed(12345, buf, sizeof(buf));
    is_str(buf, "12.3s", "elapsed 12.345 s: tenths, cut");
    fw_units_format_elapsed(59999, buf, sizeof(buf));
    is_str(buf, "59.9s", "elapsed just under a minute is not rounded up to 60.0s");
    fw_units_format_elapsed(60000, buf, sizeof(buf));
    is_str(buf, "1m00s", "elapsed 1 minute");
    fw_units_format_elapsed(245000, buf, sizeof(buf));
    is_str(buf, "4m05s", "elapsed 4m05s");
    fw_units_format_elapsed(3600000 * 2 + 3 * 60000 + 59000, buf, sizeof(buf));
    is_str(buf, "2h03m", "elapsed hours and minutes, seconds cut");
    fw_units_format_elapsed(86400000LL + 2 * 3600000 + 59 * 60000, buf, sizeof(buf));
    is_str(buf, "1d02h", "elapsed days and hours");
    fw_units_format_elapsed(-1, buf, sizeof(buf));
    is_str(buf, "-", "elapsed negative: not known");
    fw_units_format_elapsed(INT64_MAX, buf, sizeof(buf));
    ok(strlen(buf) > 0 && buf[strlen(buf) - 1] == 'h', "elapsed INT64_MAX still in days and hours");
    char small[4];
    fw_units_format_elapsed(245000, small, sizeof(small));
    is_str(small, "4m0", "elapsed cut to a small buffer, terminated");
    return done_testing();
}
