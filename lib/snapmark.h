/* cowherd: the marker of a COW-only snapshot (docs/snapshot-format.md).
 *
 * A COW-only snapshot is a qcow2 image holding only a disk's top layer,
 * with no backing file in its header, and a cowherd header extension
 * naming the cache entry (the original image) the top lay on, signed with
 * HMAC-SHA256 under the cloud's snapshot key.  Incompatible feature bit 3
 * (compression type) is set while the compression type stays zlib: QEMU
 * refuses to open such an image, so a host without cowherd fails loudly
 * instead of handing a guest zeros where the original's data was.  Nova's
 * format inspector accepts bit 3, so the image passes its safety check and
 * reaches the shim, which rebuilds the whole image.
 *
 * This module reads and writes the marker in a header buffer: pure, no I/O
 * (fuzzed).  The signature is snapsign.h's. */
#ifndef COWHERD_SNAPMARK_H
#define COWHERD_SNAPMARK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "naming.h"

/* The header extension's type: "cowh". */
#define CH_SNAP_EXT_TYPE 0x636f7768U
#define CH_SNAP_VERSION 1
/* Incompatible feature bit 3: a compression type other than zlib. */
#define CH_SNAP_INCOMPAT_BIT (UINT64_C (1) << 3)
#define CH_SNAP_IMAGE_ID_MAX 128
#define CH_SNAP_HMAC_LEN 32
/* Bytes of the extension's data. */
#define CH_SNAP_EXT_LEN 260
/* The attribute on an image made whole from a COW-only snapshot: the
 * cache name of the original it was made over. */
#define CH_SNAP_XATTR "user.cowherd.snapshot-parent"

/* The parent's content digest a marker records, from the manifest that
 * knew it: sha256 (flag bit 0), or the first 32 bytes of sha512 (bit 1;
 * the manifest of a base fetched from Glance records sha512 only). */
enum ch_snap_digest {
  CH_SNAP_DIGEST_NONE,
  CH_SNAP_DIGEST_SHA256,
  CH_SNAP_DIGEST_SHA512,
};

struct ch_snap_marker {
  uint32_t version;
  uint64_t parent_size;            /* bytes of the original; 0: not known */
  uint64_t parent_vsize;           /* what the top saw below it (<sha1>_<GB>: GB GiB) */
  char parent[CH_SHA1_HEX + 1];    /* the original's cache name */
  char image_id[CH_SNAP_IMAGE_ID_MAX + 1];  /* "" when not known */
  enum ch_snap_digest parent_digest;  /* what parent_hash holds */
  uint8_t parent_hash[32];
  uint8_t hmac[CH_SNAP_HMAC_LEN];
};

/* Look for the marker in BUF, the first LEN bytes of a qcow2 image (at
 * most its first cluster is read).  1: marked, *M filled and *HMAC_OFF the
 * file offset of the signature; 0: no cowherd extension (not ours, or not
 * qcow2); -1 with ch_error: an extension that is malformed, or a marker
 * without its feature bit, or anything else not as cowherd writes it. */
int ch_snap_parse (const uint8_t *buf, size_t len, struct ch_snap_marker *m,
                   uint64_t *hmac_off);

/* Write M's extension into the header in BUF (the image's whole first
 * cluster, LEN bytes, a qcow2 v3 image without a backing file or a marker)
 * and set the marker bit.  *HMAC_OFF: where the signature goes (written
 * as M's, normally zeros until signed).  -1 with ch_error when the header
 * has no room or is not such an image. */
int ch_snap_mark (uint8_t *buf, size_t len, const struct ch_snap_marker *m,
                  uint64_t *hmac_off);

/* Clear the marker bit in the header in BUF (LEN bytes): QEMU opens the
 * image again, and ignores the extension, which stays. */
int ch_snap_unmark (uint8_t *buf, size_t len);

#endif
