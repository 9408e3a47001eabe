/* cowherd: the extent stream, a base's data without its holes.
 *
 * A receiver fetching a base from an sftp peer runs `cowherd send` on that
 * peer over ssh (the sshd and key it already uses for sftp); the peer
 * writes this stream on its stdout:
 *
 *   "cowherd-send 1\n"               15 bytes, the magic
 *   u32 M                            the manifest's length, or
 *                                    CH_XS_ABSENT: no such base (then nothing)
 *   M bytes                          the manifest beside the base, as it is
 *   u64 SIZE                         the file's size
 *   records: u64 OFFSET, u64 LENGTH  LENGTH > 0: that many data bytes follow,
 *                                    the file's content at OFFSET;
 *                                    LENGTH == 0: the end, OFFSET == SIZE
 *
 * (integers big-endian).  Records come in order, never overlap, and
 * start at or after the offset the receiver asked to resume from; what
 * no record covers reads as zeros.  Nothing in the stream is trusted: the
 * receiver checks every byte, zeros included, against the manifest's
 * digest before it publishes, so a wrong extent list costs time only. */
#ifndef COWHERD_EXTSTREAM_H
#define COWHERD_EXTSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CH_XS_MAGIC "cowherd-send 1\n"
#define CH_XS_MAGIC_LEN 15
#define CH_XS_ABSENT 0xffffffffU

/* What the receiver does with each part; a non-zero return stops the
 * stream (ch_feed returns it). */
struct ch_xs_ops {
  /* JSON NULL: the peer has no such base. */
  int (*manifest) (void *opaque, const char *json, size_t len);
  int (*size) (void *opaque, uint64_t size);
  int (*data) (void *opaque, uint64_t off, const uint8_t *p, size_t n);
  int (*end) (void *opaque);
};

struct ch_xs_rx {
  /* Set by the caller. */
  uint64_t from;              /* records must not start before this */
  uint64_t size_max;          /* a larger SIZE is refused */
  size_t manifest_max;        /* a longer manifest is refused */
  /* The parser's. */
  int state;
  uint8_t hdr[16];
  size_t have;                /* bytes of hdr (or of the manifest) so far */
  uint32_t mlen;
  char *manifest;
  uint64_t size, pos, rec_off, rec_left;
  bool ended;
};

/* Feed LEN bytes of the stream.  0: more expected; 1: the stream ended
 * (and nothing followed the end); -1 with ch_error (of kind
 * CH_ERR_REFUSED) when it is malformed; an ops return value otherwise. */
int ch_xs_feed (struct ch_xs_rx *rx, const uint8_t *buf, size_t len,
                const struct ch_xs_ops *ops, void *opaque);

/* Has the stream's header (magic) arrived? */
bool ch_xs_started (const struct ch_xs_rx *rx);

void ch_xs_rx_free (struct ch_xs_rx *rx);

/* The sender: the stream for the file open on FD, with MANIFEST (LEN
 * bytes; NULL: "absent"), data from offset FROM on, written to OUT.  The
 * data extents come from SEEK_DATA/SEEK_HOLE.  -1 with ch_error. */
int ch_xs_send (int fd, const char *manifest, size_t len, uint64_t from, int out);

#endif
