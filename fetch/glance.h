/* cowherd: the parts of the Glance v2 image API cowherd uses. */
#ifndef COWHERD_GLANCE_H
#define COWHERD_GLANCE_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

#define CH_IMAGE_ID_MAX 64

struct ch_glance_image {
  char id[CH_IMAGE_ID_MAX + 1];
  char status[32];
  char disk_format[32];
  uint64_t size;                  /* bytes of the stored file */
  char hash_algo[16];             /* os_hash_algo, "" if none */
  char hash_value[129];           /* os_hash_value */
  char checksum[33];              /* md5, "" if none */
};

/* True if S is a plausible image id: 1..64 of [A-Za-z0-9-]. */
bool ch_glance_valid_id (const char *s);

/* GET {url}/v2/images/{id}.  -1 with ch_error on transport errors, a
 * status other than 200 ("image ID not found in Glance" for 404), or a
 * malformed answer. */
int ch_glance_show (const struct ch_http *h, const char *url, const char *id,
                    struct ch_glance_image *img);

/* Find the active image whose property image_id_sha1 is SHA1 (the scheme
 * operators use for snapshots' bases): the one whose id hashes to SHA1
 * (the original itself), else the one image that is not Nova's snapshot,
 * shelve image or backup (those carry image_type or instance_uuid, and
 * inherit the property from the instance's image).  0 with ID filled, or -1 with ch_error (none,
 * several, errors). */
int ch_glance_find_by_sha1 (const struct ch_http *h, const char *url, const char *sha1,
                            char id[CH_IMAGE_ID_MAX + 1]);

/* What the two read from Glance's answer BODY[0..LEN) (a JSON object, at
 * most CH_HTTP_JSON_MAX bytes): image ID's record, and the one active
 * image in a list of images with image_id_sha1 SHA1.  0, or -1 with
 * ch_error. */
int ch_glance_parse_image (const char *body, size_t len, const char *id,
                           struct ch_glance_image *img);
int ch_glance_parse_list (const char *body, size_t len, const char *sha1,
                          char id[CH_IMAGE_ID_MAX + 1]);

#endif
