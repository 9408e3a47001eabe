#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

static bool use_syslog;
static bool use_stderr;
static int log_fd = -1;
static const char *log_ident = "cowherd";

void
ch_log_init (const char *ident, const struct ch_config *cfg)
{
  log_ident = ident;
  use_syslog = cfg->log_syslog;
  if (use_syslog)
    openlog (ident, LOG_PID, LOG_DAEMON);
  if (cfg->log_file)
    /* Best effort: a log that cannot be opened must not fail a VM start. */
    log_fd = open (cfg->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
}

void
ch_log_set_stderr (bool on)
{
  use_stderr = on;
}

void
ch_log (int prio, const char *fmt, ...)
{
  char msg[2048], line[2200];
  va_list ap;
  int n;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);

  if (use_syslog)
    syslog (prio, "%s", msg);
  if (log_fd >= 0) {
    struct timespec ts;
    struct tm tm;
    char stamp[32];

    clock_gettime (CLOCK_REALTIME, &ts);
    gmtime_r (&ts.tv_sec, &tm);
    strftime (stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    n = snprintf (line, sizeof line, "%s %s[%d]: %s\n", stamp, log_ident,
                  (int) getpid (), msg);
    if (n > 0)
      /* One write per line so concurrent hooks do not interleave. */
      (void) !write (log_fd, line, (size_t) n < sizeof line ? (size_t) n : sizeof line - 1);
  }
  if (use_stderr)
    fprintf (stderr, "%s: %s\n", log_ident, msg);
}

void
ch_log_close (void)
{
  if (log_fd >= 0)
    close (log_fd);
  log_fd = -1;
  if (use_syslog)
    closelog ();
}

double
ch_now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}
