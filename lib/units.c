/* Size and duration parsing: strict, so "10 M", "1.5G" or "-1" are errors
 * instead of silently meaning something else. */
#include "config.h"

#include "units.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static int parse_number(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return 0;
}

static int scale(uint64_t v, uint64_t factor, uint64_t *out)
{
    if (factor && v > UINT64_MAX / factor)
        return -1;
    *out = v * factor;
    return 0;
}

int fw_units_parse_size(const char *text, uint64_t *bytes)
{
    const char *p = text;
    uint64_t v;
    if (parse_number(&p, &v) < 0)
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
        default: return -1;
        }
        p++;
        if (*p == 'B' || *p == 'b')
            p++;
        if (*p)
            return -1;
    }
    return scale(v, f, bytes);
}

int fw_units_parse_duration_ms(const char *text, uint64_t *ms)
{
    const char *p = text;
    uint64_t v;
    if (parse_number(&p, &v) < 0)
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
        return -1;
    return scale(v, f, ms);
}
