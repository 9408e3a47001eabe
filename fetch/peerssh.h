/* cowherd: a base from an sftp peer's data extents, over OpenSSH.
 *
 * sftp cannot say where a file's holes are, and libssh2 (under libcurl)
 * decrypts 16 bytes per call: a 2 GiB base with 1 GiB of data crossed
 * the link whole, at half scp's speed.  The peer hosts run sshd for
 * Nova's migrations and have cowherd installed, so the receiver runs
 * OpenSSH's own client (exec, argv, no shell on this side) with the key
 * of [peers] and asks the peer's `cowherd send` for the base's manifest
 * and its data extents (lib/extstream.h).  A peer without it (no cowherd,
 * an older one) is asked over sftp as before. */
#ifndef COWHERD_PEERSSH_H
#define COWHERD_PEERSSH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "peer.h"

enum ch_peerssh_result {
  CH_PEERSSH_DONE,            /* the base is in DST_FD, checked */
  CH_PEERSSH_ANSWERED,        /* the peer answered about the manifest (ANSWER, WHY) */
  CH_PEERSSH_UNSUPPORTED,     /* no extent stream from this peer (WHY): use sftp */
  CH_PEERSSH_FAILED,          /* the transfer failed (ch_error, with its kind) */
};

struct ch_peerssh_out {
  enum ch_peer_answer answer; /* with CH_PEERSSH_ANSWERED */
  struct ch_manifest m;       /* the peer's manifest, once it was taken */
  char digest[129];           /* with CH_PEERSSH_DONE: the manifest's digest, checked */
  uint64_t size;              /* bytes received and checked before a failure */
};

/* Fetch entry E->name from the sftp peer URL PEER into DST_FD (empty, or
 * a partial download of the same base: resumed from its end).  */
enum ch_peerssh_result ch_peerssh_fetch (const struct ch_config *cfg, const char *peer,
                                         const struct ch_peer_expect *e, int dst_fd,
                                         void (*progress) (void *, uint64_t, uint64_t),
                                         void *opaque, struct ch_peerssh_out *out,
                                         char *why, size_t why_len);

#endif
