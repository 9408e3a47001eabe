/* cowherd: action log.  Goes to syslog (LOG_DAEMON) and, when configured, a
 * file; never to stdout (the hook's stdout belongs to libvirt). */
#ifndef COWHERD_LOG_H
#define COWHERD_LOG_H

#include <stdbool.h>
#include <syslog.h>

struct ch_config;

void ch_log_init (const char *ident, const struct ch_config *cfg);
/* Also copy messages to stderr (CLI -v). */
void ch_log_set_stderr (bool on);
void ch_log (int prio, const char *fmt, ...) __attribute__((format (printf, 2, 3)));
void ch_log_close (void);

/* Monotonic milliseconds, for durations. */
double ch_now_ms (void);

#endif
