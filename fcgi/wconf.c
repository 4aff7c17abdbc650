/* The format: "FWW1", then records of a tag (1 byte), a length (4 bytes,
 * little-endian) and that many bytes. Numbers are 8 bytes, little-endian;
 * strings carry no NUL. An app's fields follow its APP record; list items
 * repeat their tag. Unknown tags are an error: both ends are one binary. */
#include "config.h"

#include "wconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tag {
    T_THREADS = 1,
    T_MAX_BODY,
    T_MAX_PARAMS,
    T_KEEPALIVE,
    T_CLIENT_TIMEOUT,
    T_RLIMIT_NOFILE,
    T_MULTIPROCESS,
    T_PRELOAD,
    T_MAX_REQUESTS,
    T_MEMORY_LIMIT,
    T_REQUEST_TIMEOUT,
    T_GRACEFUL_TIMEOUT,
    T_GENERATION,
    T_LOG_LEVEL,
    T_SLOWLOG_TIMEOUT,
    T_LOG_FACILITY,
    T_DRAINED,
    T_ACCESS_LOG,
    T_NUM_END, /* a new number goes above: the decoder checks against it */
    /* strings */
    T_POOL = 32,
    T_LOG_PREFIX,
    T_LOG_SYSLOG,
    T_PYTHON_HOME,
    T_PYTHON_PATH,
    T_ALLOWED_CLIENT,
    T_PING_PATH,
    T_STATUS_PATH,
    T_ACCESS_FORMAT,
    T_APP, /* app fields follow it: a new string goes above */
    T_APP_SCRIPT,
    T_APP_CALLABLE,
    T_APP_GROUP,
    T_APP_MOUNT,
    T_APP_OWN_GIL, /* present: true */
    T_STR_END,
};

static const char magic[4] = { 'F', 'W', 'W', '1' };

struct out {
    unsigned char *buf;
    size_t len, cap;
    bool failed;
};

static void put(struct out *o, enum tag t, const void *data, size_t n)
{
    if (o->failed)
        return;
    if (n > FW_WCONF_MAX_BYTES || o->len + 5 + n > FW_WCONF_MAX_BYTES) {
        o->failed = true;
        return;
    }
    if (o->len + 5 + n > o->cap) {
        size_t cap = o->cap ? o->cap : 1024;
        while (cap < o->len + 5 + n)
            cap *= 2;
        unsigned char *b = realloc(o->buf, cap);
        if (!b) {
            o->failed = true;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    unsigned char *p = o->buf + o->len;
    p[0] = (unsigned char)t;
    for (int i = 0; i < 4; i++)
        p[1 + i] = (unsigned char)(n >> (8 * i));
    if (n)
        memcpy(p + 5, data, n);
    o->len += 5 + n;
}

static void put_num(struct out *o, enum tag t, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(o, t, b, 8);
}

static void put_str(struct out *o, enum tag t, const char *s)
{
    if (s)
        put(o, t, s, strlen(s));
}

unsigned char *fw_wconf_encode(const struct fw_worker_config *c, const struct fw_wconf_extra *x,
                               size_t *len)
{
    struct out o = { 0 };
    o.buf = malloc(1024);
    if (!o.buf)
        return NULL;
    o.cap = 1024;
    memcpy(o.buf, magic, sizeof(magic));
    o.len = sizeof(magic);
    put_num(&o, T_THREADS, c->threads);
    put_num(&o, T_MAX_BODY, c->max_body_bytes);
    put_num(&o, T_MAX_PARAMS, c->max_params_bytes);
    put_num(&o, T_KEEPALIVE, c->keepalive_timeout_ms);
    put_num(&o, T_CLIENT_TIMEOUT, c->client_timeout_ms);
    put_num(&o, T_RLIMIT_NOFILE, c->rlimit_nofile);
    put_num(&o, T_MULTIPROCESS, c->multiprocess);
    put_num(&o, T_PRELOAD, c->preload);
    put_num(&o, T_MAX_REQUESTS, c->max_requests);
    put_num(&o, T_MEMORY_LIMIT, c->memory_limit_bytes);
    put_num(&o, T_REQUEST_TIMEOUT, c->request_timeout_ms);
    put_num(&o, T_GRACEFUL_TIMEOUT, c->graceful_timeout_ms);
    put_num(&o, T_SLOWLOG_TIMEOUT, c->slowlog_timeout_ms);
    put_num(&o, T_GENERATION, c->generation);
    put_num(&o, T_DRAINED, c->drained);
    put_num(&o, T_ACCESS_LOG, c->access_log);
    put_num(&o, T_LOG_LEVEL, (uint64_t)x->log_level);
    put_num(&o, T_LOG_FACILITY, (uint64_t)x->log_facility);
    put_str(&o, T_POOL, c->pool);
    put_str(&o, T_LOG_PREFIX, x->log_prefix);
    put_str(&o, T_LOG_SYSLOG, x->log_syslog);
    put_str(&o, T_PYTHON_HOME, c->host.python_home);
    put_str(&o, T_PING_PATH, c->ping_path);
    put_str(&o, T_STATUS_PATH, c->status_path);
    put_str(&o, T_ACCESS_FORMAT, c->access_format);
    for (size_t i = 0; i < c->host.n_python_path; i++)
        put_str(&o, T_PYTHON_PATH, c->host.python_path[i]);
    for (size_t i = 0; i < c->n_allowed_clients; i++)
        put_str(&o, T_ALLOWED_CLIENT, c->allowed_clients[i]);
    for (size_t i = 0; i < c->n_apps; i++) {
        put(&o, T_APP, NULL, 0);
        put_str(&o, T_APP_SCRIPT, c->apps[i].script);
        put_str(&o, T_APP_CALLABLE, c->apps[i].callable);
        put_str(&o, T_APP_GROUP, c->apps[i].group);
        put_str(&o, T_APP_MOUNT, c->apps[i].mount);
        if (c->apps[i].own_gil)
            put(&o, T_APP_OWN_GIL, NULL, 0);
    }
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}

struct rec {
    enum tag tag;
    const unsigned char *data;
    uint32_t len;
};

/* The next record at *pos; 1, 0 at the end, -1 if malformed. */
static int next(const unsigned char *buf, size_t len, size_t *pos, struct rec *r)
{
    if (*pos == len)
        return 0;
    if (len - *pos < 5)
        return -1;
    const unsigned char *p = buf + *pos;
    uint32_t n = (uint32_t)p[1] | (uint32_t)p[2] << 8 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 24;
    if (n > len - *pos - 5)
        return -1;
    r->tag = (enum tag)p[0];
    r->data = p + 5;
    r->len = n;
    *pos += 5 + (size_t)n;
    return 1;
}

static uint64_t num(const struct rec *r)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)r->data[i] << (8 * i);
    return v;
}

static int fail(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "worker settings: %s", what);
    return -1;
}

int fw_wconf_decode(const unsigned char *buf, size_t len, struct fw_wconf *w, char *err,
                    size_t errlen)
{
    memset(w, 0, sizeof(*w));
    if (len > FW_WCONF_MAX_BYTES)
        return fail(err, errlen, "too large");
    if (len < sizeof(magic) || memcmp(buf, magic, sizeof(magic)) != 0)
        return fail(err, errlen, "not a settings record");
    /* First pass: counts and the bytes the strings need, all bounded by len. */
    size_t pos = sizeof(magic), n_apps = 0, n_path = 0, n_clients = 0, str_bytes = 0;
    struct rec r;
    int rc;
    while ((rc = next(buf, len, &pos, &r)) == 1) {
        if (r.tag < T_POOL) {
            if (r.len != 8 || r.tag < T_THREADS || r.tag >= T_NUM_END)
                return fail(err, errlen, "bad number record");
            continue;
        }
        if (r.tag >= T_STR_END)
            return fail(err, errlen, "unknown record");
        if (memchr(r.data, '\0', r.len))
            return fail(err, errlen, "a NUL inside a string");
        n_apps += r.tag == T_APP;
        n_path += r.tag == T_PYTHON_PATH;
        n_clients += r.tag == T_ALLOWED_CLIENT;
        if (r.tag >= T_APP_SCRIPT && n_apps == 0)
            return fail(err, errlen, "an app field before any app");
        str_bytes += (size_t)r.len + 1;
    }
    if (rc < 0)
        return fail(err, errlen, "truncated record");
    if (n_apps > FW_WCONF_MAX_APPS || n_path > FW_WCONF_MAX_LIST || n_clients > FW_WCONF_MAX_LIST)
        return fail(err, errlen, "too many entries");
    w->apps = calloc(n_apps + 1, sizeof(*w->apps));
    w->python_path = calloc(n_path + 1, sizeof(*w->python_path));
    w->allowed_clients = calloc(n_clients + 1, sizeof(*w->allowed_clients));
    w->strings = malloc(str_bytes + 1);
    if (!w->apps || !w->python_path || !w->allowed_clients || !w->strings) {
        fw_wconf_free(w);
        return fail(err, errlen, "out of memory");
    }
    struct fw_worker_config *c = &w->cfg;
    c->listen_fd = c->channel_fd = c->log_fd = c->access_fd = -1;
    char *s = w->strings;
    size_t app = 0;
    pos = sizeof(magic);
    while (next(buf, len, &pos, &r) == 1) {
        const char *str = NULL;
        if (r.tag >= T_POOL) {
            memcpy(s, r.data, r.len);
            s[r.len] = '\0';
            str = s;
            s += r.len + 1;
        }
        switch (r.tag) {
        case T_THREADS: c->threads = num(&r) > 4096 ? 4096 : (unsigned)num(&r); break;
        case T_MAX_BODY: c->max_body_bytes = num(&r); break;
        case T_MAX_PARAMS: c->max_params_bytes = num(&r); break;
        case T_KEEPALIVE: c->keepalive_timeout_ms = num(&r); break;
        case T_CLIENT_TIMEOUT: c->client_timeout_ms = num(&r); break;
        case T_RLIMIT_NOFILE: c->rlimit_nofile = num(&r); break;
        case T_MULTIPROCESS: c->multiprocess = num(&r) != 0; break;
        case T_PRELOAD: c->preload = num(&r) != 0; break;
        case T_MAX_REQUESTS: c->max_requests = num(&r); break;
        case T_MEMORY_LIMIT: c->memory_limit_bytes = num(&r); break;
        case T_REQUEST_TIMEOUT: c->request_timeout_ms = num(&r); break;
        case T_GRACEFUL_TIMEOUT: c->graceful_timeout_ms = num(&r); break;
        case T_SLOWLOG_TIMEOUT: c->slowlog_timeout_ms = num(&r); break;
        case T_GENERATION: c->generation = (unsigned)num(&r); break;
        case T_DRAINED: c->drained = num(&r) != 0; break;
        case T_ACCESS_LOG: c->access_log = num(&r) != 0; break;
        case T_ACCESS_FORMAT: c->access_format = str; break;
        case T_LOG_LEVEL: w->extra.log_level = (int)(num(&r) & 7); break;
        case T_LOG_FACILITY:
            /* A facility is a multiple of 8, local7 (23 << 3) the highest. */
            w->extra.log_facility = num(&r) > (23 << 3) ? (3 << 3) : (int)(num(&r) & ~7ull);
            break;
        case T_POOL: c->pool = str; break;
        case T_LOG_PREFIX: w->extra.log_prefix = str; break;
        case T_LOG_SYSLOG: w->extra.log_syslog = str; break;
        case T_PYTHON_HOME: c->host.python_home = str; break;
        case T_PYTHON_PATH: w->python_path[c->host.n_python_path++] = str; break;
        case T_ALLOWED_CLIENT: w->allowed_clients[c->n_allowed_clients++] = str; break;
        case T_APP: app = c->n_apps++; break;
        case T_APP_SCRIPT: w->apps[app].script = str; break;
        case T_APP_CALLABLE: w->apps[app].callable = str; break;
        case T_APP_GROUP: w->apps[app].group = str; break;
        case T_APP_MOUNT: w->apps[app].mount = str; break;
        case T_APP_OWN_GIL: w->apps[app].own_gil = true; break;
        case T_PING_PATH: c->ping_path = str; break;
        case T_STATUS_PATH: c->status_path = str; break;
        case T_NUM_END:
        case T_STR_END: break; /* refused by the first pass */
        }
    }
    for (size_t i = 0; i < c->n_apps; i++)
        if (!w->apps[i].script) {
            fw_wconf_free(w);
            return fail(err, errlen, "an app without a script");
        }
    c->apps = w->apps;
    c->host.python_path = w->python_path;
    c->allowed_clients = w->allowed_clients;
    return 0;
}

void fw_wconf_free(struct fw_wconf *w)
{
    free(w->apps);
    free(w->python_path);
    free(w->allowed_clients);
    free(w->strings);
    memset(w, 0, sizeof(*w));
}
