/* cowherd: digests computed beside a transfer, each in its own thread.
 *
 * A download must be checked against Glance's hash (sha512 by default)
 * and also needs the sha256 the manifest records.  Hashing 2 GiB twice in
 * the receiving thread costs more than the transfer itself; here the
 * receiver only copies each piece into a small ring, and one thread per
 * digest consumes it.  Memory stays bounded (CH_HASHPIPE_RING bytes). */
#ifndef COWHERD_HASHPIPE_H
#define COWHERD_HASHPIPE_H

#include <stddef.h>
#include <stdint.h>

#define CH_HASHPIPE_MAX 2               /* digests at once */
#define CH_HASHPIPE_RING (1u << 20)     /* bytes waiting to be hashed, at most */

struct ch_hashpipe;

/* A pipe computing the N OpenSSL digests named in ALGOS (N <= CH_HASHPIPE_MAX).
 * NULL with ch_error on an unknown name or a resource failure. */
struct ch_hashpipe *ch_hashpipe_new (const char *const *algos, size_t n);

/* Feed LEN bytes (copied; blocks while the ring is full). */
int ch_hashpipe_update (struct ch_hashpipe *p, const void *buf, size_t len);

/* Feed LEN zero bytes (a file's hole): nothing is copied. */
int ch_hashpipe_zeros (struct ch_hashpipe *p, uint64_t len);

/* Throw away everything fed so far and start the digests over. */
int ch_hashpipe_reset (struct ch_hashpipe *p);

/* Finish: HEX[i] (at least 129 bytes each) receives digest i in lowercase
 * hex.  The pipe can be reset and used again afterwards. */
int ch_hashpipe_final (struct ch_hashpipe *p, char (*hex)[129]);

void ch_hashpipe_free (struct ch_hashpipe *p);

#endif
