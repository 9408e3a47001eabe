/* cowherd: the one error-reporting path.
 *
 * A function that detects an error calls ch_error() exactly once and returns
 * -1 (or NULL); callers pass the -1 up without reporting again.  main() (or
 * the hook's dispatcher) reads the message with ch_last_error() and turns it
 * into one stderr line and an exit code.  %m works (glibc printf) and refers
 * to errno at the time of the call. */
#ifndef COWHERD_ERROR_H
#define COWHERD_ERROR_H

#include <stddef.h>

#define CH_ERROR_MAX 1024

void ch_error (const char *fmt, ...) __attribute__((format (printf, 1, 2)));
/* Prefix the pending message with context: "ctx: <message>". */
void ch_error_prefix (const char *fmt, ...) __attribute__((format (printf, 1, 2)));
const char *ch_last_error (void);   /* "" when none */
/* asprintf into *SLOT (NULL on failure), reporting failure with ch_error.
 * 0 or -1. */
int ch_asprintf (char **slot, const char *fmt, ...) __attribute__((format (printf, 2, 3)));
void ch_error_clear (void);

#endif
