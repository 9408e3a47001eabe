#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static __thread char last[CH_ERROR_MAX];
static __thread enum ch_err last_kind;
/* Where the message proper starts in LAST, after the prefixes. */
static __thread size_t detail;

static void __attribute__((format (printf, 2, 0)))
set (enum ch_err kind, const char *fmt, va_list ap)
{
  char msg[CH_ERROR_MAX];

  /* Through a copy: the arguments may point into LAST. */
  vsnprintf (msg, sizeof msg, fmt, ap);
  memcpy (last, msg, sizeof last);
  last_kind = kind;
  detail = 0;
}

void
ch_error (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  set (CH_ERR_FAILED, fmt, ap);
  va_end (ap);
}

void
ch_error_as (enum ch_err kind, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  set (kind, fmt, ap);
  va_end (ap);
}

enum ch_err
ch_err_of_io (int errnum)
{
  return errnum == ENOSPC || errnum == EDQUOT ? CH_ERR_NO_SPACE : CH_ERR_IO;
}

void
ch_error_prefix (const char *fmt, ...)
{
  char ctx[CH_ERROR_MAX], both[2 * CH_ERROR_MAX + 2];
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vsnprintf (ctx, sizeof ctx, fmt, ap);
  va_end (ap);
  snprintf (both, sizeof both, "%s: %s", ctx, last);
  /* Keep what fits in the slot. */
  strncpy (last, both, sizeof last - 1);
  last[sizeof last - 1] = '\0';
  if (n < 0 || (size_t) n >= sizeof ctx)
    n = (int) strlen (ctx);
  detail += (size_t) n + 2;
  if (detail > strlen (last))
    detail = strlen (last);
}

const char *
ch_last_error (void)
{
  return last;
}

enum ch_err
ch_error_kind (void)
{
  return last_kind;
}

const char *
ch_error_detail (void)
{
  return last + detail;
}

void
ch_error_clear (void)
{
  last[0] = '\0';
  last_kind = CH_ERR_FAILED;
  detail = 0;
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

bool
ch_why (char *why, size_t len, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (why, len, fmt, ap);
  va_end (ap);
  return false;
}
