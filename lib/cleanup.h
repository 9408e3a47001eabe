/* cowherd: cleanup attributes, one per owned type (nbdkit style).
 * The owner of a resource declares it with one of these; it is released on
 * every path out of the scope, so error paths cannot leak. */
#ifndef COWHERD_CLEANUP_H
#define COWHERD_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void ch_freep (void *p) { free (*(void **) p); }
static inline void ch_closep (int *fd) { if (*fd >= 0) close (*fd); }
static inline void ch_fclosep (FILE **f) { if (*f) fclose (*f); }

#define CLEANUP_FREE   __attribute__((cleanup (ch_freep)))
#define CLEANUP_CLOSE  __attribute__((cleanup (ch_closep)))
#define CLEANUP_FCLOSE __attribute__((cleanup (ch_fclosep)))

/* Hand ownership out of a CLEANUP_ scope. */
#define CH_STEAL(p) ({ __typeof__ (p) ch_stolen_ = (p); (p) = NULL; ch_stolen_; })
#define CH_STEAL_FD(fd) ({ int ch_stolen_fd_ = (fd); (fd) = -1; ch_stolen_fd_; })

#endif
