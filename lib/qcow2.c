#include "qcow2.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bigendian.h"
#include "cleanup.h"
#include "error.h"
#include "io.h"

/* Fixed header layout (docs/interop/qcow2.txt), big-endian. */
#define HDR_VERSION          4
#define HDR_BACKING_OFFSET   8
#define HDR_BACKING_SIZE    16
#define HDR_CLUSTER_BITS    20
#define HDR_SIZE            24
#define HDR_L1_SIZE         36
#define HDR_L1_OFFSET       40
#define HDR_INCOMPAT        72
#define HDR_HEADER_LENGTH  100
#define HDR_V2_LENGTH       72
#define HDR_V3_MIN_LENGTH  104

#define MIN_CLUSTER_BITS     9
#define MAX_CLUSTER_BITS    21

#define EXT_END              0x00000000U
#define EXT_BACKING_FORMAT   0xe2792acaU
#define EXT_DATA_FILE        0x44415441U
#define EXT_HEADER_LEN       8

#define INCOMPAT_DATA_FILE   (UINT64_C (1) << 2)

bool
ch_qcow2_is_qcow2 (const uint8_t *buf, size_t len)
{
  return len >= 4 && ch_be32 (buf) == CH_QCOW2_MAGIC;
}

/* Report that [OFF, OFF+N) is not within the LEN bytes we have.  A buffer
 * shorter than the read limit means the file itself ended there. */
static void
outside_read (const char *what, uint64_t off, uint64_t n, size_t len)
{
  if (len < CH_QCOW2_HEADER_READ_MAX)
    ch_error ("truncated qcow2 header: %s at offset %" PRIu64
              " (%" PRIu64 " bytes) is beyond the end of the file "
              "(%zu bytes)", what, off, n, len);
  else
    ch_error ("qcow2 %s at offset %" PRIu64 " (%" PRIu64 " bytes) is beyond "
              "the first %d bytes that cowherd reads",
              what, off, n, CH_QCOW2_HEADER_READ_MAX);
}

static bool
in_buf (uint64_t off, uint64_t n, size_t len)
{
  return off <= len && n <= len - off;
}

/* Copy a name of N bytes at BUF+OFF (already bounds-checked) into DST of
 * size > N, refusing a NUL inside: QEMU would silently cut the name there,
 * so cowherd and QEMU could disagree about which file it means. */
static int
copy_name (const char *what, const uint8_t *buf, uint64_t off, size_t n,
           char *dst)
{
  if (memchr (buf + off, '\0', n) != NULL) {
    ch_error ("qcow2 %s contains a NUL byte", what);
    return -1;
  }
  memcpy (dst, buf + off, n);
  dst[n] = '\0';
  return 0;
}

/* Check the fixed part of the header and fill version, cluster_bits,
 * virtual_size, incompatible_features; *HDR_LEN gets the header length. */
static int
parse_fixed (const uint8_t *buf, size_t len, struct ch_qcow2_info *out,
             uint64_t *hdr_len)
{
  uint64_t cluster_size;

  if (len < 8) {
    if (len >= 4 && !ch_qcow2_is_qcow2 (buf, len))
      goto bad_magic;
    ch_error ("truncated qcow2 header (%zu bytes)", len);
    return -1;
  }
  if (!ch_qcow2_is_qcow2 (buf, len))
    goto bad_magic;
  out->version = ch_be32 (buf + HDR_VERSION);
  if (out->version != 2 && out->version != 3) {
    ch_error ("unsupported qcow2 version %" PRIu32, out->version);
    return -1;
  }
  *hdr_len = out->version == 2 ? HDR_V2_LENGTH : HDR_V3_MIN_LENGTH;
  if (len < *hdr_len) {
    ch_error ("truncated qcow2 header (%zu bytes)", len);
    return -1;
  }

  out->cluster_bits = ch_be32 (buf + HDR_CLUSTER_BITS);
  if (out->cluster_bits < MIN_CLUSTER_BITS ||
      out->cluster_bits > MAX_CLUSTER_BITS) {
    ch_error ("qcow2 cluster_bits %" PRIu32 " out of range (%d..%d)",
              out->cluster_bits, MIN_CLUSTER_BITS, MAX_CLUSTER_BITS);
    return -1;
  }
  cluster_size = UINT64_C (1) << out->cluster_bits;

  /* Sizes are handled as off_t / int64 everywhere downstream. */
  out->virtual_size = ch_be64 (buf + HDR_SIZE);
  if (out->virtual_size > (uint64_t) INT64_MAX) {
    ch_error ("qcow2 virtual size %" PRIu64 " too large", out->virtual_size);
    return -1;
  }

  out->l1_size = ch_be32 (buf + HDR_L1_SIZE);
  out->l1_table_offset = ch_be64 (buf + HDR_L1_OFFSET);
  if (out->version == 3) {
    out->incompatible_features = ch_be64 (buf + HDR_INCOMPAT);
    *hdr_len = ch_be32 (buf + HDR_HEADER_LENGTH);
    if (*hdr_len < HDR_V3_MIN_LENGTH) {
      ch_error ("qcow2 header_length %" PRIu64 " too short", *hdr_len);
      return -1;
    }
  }
  if (*hdr_len > cluster_size) {
    ch_error ("qcow2 header_length %" PRIu64 " exceeds the cluster size",
              *hdr_len);
    return -1;
  }
  /* The data file bit alone makes QEMU require an external data file. */
  if (out->incompatible_features & INCOMPAT_DATA_FILE)
    out->has_data_file = true;
  return 0;

 bad_magic:
  ch_error ("not a qcow2 image (bad magic)");
  return -1;
}

/* Handle one extension whose data (N bytes at OFF) lies inside BUF. */
static int
parse_extension (uint32_t type, const uint8_t *buf, uint64_t off, uint32_t n,
                 struct ch_qcow2_info *out)
{
  switch (type) {
  case EXT_BACKING_FORMAT:
    if (n > CH_BACKING_FMT_MAX) {
      ch_error ("qcow2 backing format name too long (%" PRIu32 " bytes)", n);
      return -1;
    }
    if (copy_name ("backing format name", buf, off, n, out->backing_fmt) == -1)
      return -1;
    /* QEMU treats an empty name as no format given. */
    out->has_backing_fmt = n > 0;
    return 0;
  case EXT_DATA_FILE:
    out->has_data_file = true;
    return 0;
  default:
    return 0;                         /* features table, bitmaps, ...: skip */
  }
}

/* Walk the header extensions from START up to END (the backing name's
 * offset, else the end of the first cluster), as QEMU does. */
static int
parse_extensions (const uint8_t *buf, size_t len, uint64_t start,
                  uint64_t end, struct ch_qcow2_info *out)
{
  uint64_t off = start;

  while (off < end) {
    uint32_t type, n;

    if (EXT_HEADER_LEN > end - off) {
      ch_error ("qcow2 header extension at offset %" PRIu64 " overruns the "
                "header area", off);
      return -1;
    }
    if (!in_buf (off, EXT_HEADER_LEN, len)) {
      outside_read ("header extension", off, EXT_HEADER_LEN, len);
      return -1;
    }
    type = ch_be32 (buf + off);
    n = ch_be32 (buf + off + 4);
    off += EXT_HEADER_LEN;
    if (n > end - off) {
      ch_error ("qcow2 header extension 0x%08" PRIx32 " at offset %" PRIu64
                " too large (%" PRIu32 " bytes)", type, off - EXT_HEADER_LEN,
                n);
      return -1;
    }
    if (type == EXT_END)
      return 0;
    if (!in_buf (off, n, len)) {
      outside_read ("header extension", off, n, len);
      return -1;
    }
    if (parse_extension (type, buf, off, n, out) == -1)
      return -1;
    /* n <= end - off <= 2 MiB: no overflow. */
    off += ((uint64_t) n + 7) & ~UINT64_C (7);
  }
  return 0;
}

static int
parse_backing_name (const uint8_t *buf, size_t len, uint64_t off, uint32_t n,
                    uint64_t cluster_size, struct ch_qcow2_info *out)
{
  if (off == 0 || n == 0)
    return 0;                         /* no backing file */
  if (n > CH_BACKING_NAME_MAX) {
    ch_error ("backing file name too long (%" PRIu32 " bytes)", n);
    return -1;
  }
  if (n > cluster_size - off) {       /* off <= cluster_size checked */
    ch_error ("qcow2 backing file name at offset %" PRIu64 " (%" PRIu32
              " bytes) is outside the first cluster", off, n);
    return -1;
  }
  if (!in_buf (off, n, len)) {
    outside_read ("backing file name", off, n, len);
    return -1;
  }
  if (copy_name ("backing file name", buf, off, n, out->backing) == -1)
    return -1;
  out->has_backing = true;
  return 0;
}

int
ch_qcow2_parse (const uint8_t *buf, size_t len, struct ch_qcow2_info *out)
{
  uint64_t hdr_len, cluster_size, backing_off, ext_end;
  uint32_t backing_size;

  memset (out, 0, sizeof *out);
  if (parse_fixed (buf, len, out, &hdr_len) == -1)
    goto fail;
  cluster_size = UINT64_C (1) << out->cluster_bits;

  backing_off = ch_be64 (buf + HDR_BACKING_OFFSET);
  backing_size = ch_be32 (buf + HDR_BACKING_SIZE);
  if (backing_off > cluster_size) {
    ch_error ("qcow2 backing file offset %" PRIu64 " is outside the first "
              "cluster", backing_off);
    goto fail;
  }

  ext_end = backing_off != 0 ? backing_off : cluster_size;
  if (parse_extensions (buf, len, hdr_len, ext_end, out) == -1 ||
      parse_backing_name (buf, len, backing_off, backing_size,
                          cluster_size, out) == -1)
    goto fail;
  return 0;

 fail:
  memset (out, 0, sizeof *out);
  return -1;
}

int
ch_qcow2_read (int fd, struct ch_qcow2_info *out)
{
  CLEANUP_FREE uint8_t *buf = malloc (CH_QCOW2_HEADER_READ_MAX);
  ssize_t n;

  if (buf == NULL) {
    ch_error ("malloc: %m");
    return -1;
  }
  n = ch_read_full (fd, buf, CH_QCOW2_HEADER_READ_MAX, 0);
  if (n == -1) {
    ch_error ("read image header: %m");
    return -1;
  }
  return ch_qcow2_parse (buf, (size_t) n, out);
}

int
ch_probe_format (int fd, enum ch_fmt *fmt)
{
  uint8_t buf[4];
  ssize_t n;

  n = ch_read_full (fd, buf, sizeof buf, 0);
  if (n == -1) {
    ch_error ("read image header: %m");
    return -1;
  }
  *fmt = ch_qcow2_is_qcow2 (buf, (size_t) n) ? CH_FMT_QCOW2 : CH_FMT_RAW;
  return 0;
}

int
ch_qcow2_has_data (int fd, bool *has)
{
  struct ch_qcow2_info qi;
  CLEANUP_FREE uint8_t *l1 = NULL;
  size_t len;
  ssize_t r;

  *has = true;
  if (ch_qcow2_read (fd, &qi) < 0)
    return -1;
  len = (size_t) qi.l1_size * 8;
  if (len > CH_QCOW2_L1_READ_MAX) {
    ch_error ("qcow2 L1 table of %" PRIu32 " entries is larger than cowherd reads", qi.l1_size);
    return -1;
  }
  if (len == 0) {
    *has = false;
    return 0;
  }
  if (qi.l1_table_offset > (uint64_t) INT64_MAX - len || (l1 = malloc (len)) == NULL) {
    ch_error ("qcow2 L1 table: bad offset or out of memory");
    return -1;
  }
  r = pread (fd, l1, len, (off_t) qi.l1_table_offset);
  if (r < 0 || (size_t) r != len) {
    ch_error ("qcow2 L1 table: %s", r < 0 ? strerror (errno) : "short read");
    return -1;
  }
  for (size_t i = 0; i < len; i++)
    if (l1[i]) {
      *has = true;
      return 0;
    }
  *has = false;
  return 0;
}
