/* cowherd: carry out a plan.  Every entry is created under Nova's lock for
 * it, written under a temporary name in a private directory beside the
 * entries, fsync'd, renamed into place without replacing anything, and the
 * directory fsync'd: it appears whole or not at all.  The private
 * directory is CH_TEMP_DIR (fsutil.h), where an entry is built under its
 * final name; a leftover (its writer died) is removed under the entry's
 * lock before the entry is made again. */
#ifndef COWHERD_EXECUTOR_H
#define COWHERD_EXECUTOR_H

#include <stdbool.h>
#include <sys/stat.h>

#include "config.h"
#include "planner.h"

struct ch_exec_opts {
  const char *domain;       /* for log lines */
  bool lock_marks;          /* take the lock to mark in use (prepare) */
  /* Told of every top overlay (and instance directory) a CREATE_TOP made,
   * right after it appeared: an incoming migration that fails removes
   * them again.  -1 (with ch_error) if it cannot note it: what it was
   * told of is then removed and the run fails.  May be NULL. */
  int (*created) (void *opaque, const char *path, const struct stat *st);
  void *opaque;
};

/* Execute PLAN (which must not have failed).  Logs each action with its
 * duration.  Stops at the first error: -1 with ch_error naming the entry. */
int ch_execute (const struct ch_plan *plan, const struct ch_config *cfg,
                const struct ch_exec_opts *opts);

#endif
