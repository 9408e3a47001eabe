/* cowherd: the top of a COW-only snapshot, kept beside the entry made
 * whole from it.
 *
 * Where the shim makes a COW-only snapshot whole in _base/<sha1>, it keeps
 * the snapshot's own clusters too, as _base/<sha1>.cowherd-top: a qcow2
 * image over the original (_base/<parent>), so the top over the original
 * reads exactly as the entry does.  The entry carries a record (an
 * extended attribute) binding the two: the top's sha256, the original's
 * identity (device, inode, size; cache entries are replaced by rename,
 * never rewritten, and named for an immutable Glance image), and the
 * entry's own format.
 *
 * With that, Nova's rebase of a disk from the entry onto the original
 * (unshelve: _rebase_original_qcow2_image) can go through the top: the
 * disk is pointed at the top (equal content, header only), and qemu-img's
 * safe rebase onto the original, now a file in the disk's own chain,
 * compares only the clusters the top holds.
 *
 * This module names the top and writes and reads the record: pure, no
 * I/O. */
#ifndef COWHERD_SNAPTOP_H
#define COWHERD_SNAPTOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "naming.h"

#define CH_SNAPTOP_XATTR "user.cowherd.snapshot-top"
#define CH_SNAPTOP_SUFFIX ".cowherd-top"
#define CH_SNAPTOP_NAME_MAX (CH_SHA1_HEX + sizeof CH_SNAPTOP_SUFFIX)
/* "1 <64 hex> <dev> <ino> <size> <raw|qcow2>", with room to spare. */
#define CH_SNAPTOP_RECORD_MAX 160

struct ch_snaptop_record {
  char sha256[65];          /* of the top file, lowercase hex */
  uint64_t parent_dev, parent_ino, parent_size;
  char fmt[6];              /* the entry's own format: "raw" or "qcow2" */
};

/* The top's name for the entry LEAF: "<sha1>.cowherd-top" when LEAF is
 * "<sha1>" or Nova's download of it, "<sha1>.part"; false otherwise. */
bool ch_snaptop_name (const char *leaf, char out[CH_SNAPTOP_NAME_MAX]);

/* Is LEAF a top's name?  *ENTRY (CH_SHA1_HEX + 1) gets its entry's. */
bool ch_snaptop_is_top (const char *leaf, char entry[CH_SHA1_HEX + 1]);

/* R as the attribute's value, into BUF (CH_SNAPTOP_RECORD_MAX). */
void ch_snaptop_format (const struct ch_snaptop_record *r, char buf[CH_SNAPTOP_RECORD_MAX]);

/* The attribute's value VALUE (LEN bytes, not terminated) into *R; false
 * if it is not a record of this version. */
bool ch_snaptop_parse (const char *value, size_t len, struct ch_snaptop_record *r);

#endif
