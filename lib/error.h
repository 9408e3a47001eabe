/* cowherd: the one error-reporting path.
 *
 * A function that detects an error calls ch_error() (or ch_error_as(),
 * to say what kind of failure it is) exactly once and returns -1 (or
 * NULL); callers pass the -1 up without reporting again.  main() (or the
 * hook's dispatcher) reads the message with ch_last_error() and turns it
 * into one stderr line and an exit code.  %m works (glibc printf) and
 * refers to errno at the time of the call.
 *
 * Callers that act on a failure ask its kind, never its text: rewording
 * a message must not change what the program does. */
#ifndef COWHERD_ERROR_H
#define COWHERD_ERROR_H

#include <stdbool.h>
#include <stddef.h>

#define CH_ERROR_MAX 1024

enum ch_err {
  CH_ERR_FAILED = 0,      /* none of the kinds below */
  CH_ERR_NOT_FOUND,       /* what was asked for is not there */
  CH_ERR_TIMED_OUT,       /* a lock, a server or a peer did not answer in time */
  CH_ERR_REFUSED,         /* an input or an answer failed a check: not taken */
  CH_ERR_CORRUPT,         /* content differs from what was promised (size, digest) */
  CH_ERR_IO,              /* this host's own I/O failed */
  CH_ERR_NO_SPACE,        /* this host's filesystem is full (ENOSPC, EDQUOT) */
};

/* Report an error of kind CH_ERR_FAILED. */
void ch_error (const char *fmt, ...) __attribute__((format (printf, 1, 2)));
/* Report an error of kind KIND. */
void ch_error_as (enum ch_err kind, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));
/* The kind of this host's I/O failing with ERRNUM: CH_ERR_NO_SPACE or
 * CH_ERR_IO. */
enum ch_err ch_err_of_io (int errnum);
/* Prefix the pending message with context: "ctx: <message>".  The kind
 * stays. */
void ch_error_prefix (const char *fmt, ...) __attribute__((format (printf, 1, 2)));
const char *ch_last_error (void);   /* "" when none */
/* The kind of the pending error; CH_ERR_FAILED when none. */
enum ch_err ch_error_kind (void);
/* The pending message without what ch_error_prefix added: for a summary
 * whose caller names the context itself. */
const char *ch_error_detail (void);
/* asprintf into *SLOT (NULL on failure), reporting failure with ch_error.
 * 0 or -1. */
int ch_asprintf (char **slot, const char *fmt, ...) __attribute__((format (printf, 2, 3)));
void ch_error_clear (void);

/* Not an error but a verdict's reason: write it into WHY (LEN bytes) and
 * return false, for `return ch_why (...)` in a function that proves or
 * refuses something. */
bool ch_why (char *why, size_t len, const char *fmt, ...) __attribute__((format (printf, 3, 4)));

#endif
