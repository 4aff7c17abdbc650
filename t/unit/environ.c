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

static int build(struct fw_environ *e, char **envp, const char *mount)
{
    char canon[256];
    fw_environ_mount_canon(mount, canon);
    const char *mounts[] = { canon };
    int rc = fw_environ_build(e, envp, mounts, 1);
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
    is(build(&e, env8, "/"), 400, "negative CONTENT_LENGTH is a 400");
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
    is(fw_environ_build(&e, env1, NULL, 0), 0, "server paths kept");
    is_str(get(&e, "SCRIPT_NAME"), "/a.wsgi", "SCRIPT_NAME as sent");
    is_str(get(&e, "PATH_INFO"), "/x", "PATH_INFO as sent");
    is_str(e.script_filename, "/srv/a.wsgi", "SCRIPT_FILENAME extracted");
    is_str(get(&e, "HTTP_X"), "1=2", "value split at the first =");
    ok(get(&e, "NOEQUALS") == NULL, "entry without = skipped");

    char *env2[] = { "SCRIPT_NAME=/a.wsgi", NULL };
    is(fw_environ_build(&e, env2, NULL, 0), 0, "no PATH_INFO");
    is_str(get(&e, "PATH_INFO"), "", "PATH_INFO added empty (PEP 3333)");
    char *env3[] = { NULL };
    is(fw_environ_build(&e, env3, NULL, 0), 0, "no params at all");
    is_str(get(&e, "SCRIPT_NAME"), "", "SCRIPT_NAME added empty");
    is(e.params_bytes, 0, "no bytes");

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
    is(fw_environ_build(&e, env1, mounts, 3), 0, "three mounts");
    is(e.mount_index, 2, "the longest matching mount wins");
    char *env2[] = { "REQUEST_URI=/api/v20", NULL };
    is(fw_environ_build(&e, env2, mounts, 3), 0, "prefix but not a segment");
    is(e.mount_index, 1, "/api/v20 is under /api, not /api/v2");
    char *env3[] = { "REQUEST_URI=/other", NULL };
    is(fw_environ_build(&e, env3, mounts, 3), 0, "root catches the rest");
    is(e.mount_index, 0, "root mount");
    const char *no_root[] = { "/a", "/b" };
    is(fw_environ_build(&e, env3, no_root, 2), 404, "no mount contains the path: 404");
    fw_environ_free(&e);
}

int main(void)
{
    test_several_mounts();
    test_uri_path();
    test_mount_canon();
    test_build_mount();
    test_build_server_paths();
    return done_testing();
}
