/* cowherd: get a missing original image into the cache, verified. */
#ifndef COWHERD_FETCH_H
#define COWHERD_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct ch_fetch_request {
  const char *image_id;              /* fetch this image (its name is its sha1) */
  const char *name;                  /* or: fetch cache entry NAME (a sha1) ... */
  const char *const *candidates;     /* ... trying these ids first (Nova metadata) */
  size_t n_candidates;
  void (*progress) (void *opaque, uint64_t done, uint64_t total);
  void *opaque;
};

struct ch_fetch_result {
  bool fetched;                      /* false: it was already there */
  char name[41];
  char image_id[65];
  uint64_t size;                     /* bytes published */
  double ms;
};

/* Make $base_dir/<sha1> exist: find the image (by id, by candidate ids
 * whose sha1 matches, else by Glance's image_id_sha1 property), download
 * it under Nova's lock for that name into the private build directory
 * (resuming a partial file a dead process left), verify Glance's hash,
 * refuse an image whose header names another file, convert to raw when
 * force_raw_images, then publish it and its manifest atomically.
 * -1 with ch_error. */
int ch_fetch (const struct ch_config *cfg, const struct ch_fetch_request *req,
              struct ch_fetch_result *res);

#endif
