/* HTTP status reasons and the small canned responses the server itself
 * sends (400, 413, 431, 500, 503, 504) in CGI response form. */
#ifndef FW_HTTP_H
#define FW_HTTP_H

#include <stddef.h>

const char *fw_http_reason(int status);

/* Formats "Status: ...\r\nContent-Type...\r\n\r\nbody" into buf; returns the
 * length (truncated to size - 1 if buf is too small). */
size_t fw_http_error_response(int status, char *buf, size_t size);

#endif
