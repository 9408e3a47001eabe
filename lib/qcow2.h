/* cowherd: a bounded qcow2 header reader.
 *
 * Reads only what chain discovery needs: magic, version, virtual size,
 * backing file name, and the backing format and external data file from the
 * header extensions.  Every offset and length is checked against the bytes
 * actually read; nothing is trusted from the file.  No qemu-img process. */
#ifndef COWHERD_QCOW2_H
#define COWHERD_QCOW2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"

#define CH_QCOW2_MAGIC 0x514649fbU        /* "QFI\xfb" */
#define CH_BACKING_NAME_MAX 1023          /* as QEMU caps it */
#define CH_BACKING_FMT_MAX 31
/* The header, its extensions and the backing name must lie in the first
 * cluster; cowherd reads at most this much of it. */
#define CH_QCOW2_HEADER_READ_MAX (64 * 1024)
/* The shortest header there is (version 2's). */
#define CH_QCOW2_HEADER_MIN 72

struct ch_qcow2_info {
  uint32_t version;                       /* 2 or 3 */
  uint32_t cluster_bits;
  uint64_t virtual_size;                  /* bytes */
  uint64_t incompatible_features;         /* v3; 0 for v2 */
  bool has_backing;
  char backing[CH_BACKING_NAME_MAX + 1];  /* NUL-terminated, no NUL inside */
  bool has_backing_fmt;
  char backing_fmt[CH_BACKING_FMT_MAX + 1];
  bool has_data_file;                     /* external data file extension */
  uint32_t l1_size;                       /* entries in the L1 table */
  uint64_t l1_table_offset;
};

/* True if BUF starts with the qcow2 magic. */
bool ch_qcow2_is_qcow2 (const uint8_t *buf, size_t len);

/* Parse a header from the first LEN bytes of an image.  Pure (fuzzed).
 * 0 on success, -1 with ch_error on anything malformed or out of bounds. */
int ch_qcow2_parse (const uint8_t *buf, size_t len, struct ch_qcow2_info *out);

/* Read and parse the header of the image open on FD (pread; offset 0). */
int ch_qcow2_read (int fd, struct ch_qcow2_info *out);

/* L1 tables larger than this are not read (a 64 TiB disk with 64 KiB
 * clusters has a 1 MiB L1 table). */
#define CH_QCOW2_L1_READ_MAX (8 * 1024 * 1024)

/* Does the qcow2 image open on FD map any guest data of its own, i.e. is
 * any L1 entry set?  A fresh overlay from qemu-img create has none.  0
 * with *HAS set, or -1 with ch_error (unreadable, L1 table too large). */
int ch_qcow2_has_data (int fd, bool *has);

/* Look at the first bytes of FD: qcow2 magic -> CH_FMT_QCOW2, else RAW.
 * -1 with ch_error on read error. */
int ch_probe_format (int fd, enum ch_fmt *fmt);

#endif
