/* cowherd: digests of whole files (libcrypto). */
#ifndef COWHERD_DIGEST_H
#define COWHERD_DIGEST_H

/* The sha256 of all of FD, read from its start, as lowercase hex.  -1
 * with ch_error. */
int ch_sha256_fd (int fd, char hex[65]);

/* The same with the OpenSSL digest ALGO (at most 64 bytes: sha512). */
int ch_digest_fd (int fd, const char *algo, char hex[129]);

#endif
