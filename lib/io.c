#include "io.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "cleanup.h"

ssize_t
ch_read_full (int fd, void *buf, size_t count, off_t off)
{
  size_t got = 0;

  while (got < count) {
    ssize_t r = off >= 0 ? pread (fd, (char *) buf + got, count - got, off + (off_t) got)
                         : read (fd, (char *) buf + got, count - got);

    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return -1;
    if (r == 0)
      break;
    got += (size_t) r;
  }
  return (ssize_t) got;
}

int
ch_write_full (int fd, const void *buf, size_t count, off_t off)
{
  size_t done = 0;

  while (done < count) {
    ssize_t w = off >= 0 ? pwrite (fd, (const char *) buf + done, count - done,
                                   off + (off_t) done)
                         : write (fd, (const char *) buf + done, count - done);

    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -1;
    done += (size_t) w;
  }
  return 0;
}

/* First buffer size; it doubles up to MAX + 1. */
#define READ_ALL_CHUNK (64 * 1024)

int
ch_read_all (int fd, size_t max, char **out, size_t *len)
{
  CLEANUP_FREE char *buf = NULL;
  size_t size = 0, have = 0;

  *out = NULL;
  *len = 0;
  /* One byte past MAX tells "exactly MAX" from "more". */
  for (;;) {
    ssize_t r;

    if (have == size) {
      size_t nsize = size ? size * 2 : READ_ALL_CHUNK;
      char *nbuf;

      if (nsize > max + 1)
        nsize = max + 1;
      if (nsize <= size) {
        errno = EFBIG;
        return -1;
      }
      if ((nbuf = realloc (buf, nsize + 1)) == NULL)
        return -1;
      buf = nbuf;
      size = nsize;
    }
    if ((r = ch_read_full (fd, buf + have, size - have, -1)) < 0)
      return -1;
    have += (size_t) r;
    if (have < size)
      break;                            /* end of file */
  }
  buf[have] = '\0';
  *out = CH_STEAL (buf);
  *len = have;
  return 0;
}
