/* Logging to stderr (journald picks it up under systemd).
 *
 * Levels follow kube-proxy's -v convention: 0 is always shown (errors,
 * warnings, start/stop), 2 is per-sync summaries, 4 is per-batch details,
 * 5+ is per-object tracing. */
#ifndef KNP_LOG_H
#define KNP_LOG_H

#include <stdarg.h>

extern int log_verbosity;

/* printf-like; @level is compared with log_verbosity. Adds a timestamp and
 * a newline. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(0, "E " __VA_ARGS__)
#define log_warn(...)	log_msg(0, "W " __VA_ARGS__)
#define log_info(...)	log_msg(0, "I " __VA_ARGS__)
#define log_v(n, ...)	log_msg((n), "I " __VA_ARGS__)

#endif
