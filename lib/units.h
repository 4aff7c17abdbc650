/* Parsing of quantities written by people: sizes ("100M") and durations
 * ("30s"). Shared by the config loader and command-line options. */
#ifndef FW_UNITS_H
#define FW_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* The longest duration any setting or option may hold: 24 days, the most
 * whole days whose milliseconds fit poll()'s int timeout. So a duration is
 * never clamped or wrapped on its way to poll() or epoll_wait(), and a
 * monotonic clock reading plus any two of them stays far inside int64_t. */
#define FW_UNITS_DURATION_MAX_MS (24ULL * 24 * 3600 * 1000)

/* The largest size any setting or option may hold: 1 TiB, far above any
 * body or memory limit, and far below INT64_MAX, so a size compares with a
 * signed length (CONTENT_LENGTH, RSS) or is added to one without wrapping. */
#define FW_UNITS_SIZE_MAX_BYTES (1ULL << 40)

/* Bytes: a plain integer, or with K, M, G, T (powers of 1024, optional "B",
 * case-insensitive). 0 on success, -1 if malformed (errno EINVAL) or past
 * UINT64_MAX (errno ERANGE). The caller bounds it further. */
int fw_units_parse_size(const char *text, uint64_t *bytes);

/* Milliseconds: an integer with ms, s, m or h (a bare number is seconds).
 * 0 on success, -1 if malformed (errno EINVAL) or past UINT64_MAX (errno
 * ERANGE). The caller bounds it further. */
int fw_units_parse_duration_ms(const char *text, uint64_t *ms);

/* The same, refusing (errno ERANGE) what is past FW_UNITS_SIZE_MAX_BYTES or
 * FW_UNITS_DURATION_MAX_MS: for command-line options. */
int fw_units_parse_size_bounded(const char *text, uint64_t *bytes);
int fw_units_parse_duration_bounded(const char *text, uint64_t *ms);

/* v as the shortest exact text the parsers read back: "576h", "1T", "0". */
void fw_units_format_size(uint64_t bytes, char *buf, size_t size);
void fw_units_format_duration(uint64_t ms, char *buf, size_t size);

/* An elapsed time for people, cut (not rounded) to two units: "12.3s",
 * "4m05s", "2h03m", "1d02h"; "-" when negative (not known). Status and
 * `fcgiwsgi-ctl top` both print ages this way, so they read alike. */
void fw_units_format_elapsed(int64_t ms, char *buf, size_t size);

#endif
