/* cowherd: HTTP(S)/SFTP/FILE transfers with libcurl, for image sources.
 * Linked by the CLI (`cowherd fetch`, which the hook runs when it must),
 * never by the hook or the shim (libcurl's dependencies cost more to load
 * than the hook's whole budget). */
#ifndef COWHERD_HTTP_H
#define COWHERD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* JSON documents (Glance answers) larger than this are refused. */
#define CH_HTTP_JSON_MAX (1024 * 1024)

struct ch_http {
  const char *token;          /* sent as X-Auth-Token when not NULL */
  const char *ca_file;        /* CA bundle; NULL: the system's */
  bool insecure;              /* do not verify TLS peers (off by default) */
  const char *ssh_key;        /* sftp: private key file */
  long connect_timeout;       /* seconds */
  long stall_timeout;         /* seconds below 1 KiB/s before giving up */
  int retries;                /* extra attempts after a transient failure */
};

/* GET URL and return the body (NUL-terminated, at most CH_HTTP_JSON_MAX
 * bytes) in *BODY and the HTTP status in *STATUS.  Transport errors and
 * oversize bodies are -1 with ch_error; any HTTP status is returned. */
int ch_http_get (const struct ch_http *h, const char *url, char **body, long *status);

/* The same for POST with a JSON body (Keystone). *HEADER_VALUE, if not
 * NULL, receives the value of response header HEADER_NAME. */
int ch_http_post_json (const struct ch_http *h, const char *url, const char *json,
                       const char *header_name, char **header_value,
                       char **body, long *status);

/* GET the first bytes of URL, at most MAX of them, into BUF (a Range
 * request, which sftp and file honour; a body beyond MAX is cut off).
 * The byte count, 0 when the file is not there (404, no such file), or -1
 * with ch_error (also for any other HTTP status). */
long ch_http_get_head (const struct ch_http *h, const char *url, unsigned char *buf, size_t max);

struct ch_download {
  const char *url;
  uint64_t expect_size;       /* 0: unknown */
  uint64_t max_size;          /* refuse a body larger than this */
  const char *hash_algo;      /* OpenSSL digest name ("sha512", "md5", "sha256"), or NULL */
  const char *expect_hash;    /* lowercase hex to match, or NULL (then only computed) */
  char got_hash[129];         /* out: hex digest of what was written */
  bool want_sha256;           /* also compute sha256 (for a manifest) */
  char got_sha256[65];        /* out: when want_sha256 */
  uint64_t got_size;          /* out: bytes */
  void (*progress) (void *opaque, uint64_t done, uint64_t total);
  void *opaque;
};

/* Stream URL into DST_FD, which is empty or holds the first bytes of an
 * earlier, broken attempt at the same URL (then it resumes with an HTTP
 * Range request after hashing what is there).  Blocks of zeros are not
 * written, so they stay holes; the file ends at the body's size.  Retries
 * transient failures h->retries times, resuming.  Checks size and hash.
 * -1 with ch_error naming the URL and what went wrong (HTTP status,
 * timeout, size or hash mismatch, ENOSPC ...). */
int ch_http_download (const struct ch_http *h, struct ch_download *d, int dst_fd);

#endif
