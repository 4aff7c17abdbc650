/* python_home: whether a directory is a virtualenv or a prefix of the
 * CPython that fcgiwsgi embeds. A mismatch does not always fail loudly: a
 * prefix of another version stops every worker in CPython's start-up, and
 * a virtualenv of another version starts, with the embedded CPython's own
 * standard library, but none of the virtualenv's packages. */
#ifndef FW_CONF_PYHOME_H
#define FW_CONF_PYHOME_H

#include "conf/config.h"

/* Reports at m what is wrong with home for CPython version ("3.11", the
 * embedded MAJOR.MINOR); python is that CPython's interpreter, for "make
 * the virtualenv with ...". */
void fw_conf_pyhome_check(const char *home, const char *version, const char *python,
                          struct fw_conf_mark m, struct fw_conf_errors *errs);

#endif
