/* cowherd: the planner.
 *
 * A pure function from (parsed domain, what exists on disk, mode) to an
 * ordered list of actions.  Nova's conventions live here.  It does no I/O:
 * the chains come probed, and the cache is seen through world->lookup.  The
 * hook, `cowherd inspect/ensure` and the tests all go through it. */
#ifndef COWHERD_PLANNER_H
#define COWHERD_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain.h"
#include "domain.h"
#include "format.h"

enum ch_plan_mode {
  CH_PLAN_ENSURE,   /* prepare/restore: rebuild what is missing, mark the rest */
  CH_PLAN_MARK,     /* started/reconnect/attach: only mark what exists */
  CH_PLAN_INCOMING, /* migrate/prepare of an incoming migration: ENSURE, and
                       create a missing top overlay from its known chain */
};

enum ch_action_kind {
  CH_ACT_FETCH,             /* get original NAME from the image sources; src_name: the image id, if known */
  CH_ACT_COPY_EXTEND,       /* copy src_name to name, extend to size */
  CH_ACT_CREATE_EPHEMERAL,  /* raw of size, mkfs fs, label ephemeral0 */
  CH_ACT_CREATE_SWAP,       /* raw of size, mkswap */
  CH_ACT_CREATE_TOP,        /* empty qcow2 overlay at path over src_name (as written
                               in its header, format fmt), virtual size size
                               (0: its backing's; at_least: no smaller than it) */
  CH_ACT_MARK_IN_USE,       /* refresh name's mtime */
  CH_ACT_FAIL,              /* path cannot be made to exist: reason */
};

struct ch_action {
  enum ch_action_kind kind;
  const char *disk;         /* target dev of the first disk needing it (borrowed) */
  char *name;               /* cache entry leaf; NULL for a FAIL outside the cache */
  char *path;               /* absolute path created, marked, or missing */
  char *src_name;           /* COPY_EXTEND: leaf of the source entry */
  enum ch_fmt fmt;          /* format of the created entry; UNKNOWN: the source's, found when run */
  uint64_t size;            /* bytes */
  const char *fs;           /* CREATE_EPHEMERAL: filesystem (static string) */
  char *reason;             /* FAIL: why, one phrase */
  bool at_least;            /* CREATE_TOP: size is a minimum (Nova's flavor size) */
  const char *origin;       /* CREATE_TOP: where the chain came from (borrowed) */
};

struct ch_plan {
  struct ch_action *v;
  size_t n, cap;
  bool failed;              /* at least one FAIL: execute nothing */
};

/* What the planner may know about a cache entry. */
struct ch_entry {
  bool exists, is_symlink, is_regular;
  enum ch_fmt fmt;          /* by its header */
  uint64_t virtual_size;
  bool has_backing;         /* qcow2 naming a backing or external data file */
};

struct ch_world {
  const char *base_dir;               /* normalised */
  const char *instances_dir;          /* normalised: where incoming tops may be made */
  const char *uuid;                   /* the domain's: its instance directory's name */
  bool can_fetch;                     /* image sources are configured */
  const struct ch_chain *chains;      /* one per domain disk, in domain order */
  const char *const *chain_errors;    /* per disk: NULL, or why its chain could not be read */
  /* CH_PLAN_INCOMING, per disk whose top is missing: the chain it needs
   * (links[0] of its chain is then the top to create), and where that
   * knowledge came from; or NULL and why none was found. */
  const char *const *top_origins;
  const char *const *top_unknown;
  const bool *top_at_least;           /* its virtual size is a minimum (a flavor's) */
  /* Look up cache entry LEAF: 0 and OUT filled (exists may be false), or -1
   * with ch_error. */
  int (*lookup) (void *opaque, const char *leaf, struct ch_entry *out);
  void *opaque;
};

/* 0 with OUT filled (check out->failed), or -1 with ch_error on an internal
 * error (allocation, lookup failure). */
int ch_plan_build (const struct ch_domain *dom, const struct ch_world *world,
                   enum ch_plan_mode mode, struct ch_plan *out);
void ch_plan_clear (struct ch_plan *plan);
const char *ch_action_kind_name (enum ch_action_kind kind);
/* Why cowherd must not create TOP (normalised), the missing top of disk D
 * of the domain with UUID, for an incoming migration: into WHY, returned;
 * NULL if it may.  Root writes where the XML says, so only where Nova
 * would: INSTANCES_DIR/<uuid>/ disk, disk.local, disk.eph<N>, disk.swap,
 * as a qcow2 overlay the guest may write. */
const char *ch_incoming_top_refusal (const struct ch_disk *d, const char *top, const char *uuid,
                                     const char *instances_dir, char *why, size_t len);
/* The first FAIL action, or NULL. */
const struct ch_action *ch_plan_first_failure (const struct ch_plan *plan);

#endif
