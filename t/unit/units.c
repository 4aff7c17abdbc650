/* lib/units: sizes and durations. */
#include "config.h"

#include "lib/units.h"
#include "tap.h"

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
    return done_testing();
}
