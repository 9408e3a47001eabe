#include "extstream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bigendian.h"
#include "cleanup.h"
#include "error.h"
#include "io.h"

enum { S_MAGIC, S_MLEN, S_MANIFEST, S_SIZE, S_RECORD, S_DATA, S_ENDED };

/* Bytes of each fixed-size part, by state. */
static const size_t part_len[] = {
  [S_MAGIC] = CH_XS_MAGIC_LEN, [S_MLEN] = 4, [S_SIZE] = 8, [S_RECORD] = 16,
};

static int __attribute__((format (printf, 1, 2)))
malformed (const char *fmt, ...)
{
  char msg[256];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  ch_error_as (CH_ERR_REFUSED, "the peer's extent stream is malformed: %s", msg);
  return -1;
}

/* A whole fixed-size part in rx->hdr: act on it. */
static int
part (struct ch_xs_rx *rx, const struct ch_xs_ops *ops, void *opaque)
{
  switch (rx->state) {
  case S_MAGIC:
    if (memcmp (rx->hdr, CH_XS_MAGIC, CH_XS_MAGIC_LEN) != 0)
      return malformed ("no magic");
    rx->state = S_MLEN;
    return 0;
  case S_MLEN:
    rx->mlen = ch_be32 (rx->hdr);
    if (rx->mlen == CH_XS_ABSENT) {
      rx->state = S_ENDED;
      rx->ended = true;
      return ops->manifest (opaque, NULL, 0);
    }
    if (rx->mlen == 0 || rx->mlen > rx->manifest_max)
      return malformed ("a manifest of %" PRIu32 " bytes (at most %zu)", rx->mlen,
                        rx->manifest_max);
    if ((rx->manifest = malloc ((size_t) rx->mlen + 1)) == NULL) {
      ch_error ("out of memory");
      return -1;
    }
    rx->state = S_MANIFEST;
    return 0;
  case S_SIZE:
    rx->size = ch_be64 (rx->hdr);
    if (rx->size > rx->size_max || rx->from > rx->size)
      return malformed ("a size of %" PRIu64 " bytes (at most %" PRIu64 ", resuming from "
                        "less)", rx->size, rx->size_max);
    rx->pos = rx->from;
    rx->state = S_RECORD;
    return ops->size (opaque, rx->size);
  case S_RECORD:
    rx->rec_off = ch_be64 (rx->hdr);
    rx->rec_left = ch_be64 (rx->hdr + 8);
    if (rx->rec_left == 0) {
      if (rx->rec_off != rx->size)
        return malformed ("an end at %" PRIu64 " in a file of %" PRIu64 " bytes",
                          rx->rec_off, rx->size);
      rx->state = S_ENDED;
      rx->ended = true;
      return ops->end (opaque);
    }
    /* In order, no overlap, inside the file (no overflow: rec_off <= size). */
    if (rx->rec_off < rx->pos || rx->rec_off > rx->size ||
        rx->rec_left > rx->size - rx->rec_off)
      return malformed ("an extent at %" PRIu64 " of %" PRIu64 " bytes out of order or "
                        "past the end", rx->rec_off, rx->rec_left);
    rx->state = S_DATA;
    return 0;
  }
  return malformed ("state %d", rx->state);
}

int
ch_xs_feed (struct ch_xs_rx *rx, const uint8_t *buf, size_t len,
            const struct ch_xs_ops *ops, void *opaque)
{
  int r;

  while (len > 0) {
    size_t n;

    switch (rx->state) {
    case S_ENDED:
      return malformed ("%zu bytes after the end", len);
    case S_MANIFEST:
      n = rx->mlen - rx->have < len ? rx->mlen - rx->have : len;
      memcpy (rx->manifest + rx->have, buf, n);
      rx->have += n;
      if (rx->have == rx->mlen) {
        rx->manifest[rx->mlen] = '\0';
        rx->have = 0;
        rx->state = S_SIZE;
        if ((r = ops->manifest (opaque, rx->manifest, rx->mlen)) != 0)
          return r;
      }
      break;
    case S_DATA:
      n = rx->rec_left < len ? (size_t) rx->rec_left : len;
      if ((r = ops->data (opaque, rx->rec_off, buf, n)) != 0)
        return r;
      rx->rec_off += n;
      rx->rec_left -= n;
      rx->pos = rx->rec_off;
      if (rx->rec_left == 0)
        rx->state = S_RECORD;
      break;
    default:
      n = part_len[rx->state] - rx->have < len ? part_len[rx->state] - rx->have : len;
      memcpy (rx->hdr + rx->have, buf, n);
      rx->have += n;
      if (rx->have == part_len[rx->state]) {
        rx->have = 0;
        if ((r = part (rx, ops, opaque)) != 0)
          return r;
      }
      break;
    }
    buf += n;
    len -= n;
  }
  return rx->ended ? 1 : 0;
}

bool
ch_xs_started (const struct ch_xs_rx *rx)
{
  return rx->state != S_MAGIC;
}

void
ch_xs_rx_free (struct ch_xs_rx *rx)
{
  free (rx->manifest);
  rx->manifest = NULL;
}

#define SEND_BUF (1u << 20)

static int
put (int out, const void *p, size_t n)
{
  if (ch_write_full (out, p, n, -1) < 0) {
    ch_error ("write: %m");
    return -1;
  }
  return 0;
}

static int
record (int out, uint64_t off, uint64_t len)
{
  uint8_t h[16];

  ch_put_be64 (h, off);
  ch_put_be64 (h + 8, len);
  return put (out, h, sizeof h);
}

int
ch_xs_send (int fd, const char *manifest, size_t len, uint64_t from, int out)
{
  CLEANUP_FREE uint8_t *buf = NULL;
  uint8_t n[8];
  struct stat st;
  uint64_t size, off;

  if (put (out, CH_XS_MAGIC, CH_XS_MAGIC_LEN) < 0)
    return -1;
  ch_put_be32 (n, manifest ? (uint32_t) len : CH_XS_ABSENT);
  if (put (out, n, 4) < 0 || (manifest && put (out, manifest, len) < 0))
    return -1;
  if (manifest == NULL)
    return 0;
  if (fstat (fd, &st) < 0 || (buf = malloc (SEND_BUF)) == NULL) {
    ch_error ("%m");
    return -1;
  }
  size = (uint64_t) st.st_size;
  ch_put_be64 (n, size);
  if (put (out, n, 8) < 0)
    return -1;
  for (off = from; off < size;) {
    off_t d = lseek (fd, (off_t) off, SEEK_DATA), h;
    uint64_t end;

    if (d < 0 && errno == ENXIO)
      break;                           /* only a hole from here */
    if (d < 0 || (h = lseek (fd, d, SEEK_HOLE)) < 0) {
      ch_error ("seek: %m");
      return -1;
    }
    end = (uint64_t) h < size ? (uint64_t) h : size;
    if ((uint64_t) d >= end)
      break;
    if (record (out, (uint64_t) d, end - (uint64_t) d) < 0)
      return -1;
    for (off = (uint64_t) d; off < end;) {
      size_t want = end - off < SEND_BUF ? (size_t) (end - off) : SEND_BUF;
      ssize_t got = ch_read_full (fd, buf, want, (off_t) off);

      if (got < 0) {
        ch_error ("read: %m");
        return -1;
      }
      /* The file shrank under us: zeros stand for the rest, and the
       * receiver's digest check decides. */
      if ((size_t) got < want)
        memset (buf + got, 0, want - (size_t) got);
      if (put (out, buf, want) < 0)
        return -1;
      off += want;
    }
  }
  return record (out, size, 0);
}
