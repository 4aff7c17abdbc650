/* Size and duration parsing: strict, so "10 M", "1.5G" or "-1" are errors
 * instead of silently meaning something else. */
#include "config.h"

#include "units.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int invalid(void)
{
    errno = EINVAL;
    return -1;
}

/* Digits too many for uint64_t are read to their end (and flagged), so
 * that "99999999999999999999s" is too large rather than malformed. */
static int parse_number(const char **p, uint64_t *out, bool *overflow)
{
    const char *s = *p;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*s))
        return invalid();
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            *overflow = true;
        else
            v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return 0;
}

static int scale(uint64_t v, uint64_t factor, bool overflow, uint64_t *out)
{
    if (overflow || (factor && v > UINT64_MAX / factor)) {
        errno = ERANGE;
        return -1;
    }
    *out = v * factor;
    return 0;
}

int fw_units_parse_size(const char *text, uint64_t *bytes)
{
    const char *p = text;
    uint64_t v;
    bool overflow = false;
    if (parse_number(&p, &v, &overflow) < 0)
        return -1;
    uint64_t f = 1;
    if (*p) {
        switch (toupper((unsigned char)*p)) {
        case 'K': f = 1ULL << 10; break;
        case 'M': f = 1ULL << 20; break;
        case 'G': f = 1ULL << 30; break;
        case 'T': f = 1ULL << 40; break;
        case 'B':
            f = 1;
            p--;
            break;
        default: return invalid();
        }
        p++;
        if (*p == 'B' || *p == 'b')
            p++;
        if (*p)
            return invalid();
    }
    return scale(v, f, overflow, bytes);
}

int fw_units_parse_duration_ms(const char *text, uint64_t *ms)
{
    const char *p = text;
    uint64_t v;
    bool overflow = false;
    if (parse_number(&p, &v, &overflow) < 0)
        return -1;
    uint64_t f;
    if (*p == '\0' || strcmp(p, "s") == 0)
        f = 1000;
    else if (strcmp(p, "ms") == 0)
        f = 1;
    else if (strcmp(p, "m") == 0)
        f = 60 * 1000;
    else if (strcmp(p, "h") == 0)
        f = 3600 * 1000;
    else
        return invalid();
    return scale(v, f, overflow, ms);
}

static int bounded(int (*parse)(const char *, uint64_t *), const char *text, uint64_t max,
                   uint64_t *out)
{
    uint64_t v = 0;
    if (parse(text, &v) < 0)
        return -1;
    if (v > max) {
        errno = ERANGE;
        return -1;
    }
    *out = v;
    return 0;
}

int fw_units_parse_size_bounded(const char *text, uint64_t *bytes)
{
    return bounded(fw_units_parse_size, text, FW_UNITS_SIZE_MAX_BYTES, bytes);
}

int fw_units_parse_duration_bounded(const char *text, uint64_t *ms)
{
    return bounded(fw_units_parse_duration_ms, text, FW_UNITS_DURATION_MAX_MS, ms);
}

struct unit {
    const char *suffix;
    uint64_t factor;
};

static void format(uint64_t v, const struct unit *units, size_t n, char *buf, size_t size)
{
    for (size_t i = 0; i < n; i++)
        if (v && v % units[i].factor == 0) {
            snprintf(buf, size, "%llu%s", (unsigned long long)(v / units[i].factor),
                     units[i].suffix);
            return;
        }
    snprintf(buf, size, "%llu", (unsigned long long)v);
}

void fw_units_format_size(uint64_t bytes, char *buf, size_t size)
{
    static const struct unit units[] = {
        { "T", 1ULL << 40 }, { "G", 1ULL << 30 }, { "M", 1ULL << 20 }, { "K", 1ULL << 10 }
    };
    format(bytes, units, sizeof(units) / sizeof(units[0]), buf, size);
}

void fw_units_format_duration(uint64_t ms, char *buf, size_t size)
{
    static const struct unit units[] = {
        { "h", 3600 * 1000 }, { "m", 60 * 1000 }, { "s", 1000 }, { "ms", 1 }
    };
    format(ms, units, sizeof(units) / sizeof(units[0]), buf, size);
}

void fw_units_format_elapsed(int64_t ms, char *buf, size_t size)
{
    int64_t s = ms / 1000;
    if (ms < 0)
        snprintf(buf, size, "-");
    else if (s < 60)
        snprintf(buf, size, "%" PRId64 ".%" PRId64 "s", s, (ms % 1000) / 100);
    else if (s < 3600)
        snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", s / 3600, (s % 3600) / 60);
    else
        snprintf(buf, size, "%" PRId64 "d%02" PRId64 "h", s / 86400, (s % 86400) / 3600);
}
