#include "copy.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "io.h"

#define RW_BUF (1024 * 1024)

/* Copy [off, off+len) with read/write, for when copy_file_range cannot. */
static int
copy_rw (int src, int dst, off_t off, off_t len)
{
  CLEANUP_FREE char *buf = malloc (RW_BUF);

  if (buf == NULL) {
    ch_error ("malloc: %m");
    return -1;
  }
  while (len > 0) {
    size_t want = len < RW_BUF ? (size_t) len : RW_BUF;
    ssize_t r = ch_read_full (src, buf, want, off);

    if (r < 0) {
      ch_error ("read: %m");
      return -1;
    }
    if (r == 0) {
      ch_error ("source shrank while being copied");
      return -1;
    }
    if (ch_write_full (dst, buf, (size_t) r, off) < 0) {
      ch_error ("write: %m");
      return -1;
    }
    off += r;
    len -= r;
  }
  return 0;
}

static int
copy_extent (int src, int dst, off_t off, off_t len, bool *use_cfr)
{
  while (len > 0 && *use_cfr) {
    loff_t in = off, out = off;
    ssize_t r = copy_file_range (src, &in, dst, &out, (size_t) len, 0);

    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP ||
                  errno == EINVAL)) {
      *use_cfr = false;          /* other filesystems, old kernels */
      break;
    }
    if (r < 0) {
      ch_error ("copy_file_range: %m");
      return -1;
    }
    if (r == 0) {
      ch_error ("source shrank while being copied");
      return -1;
    }
    off += r;
    len -= r;
  }
  return len > 0 ? copy_rw (src, dst, off, len) : 0;
}

int
ch_copy_sparse (int src, int dst, bool *reflinked)
{
  struct stat st;
  bool use_cfr = true;
  off_t off = 0;

  *reflinked = false;
  if (fstat (src, &st) < 0) {
    ch_error ("fstat: %m");
    return -1;
  }
  if (ioctl (dst, FICLONE, src) == 0) {
    *reflinked = true;
    return 0;
  }

  while (off < st.st_size) {
    off_t data = lseek (src, off, SEEK_DATA), hole;

    if (data < 0 && errno == ENXIO)
      break;                     /* only a hole remains */
    if (data < 0) {
      ch_error ("lseek SEEK_DATA: %m");
      return -1;
    }
    hole = lseek (src, data, SEEK_HOLE);
    if (hole < 0) {
      ch_error ("lseek SEEK_HOLE: %m");
      return -1;
    }
    if (hole > st.st_size)
      hole = st.st_size;
    if (copy_extent (src, dst, data, hole - data, &use_cfr) < 0)
      return -1;
    off = hole;
  }
  if (ftruncate (dst, st.st_size) < 0) {
    ch_error ("ftruncate: %m");
    return -1;
  }
  return 0;
}

#define ZERO_CHUNK (1u << 20)

bool
ch_zeros_from (int fd, const char *path, uint64_t from, char *why, size_t len)
{
  CLEANUP_FREE unsigned char *buf = NULL;
  struct stat st;
  off_t end, data, hole;

  if (fstat (fd, &st) < 0)
    return ch_why (why, len, "fstat %s: %s", path, strerror (errno));
  end = st.st_size;
  for (data = (off_t) from; data < end; data = hole) {
    data = lseek (fd, data, SEEK_DATA);
    if (data < 0 && errno == ENXIO)
      return true;                      /* holes to the end */
    if (data < 0)
      return ch_why (why, len, "SEEK_DATA in %s: %s", path, strerror (errno));
    hole = lseek (fd, data, SEEK_HOLE);
    if (hole < 0)
      return ch_why (why, len, "SEEK_HOLE in %s: %s", path, strerror (errno));
    if (buf == NULL && (buf = malloc (ZERO_CHUNK)) == NULL)
      return ch_why (why, len, "out of memory");
    for (off_t at = data; at < hole; ) {
      size_t want = hole - at < ZERO_CHUNK ? (size_t) (hole - at) : ZERO_CHUNK;
      ssize_t r = ch_read_full (fd, buf, want, at);

      if (r <= 0)
        return ch_why (why, len, "reading %s: %s", path, r < 0 ? strerror (errno) : "short file");
      if (buf[0] != 0 || memcmp (buf, buf + 1, (size_t) r - 1) != 0)
        return ch_why (why, len, "%s has data at byte %jd, beyond the original's %" PRIu64
                       " bytes", path, (intmax_t) at, from);
      at += r;
    }
  }
  return true;
}
