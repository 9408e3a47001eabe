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

struct ch_manifest {
  char name[256];             /* the cache entry's name */
  uint64_t size;              /* bytes of the published file */
  char sha256[65];            /* of the published file's content */
  char image_id[128];         /* Glance image id, "" if unknown */
  char source[1024];          /* where it came from (URL) */
  char glance_hash_algo[16];  /* what Glance recorded, "" if none */
  char glance_hash[129];
};

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
