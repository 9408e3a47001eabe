/* cowherd: peers, other hosts' _base as image sources.
 *
 * A peer is the URL of another host's image cache (sftp://, http(s)://,
 * file://, ending in '/').  cowherd publishes a manifest beside every base
 * it fetches (<name>.cowherd.json, manifest.h); a peer's copy of a base is
 * taken only through that manifest: it must name the base, agree with the
 * image id and with what Glance records for it when those are known, and
 * the file must arrive with the manifest's size and digest. */
#ifndef COWHERD_PEER_H
#define COWHERD_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "glance.h"
#include "http.h"
#include "manifest.h"

/* The largest image cowherd will fetch from any source: 16 TiB. */
#define CH_IMAGE_SIZE_MAX (16ULL << 40)

/* What a peer answered about a base. */
enum ch_peer_answer {
  CH_PEER_HAS,          /* a manifest that fits: try its file */
  CH_PEER_ABSENT,       /* no manifest (404): the peer does not have it */
  CH_PEER_REFUSED,      /* a manifest, but malformed, huge, or not for this image */
  CH_PEER_DOWN,         /* no answer: unreachable, timed out, another status */
};

/* What the base must be: NAME always; IMAGE_ID ("" or NULL if unknown) and
 * Glance's record IMG (NULL if none: Glance not configured, unreachable,
 * or the image deleted there) when known. */
struct ch_peer_expect {
  const char *name;
  const char *image_id;
  const struct ch_glance_image *img;
};

/* GET <peer><name>.cowherd.json (at most CH_MANIFEST_MAX bytes) into *M and
 * check it against E.  Anything but CH_PEER_HAS leaves a short reason in
 * WHY (no URL in it: the caller names the peer). */
enum ch_peer_answer ch_peer_manifest (const struct ch_http *h, const char *peer,
                                      const struct ch_peer_expect *e, struct ch_manifest *m,
                                      char *why, size_t why_len);

/* Check the manifest JSON (LEN bytes), however it came, as
 * ch_peer_manifest does: CH_PEER_HAS, or CH_PEER_REFUSED with WHY. */
enum ch_peer_answer ch_peer_manifest_check (const char *json, size_t len,
                                            const struct ch_peer_expect *e,
                                            struct ch_manifest *m, char *why, size_t why_len);

/* Stream <peer><m->name> into DST_FD (empty, or a partial earlier attempt
 * at the same base, which is resumed when it is a prefix of this file),
 * sparse, checking m->size and the manifest's digest (ch_manifest_digest).
 * GOT_DIGEST receives that digest of the file on success.  -1 with ch_error, of kind CH_ERR_CORRUPT when
 * the peer serves a different file; *GOT_SIZE is then m->size if only
 * the digest differed. */
int ch_peer_download (const struct ch_http *h, const char *peer, const struct ch_manifest *m,
                      int dst_fd, void (*progress) (void *, uint64_t, uint64_t), void *opaque,
                      char got_digest[129], uint64_t *got_size);

/* Read at most MAX bytes from the start of PATH, a file at the same
 * absolute path on the host of configured peer number PEER, if it is an
 * sftp peer (an incoming migration's source: its disk's qcow2 header).
 * CFG is a struct ch_config (a ch_remote_head_fn).  The byte count with
 * ORIGIN naming the peer; 0 with WHY when that peer lacks the file, 0
 * with WHY empty when it is not an sftp peer; -2 (CH_REMOTE_UNASKED) with
 * WHY when it cannot be asked or does not answer; -1 with ch_error on an
 * internal error. */
ssize_t ch_peer_read_head (void *cfg, size_t peer, const char *path, uint8_t *buf, size_t max,
                           char *origin, size_t origin_len, char *why, size_t why_len);

/* PEER's URL for logs, errors and manifests: without a password, if the
 * URL carries one.  Writes at most LEN bytes to OUT, NUL-terminated. */
void ch_peer_display (const char *peer, char *out, size_t len);

#endif
