#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static __thread char last[CH_ERROR_MAX];

void
ch_error (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (last, sizeof last, fmt, ap);
  va_end (ap);
}

void
ch_error_prefix (const char *fmt, ...)
{
  char ctx[CH_ERROR_MAX], both[2 * CH_ERROR_MAX + 2];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (ctx, sizeof ctx, fmt, ap);
  va_end (ap);
  snprintf (both, sizeof both, "%s: %s", ctx, last);
  /* Keep what fits in the slot. */
  strncpy (last, both, sizeof last - 1);
  last[sizeof last - 1] = '\0';
}

const char *
ch_last_error (void)
{
  return last;
}

void
ch_error_clear (void)
{
  last[0] = '\0';
}

int
ch_asprintf (char **slot, const char *fmt, ...)
{
  va_list ap;
  int r;

  va_start (ap, fmt);
  r = vasprintf (slot, fmt, ap);
  va_end (ap);
  if (r < 0) {
    *slot = NULL;
    ch_error ("vasprintf: %m");
    return -1;
  }
  return 0;
}
