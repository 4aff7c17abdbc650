/* The master: owns the configuration, the listening sockets, the scoreboard
 * and every pool, and runs the event loop until it is told to stop. It never
 * starts Python. */
#ifndef FW_MANAGER_H
#define FW_MANAGER_H

#include "conf/config.h"

/* Runs in the foreground until SIGTERM/SIGINT/SIGQUIT; returns the process
 * exit status. Takes ownership of cfg. */
int fw_manager_run(struct fw_config *cfg);

#endif
