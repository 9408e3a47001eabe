#include "glance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"
#include "json.h"
#include "naming.h"

/* Nesting in Glance's answers: json-c's default limit, ample for them. */
#define JSON_DEPTH (JSON_TOKENER_DEFAULT_DEPTH - 1)

bool
ch_glance_valid_id (const char *s)
{
  size_t n = strlen (s);

  if (n == 0 || n > CH_IMAGE_ID_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
      return false;
  return true;
}

static bool
is_hex (const char *s)
{
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
      return false;
  return true;
}

/* An unexpected status; refused credentials say where they come from. */
static void
status_error (const char *u, long status)
{
  if (status == 401 || status == 403)
    ch_error ("GET %s: HTTP %ld: Glance refused the token (see [glance] token_file or "
              "[keystone] in cowherd.conf)", u, status);
  else
    ch_error ("GET %s: HTTP %ld", u, status);
}

int
ch_glance_parse_image (const char *body, size_t len, const char *id,
                       struct ch_glance_image *img)
{
  CLEANUP_JSON json_object *j = NULL;
  const unsigned nullable = CH_JSON_NULL_ABSENT;
  char what[128];
  int64_t size;
  int r;

  memset (img, 0, sizeof *img);
  snprintf (what, sizeof what, "Glance image %s", id);
  if ((j = ch_json_parse (body, len, CH_HTTP_JSON_MAX, JSON_DEPTH, what)) == NULL)
    return -1;
  if (ch_json_copy_string (j, "id", what, nullable, img->id, sizeof img->id) < 0 ||
      ch_json_copy_string (j, "status", what, nullable, img->status, sizeof img->status) < 0 ||
      ch_json_copy_string (j, "disk_format", what, nullable, img->disk_format,
                           sizeof img->disk_format) < 0 ||
      ch_json_copy_string (j, "os_hash_algo", what, nullable, img->hash_algo,
                           sizeof img->hash_algo) < 0 ||
      ch_json_copy_string (j, "os_hash_value", what, nullable, img->hash_value,
                           sizeof img->hash_value) < 0 ||
      ch_json_copy_string (j, "checksum", what, nullable, img->checksum, sizeof img->checksum) < 0)
    return -1;
  if (strcmp (img->id, id) != 0) {
    ch_error ("%s: Glance answered for image \"%s\"", what, img->id);
    return -1;
  }
  if (strcmp (img->status, "active") != 0) {
    ch_error ("%s is %s, not active", what, img->status[0] ? img->status : "without status");
    return -1;
  }
  if ((r = ch_json_get_int64 (j, "size", what, nullable, &size)) < 0)
    return -1;
  if (r == 0 || size <= 0) {
    ch_error ("%s: no valid size", what);
    return -1;
  }
  img->size = (uint64_t) size;
  if (!is_hex (img->hash_value) || !is_hex (img->checksum)) {
    ch_error ("%s: os_hash_value or checksum is not lowercase hex", what);
    return -1;
  }
  return 0;
}

int
ch_glance_show (const struct ch_http *h, const char *url, const char *id,
                struct ch_glance_image *img)
{
  CLEANUP_FREE char *u = NULL, *body = NULL;
  long status;

  memset (img, 0, sizeof *img);
  if (!ch_glance_valid_id (id)) {
    ch_error ("not an image id: %.80s", id);
    return -1;
  }
  if (asprintf (&u, "%s/v2/images/%s", url, id) < 0) {
    ch_error ("asprintf: %m");
    return -1;
  }
  if (ch_http_get (h, u, &body, &status) < 0)
    return -1;
  if (status == 404) {
    ch_error ("image %s not found in Glance (HTTP 404 from %s)", id, url);
    return -1;
  }
  if (status != 200) {
    status_error (u, status);
    return -1;
  }
  return ch_glance_parse_image (body, strlen (body), id, img);
}

int
ch_glance_parse_list (const char *body, size_t len, const char *sha1,
                      char id[CH_IMAGE_ID_MAX + 1])
{
  const char *what = "Glance image list";
  CLEANUP_JSON json_object *j = NULL;
  json_object *images;
  size_t found = 0, snapshots = 0;
  int r;

  if ((j = ch_json_parse (body, len, CH_HTTP_JSON_MAX, JSON_DEPTH, what)) == NULL)
    return -1;
  if ((r = ch_json_get_array (j, "images", what, 0, &images)) < 0)
    return -1;
  if (r == 0) {
    ch_error ("%s: no \"images\" array", what);
    return -1;
  }
  for (size_t i = 0; i < json_object_array_length (images); i++) {
    json_object *img = json_object_array_get_idx (images, i);
    const char *st, *iv;
    char h[CH_SHA1_HEX + 1];

    /* An entry of another shape is not the image sought. */
    if ((st = ch_json_peek_string (img, "status")) == NULL || strcmp (st, "active") != 0 ||
        (iv = ch_json_peek_string (img, "id")) == NULL || !ch_glance_valid_id (iv))
      continue;
    /* The image whose id is the name's is the original itself. */
    if (ch_image_id_sha1 (iv, h) == 0 && strcmp (h, sha1) == 0) {
      strcpy (id, iv);
      return 0;
    }
    /* Nova's snapshots, shelve images and backups inherit every image
     * property of the instance's image, this one too: they stand on the
     * original, they are not it.  Nova marks them with image_type and
     * instance_uuid. */
    if (ch_json_peek_string (img, "image_type") != NULL ||
        ch_json_peek_string (img, "instance_uuid") != NULL) {
      snapshots++;
      continue;
    }
    if (found++ == 0)
      strcpy (id, iv);
  }
  if (found == 0) {
    if (snapshots > 0)
      ch_error ("no active image in Glance has image_id_sha1=%s but %zu Nova snapshots "
                "or backups of it", sha1, snapshots);
    else
      ch_error ("no active image in Glance has image_id_sha1=%s", sha1);
    return -1;
  }
  if (found > 1) {
    ch_error ("%zu active images in Glance have image_id_sha1=%s; refusing to guess",
              found, sha1);
    return -1;
  }
  return 0;
}

int
ch_glance_find_by_sha1 (const struct ch_http *h, const char *url, const char *sha1,
                        char id[CH_IMAGE_ID_MAX + 1])
{
  CLEANUP_FREE char *u = NULL, *body = NULL;
  long status;

  if (strlen (sha1) != 40 || !is_hex (sha1)) {
    ch_error ("not a sha1: %.80s", sha1);
    return -1;
  }
  if (asprintf (&u, "%s/v2/images?image_id_sha1=%s&status=active", url, sha1) < 0) {
    ch_error ("asprintf: %m");
    return -1;
  }
  if (ch_http_get (h, u, &body, &status) < 0)
    return -1;
  if (status != 200) {
    status_error (u, status);
    return -1;
  }
  return ch_glance_parse_list (body, strlen (body), sha1, id);
}
