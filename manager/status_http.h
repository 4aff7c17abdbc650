/* status_listen: the master's own HTTP/1.1 server for monitoring, so it
 * answers while every worker is busy or a pool is down. GET and HEAD of
 * /status (the text of `fcgiwsgi-ctl status`), /status?json (its JSON),
 * /metrics (OpenMetrics, or Prometheus text when Accept asks for
 * text/plain) and /ping (200 "pong", or 503 naming the pools that cannot
 * serve). Inside the master's loop, so it never blocks and does bounded
 * work per event: non-blocking sockets, at most FW_STATUS_HTTP_CLIENTS at
 * once, a request head of at most FW_STATUS_HTTP_HEAD_MAX bytes within
 * FW_STATUS_HTTP_READ_MS of the connect, one request per connection. */
#ifndef FW_STATUS_HTTP_H
#define FW_STATUS_HTTP_H

#include <stddef.h>

#include "conf/config.h"
#include "status.h"

#define FW_STATUS_HTTP_CLIENTS 32
#define FW_STATUS_HTTP_HEAD_MAX 8192
#define FW_STATUS_HTTP_READ_MS 5000
#define FW_STATUS_HTTP_WRITE_MS 10000

struct fw_loop;
struct fw_pool;
struct fw_status_http;

/* What the pages are made of, asked for at each request. */
typedef void (*fw_status_http_source_fn)(void *data, struct fw_status_master *m,
                                         struct fw_pool *const **pools, size_t *n);

/* Opens cfg's status_listen (a unix socket with its mode, owner and group
 * set on the file bind() made, as a pool's). NULL on error (logged). */
struct fw_status_http *fw_status_http_new(struct fw_loop *loop, const struct fw_config *cfg,
                                          fw_status_http_source_fn source, void *data);
/* Closes every connection and the socket (a unix path is removed). */
void fw_status_http_free(struct fw_status_http *s);
/* Drops clients past their deadline; call it on each tick. */
void fw_status_http_tick(struct fw_status_http *s);

/* The page for a parsed request, as the server sends it (exposed for the
 * unit test): status code, content type, extra header lines, body. */
struct fw_httpreq;
struct fw_buf;
int fw_status_http_page(const struct fw_httpreq *req, const struct fw_status_master *m,
                        struct fw_pool *const *pools, size_t n, const char **content_type,
                        const char **extra_headers, struct fw_buf *body);

#endif
