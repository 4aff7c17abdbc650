/* CGI params to WSGI environ entries. Every web-server quirk we correct is
 * here, each with the server it comes from, so no other code special-cases
 * a server. */
#include "config.h"

#include "environ.h"

#include "lib/hash.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

size_t fw_environ_uri_path(const char *uri, char *out)
{
    const char *p = uri;
    /* Absolute-form request targets ("http://host/x", RFC 9112 3.2.2) can
     * reach us from servers that pass the request line through unchanged. */
    const char *scheme_end = strstr(p, "://");
    if (scheme_end && scheme_end < p + strcspn(p, "/?#")) {
        p = scheme_end + 3;
        p += strcspn(p, "/?#");
    }
    size_t raw = strcspn(p, "?#");
    size_t n = 0;
    for (size_t i = 0; i < raw; i++) {
        int hi, lo;
        if (p[i] == '%' && i + 2 < raw && (hi = hexval((unsigned char)p[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)p[i + 2])) >= 0) {
            out[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[n++] = p[i];
        }
    }
    if (n == 0) {
        out[0] = '/';
        out[1] = '\0';
        return 1;
    }
    if (out[0] != '/') { /* "*" of OPTIONS *, or garbage: leave it alone */
        out[n] = '\0';
        return n;
    }
    /* Normalise in place; the write position never passes the read one. */
    size_t w = 0, r = 0;
    while (r < n) {
        r++; /* the '/' */
        size_t s = r;
        while (r < n && out[r] != '/')
            r++;
        size_t len = r - s;
        bool last = r >= n;
        if (len == 0 || (len == 1 && out[s] == '.')) {
            if (last)
                out[w++] = '/';
            continue;
        }
        if (len == 2 && out[s] == '.' && out[s + 1] == '.') {
            while (w > 0 && out[w - 1] != '/')
                w--;
            if (w > 0)
                w--;
            if (last)
                out[w++] = '/';
            continue;
        }
        out[w++] = '/';
        memmove(out + w, out + s, len);
        w += len;
    }
    if (w == 0)
        out[w++] = '/';
    out[w] = '\0';
    return w;
}

size_t fw_environ_mount_canon(const char *mount, char *out)
{
    size_t n = 0;
    if (mount[0] != '/')
        out[n++] = '/';
    size_t len = strlen(mount);
    while (len > 0 && mount[len - 1] == '/')
        len--;
    memcpy(out + n, mount, len);
    n += len;
    if (n == 1 && out[0] == '/')
        n = 0;
    out[n] = '\0';
    return n;
}

static bool name_is(const char *name, size_t len, const char *what)
{
    return strlen(what) == len && memcmp(name, what, len) == 0;
}

static bool truthy(const char *v)
{
    return strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0 || strcasecmp(v, "yes") == 0 ||
           strcasecmp(v, "true") == 0;
}

/* ---- repeated headers ---------------------------------------------------
 * nginx, lighttpd and Apache pass a header sent twice as two params of one
 * name, and a dict would keep only the last. HTTP allows a field line to be
 * repeated only where its values form a list, and lets a recipient join
 * them with ", " (RFC 9110 5.3), which is what CGI servers and gunicorn
 * give the app; Cookie lines join with "; " (RFC 9113 8.2.3). Host is one
 * value (RFC 9110 7.2), and nginx refuses a second Host header, but its
 * configs send HTTP_HOST twice on purpose: Debian's fastcgi_params sends
 * $host, and a later `fastcgi_param HTTP_HOST` (conf/snippets/nginx.conf
 * puts the client's port back so) overrides it, which nginx does not
 * dedupe. So HTTP_HOST is not joined: of several, the last stands, as
 * for any other param. */

/* Where a param stands among the others of its name. */
struct fw_environ_repeat {
    uint32_t next; /* the next param of this name, 0 if none (0 is never a later one) */
    uint32_t last; /* of the first: the last param of its name so far */
    size_t len;    /* of the first: the length of the joined value */
    bool later;    /* not the first of its name: its value is in the first's */
};

/* Up to this many params (nginx sends about 17 besides the headers, a
 * browser about 12 headers), header names are compared one by one, which
 * costs less than hashing them; past it, a hash table keeps the grouping
 * linear in the number of params whatever their names (the hash is keyed
 * per process: no flooding). */
#define FEW_PARAMS 64

/* An HTTP_* param whose repeats are joined. */
static inline bool joins(const char *name, size_t nlen)
{
    return nlen > 5 && memcmp(name, "HTTP_", 5) == 0 &&
           !(nlen == 9 && memcmp(name + 5, "HOST", 4) == 0);
}

static bool same_name(const struct fw_param *a, const struct fw_param *b)
{
    return a->name_len == b->name_len && memcmp(a->name, b->name, a->name_len) == 0;
}

static const char *separator(const struct fw_param *p)
{
    return name_is(p->name, p->name_len, "HTTP_COOKIE") ? "; " : ", ";
}

static int grow(void **p, size_t *cap, size_t need, size_t elem_size)
{
    if (need <= *cap)
        return 0;
    size_t cap2 = *cap ? *cap : 16;
    while (cap2 < need)
        cap2 *= 2;
    void *np = realloc(*p, cap2 * elem_size);
    if (!np)
        return -1;
    *p = np;
    *cap = cap2;
    return 0;
}

/* A cheap summary of a header's name: two names that differ in it differ. */
static uint64_t fingerprint(const struct fw_param *p)
{
    const unsigned char *n = (const unsigned char *)p->name;
    size_t len = p->name_len; /* > 5 */
    return (uint64_t)len << 40 | (uint64_t)n[5] << 32 | (uint64_t)n[len / 2 + 2] << 24 |
           (uint64_t)n[len - 2] << 16 | (uint64_t)n[len - 1];
}

/* in[i] is a later param of the name of in[first]: chain it there. */
static void repeat_of(struct fw_environ *e, const struct fw_param *in, size_t first, size_t i,
                      size_t *joined_bytes)
{
    struct fw_environ_repeat *head = &e->repeats[first];
    e->repeats[i].later = true;
    if (head->last == first)
        *joined_bytes += head->len + 1;
    e->repeats[head->last].next = (uint32_t)i;
    head->last = (uint32_t)i;
    head->len += 2 + in[i].value_len;
    *joined_bytes += 2 + in[i].value_len;
}

/* Few headers: a name is compared with the first of each name before it
 * only when a 256-bit filter of their fingerprints says it may repeat one
 * (a browser's dozen headers rarely cost a single compare). */
static size_t group_few(struct fw_environ *e, const struct fw_param *in, size_t count,
                        size_t *joined_bytes)
{
    uint64_t prints[FEW_PARAMS], seen[4] = { 0 };
    size_t n_names = 0, n_later = 0;
    for (size_t i = 0; i < count; i++) {
        if (!joins(in[i].name, in[i].name_len))
            continue;
        e->repeats[i] = (struct fw_environ_repeat){ .last = (uint32_t)i, .len = in[i].value_len };
        uint64_t fp = fingerprint(&in[i]);
        unsigned bit = (unsigned)((fp * 0x9e3779b97f4a7c15ULL) >> 56);
        size_t k = n_names;
        if (seen[bit / 64] & (1ULL << (bit % 64)))
            for (k = 0; k < n_names; k++)
                if (prints[k] == fp && same_name(&in[e->slots[k]], &in[i]))
                    break;
        if (k < n_names) {
            repeat_of(e, in, e->slots[k], i, joined_bytes);
            n_later++;
        } else {
            seen[bit / 64] |= 1ULL << (bit % 64);
            prints[n_names] = fp;
            e->slots[n_names++] = (uint32_t)i;
        }
    }
    return n_later;
}

/* Many headers: a hash table of the first param of each name (its index
 * + 1; 0 is a free slot), linear probing, at most half full. */
static size_t group_many(struct fw_environ *e, const struct fw_param *in, size_t count,
                         size_t n_slots, size_t *joined_bytes)
{
    memset(e->slots, 0, n_slots * sizeof(*e->slots));
    size_t mask = n_slots - 1, n_later = 0;
    for (size_t i = 0; i < count; i++) {
        if (!joins(in[i].name, in[i].name_len))
            continue;
        e->repeats[i] = (struct fw_environ_repeat){ .last = (uint32_t)i, .len = in[i].value_len };
        size_t h = (size_t)fw_hash(in[i].name, in[i].name_len) & mask;
        while (e->slots[h] && !same_name(&in[e->slots[h] - 1], &in[i]))
            h = (h + 1) & mask;
        if (e->slots[h]) {
            repeat_of(e, in, e->slots[h] - 1, i, joined_bytes);
            n_later++;
        } else {
            e->slots[h] = (uint32_t)i + 1;
        }
    }
    return n_later;
}

/* Groups the joined HTTP_* params by name in e->repeats (each param looked up
 * once) and makes room in e->joined for the joined values: at most the
 * value bytes, a separator per param and a NUL per name, so bounded by
 * max_params. Returns 1 if some header is repeated, 0 if none, -1 when
 * out of memory. */
static int group_headers(struct fw_environ *e, const struct fw_param *in, size_t count)
{
    bool few = count <= FEW_PARAMS;
    size_t n_slots = FEW_PARAMS;
    if (!few) /* a power of two, at most half full */
        for (n_slots = 2 * FEW_PARAMS; n_slots < 2 * count;)
            n_slots *= 2;
    if (grow((void **)&e->repeats, &e->cap_repeats, count, sizeof(*e->repeats)) < 0 ||
        grow((void **)&e->slots, &e->cap_slots, n_slots, sizeof(*e->slots)) < 0)
        return -1;
    size_t joined_bytes = 0;
    size_t n_later = few ? group_few(e, in, count, &joined_bytes)
                         : group_many(e, in, count, n_slots, &joined_bytes);
    if (n_later == 0)
        return 0;
    if (grow((void **)&e->joined, &e->cap_joined, joined_bytes, 1) < 0)
        return -1;
    return 1;
}

/* The values of in[first] and of the later params of its name, joined
 * into e->joined at *used. */
static const char *join_values(struct fw_environ *e, const struct fw_param *in, size_t first,
                               size_t *used)
{
    const char *sep = separator(&in[first]);
    char *out = e->joined + *used, *p = out;
    for (size_t i = first;;) {
        memcpy(p, in[i].value, in[i].value_len);
        p += in[i].value_len;
        i = e->repeats[i].next;
        if (!i)
            break;
        memcpy(p, sep, 2);
        p += 2;
    }
    *p++ = '\0';
    *used += (size_t)(p - out);
    return out;
}

static int reserve(struct fw_environ *e, size_t params, size_t scratch)
{
    if (params > e->cap_params) {
        size_t cap = e->cap_params ? e->cap_params : 32;
        while (cap < params)
            cap *= 2;
        struct fw_param *p = realloc(e->params, cap * sizeof(*p));
        if (!p)
            return -1;
        e->params = p;
        e->cap_params = cap;
    }
    if (scratch > e->cap_scratch) {
        size_t cap = e->cap_scratch ? e->cap_scratch : 1024;
        while (cap < scratch)
            cap *= 2;
        char *s = realloc(e->scratch, cap);
        if (!s)
            return -1;
        e->scratch = s;
        e->cap_scratch = cap;
    }
    return 0;
}

static void add(struct fw_environ *e, const char *name, size_t nlen, const char *value, size_t vlen)
{
    struct fw_param *p = &e->params[e->n_params++];
    p->name = name;
    p->name_len = nlen;
    p->value = value;
    p->value_len = vlen;
}

static int fail(struct fw_environ *e, const char *why)
{
    e->error = why;
    return 400;
}

/* Length of the longest mount containing path, or -1; sets *which. */
static long best_mount(const char *path, const char *const *mounts, size_t n, size_t *which)
{
    long best = -1;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(mounts[i]);
        if ((long)len > best && strncmp(path, mounts[i], len) == 0 &&
            (path[len] == '\0' || path[len] == '/')) {
            best = (long)len;
            *which = i;
        }
    }
    return best;
}

/* SCRIPT_FILENAME mode: the server knows where the script is mounted
 * (mod_fcgid), so its SCRIPT_NAME stands. Its PATH_INFO is rebuilt from
 * REQUEST_URI, decoded and normalised as under a mount, when SCRIPT_NAME is
 * a prefix of that path: Apache (mod_fcgid, and every CGI-style module)
 * with `AllowEncodedSlashes NoDecode` decodes every escape in PATH_INFO but
 * %2F, which stays "%2F", so the same URL would reach the app as "/x%2Fy"
 * there and as "/x/y" everywhere else. When SCRIPT_NAME is no prefix (an
 * internal rewrite), the server's PATH_INFO is kept. PEP 3333 wants both
 * keys present. */
static int server_paths(struct fw_environ *e, const char *script_name, const char *path_info)
{
    const char *sn = script_name ? script_name : "";
    size_t sn_len = strlen(sn);
    if (e->request_uri) {
        if (reserve(e, e->n_params + 2, strlen(e->request_uri) + 2) < 0)
            return fail(e, "out of memory");
        char *path = e->scratch;
        size_t path_len = fw_environ_uri_path(e->request_uri, path);
        if (!memchr(path, '\0', path_len) && path_len >= sn_len && memcmp(path, sn, sn_len) == 0 &&
            (path[sn_len] == '\0' || path[sn_len] == '/')) {
            add(e, "SCRIPT_NAME", 11, sn, sn_len);
            add(e, "PATH_INFO", 9, path + sn_len, path_len - sn_len);
            return 0;
        }
    }
    add(e, "SCRIPT_NAME", 11, sn, sn_len);
    add(e, "PATH_INFO", 9, path_info ? path_info : "", path_info ? strlen(path_info) : 0);
    return 0;
}

/* CONTENT_LENGTH's value: >= 0, -1 for "unknown", -2 for malformed. */
static int64_t parse_length(const char *v, size_t len)
{
    /* Caddy 2.6 sends -1 for a chunked upload (caddyserver/caddy#5236):
     * no length, read the body to its end as for nginx's unbuffered ones. */
    bool negative = len > 1 && v[0] == '-';
    size_t k = negative ? 1 : 0;
    int64_t n = 0;
    for (; k < len; k++) {
        if (v[k] < '0' || v[k] > '9' || n > (INT64_MAX - 9) / 10)
            return -2;
        n = n * 10 + (v[k] - '0');
    }
    return negative ? -1 : n;
}

int fw_environ_build(struct fw_environ *e, const struct fw_param *in, size_t count,
                     const char *const *mounts, size_t n_mounts)
{
    bool mounted = n_mounts > 0;
    e->n_params = 0;
    e->method = "";
    e->script_filename = NULL;
    e->request_uri = NULL;
    e->content_length = -1;
    e->https = false;
    e->is_head = false;
    e->error = NULL;
    e->mount_index = 0;

    int repeats = group_headers(e, in, count);
    if (repeats < 0 || reserve(e, count + 2, 0) < 0)
        return fail(e, "out of memory");
    size_t joined_used = 0;

    /* A bad param is reported after the loop, so that the log line of the
     * 400 names the method and URI whatever order they came in. */
    const char *bad = NULL;
    const char *script_name = NULL, *path_info = NULL, *transfer_encoding = NULL;
    for (size_t i = 0; i < count; i++) {
        const char *name = in[i].name;
        size_t nlen = in[i].name_len;
        const char *value = in[i].value;
        size_t vlen = in[i].value_len;
        if (repeats && joins(name, nlen)) {
            const struct fw_environ_repeat *r = &e->repeats[i];
            if (r->later)
                continue;
            if (r->next) {
                value = join_values(e, in, i, &joined_used);
                vlen = r->len;
            }
        }
        switch (nlen) {
        case 5:
            if (name_is(name, nlen, "HTTPS") && truthy(value))
                e->https = true;
            break;
        case 9:
            if (name_is(name, nlen, "PATH_INFO")) {
                path_info = value; /* added below, maybe corrected */
                continue;
            }
            break;
        case 11:
            if (name_is(name, nlen, "SCRIPT_NAME")) {
                script_name = value; /* added below, maybe replaced */
                continue;
            } else if (name_is(name, nlen, "REQUEST_URI")) {
                e->request_uri = value;
            }
            break;
        case 12:
            /* nginx's stock fastcgi_params send CONTENT_TYPE and
             * CONTENT_LENGTH empty when there is no body; PEP 3333 lets
             * them be absent, and apps do int(environ['CONTENT_LENGTH']). */
            if (name_is(name, nlen, "CONTENT_TYPE") && vlen == 0)
                continue;
            break;
        case 14:
            if (name_is(name, nlen, "CONTENT_LENGTH")) {
                if (vlen == 0)
                    continue;
                int64_t v = parse_length(value, vlen);
                if (v == -2 && !bad)
                    bad = "invalid CONTENT_LENGTH";
                if (v < 0)
                    continue;
                e->content_length = v;
            } else if (name_is(name, nlen, "REQUEST_METHOD")) {
                e->method = value;
                e->is_head = strcmp(value, "HEAD") == 0;
            } else if (name_is(name, nlen, "REQUEST_SCHEME")) {
                if (strcasecmp(value, "https") == 0)
                    e->https = true;
            }
            break;
        case 15:
            if (name_is(name, nlen, "SCRIPT_FILENAME"))
                e->script_filename = value;
            break;
        case 17:
        case 19:
            /* nginx and lighttpd pass every request header as HTTP_*, the
             * Content-Type and Content-Length ones too; CGI (RFC 3875
             * 4.1.18) has them only as CONTENT_TYPE and CONTENT_LENGTH, as
             * Apache, mod_wsgi and gunicorn give them. Apps that copy
             * HTTP_* into headers (Django's request.headers) would see
             * them twice, the copy possibly stale. */
            if (name_is(name, nlen, "HTTP_CONTENT_TYPE") ||
                name_is(name, nlen, "HTTP_CONTENT_LENGTH"))
                continue;
            break;
        case 22:
            if (name_is(name, nlen, "HTTP_TRANSFER_ENCODING")) {
                transfer_encoding = value; /* added below, maybe dropped */
                continue;
            }
            break;
        }
        add(e, name, nlen, value, vlen);
    }
    if (bad)
        return fail(e, bad);

    /* nginx passes a chunked request's Transfer-Encoding header on as
     * HTTP_TRANSFER_ENCODING even when it has read the whole body and sends
     * CONTENT_LENGTH (request buffering on, the default). The app gets the
     * body de-chunked, and an app that follows HTTP (RFC 9112 6.3: a
     * Transfer-Encoding overrides a Content-Length) would ignore the
     * length. Without CONTENT_LENGTH the header stays: it tells the app
     * that a body of unknown length follows. */
    if (transfer_encoding && e->content_length < 0)
        add(e, "HTTP_TRANSFER_ENCODING", 22, transfer_encoding, strlen(transfer_encoding));

    if (!mounted)
        return server_paths(e, script_name, path_info);

    /* The request path comes from REQUEST_URI, which every server sends
     * raw; SCRIPT_NAME/PATH_INFO differ per server and per config (nginx
     * puts the whole path in SCRIPT_NAME, Apache's mod_proxy_fcgi may send
     * "proxy:fcgi://..." paths). Without REQUEST_URI, use what was sent. */
    const char *src = e->request_uri;
    char *joined = NULL;
    size_t sn_len = script_name ? strlen(script_name) : 0;
    size_t pi_len = path_info ? strlen(path_info) : 0;
    size_t src_len = src ? strlen(src) : sn_len + pi_len;
    if (reserve(e, count + 2, 2 * src_len + 8) < 0)
        return fail(e, "out of memory");
    char *path = e->scratch;
    if (!src) {
        joined = path + src_len + 2;
        memcpy(joined, script_name ? script_name : "", sn_len);
        memcpy(joined + sn_len, path_info ? path_info : "", pi_len);
        joined[sn_len + pi_len] = '\0';
        src = joined;
    }
    size_t path_len = fw_environ_uri_path(src, path);
    /* A NUL cannot be passed on safely: C code below the app (file system
     * calls, many C extensions) would see the path end there. */
    if (memchr(path, '\0', path_len))
        return fail(e, "NUL byte in the request path");
    long mlen = best_mount(path, mounts, n_mounts, &e->mount_index);
    if (mlen < 0) {
        /* The server routed a path outside every mount here (nginx's
         * `location /app` also matches /apple; "/app/../x" resolves to /x):
         * no app is there, as mod_wsgi's WSGIScriptAlias would say. */
        e->error = "request path is outside the mount";
        return 404;
    }
    add(e, "SCRIPT_NAME", 11, mounts[e->mount_index], (size_t)mlen);
    add(e, "PATH_INFO", 9, path + mlen, path_len - (size_t)mlen);
    return 0;
}

void fw_environ_free(struct fw_environ *e)
{
    free(e->params);
    free(e->scratch);
    free(e->repeats);
    free(e->slots);
    free(e->joined);
    e->params = NULL;
    e->scratch = NULL;
    e->repeats = NULL;
    e->slots = NULL;
    e->joined = NULL;
    e->cap_params = e->cap_scratch = e->cap_repeats = e->cap_slots = e->cap_joined = 0;
}
