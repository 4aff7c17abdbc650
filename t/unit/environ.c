/* fcgi/environ: URI path normalisation, mounts, and the params quirks. */
#include "config.h"

#include "fcgi/environ.h"
#include "tap.h"

#include <stdlib.h>

static const char *path_of(const char *uri)
{
    static char out[512];
    fw_environ_uri_path(uri, out);
    return out;
}

static const char *get(struct fw_environ *e, const char *name)
{
    static char buf[4][512];
    static int slot;
    for (size_t i = 0; i < e->n_params; i++) {
        const struct fw_param *p = &e->params[i];
        if (p->name_len == strlen(name) && memcmp(p->name, name, p->name_len) == 0) {
            char *b = buf[slot++ % 4];
            size_t n = p->value_len < sizeof(buf[0]) - 1 ? p->value_len : sizeof(buf[0]) - 1;
            memcpy(b, p->value, n);
            b[n] = '\0';
            return b;
        }
    }
    return NULL;
}

static int count(struct fw_environ *e, const char *name)
{
    int n = 0;
    for (size_t i = 0; i < e->n_params; i++)
        if (e->params[i].name_len == strlen(name) && !memcmp(e->params[i].name, name, strlen(name)))
            n++;
    return n;
}

static void test_uri_path(void)
{
    is_str(path_of("/"), "/", "root");
    is_str(path_of(""), "/", "empty is root");
    is_str(path_of("/a/b?x=1&y=/z"), "/a/b", "query dropped");
    is_str(path_of("/a/b#frag"), "/a/b", "fragment dropped");
    is_str(path_of("/a%20b/%C3%A9"), "/a b/\xc3\xa9", "percent-decoded bytes");
    is_str(path_of("/a%2Fb"), "/a/b", "%2F decodes to a slash, as every WSGI server does");
    is_str(path_of("/a%zz%4"), "/a%zz%4", "broken escapes kept literally");
    is_str(path_of("/a//b///c"), "/a/b/c", "slashes merged");
    is_str(path_of("/a/./b/../c"), "/a/c", "dot segments resolved");
    is_str(path_of("/a/b/.."), "/a/", "trailing .. keeps a trailing slash");
    is_str(path_of("/../../x"), "/x", ".. never climbs above the root");
    is_str(path_of("/a/"), "/a/", "trailing slash kept");
    is_str(path_of("/%2e%2e/etc"), "/etc", "encoded dots resolved after decoding");
    is_str(path_of("http://example.com/p/q?z"), "/p/q", "absolute-form target");
    is_str(path_of("http://example.com"), "/", "absolute-form without path");
    is_str(path_of("*"), "*", "asterisk-form left alone");
}

static void test_mount_canon(void)
{
    char out[64];
    fw_environ_mount_canon("/", out);
    is_str(out, "", "/ is the root (empty SCRIPT_NAME)");
    fw_environ_mount_canon("/app/", out);
    is_str(out, "/app", "trailing slash dropped");
    fw_environ_mount_canon("app", out);
    is_str(out, "/app", "leading slash added");
}

/* The tests are written as NAME=VALUE strings, as CGI has them. */
static int envp_build(struct fw_environ *e, char **envp, const char *const *mounts, size_t n)
{
    static struct fw_param in[256];
    size_t count = 0;
    for (size_t i = 0; envp[i] && count < 256; i++) {
        const char *eq = strchr(envp[i], '=');
        if (!eq) /* not a param: skipped, as before the codec split them */
            continue;
        in[count].name = envp[i];
        in[count].name_len = (size_t)(eq - envp[i]);
        in[count].value = eq + 1;
        in[count].value_len = strlen(eq + 1);
        count++;
    }
    return fw_environ_build(e, in, count, mounts, n);
}

static int build(struct fw_environ *e, char **envp, const char *mount)
{
    char canon[256];
    fw_environ_mount_canon(mount, canon);
    const char *mounts[] = { canon };
    int rc = envp_build(e, envp, mounts, 1);
    /* SCRIPT_NAME points into the mounts array: copy it out for get(). */
    static char sn[256];
    for (size_t i = 0; i < e->n_params; i++) {
        if (e->params[i].name_len == 11 && !memcmp(e->params[i].name, "SCRIPT_NAME", 11)) {
            memcpy(sn, e->params[i].value, e->params[i].value_len);
            sn[e->params[i].value_len] = '\0';
            e->params[i].value = sn;
        }
    }
    return rc;
}

static void test_build_mount(void)
{
    struct fw_environ e = { 0 };
    char *env1[] = { "REQUEST_METHOD=GET",
                     "REQUEST_URI=/app/x%20y/?q=1",
                     "SCRIPT_NAME=/app/x y/",
                     "CONTENT_LENGTH=",
                     "CONTENT_TYPE=",
                     "QUERY_STRING=q=1",
                     NULL };
    is(build(&e, env1, "/app"), 0, "builds");
    is_str(get(&e, "SCRIPT_NAME"), "/app", "SCRIPT_NAME is the mount");
    is_str(get(&e, "PATH_INFO"), "/x y/", "PATH_INFO is the decoded rest");
    is(count(&e, "SCRIPT_NAME"), 1, "server's SCRIPT_NAME replaced, not duplicated");
    ok(get(&e, "CONTENT_LENGTH") == NULL, "empty CONTENT_LENGTH dropped (nginx)");
    ok(get(&e, "CONTENT_TYPE") == NULL, "empty CONTENT_TYPE dropped (nginx)");
    is_str(get(&e, "QUERY_STRING"), "q=1", "QUERY_STRING intact");
    is(e.content_length, -1, "no content length");
    ok(!e.is_head, "not HEAD");

    char *env2[] = { "REQUEST_METHOD=HEAD", "REQUEST_URI=/app", "CONTENT_LENGTH=42", "HTTPS=on",
                     NULL };
    is(build(&e, env2, "/app/"), 0, "bare mount builds");
    is_str(get(&e, "SCRIPT_NAME"), "/app", "bare mount: SCRIPT_NAME");
    is_str(get(&e, "PATH_INFO"), "", "bare mount: empty PATH_INFO");
    is(e.content_length, 42, "content length parsed");
    ok(e.is_head, "HEAD detected");
    ok(e.https, "HTTPS=on is https");

    char *env3[] = { "REQUEST_URI=/application/x", "REQUEST_SCHEME=https", NULL };
    is(build(&e, env3, "/app"), 404, "/application is not under /app: 404");
    ok(e.error && strstr(e.error, "mount"), "reason names the mount");
    ok(e.https, "REQUEST_SCHEME=https is https");
    char *env3b[] = { "REQUEST_URI=/app/../x", NULL };
    is(build(&e, env3b, "/app"), 404, "/app/../x resolves outside the mount");
    char *env3c[] = { "REQUEST_URI=/app/x%00y", NULL };
    is(build(&e, env3c, "/app"), 400, "NUL in the path is a 400");

    char *env4[] = { "REQUEST_URI=/a/b", NULL };
    is(build(&e, env4, "/"), 0, "root mount");
    is_str(get(&e, "SCRIPT_NAME"), "", "root: empty SCRIPT_NAME");
    is_str(get(&e, "PATH_INFO"), "/a/b", "root: PATH_INFO whole path");

    char *env5[] = { "SCRIPT_NAME=/app", "PATH_INFO=/p%41", NULL };
    is(build(&e, env5, "/app"), 0, "no REQUEST_URI");
    is_str(get(&e, "PATH_INFO"), "/pA", "falls back to SCRIPT_NAME + PATH_INFO");

    char *env6[] = { "CONTENT_LENGTH=12x", NULL };
    is(build(&e, env6, "/"), 400, "bad CONTENT_LENGTH is a 400");
    ok(e.error != NULL, "with a reason");
    char *env7[] = { "CONTENT_LENGTH=99999999999999999999999", NULL };
    is(build(&e, env7, "/"), 400, "overflowing CONTENT_LENGTH is a 400");
    char *env8[] = { "CONTENT_LENGTH=-1", NULL };
    is(build(&e, env8, "/"), 0, "CONTENT_LENGTH -1 (Caddy's chunked upload) is no length");
    is(e.content_length, -1, "read to the end of the body");
    ok(get(&e, "CONTENT_LENGTH") == NULL, "and the app sees none");
    char *env9[] = { "CONTENT_LENGTH=x", "REQUEST_URI=/late", "REQUEST_METHOD=PUT", NULL };
    is(build(&e, env9, "/"), 400, "bad CONTENT_LENGTH before the method and URI");
    is_str(e.method, "PUT", "the method is still known for the log");
    is_str(e.request_uri, "/late", "and the URI");
    fw_environ_free(&e);
}

static void test_build_server_paths(void)
{
    struct fw_environ e = { 0 };
    char *env1[] = { "SCRIPT_FILENAME=/srv/a.wsgi",
                     "SCRIPT_NAME=/a.wsgi",
                     "PATH_INFO=/x",
                     "NOEQUALS",
                     "HTTP_X=1=2",
                     NULL };
    is(envp_build(&e, env1, NULL, 0), 0, "server paths kept");
    is_str(get(&e, "SCRIPT_NAME"), "/a.wsgi", "SCRIPT_NAME as sent");
    is_str(get(&e, "PATH_INFO"), "/x", "PATH_INFO as sent");
    is_str(e.script_filename, "/srv/a.wsgi", "SCRIPT_FILENAME extracted");
    is_str(get(&e, "HTTP_X"), "1=2", "value split at the first =");
    ok(get(&e, "NOEQUALS") == NULL, "entry without = skipped");

    char *env2[] = { "SCRIPT_NAME=/a.wsgi", NULL };
    is(envp_build(&e, env2, NULL, 0), 0, "no PATH_INFO");
    is_str(get(&e, "PATH_INFO"), "", "PATH_INFO added empty (PEP 3333)");
    char *env3[] = { NULL };
    is(envp_build(&e, env3, NULL, 0), 0, "no params at all");
    is_str(get(&e, "SCRIPT_NAME"), "", "SCRIPT_NAME added empty");

    /* Long values make the scratch buffer grow. */
    char *big = malloc(70000);
    strcpy(big, "REQUEST_URI=/");
    memset(big + 13, 'a', 69980);
    big[69993] = '\0';
    char *env4[] = { big, NULL };
    is(build(&e, env4, "/"), 0, "long URI");
    is(strlen(get(&e, "PATH_INFO") ? "x" : ""), 1, "PATH_INFO present");
    is(e.params[e.n_params - 1].value_len, 69981, "PATH_INFO full length");
    free(big);
    fw_environ_free(&e);
}

static void test_several_mounts(void)
{
    struct fw_environ e = { 0 };
    const char *mounts[] = { "", "/api", "/api/v2" };
    char *env1[] = { "REQUEST_URI=/api/v2/x", NULL };
    is(envp_build(&e, env1, mounts, 3), 0, "three mounts");
    is(e.mount_index, 2, "the longest matching mount wins");
    char *env2[] = { "REQUEST_URI=/api/v20", NULL };
    is(envp_build(&e, env2, mounts, 3), 0, "prefix but not a segment");
    is(e.mount_index, 1, "/api/v20 is under /api, not /api/v2");
    char *env3[] = { "REQUEST_URI=/other", NULL };
    is(envp_build(&e, env3, mounts, 3), 0, "root catches the rest");
    is(e.mount_index, 0, "root mount");
    const char *no_root[] = { "/a", "/b" };
    is(envp_build(&e, env3, no_root, 2), 404, "no mount contains the path: 404");
    fw_environ_free(&e);
}

/* What each web server sends, as seen on the wire from nginx 1.22, lighttpd
 * 1.4.69, Apache 2.4 mod_proxy_fcgi and mod_fcgid 2.3.9 (t/web-*.t run the
 * real servers), and what the app must get instead. */
static void test_server_quirks(void)
{
    struct fw_environ e = { 0 };

    /* nginx: stock fastcgi_params plus every header as HTTP_*. */
    char *nginx[] = { "REQUEST_METHOD=POST",   "REQUEST_URI=/app/x",
                      "SCRIPT_NAME=/app/x",    "PATH_INFO=",
                      "CONTENT_LENGTH=3",      "CONTENT_TYPE=text/plain",
                      "HTTP_CONTENT_LENGTH=3", "HTTP_CONTENT_TYPE=text/plain",
                      "HTTP_X_CUSTOM=a b",     NULL };
    is(build(&e, nginx, "/app"), 0, "nginx: builds");
    is_str(get(&e, "SCRIPT_NAME"), "/app", "nginx: SCRIPT_NAME is the mount, not the whole path");
    is_str(get(&e, "PATH_INFO"), "/x", "nginx: PATH_INFO from REQUEST_URI");
    ok(get(&e, "HTTP_CONTENT_LENGTH") == NULL, "nginx: HTTP_CONTENT_LENGTH dropped");
    ok(get(&e, "HTTP_CONTENT_TYPE") == NULL, "nginx: HTTP_CONTENT_TYPE dropped");
    is_str(get(&e, "CONTENT_LENGTH"), "3", "nginx: CONTENT_LENGTH kept");
    is_str(get(&e, "CONTENT_TYPE"), "text/plain", "nginx: CONTENT_TYPE kept");
    is_str(get(&e, "HTTP_X_CUSTOM"), "a b", "nginx: other headers kept");
    is(count(&e, "PATH_INFO"), 1, "nginx: one PATH_INFO");

    /* nginx, request buffering on: a chunked upload arrives with its
     * length, and the Transfer-Encoding header still passed on. */
    char *chunked_buffered[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/up", "CONTENT_LENGTH=5",
                                 "HTTP_TRANSFER_ENCODING=chunked", NULL };
    is(build(&e, chunked_buffered, "/"), 0, "nginx buffered chunked upload: builds");
    ok(get(&e, "HTTP_TRANSFER_ENCODING") == NULL,
       "nginx buffered chunked upload: HTTP_TRANSFER_ENCODING dropped when CONTENT_LENGTH is set");
    is(e.content_length, 5, "nginx buffered chunked upload: the length stands");
    /* fastcgi_request_buffering off: no length, read to the end. */
    char *chunked_streamed[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/up",
                                 "CONTENT_LENGTH=", "HTTP_TRANSFER_ENCODING=chunked", NULL };
    is(build(&e, chunked_streamed, "/"), 0, "nginx streamed chunked upload: builds");
    is_str(get(&e, "HTTP_TRANSFER_ENCODING"), "chunked",
           "nginx streamed chunked upload: HTTP_TRANSFER_ENCODING kept without a length");
    is(e.content_length, -1, "nginx streamed chunked upload: no length");

    /* lighttpd mod_fastcgi, "/" => ((...)): the first path segment becomes
     * SCRIPT_NAME, the rest PATH_INFO; CONTENT_LENGTH=0 on a GET. */
    char *lighttpd_root[] = { "REQUEST_METHOD=GET", "REQUEST_URI=/x/y?q=1",
                              "SCRIPT_NAME=/x",     "PATH_INFO=/y",
                              "CONTENT_LENGTH=0",   "HTTP_CONTENT_LENGTH=0",
                              "QUERY_STRING=q=1",   NULL };
    is(build(&e, lighttpd_root, "/"), 0, "lighttpd at /: builds");
    is_str(get(&e, "SCRIPT_NAME"), "", "lighttpd at /: SCRIPT_NAME empty");
    is_str(get(&e, "PATH_INFO"), "/x/y", "lighttpd at /: PATH_INFO the whole path");
    ok(get(&e, "HTTP_CONTENT_LENGTH") == NULL, "lighttpd: HTTP_CONTENT_LENGTH dropped");
    is(e.content_length, 0, "lighttpd: CONTENT_LENGTH=0 is an empty body");

    /* Apache mod_proxy_fcgi: SCRIPT_NAME the decoded path, SCRIPT_FILENAME
     * a proxy: URL, no PATH_INFO, REQUEST_URI raw. */
    char *proxy_fcgi[] = { "REQUEST_URI=/app/a%20b//c/../d?z", "SCRIPT_NAME=/app/a b/d",
                           "SCRIPT_FILENAME=proxy:fcgi://localhost//a%20b/d", NULL };
    is(build(&e, proxy_fcgi, "/app"), 0, "mod_proxy_fcgi: builds");
    is_str(get(&e, "SCRIPT_NAME"), "/app", "mod_proxy_fcgi: SCRIPT_NAME the mount");
    is_str(get(&e, "PATH_INFO"), "/a b/d", "mod_proxy_fcgi: PATH_INFO decoded and resolved");

    /* mod_fcgid (SCRIPT_FILENAME mode, no mounts), AllowEncodedSlashes
     * NoDecode: PATH_INFO decoded except for %2F. */
    char *fcgid[] = { "SCRIPT_FILENAME=/srv/app.wsgi",
                      "SCRIPT_NAME=/app",
                      "PATH_INFO=/x%2Fy/caf\xc3\xa9",
                      "REQUEST_URI=/app/x%2Fy/caf%C3%A9?q=%2F",
                      "QUERY_STRING=q=%2F",
                      NULL };
    is(envp_build(&e, fcgid, NULL, 0), 0, "mod_fcgid: builds");
    is_str(get(&e, "SCRIPT_NAME"), "/app", "mod_fcgid: the server's SCRIPT_NAME");
    is_str(get(&e, "PATH_INFO"), "/x/y/caf\xc3\xa9", "mod_fcgid: %2F in PATH_INFO decoded too");
    is_str(get(&e, "QUERY_STRING"), "q=%2F", "mod_fcgid: QUERY_STRING untouched");
    is(count(&e, "SCRIPT_NAME") + count(&e, "PATH_INFO"), 2, "mod_fcgid: one of each");
    char *fcgid_root[] = { "SCRIPT_FILENAME=/srv/site.wsgi", "SCRIPT_NAME=", "PATH_INFO=/a%2Fb",
                           "REQUEST_URI=/a%2Fb", NULL };
    is(envp_build(&e, fcgid_root, NULL, 0), 0, "mod_fcgid at /: builds");
    is_str(get(&e, "SCRIPT_NAME"), "", "mod_fcgid at /: SCRIPT_NAME empty");
    is_str(get(&e, "PATH_INFO"), "/a/b", "mod_fcgid at /: PATH_INFO decoded");
    char *fcgid_bare[] = { "SCRIPT_FILENAME=/srv/app.wsgi", "SCRIPT_NAME=/app", "REQUEST_URI=/app",
                           NULL };
    is(envp_build(&e, fcgid_bare, NULL, 0), 0, "mod_fcgid bare mount: builds");
    is_str(get(&e, "PATH_INFO"), "", "mod_fcgid bare mount: PATH_INFO empty");
    char *rewritten[] = { "SCRIPT_FILENAME=/srv/index.wsgi", "SCRIPT_NAME=/index.wsgi",
                          "PATH_INFO=/p", "REQUEST_URI=/pretty/p", NULL };
    is(envp_build(&e, rewritten, NULL, 0), 0, "internal rewrite: builds");
    is_str(get(&e, "SCRIPT_NAME"), "/index.wsgi", "internal rewrite: SCRIPT_NAME kept");
    is_str(get(&e, "PATH_INFO"), "/p", "internal rewrite: the server's PATH_INFO kept");
    char *not_segment[] = { "SCRIPT_NAME=/app", "PATH_INFO=/le", "REQUEST_URI=/apple", NULL };
    is(envp_build(&e, not_segment, NULL, 0), 0, "prefix but not a segment: builds");
    is_str(get(&e, "PATH_INFO"), "/le", "prefix but not a segment: the server's PATH_INFO kept");
    fw_environ_free(&e);
}

/* nginx passes a header sent twice as two params of one name (so do
 * lighttpd and Apache); the app must see one value holding both, as under
 * gunicorn or any CGI server. */
static void test_repeated_headers(void)
{
    struct fw_environ e = { 0 };
    char *env1[] = { "REQUEST_URI=/",
                     "HTTP_X_REP=a",
                     "HTTP_COOKIE=a=1",
                     "HTTP_X_ONE=1",
                     "HTTP_X_REP=b",
                     "HTTP_COOKIE=b=2",
                     "HTTP_HOST=first",
                     "HTTP_HOST=second",
                     "HTTP_X_REP=",
                     "SERVER_NAME=s1",
                     "SERVER_NAME=s2",
                     "HTTP_TRANSFER_ENCODING=gzip",
                     "HTTP_TRANSFER_ENCODING=chunked",
                     NULL };
    is(build(&e, env1, "/"), 0, "repeated headers: builds");
    is_str(get(&e, "HTTP_X_REP"), "a, b, ", "repeated header: values joined with \", \" in order");
    is(count(&e, "HTTP_X_REP"), 1, "repeated header: one entry");
    is_str(get(&e, "HTTP_COOKIE"), "a=1; b=2", "two Cookie headers: joined with \"; \"");
    is(count(&e, "HTTP_COOKIE"), 1, "two Cookie headers: one entry");
    is(count(&e, "HTTP_HOST"), 2,
       "two HTTP_HOST: not joined (a later fastcgi_param HTTP_HOST overrides the first)");
    is_str(get(&e, "HTTP_X_ONE"), "1", "a header sent once is untouched");
    is_str(get(&e, "HTTP_TRANSFER_ENCODING"), "gzip, chunked",
           "repeated Transfer-Encoding without a length: joined");
    is(count(&e, "SERVER_NAME"), 2, "a repeated non-header param is not joined (the last wins)");
    ok(e.params[1].name_len == 10 && !memcmp(e.params[1].name, "HTTP_X_REP", 10),
       "the joined value stands where the header came first");

    /* Many names, many repeats: the grouping is by hash, and linear. */
    enum { N = 3000 };
    static char names[N][32];
    char **env2 = calloc(N + 2, sizeof(*env2));
    env2[0] = "REQUEST_URI=/";
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "HTTP_X_%d=%d", i % 1000, i / 1000);
        env2[i + 1] = names[i];
    }
    struct fw_param *in = calloc(N + 1, sizeof(*in));
    size_t n = 0;
    for (size_t i = 0; env2[i]; i++) {
        const char *eq = strchr(env2[i], '=');
        in[n].name = env2[i];
        in[n].name_len = (size_t)(eq - env2[i]);
        in[n].value = eq + 1;
        in[n].value_len = strlen(eq + 1);
        n++;
    }
    const char *root[] = { "" };
    is(fw_environ_build(&e, in, n, root, 1), 0, "3000 params, 1000 names: builds");
    is_str(get(&e, "HTTP_X_7"), "0, 1, 2", "3000 params: each name's three values joined");
    is_str(get(&e, "HTTP_X_999"), "0, 1, 2", "3000 params: the last name too");
    is(count(&e, "HTTP_X_500"), 1, "3000 params: one entry per name");
    is(e.n_params, 1000 + 3, "3000 params: 1000 headers, REQUEST_URI, SCRIPT_NAME, PATH_INFO");

    /* One name repeated until max_params would stop it: no quadratic
     * work, and the joined value has every byte. */
    for (size_t i = 1; i < n; i++) {
        in[i].name = "HTTP_X_SAME";
        in[i].name_len = 11;
        in[i].value = "v";
        in[i].value_len = 1;
    }
    is(fw_environ_build(&e, in, n, root, 1), 0, "3000 repeats of one header: builds");
    is(count(&e, "HTTP_X_SAME"), 1, "3000 repeats: one entry");
    size_t len = 0;
    for (size_t i = 0; i < e.n_params; i++)
        if (e.params[i].name_len == 11 && !memcmp(e.params[i].name, "HTTP_X_SAME", 11))
            len = e.params[i].value_len;
    is(len, 3000 + 2 * 2999, "3000 repeats: 3000 values and 2999 separators");
    free(in);
    free(env2);
    fw_environ_free(&e);
}

int main(void)
{
    test_several_mounts();
    test_uri_path();
    test_mount_canon();
    test_build_mount();
    test_build_server_paths();
    test_server_quirks();
    test_repeated_headers();
    return done_testing();
}
