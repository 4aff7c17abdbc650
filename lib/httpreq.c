/* fw_httpreq_parse (httpreq.h): one pass over the head, line by line; a
 * line ends with CRLF or a bare LF (RFC 9112 2.2 lets a server take LF). */
#include "config.h"

#include "httpreq.h"

#include <string.h>
#include <strings.h>

static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The end of the line starting at p (its '\n'), or NULL if not in buf. */
static const char *line_end(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl;
}

/* Trims the '\r' before '\n'; a '\r' anywhere else is an error. */
static bool line_ok(const char *p, const char **e)
{
    if (*e > p && (*e)[-1] == '\r')
        (*e)--;
    return memchr(p, '\r', (size_t)(*e - p)) == NULL;
}

static long request_line(const char *p, const char *e, struct fw_httpreq *out)
{
    const char *sp = memchr(p, ' ', (size_t)(e - p));
    if (!sp || sp == p)
        return -400;
    for (const char *c = p; c < sp; c++)
        if (!tchar((unsigned char)*c))
            return -400;
    if ((size_t)(sp - p) >= sizeof(out->method))
        return -501;
    memcpy(out->method, p, (size_t)(sp - p));
    out->method[sp - p] = '\0';
    const char *t = sp + 1, *sp2 = memchr(t, ' ', (size_t)(e - t));
    if (!sp2 || sp2 == t)
        return -400;
    if (sp2 - t > FW_HTTPREQ_TARGET_MAX)
        return -414;
    if (*t != '/')
        return -400; /* origin-form only: a status server is no proxy */
    for (const char *c = t; c < sp2; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == '#')
            return -400;
    const char *q = memchr(t, '?', (size_t)(sp2 - t));
    const char *path_end = q ? q : sp2;
    memcpy(out->path, t, (size_t)(path_end - t));
    out->path[path_end - t] = '\0';
    if (q) {
        memcpy(out->query, q + 1, (size_t)(sp2 - q - 1));
        out->query[sp2 - q - 1] = '\0';
    }
    const char *v = sp2 + 1;
    size_t vlen = (size_t)(e - v);
    if (vlen != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
        v[7] < '0' || v[7] > '9')
        return -400;
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return -505;
    out->http11 = v[7] == '1';
    return 0;
}

/* Each comma-separated media range of Accept, parameters cut. */
static void accept_value(const char *v, const char *e, struct fw_httpreq *out)
{
    while (v < e) {
        while (v < e && (*v == ' ' || *v == '\t' || *v == ','))
            v++;
        const char *item = v;
        while (v < e && *v != ',')
            v++;
        const char *type_end = memchr(item, ';', (size_t)(v - item));
        if (!type_end)
            type_end = v;
        while (type_end > item && (type_end[-1] == ' ' || type_end[-1] == '\t'))
            type_end--;
        size_t n = (size_t)(type_end - item);
        if (n == 28 && strncasecmp(item, "application/openmetrics-text", 28) == 0)
            out->accept_openmetrics = true;
        else if (n == 10 && strncasecmp(item, "text/plain", 10) == 0)
            out->accept_text_plain = true;
    }
}

long fw_httpreq_parse(const char *buf, size_t len, size_t max_head, struct fw_httpreq *out)
{
    memset(out, 0, sizeof(*out));
    size_t scan = len < max_head ? len : max_head;
    const char *p = buf, *end = buf + scan;
    /* RFC 9112 2.2: empty lines before the request line may be ignored. */
    while (p < end && (*p == '\r' || *p == '\n') && p - buf < 4)
        p++;
    const char *e = line_end(p, end);
    if (!e)
        return len >= max_head ? -431 : 0;
    const char *next = e + 1;
    if (!line_ok(p, &e))
        return -400;
    long rc = request_line(p, e, out);
    if (rc < 0)
        return rc;
    unsigned headers = 0, hosts = 0;
    for (p = next;; p = next) {
        e = line_end(p, end);
        if (!e)
            return len >= max_head ? -431 : 0;
        next = e + 1;
        if (!line_ok(p, &e))
            return -400;
        if (e == p)
            break; /* the empty line: the head is complete */
        if (++headers > FW_HTTPREQ_HEADERS_MAX)
            return -431;
        const char *colon = memchr(p, ':', (size_t)(e - p));
        if (!colon || colon == p)
            return -400; /* also obs-fold: a line starting with a space */
        for (const char *c = p; c < colon; c++)
            if (!tchar((unsigned char)*c))
                return -400;
        const char *v = colon + 1;
        for (const char *c = v; c < e; c++)
            if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
                return -400;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        size_t name_len = (size_t)(colon - p);
        if (name_len == 4 && strncasecmp(p, "host", 4) == 0)
            hosts++;
        else if (name_len == 6 && strncasecmp(p, "accept", 6) == 0)
            accept_value(v, e, out);
    }
    if (out->http11 && hosts != 1)
        return -400;
    if (!out->http11 && hosts > 1)
        return -400;
    return (long)(next - buf);
}
