/* cowherd: digests of whole files (libcrypto). */
#ifndef COWHERD_DIGEST_H
#define COWHERD_DIGEST_H

/* The sha256 of all of FD, read from its start, as lowercase hex.  -1
 * with ch_error. */
int ch_sha256_fd (int fd, char hex[65]);

#endif
