/* cowherd: the disks of an incoming live migration.
 *
 * `virsh migrate --copy-storage-inc` copies only the top layer of every
 * disk, into a file that must already exist on the destination with the
 * same backing chain.  The XML the destination's hooks get carries no
 * <backingStore>, so for every disk whose top is not here yet the chain is
 * learnt, in this order, from
 *   (a) cowherd's metadata in the domain XML (`cowherd annotate`),
 *   (b) the source's own qcow2 header, read from the sftp peers at the
 *       same path,
 *   (c) Nova's metadata: the root image id, the flavor's sizes, Nova's
 *       names for ephemeral and swap bases.
 * When the peers answer, every answer and (a) must agree on the top's
 * size and backing file, or the disk is refused: a wrong chain would show
 * the guest another disk.  The planner then rebuilds the bases and
 * creates an empty top over them. */
#ifndef COWHERD_INCOMING_H
#define COWHERD_INCOMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "domain.h"
#include "planner.h"
#include "probe.h"

/* (b): read at most MAX bytes from the start of PATH on the host of
 * configured peer number PEER.  The byte count (0 < n <= MAX) with ORIGIN
 * naming the peer; 0 when that peer lacks the file (WHY says so; empty:
 * it is not a peer to ask); CH_REMOTE_UNASKED with WHY when the peer
 * could not be asked or did not answer; -1 with ch_error on an internal
 * failure. */
#define CH_REMOTE_UNASKED (-2)
typedef ssize_t (*ch_remote_head_fn) (void *opaque, size_t peer, const char *path,
                                      uint8_t *buf, size_t max, char *origin,
                                      size_t origin_len, char *why, size_t why_len);

struct ch_incoming {
  size_t n;                        /* = the domain's disks */
  struct ch_disk_meta *specs;      /* per disk: .present when its chain is known */
  char **origins;                  /* per disk: where it was learnt, or NULL */
  char **unknown;                  /* per disk whose top is missing and chain unknown: why */
  bool *at_least;                  /* per disk: the size is a minimum (a flavor's) */
};

/* Learn the chain of every file disk of DOM whose top file does not exist
 * and which cowherd may create.  REMOTE (asked for each of CFG's peers)
 * may be NULL.  Per-disk failures are recorded in
 * OUT->unknown; -1 with ch_error only for internal errors. */
int ch_incoming_find (const struct ch_domain *dom, const struct ch_config *cfg,
                      ch_remote_head_fn remote, void *opaque, struct ch_incoming *out);
void ch_incoming_clear (struct ch_incoming *inc);

/* The chain a spec describes: parse a qcow2 header read from the source
 * (pure; for (b) and its tests).  0, or -1 with ch_error. */
int ch_incoming_spec_from_header (const uint8_t *buf, size_t len, struct ch_disk_meta *out);

/* Plan an incoming migration's disks: as CH_PLAN_ENSURE, plus a top to
 * create for each disk whose top is missing and whose chain is known. */
int ch_plan_incoming (const struct ch_domain *dom, const struct ch_config *cfg,
                      const struct ch_incoming *inc, struct ch_plan *plan);

#endif
