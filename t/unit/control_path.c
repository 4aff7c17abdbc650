/* conf: fw_conf_control_path takes `control:` alone from the main file:
 * relative to the file, the default without one, whatever else is broken
 * in the file; a malformed or hostile file gets an error, not a fault. */
#include "config.h"

#include "conf/config.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/fwctlpathXXXXXX";

static char *with(const char *text, char *err, size_t errlen)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/c.yaml", dir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    err[0] = '\0';
    return fw_conf_control_path(path, err, errlen);
}

int main(void)
{
    char err[512], want[300];
    ok(mkdtemp(dir) != NULL, "temp dir");
    char *p = with("log: stderr\ncontrol: ctl.sock\npools: {broken: [1, 2}\n", err, sizeof(err));
    snprintf(want, sizeof(want), "%s/ctl.sock", dir);
    /* The broken mapping comes after: the walk stops at control. */
    is_str(p ? p : "(null)", want, "relative to the file, with a broken pool after it");
    free(p);
    p = with("pools:\n  a: {listen: /x, apps: [{script: /y}]}\ncontrol: /run/x.sock\n", err,
             sizeof(err));
    is_str(p ? p : "(null)", "/run/x.sock", "after nested values of other keys");
    free(p);
    p = with("log: stderr\n", err, sizeof(err));
    is_str(p ? p : "(null)", FW_CONF_DEFAULT_CONTROL, "none given: the default");
    free(p);
    p = with("control: [a, b]\n", err, sizeof(err));
    ok(!p && strstr(err, "must be a path"), "control as a list: refused");
    free(p);
    p = with("control: \"\"\n", err, sizeof(err));
    ok(!p, "control empty: refused");
    free(p);
    p = with("a: [unclosed\n", err, sizeof(err));
    ok(!p && strstr(err, "c.yaml:"), "broken YAML before control: an error with a position");
    free(p);
    char deep[4096];
    size_t n = 0;
    for (int i = 0; i < 1000; i++)
        deep[n++] = '[';
    deep[n] = '\0';
    p = with(deep, err, sizeof(err));
    ok(!p, "1000 nested sequences: refused, no fault");
    free(p);
    char path[256];
    snprintf(path, sizeof(path), "%s/c.yaml", dir);
    unlink(path);
    p = fw_conf_control_path(path, err, sizeof(err));
    ok(!p && strstr(err, "cannot open"), "a missing file: an error");
    rmdir(dir);
    return done_testing();
}
