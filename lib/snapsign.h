/* cowherd: signing COW-only snapshots (HMAC-SHA256, libcrypto). */
#ifndef COWHERD_SNAPSIGN_H
#define COWHERD_SNAPSIGN_H

#include <stddef.h>
#include <stdint.h>

#include "snapmark.h"

/* The cloud's snapshot key: the bytes of PATH, 32 to 4096 of them, a
 * regular file that no one but its owner and group may read.  malloc'd
 * into *KEY; -1 with ch_error. */
int ch_snap_key_load (const char *path, uint8_t **key, size_t *len);
/* Free a key, wiping it first. */
void ch_snap_key_free (uint8_t *key, size_t len);

/* HMAC-SHA256 under KEY of the whole image open on FD, the signature's
 * CH_SNAP_HMAC_LEN bytes at HMAC_OFF read as zeros: it covers the header,
 * the marker and every cluster, so a marker moved to another image, or an
 * image changed under one, no longer verifies.  -1 with ch_error. */
int ch_snap_hmac (int fd, const uint8_t *key, size_t key_len, uint64_t hmac_off,
                  uint8_t out[CH_SNAP_HMAC_LEN]);

#endif
