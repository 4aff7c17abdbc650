/* Parsing of quantities written by people: sizes ("100M") and durations
 * ("30s"). Shared by the config loader and command-line options. */
#ifndef FW_UNITS_H
#define FW_UNITS_H

#include <stdint.h>

/* Bytes: a plain integer, or with K, M, G, T (powers of 1024, optional "B",
 * case-insensitive). 0 on success, -1 if malformed or overflowing. */
int fw_units_parse_size(const char *text, uint64_t *bytes);

/* Milliseconds: an integer with ms, s, m or h (a bare number is seconds).
 * 0 on success, -1 if malformed or overflowing. */
int fw_units_parse_duration_ms(const char *text, uint64_t *ms);

#endif
