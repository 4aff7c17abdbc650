/* Name lookups with the reentrant calls: a reload may one day run beside
 * other threads, and getpwnam()'s static buffer would then be shared. */
#include <config.h>

#include "conf/account.h"

#include "conf/reader.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

/* Entries with many members need more than the usual 1 KiB. */
#define MAX_BUF (1024 * 1024)

int fw_conf_account_user(struct fw_conf_errors *errs, const char *name, struct fw_conf_mark m,
                         uid_t *uid, gid_t *gid)
{
    struct passwd pw, *found = NULL;
    char *buf = NULL, q[64];
    int rc = ERANGE;
    for (size_t size = 4096; rc == ERANGE && size <= MAX_BUF; size *= 4) {
        char *nbuf = realloc(buf, size);
        if (!nbuf) {
            rc = ENOMEM;
            break;
        }
        buf = nbuf;
        rc = getpwnam_r(name, &pw, buf, size, &found);
    }
    if (found) {
        *uid = pw.pw_uid;
        if (gid)
            *gid = pw.pw_gid;
    } else if (rc == 0) {
        fw_conf_mark_error(errs, m, "unknown user %s (no such entry in the password database)",
                           fw_conf_reader_quote(name, q));
    } else {
        fw_conf_mark_error(errs, m, "cannot look user %s up: %s", fw_conf_reader_quote(name, q),
                           strerror(rc));
    }
    free(buf);
    return found ? 0 : -1;
}

int fw_conf_account_group(struct fw_conf_errors *errs, const char *name, struct fw_conf_mark m,
                          gid_t *gid)
{
    struct group gr, *found = NULL;
    char *buf = NULL, q[64];
    int rc = ERANGE;
    for (size_t size = 4096; rc == ERANGE && size <= MAX_BUF; size *= 4) {
        char *nbuf = realloc(buf, size);
        if (!nbuf) {
            rc = ENOMEM;
            break;
        }
        buf = nbuf;
        rc = getgrnam_r(name, &gr, buf, size, &found);
    }
    if (found)
        *gid = gr.gr_gid;
    else if (rc == 0)
        fw_conf_mark_error(errs, m, "unknown group %s (no such entry in the group database)",
                           fw_conf_reader_quote(name, q));
    else
        fw_conf_mark_error(errs, m, "cannot look group %s up: %s", fw_conf_reader_quote(name, q),
                           strerror(rc));
    free(buf);
    return found ? 0 : -1;
}
