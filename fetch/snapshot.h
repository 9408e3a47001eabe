/* cowherd: COW-only snapshots (docs/snapshot-format.md).
 *
 * Nova snapshots a disk with `qemu-img convert -O qcow2 -f qcow2 SRC DST`,
 * a flattened copy of the whole disk, and uploads DST.  With a snapshot
 * key configured, the qemu-img shim has cowherd make DST hold only the
 * disk's own clusters instead, marked and signed with the original it
 * stands on; where Nova later fetches such an image (its .part in _base),
 * cowherd puts the whole image back together before qemu-img sees it. */
#ifndef COWHERD_SNAPSHOT_H
#define COWHERD_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "snapmark.h"

struct ch_snapshot_convert {
  const char *src, *dst;          /* Nova's SRC and DST */
  const char *cache;              /* -t, or NULL */
  bool compress;                  /* -c */
};

/* Make DST a COW-only snapshot of SRC: SRC's own clusters (compressed
 * when asked), no backing file, the marker naming the original under
 * SRC, signed.  Only where it can be proven right: SRC a qcow2 over one
 * raw entry of _base, an original <sha1> or a <sha1>_<GB> that is the
 * original followed by zeros.  true: done.  false: not done, and nothing
 * left at DST; WHY (LEN bytes) says why, and the caller makes Nova's
 * ordinary flattened snapshot. */
bool ch_snapshot_extract (const struct ch_config *cfg, const struct ch_snapshot_convert *c,
                          char *why, size_t len);

/* PATH, in _base, is a COW-only snapshot (a .part Nova downloaded):
 * check its signature, find its original in _base or fetch it (peers,
 * Glance), and replace PATH with the standalone qcow2 it stands for.
 * -1 with ch_error, PATH left as it was and no temporary file left. */
int ch_snapshot_rebuild (const struct ch_config *cfg, const char *path);
/* The same for LEAF of directory DIR_FD (DIR_PATH): cowherd's own fetch,
 * whose download sits in its private build directory. */
int ch_snapshot_rebuild_at (const struct ch_config *cfg, int dir_fd, const char *dir_path,
                            const char *leaf);

/* For Nova's `qemu-img info` of a COW-only snapshot it is downloading
 * (PATH, a .part in _base): check its signature and its original (found,
 * or fetched, and checked), and make *COPY (malloc'd) a temporary copy
 * beside it, unmarked, which the caller removes: what qemu-img says of it
 * is the snapshot's own format, virtual size and (no) backing file, all
 * Nova checks there.  -1 with ch_error. */
int ch_snapshot_unmarked (const struct ch_config *cfg, const char *path, char **copy);

/* Nova's `qemu-img convert -O raw -f qcow2 SRC DST` of the COW-only
 * snapshot SRC (in _base): DST made the whole image as raw, a sparse copy
 * of the original (found or fetched), at the image's size, with the
 * snapshot's own clusters committed into it.  -1 with ch_error, no DST. */
int ch_snapshot_to_raw (const struct ch_config *cfg, const char *src, const char *dst);

/* Does the image open on FD carry the marker (well formed or not)? */
bool ch_snapshot_marked (int fd);

/* What `cowherd snapshot show` prints: PATH's marker (*MARKED false when
 * there is none) and whether its signature holds under the configured key
 * (*SIGNED 1 it holds, 0 it does not, -1 no key to tell).  -1 with
 * ch_error when PATH cannot be read or carries a malformed marker. */
int ch_snapshot_inspect (const struct ch_config *cfg, const char *path,
                         struct ch_snap_marker *m, bool *marked, int *signed_ok);

#endif
