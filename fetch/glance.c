#include "glance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cleanup.h"
#include "error.h"

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

static void
json_put (json_object *j)
{
  if (j)
    json_object_put (j);
}

/* Parse BODY as a JSON object; -1 with ch_error naming WHAT. */
static json_object *
parse_object (const char *body, const char *what)
{
  json_tokener *tok = json_tokener_new_ex (32);
  json_object *j;

  if (tok == NULL) {
    ch_error ("json_tokener_new: %m");
    return NULL;
  }
  j = json_tokener_parse_ex (tok, body, (int) strlen (body));
  if (j == NULL || json_tokener_get_error (tok) != json_tokener_success ||
      !json_object_is_type (j, json_type_object)) {
    ch_error ("%s: not a JSON object", what);
    json_put (j);
    j = NULL;
  }
  json_tokener_free (tok);
  return j;
}

/* Copy string member KEY of J into BUF; absent or null gives "".  Wrong
 * type or too long is an error. */
static int
get_str (json_object *j, const char *key, char *buf, size_t len, const char *what)
{
  json_object *v;

  buf[0] = '\0';
  if (!json_object_object_get_ex (j, key, &v) || json_object_is_type (v, json_type_null))
    return 0;
  if (!json_object_is_type (v, json_type_string) ||
      (size_t) json_object_get_string_len (v) >= len ||
      strlen (json_object_get_string (v)) != (size_t) json_object_get_string_len (v)) {
    ch_error ("%s: \"%s\" is not a string of at most %zu bytes", what, key, len - 1);
    return -1;
  }
  memcpy (buf, json_object_get_string (v), (size_t) json_object_get_string_len (v) + 1);
  return 0;
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
ch_glance_show (const struct ch_http *h, const char *url, const char *id,
                struct ch_glance_image *img)
{
  CLEANUP_FREE char *u = NULL, *body = NULL;
  json_object *j, *v;
  char what[128];
  long status;
  int r = -1;

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
  snprintf (what, sizeof what, "Glance image %s", id);
  if ((j = parse_object (body, what)) == NULL)
    return -1;
  if (get_str (j, "id", img->id, sizeof img->id, what) < 0 ||
      get_str (j, "status", img->status, sizeof img->status, what) < 0 ||
      get_str (j, "disk_format", img->disk_format, sizeof img->disk_format, what) < 0 ||
      get_str (j, "os_hash_algo", img->hash_algo, sizeof img->hash_algo, what) < 0 ||
      get_str (j, "os_hash_value", img->hash_value, sizeof img->hash_value, what) < 0 ||
      get_str (j, "checksum", img->checksum, sizeof img->checksum, what) < 0)
    goto out;
  if (strcmp (img->id, id) != 0) {
    ch_error ("%s: Glance answered for image \"%s\"", what, img->id);
    goto out;
  }
  if (strcmp (img->status, "active") != 0) {
    ch_error ("%s is %s, not active", what, img->status[0] ? img->status : "without status");
    goto out;
  }
  if (!json_object_object_get_ex (j, "size", &v) || !json_object_is_type (v, json_type_int) ||
      json_object_get_int64 (v) <= 0) {
    ch_error ("%s: no valid size", what);
    goto out;
  }
  img->size = (uint64_t) json_object_get_int64 (v);
  if (!is_hex (img->hash_value) || !is_hex (img->checksum)) {
    ch_error ("%s: os_hash_value or checksum is not lowercase hex", what);
    goto out;
  }
  r = 0;
 out:
  json_put (j);
  return r;
}

int
ch_glance_find_by_sha1 (const struct ch_http *h, const char *url, const char *sha1,
                        char id[CH_IMAGE_ID_MAX + 1])
{
  CLEANUP_FREE char *u = NULL, *body = NULL;
  json_object *j, *images, *img, *st, *iv;
  size_t found = 0;
  long status;
  int r = -1;

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
  if ((j = parse_object (body, "Glance image list")) == NULL)
    return -1;
  if (!json_object_object_get_ex (j, "images", &images) ||
      !json_object_is_type (images, json_type_array)) {
    ch_error ("Glance image list: no \"images\" array");
    goto out;
  }
  for (size_t i = 0; i < json_object_array_length (images); i++) {
    img = json_object_array_get_idx (images, i);
    if (!json_object_is_type (img, json_type_object) ||
        !json_object_object_get_ex (img, "status", &st) ||
        strcmp (json_object_get_string (st), "active") != 0 ||
        !json_object_object_get_ex (img, "id", &iv) ||
        !json_object_is_type (iv, json_type_string) ||
        !ch_glance_valid_id (json_object_get_string (iv)))
      continue;
    if (found++ == 0)
      strcpy (id, json_object_get_string (iv));
  }
  if (found == 0)
    ch_error ("no active image in Glance has image_id_sha1=%s", sha1);
  else if (found > 1)
    ch_error ("%zu active images in Glance have image_id_sha1=%s; refusing to guess",
              found, sha1);
  else
    r = 0;
 out:
  json_put (j);
  return r;
}
