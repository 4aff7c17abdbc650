/* fcgi/wconf: a worker's settings survive the trip, and no corruption of
 * the bytes (any cut, any flipped byte) makes the decoder read out of
 * bounds, allocate without bound or accept a half record. */
#include "config.h"

#include "fcgi/wconf.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    struct fw_worker_app apps[2] = {
        { .script = "/srv/a.wsgi", .callable = "app", .group = NULL, .mount = "/" },
        { .script = "/srv/b.wsgi", .callable = NULL, .group = "shared", .mount = "/b",
          .own_gil = true },
    };
    const char *paths[] = { "/srv/lib", "/opt/venv/site" };
    const char *clients[] = { "127.0.0.1" };
    struct fw_worker_config in = {
        .threads = 4, .apps = apps, .n_apps = 2, .max_body_bytes = 1 << 20,
        .keepalive_timeout_ms = 60000, .client_timeout_ms = 30000, .multiprocess = true,
        .preload = true, .host = { .python_home = "/opt/venv", .python_path = paths,
                                   .n_python_path = 2 },
        .max_requests = 1000, .allowed_clients = clients, .n_allowed_clients = 1,
        .memory_limit_bytes = 1 << 30, .request_timeout_ms = 5000, .slowlog_timeout_ms = 700,
        .graceful_timeout_ms = 30000, .pool = "www", .generation = 7, .ping_path = "/ping",
        .status_path = "/status",
        .access_log = true, .access_fd = 7, .access_format = "%h %{pool}w",
    };
    struct fw_wconf_extra extra = { .log_level = 3,
                                    .log_prefix = "pool www pid 42",
                                    .log_syslog = "/run/log.sock",
                                    .log_facility = 19 << 3 };
    size_t len = 0;
    unsigned char *buf = fw_wconf_encode(&in, &extra, &len);
    ok(buf && len > 4, "encoded");
    struct fw_wconf w;
    char err[160];
    ok(fw_wconf_decode(buf, len, &w, err, sizeof(err)) == 0, "decoded");
    const struct fw_worker_config *c = &w.cfg;
    is(c->threads, 4, "threads");
    is(c->n_apps, 2, "two apps");
    is_str(c->apps[1].script, "/srv/b.wsgi", "an app's script");
    is_str(c->apps[1].group, "shared", "its group");
    ok(c->apps[0].group == NULL && c->apps[1].callable == NULL, "unset strings stay unset");
    is_str(c->apps[1].mount, "/b", "its mount");
    ok(c->apps[1].own_gil && !c->apps[0].own_gil, "own_gil");
    is(c->host.n_python_path, 2, "python_path");
    is_str(c->host.python_path[1], "/opt/venv/site", "(in order)");
    is_str(c->host.python_home, "/opt/venv", "python_home");
    is(c->n_allowed_clients, 1, "allowed_clients");
    ok(c->multiprocess && c->preload, "flags");
    is(c->max_requests, 1000, "max_requests");
    is(c->memory_limit_bytes, 1 << 30, "memory_limit");
    is(c->request_timeout_ms, 5000, "request_timeout");
    is(c->slowlog_timeout_ms, 700, "slowlog_timeout");
    is(c->graceful_timeout_ms, 30000, "graceful_timeout");
    is_str(c->pool, "www", "pool");
    is(c->generation, 7, "generation");
    is_str(c->ping_path, "/ping", "ping_path");
    is_str(c->status_path, "/status", "status_path");
    is(w.extra.log_level, 3, "log level");
    is_str(w.extra.log_prefix, "pool www pid 42", "log prefix");
    is_str(w.extra.log_syslog, "/run/log.sock", "syslog socket");
    is(w.extra.log_facility, 19 << 3, "syslog facility");
    ok(c->access_log, "access log on");
    is_str(c->access_format, "%h %{pool}w", "its format");
    ok(c->slot == NULL && c->listen_fd == -1 && c->access_fd == -1,
       "fds and slot are not on the wire");
    fw_wconf_free(&w);

    int cut_ok = 0, cut_accepted = 0;
    for (size_t n = 0; n < len; n++) {
        if (fw_wconf_decode(buf, n, &w, err, sizeof(err)) == 0) {
            cut_accepted++;
            fw_wconf_free(&w);
        } else {
            cut_ok++;
        }
    }
    /* A cut at a record boundary is a shorter valid record set. */
    char name[160];
    snprintf(name, sizeof(name), "cut inputs are refused (%d of %zu; %d end at a record boundary)",
             cut_ok, len, cut_accepted);
    ok(cut_ok > 0, name);
    unsigned char *copy = malloc(len);
    int flipped_refused = 0;
    for (size_t i = 0; i < len; i++) {
        for (int v = 0; v < 256; v += 51) {
            memcpy(copy, buf, len);
            copy[i] = (unsigned char)v;
            if (fw_wconf_decode(copy, len, &w, err, sizeof(err)) == 0)
                fw_wconf_free(&w);
            else
                flipped_refused++;
        }
    }
    snprintf(name, sizeof(name), "every corrupted byte decoded or refused without a fault (%d refused)",
             flipped_refused);
    ok(flipped_refused > 0, name);
    ok(fw_wconf_decode(buf, FW_WCONF_MAX_BYTES + 1, &w, err, sizeof(err)) < 0,
       "a record set past the limit is refused before it is read");
    unsigned char huge[9] = { 'F', 'W', 'W', '1', 32, 0xff, 0xff, 0xff, 0x7f };
    ok(fw_wconf_decode(huge, sizeof(huge), &w, err, sizeof(err)) < 0,
       "a length past the end is refused");
    free(copy);
    free(buf);
    return done_testing();
}
