/* From FastCGI params to the CGI part of the WSGI environ: splits NAME=VALUE,
 * applies the mount (SCRIPT_NAME/PATH_INFO), and smooths over what each web
 * server sends differently. Pure C, no Python, no libfcgi. */
#ifndef FW_ENVIRON_H
#define FW_ENVIRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pyhost/gateway.h"

struct fw_environ_repeat;

struct fw_environ {
    /* The params for the gateway. Names and values point into the input
     * params or into scratch; valid until the next build or free. */
    struct fw_param *params;
    size_t n_params, cap_params;
    char *scratch;
    size_t cap_scratch;
    /* Repeated HTTP_* params: grouped by name, their values joined. */
    struct fw_environ_repeat *repeats;
    size_t cap_repeats;
    uint32_t *slots;
    size_t cap_slots;
    char *joined;
    size_t cap_joined;

    /* Extracted for the caller. */
    const char *method;          /* "" if absent */
    const char *script_filename; /* NULL if absent */
    const char *request_uri;     /* NULL if absent */
    int64_t content_length;      /* -1 if absent */
    size_t mount_index;          /* which of the mounts matched */
    bool https;
    bool is_head;
    const char *error;   /* why build failed */
};

/* With no mounts (SCRIPT_FILENAME mode, where the server knows the script's
 * URL), SCRIPT_NAME stays as the web server sent it, and PATH_INFO too unless
 * SCRIPT_NAME is a prefix of REQUEST_URI's path, whose rest PATH_INFO then is
 * (decoded as under a mount). Otherwise mounts are canonical URL prefixes
 * (fw_environ_mount_canon: "" for the root); the longest one containing the
 * request path is chosen (e->mount_index), and SCRIPT_NAME and PATH_INFO are
 * derived from REQUEST_URI whatever the server sent. A header sent several
 * times (several HTTP_* params of one name) becomes one param where it came
 * first, its values joined with ", " ("; " for HTTP_COOKIE). Other repeated
 * params, HTTP_HOST among them, stay repeated (the last one wins in a
 * dict). Returns 0, or an HTTP
 * status with e->error set: 400 for a malformed request, 404 for a path under
 * no mount. */
int fw_environ_build(struct fw_environ *e, const struct fw_param *in, size_t n_in,
                     const char *const *mounts, size_t n_mounts);
void fw_environ_free(struct fw_environ *e);

/* The path of a request URI as the app should see it: query dropped,
 * scheme and authority dropped, %XX decoded, "//" merged, "." and ".."
 * resolved (as nginx does for $uri). Writes at most strlen(uri) + 1 bytes
 * into out (which may not alias uri). Returns the length. */
size_t fw_environ_uri_path(const char *uri, char *out);

/* Canonical mount: "" for the root, otherwise "/x/y" without a trailing
 * slash. Writes at most strlen(mount) + 2 bytes. */
size_t fw_environ_mount_canon(const char *mount, char *out);

#endif
