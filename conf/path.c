/* Path joining for conf/. Lexical only: nothing here touches the file
 * system except getcwd(). */
#include <config.h>

#include "conf/path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *fw_conf_path_dir(const char *file)
{
    const char *slash = strrchr(file, '/');
    char *out = NULL, *cwd = NULL;
    if (slash == file)
        return strdup("/");
    if (file[0] == '/')
        return strndup(file, (size_t)(slash - file));
    while (file[0] == '.' && file[1] == '/') {
        file += 2;
        while (*file == '/')
            file++;
        slash = strrchr(file, '/');
    }
    if (!(cwd = getcwd(NULL, 0)))
        return NULL;
    if (!slash)
        return cwd;
    if (asprintf(&out, "%s%s%.*s", cwd, strcmp(cwd, "/") ? "/" : "", (int)(slash - file), file) < 0)
        out = NULL;
    free(cwd);
    return out;
}

char *fw_conf_path_join(const char *dir, const char *path)
{
    char *out;
    if (path[0] == '/')
        return strdup(path);
    while (path[0] == '.' && path[1] == '/') {
        path += 2;
        while (*path == '/')
            path++;
    }
    if (path[0] == '\0' || strcmp(path, ".") == 0)
        return strdup(dir);
    if (asprintf(&out, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", path) < 0)
        return NULL;
    return out;
}

char *fw_conf_path_glob(const char *dir, const char *pattern)
{
    if (pattern[0] == '/')
        return strdup(pattern);
    size_t n = strlen(dir), m = strlen(pattern);
    char *out = malloc(2 * n + m + 2), *p = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (strchr("*?[]\\", dir[i]))
            *p++ = '\\';
        *p++ = dir[i];
    }
    if (strcmp(dir, "/") != 0)
        *p++ = '/';
    memcpy(p, pattern, m + 1);
    return out;
}
