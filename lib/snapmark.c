#include "snapmark.h"

#include <inttypes.h>
#include <string.h>

#include "bigendian.h"
#include "error.h"
#include "qcow2.h"

/* Header fields (docs/interop/qcow2.txt). */
#define HDR_BACKING_OFFSET   8
#define HDR_INCOMPAT        72
#define HDR_HEADER_LENGTH  100
#define HDR_COMPRESSION    104          /* present when header_length > 104 */
#define EXT_HEADER_LEN       8

/* The extension's data, big-endian. */
#define M_VERSION            0
#define M_FLAGS              4
#define M_PARENT_SIZE        8
#define M_PARENT_VSIZE      16
#define M_PARENT            24          /* 40 lowercase hex digits */
#define M_PARENT_SHA256     64
#define M_IMAGE_ID_LEN      96
#define M_IMAGE_ID         100
#define M_HMAC             (M_IMAGE_ID + CH_SNAP_IMAGE_ID_MAX)
#define M_FLAG_SHA256       1U
#define M_FLAG_SHA512       2U      /* the digest field: sha512's first 32 bytes */

#if M_HMAC + CH_SNAP_HMAC_LEN != CH_SNAP_EXT_LEN
#error "the marker's layout and CH_SNAP_EXT_LEN disagree"
#endif

/* Where the header extensions of the v3 image in BUF lie: [*START, *END),
 * and the offset *TERM of the end-of-extensions entry (END if none). */
struct area {
  uint64_t start, end, term;
  uint64_t ours;                        /* data offset of our extension; 0: none */
  uint32_t ours_len;
};

static int
walk (const uint8_t *buf, size_t len, const struct ch_qcow2_info *qi, struct area *a)
{
  uint64_t cluster = UINT64_C (1) << qi->cluster_bits, backing_off, off;

  memset (a, 0, sizeof *a);
  a->start = ch_be32 (buf + HDR_HEADER_LENGTH);    /* checked by ch_qcow2_parse */
  backing_off = ch_be64 (buf + HDR_BACKING_OFFSET);
  a->end = backing_off ? backing_off : cluster;
  if (a->end > len)
    a->end = len;                       /* what is not here is not ours */
  for (off = a->start; off + EXT_HEADER_LEN <= a->end;) {
    uint32_t type = ch_be32 (buf + off), n = ch_be32 (buf + off + 4);

    if (type == 0) {
      a->term = off;
      return 0;
    }
    if (n > a->end - off - EXT_HEADER_LEN) {
      ch_error ("qcow2 header extension 0x%08" PRIx32 " overruns the header", type);
      return -1;
    }
    if (type == CH_SNAP_EXT_TYPE) {
      if (a->ours) {
        ch_error ("two cowherd snapshot markers in one header");
        return -1;
      }
      a->ours = off + EXT_HEADER_LEN;
      a->ours_len = n;
    }
    off += EXT_HEADER_LEN + (((uint64_t) n + 7) & ~UINT64_C (7));
  }
  a->term = a->end;
  return 0;
}

/* An image id as Glance names them: printable ASCII, no '/' or space. */
static bool
id_chars (const uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (p[i] <= ' ' || p[i] >= 0x7f || p[i] == '/' || p[i] == '\\' || p[i] == '"')
      return false;
  return true;
}

static bool
all_zero (const uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return false;
  return true;
}

static int
decode (const uint8_t *d, struct ch_snap_marker *m)
{
  uint32_t flags = ch_be32 (d + M_FLAGS), id_len = ch_be32 (d + M_IMAGE_ID_LEN);

  memset (m, 0, sizeof *m);
  m->version = ch_be32 (d + M_VERSION);
  if (m->version != CH_SNAP_VERSION) {
    ch_error ("cowherd snapshot marker version %" PRIu32 ", not %d", m->version,
              CH_SNAP_VERSION);
    return -1;
  }
  if ((flags & ~(M_FLAG_SHA256 | M_FLAG_SHA512)) || flags == (M_FLAG_SHA256 | M_FLAG_SHA512)) {
    ch_error ("cowherd snapshot marker: unknown flags 0x%" PRIx32, flags);
    return -1;
  }
  m->parent_size = ch_be64 (d + M_PARENT_SIZE);
  m->parent_vsize = ch_be64 (d + M_PARENT_VSIZE);
  if (m->parent_vsize == 0 || m->parent_vsize > (uint64_t) INT64_MAX ||
      m->parent_size > m->parent_vsize) {
    ch_error ("cowherd snapshot marker: parent sizes %" PRIu64 "/%" PRIu64 " make no sense",
              m->parent_size, m->parent_vsize);
    return -1;
  }
  if (!ch_is_lower_hex ((const char *) d + M_PARENT, CH_SHA1_HEX)) {
    ch_error ("cowherd snapshot marker: the parent is not a cache name");
    return -1;
  }
  memcpy (m->parent, d + M_PARENT, CH_SHA1_HEX);
  m->parent_digest = (flags & M_FLAG_SHA256) ? CH_SNAP_DIGEST_SHA256
                    : (flags & M_FLAG_SHA512) ? CH_SNAP_DIGEST_SHA512 : CH_SNAP_DIGEST_NONE;
  memcpy (m->parent_hash, d + M_PARENT_SHA256, sizeof m->parent_hash);
  if (m->parent_digest == CH_SNAP_DIGEST_NONE && !all_zero (m->parent_hash, sizeof m->parent_hash)) {
    ch_error ("cowherd snapshot marker: a parent digest not flagged as one");
    return -1;
  }
  if (id_len > CH_SNAP_IMAGE_ID_MAX || !id_chars (d + M_IMAGE_ID, id_len) ||
      !all_zero (d + M_IMAGE_ID + id_len, CH_SNAP_IMAGE_ID_MAX - id_len)) {
    ch_error ("cowherd snapshot marker: malformed image id");
    return -1;
  }
  memcpy (m->image_id, d + M_IMAGE_ID, id_len);
  memcpy (m->hmac, d + M_HMAC, sizeof m->hmac);
  return 0;
}

static void
encode (uint8_t *d, const struct ch_snap_marker *m)
{
  size_t id_len = strlen (m->image_id);

  memset (d, 0, CH_SNAP_EXT_LEN);
  ch_put_be32 (d + M_VERSION, CH_SNAP_VERSION);
  ch_put_be32 (d + M_FLAGS, m->parent_digest == CH_SNAP_DIGEST_SHA256 ? M_FLAG_SHA256
                            : m->parent_digest == CH_SNAP_DIGEST_SHA512 ? M_FLAG_SHA512 : 0);
  ch_put_be64 (d + M_PARENT_SIZE, m->parent_size);
  ch_put_be64 (d + M_PARENT_VSIZE, m->parent_vsize);
  memcpy (d + M_PARENT, m->parent, CH_SHA1_HEX);
  if (m->parent_digest != CH_SNAP_DIGEST_NONE)
    memcpy (d + M_PARENT_SHA256, m->parent_hash, sizeof m->parent_hash);
  ch_put_be32 (d + M_IMAGE_ID_LEN, (uint32_t) id_len);
  memcpy (d + M_IMAGE_ID, m->image_id, id_len);
  memcpy (d + M_HMAC, m->hmac, sizeof m->hmac);
}

/* BUF as a qcow2 v3 header cowherd can mark or read a marker from. */
static int
header (const uint8_t *buf, size_t len, struct ch_qcow2_info *qi)
{
  if (ch_qcow2_parse (buf, len, qi) < 0)
    return -1;
  if (qi->version != 3 || ch_be32 (buf + HDR_HEADER_LENGTH) <= HDR_COMPRESSION) {
    ch_error ("a qcow2 header without a compression type field (version %" PRIu32 ")",
              qi->version);
    return -1;
  }
  return 0;
}

int
ch_snap_parse (const uint8_t *buf, size_t len, struct ch_snap_marker *m, uint64_t *hmac_off)
{
  struct ch_qcow2_info qi;
  struct area a;

  /* A header cowherd cannot read carries no marker it wrote: that is for
   * qemu-img to refuse. */
  if (len < 8 || !ch_qcow2_is_qcow2 (buf, len) || ch_be32 (buf + 4) != 3 ||
      ch_qcow2_parse (buf, len, &qi) < 0) {
    ch_error_clear ();
    return 0;
  }
  if (walk (buf, len, &qi, &a) < 0)
    return -1;
  if (a.ours == 0)
    return 0;
  if (header (buf, len, &qi) < 0)
    return -1;
  if (a.ours_len != CH_SNAP_EXT_LEN) {
    ch_error ("cowherd snapshot marker of %" PRIu32 " bytes, not %d", a.ours_len,
              CH_SNAP_EXT_LEN);
    return -1;
  }
  /* What makes QEMU refuse the image without cowherd: the bit, with the
   * compression type left at zlib. */
  if (!(qi.incompatible_features & CH_SNAP_INCOMPAT_BIT) || buf[HDR_COMPRESSION] != 0) {
    ch_error ("a cowherd snapshot marker without its feature bit");
    return -1;
  }
  if (qi.has_backing || qi.has_data_file) {
    ch_error ("a cowherd snapshot marker on an image that names another file");
    return -1;
  }
  if (decode (buf + a.ours, m) < 0)
    return -1;
  *hmac_off = a.ours + M_HMAC;
  return 1;
}

int
ch_snap_mark (uint8_t *buf, size_t len, const struct ch_snap_marker *m, uint64_t *hmac_off)
{
  struct ch_qcow2_info qi;
  struct area a;
  uint64_t need = EXT_HEADER_LEN + CH_SNAP_EXT_LEN + EXT_HEADER_LEN;

  if (header (buf, len, &qi) < 0 || walk (buf, len, &qi, &a) < 0)
    return -1;
  if (len < (UINT64_C (1) << qi.cluster_bits)) {
    ch_error ("the whole first cluster is needed to mark a snapshot");
    return -1;
  }
  if (qi.has_backing || qi.has_data_file || ch_be64 (buf + HDR_BACKING_OFFSET) != 0 ||
      a.ours || (qi.incompatible_features & CH_SNAP_INCOMPAT_BIT) ||
      buf[HDR_COMPRESSION] != 0) {
    ch_error ("not a standalone zlib qcow2 image without a marker");
    return -1;
  }
  if (a.term > a.end || need > a.end - a.term ||
      !all_zero (buf + a.term, (size_t) (a.end - a.term))) {
    ch_error ("no room for the marker in the qcow2 header");
    return -1;
  }
  /* Ours replaces the end entry, which follows it again. */
  ch_put_be32 (buf + a.term, CH_SNAP_EXT_TYPE);
  ch_put_be32 (buf + a.term + 4, CH_SNAP_EXT_LEN);
  encode (buf + a.term + EXT_HEADER_LEN, m);
  ch_put_be64 (buf + HDR_INCOMPAT, qi.incompatible_features | CH_SNAP_INCOMPAT_BIT);
  *hmac_off = a.term + EXT_HEADER_LEN + M_HMAC;
  return 0;
}

int
ch_snap_unmark (uint8_t *buf, size_t len)
{
  struct ch_snap_marker m;
  uint64_t off;
  int r = ch_snap_parse (buf, len, &m, &off);

  if (r == 0)
    ch_error ("not a cowherd snapshot");
  if (r != 1)
    return -1;
  ch_put_be64 (buf + HDR_INCOMPAT, ch_be64 (buf + HDR_INCOMPAT) & ~CH_SNAP_INCOMPAT_BIT);
  return 0;
}
