/* The daemon: one event loop joining the apiserver client, the store, the
 * model and a backend. */
#ifndef KNP_DAEMON_H
#define KNP_DAEMON_H

#include <stdio.h>
#include "config.h"

/* `run`: list, program, watch, until SIGTERM/SIGINT. The rules stay in
 * place on exit (as kube-proxy leaves them). Returns the exit status. */
int daemon_run(const struct config *cfg);
/* `dump`: list once, print the ruleset to @out. Touches no kernel state.
 * Gives up after 30 s without a complete list. Returns the exit status. */
int daemon_dump(const struct config *cfg, FILE *out);
/* `cleanup`: delete our tables. Returns the exit status. */
int daemon_cleanup(const struct config *cfg);

#endif
