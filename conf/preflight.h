/* Preflight: what a configuration names outside itself that would make a
 * start fail, checked before any worker is spawned with it (fcgiwsgi -t,
 * the start, every reload), each at the setting's file:line:column:
 * - python_home is a virtualenv or prefix of the embedded CPython (pyhome.h);
 * - the pool's user can read its scripts, python_path and python_home, and
 *   enter its chdir (probe.h: asked as that user);
 * - the directories of unix sockets, the control socket and the pid file
 *   exist, or are the one level the manager creates (lib/dir.h; the logs'
 *   are checked by the same rule at load, in validate.c); and
 * - a warning when the web server's usual user (Debian's www-data) could
 *   not connect to a unix socket.
 * It reads the file system and may fork; the loader runs it only on request
 * (fw_conf_load_preflight), never for fw_conf_load or the fuzzer. */
#ifndef FW_CONF_PREFLIGHT_H
#define FW_CONF_PREFLIGHT_H

#include "conf/top.h"

/* The user whose reach to unix sockets is checked (skipped if unknown). */
#define FW_CONF_PREFLIGHT_WEB_USER "www-data"

/* Checks t->cfg (read completely, errors or not) and reports to t->errs. */
void fw_conf_preflight(const struct fw_conf_top *t);

#endif
