/* cowherd: the manifest published beside each base cowherd fetches,
 * <name>.cowherd.json: what the file is and where it came from, so a peer's
 * copy can be checked before it is trusted. */
#ifndef COWHERD_MANIFEST_H
#define COWHERD_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CH_MANIFEST_SUFFIX ".cowherd.json"
#define CH_MANIFEST_MAX (64 * 1024)

/* A manifest records the digest of the file's whole content (holes read
 * as zeros) that the fetch which made the file checked: sha512 for a base
 * from Glance (its os_hash_value: the download's one pass), otherwise
 * sha256 (older manifests always).  At least one of the two is there. */
struct ch_manifest {
  char name[256];             /* the cache entry's name */
  uint64_t size;              /* bytes of the published file */
  char sha256[65];            /* of the published file's content, or "" */
  char sha512[129];           /* the same as sha512, or "" */
  char image_id[128];         /* Glance image id, "" if unknown */
  char source[1024];          /* where it came from (URL) */
  char glance_hash_algo[16];  /* what Glance recorded, "" if none */
  char glance_hash[129];
};

/* The digest to check the file against: sha512 when recorded, else sha256.
 * *ALGO is an OpenSSL digest name; both point into M. */
void ch_manifest_digest (const struct ch_manifest *m, const char **algo, const char **hex);

/* Do A and B record the same content?  1 yes, 0 no (sizes or a common
 * digest differ), -1 unknown (no digest in common). */
int ch_manifest_same_content (const struct ch_manifest *a, const struct ch_manifest *b);

/* Parse a manifest (bounded, strict types).  -1 with ch_error. */
int ch_manifest_parse (const char *json, size_t len, struct ch_manifest *m);
/* Serialise; malloc'd string.  NULL with ch_error. */
char *ch_manifest_format (const struct ch_manifest *m);

/* Read the manifest of entry LEAF of the cache open on BASE_FD, if there
 * is one naming LEAF, current or not: what it says of where the entry came
 * from (its image id), not of what the file holds now. */
bool ch_manifest_read (int base_fd, const char *leaf, struct ch_manifest *m);

/* Read the manifest of entry LEAF of the cache open on BASE_FD, if there
 * is one and it is current for the file ST describes: the file has not
 * changed since it was written (ctime, which no one can set back) and has
 * the recorded size.  False otherwise (absent, stale, malformed). */
struct stat;
bool ch_manifest_read_current (int base_fd, const char *leaf, const struct stat *st,
                               struct ch_manifest *m);

#endif
