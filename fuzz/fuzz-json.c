/* libFuzzer target: the JSON documents cowherd reads from others, on
 * arbitrary bytes.  The first byte chooses the reader (modulo 5): 0
 * Glance's image record, 1 Glance's image list, 2 Keystone's token for the
 * public interface, 3 the same for internal in RegionOne, 4 a manifest;
 * the rest is the document.  Each must refuse anything malformed with a
 * message, and what it accepts must hold what callers rely on. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "glance.h"
#include "keystone.h"
#include "manifest.h"

/* What the seeds ask for. */
#define IMAGE_ID "155d900f-4e14-4e4c-a73d-069cbf4541e6"
#define IMAGE_SHA1 "f2d1a8250ed3d4b744a8250dab8f6840179d502a"

static bool
terminated (const char *s, size_t size)
{
  return memchr (s, '\0', size) != NULL;
}

static int
glance_image (const char *doc, size_t len)
{
  struct ch_glance_image img;

  if (ch_glance_parse_image (doc, len, IMAGE_ID, &img) < 0)
    return -1;
  if (strcmp (img.id, IMAGE_ID) != 0 || strcmp (img.status, "active") != 0 ||
      img.size == 0 || img.size > INT64_MAX ||
      !terminated (img.disk_format, sizeof img.disk_format) ||
      !terminated (img.hash_algo, sizeof img.hash_algo) ||
      !terminated (img.hash_value, sizeof img.hash_value) ||
      !terminated (img.checksum, sizeof img.checksum))
    abort ();
  return 0;
}

static int
glance_list (const char *doc, size_t len)
{
  char id[CH_IMAGE_ID_MAX + 1];

  if (ch_glance_parse_list (doc, len, IMAGE_SHA1, id) < 0)
    return -1;
  if (!ch_glance_valid_id (id))
    abort ();
  return 0;
}

/* Keystone's body arrives as a C string: it ends at the first NUL. */
static int
keystone (const char *doc, size_t len, const char *interface, const char *region)
{
  char *body = malloc (len + 1), *url = (char *) "unset";
  int r;

  if (body == NULL)
    abort ();
  memcpy (body, doc, len);
  body[len] = '\0';
  if ((r = ch_keystone_image_endpoint (body, interface, region, &url)) == 0) {
    size_t n = url ? strlen (url) : 0;

    if (n == 0 || n > CH_KEYSTONE_URL_MAX || url[n - 1] == '/' ||
        (strncmp (url, "http://", 7) != 0 && strncmp (url, "https://", 8) != 0))
      abort ();
    free (url);
  }
  else if (url != NULL)
    abort ();
  free (body);
  return r;
}

/* What parses must format, and read back the same. */
static int
manifest (const char *doc, size_t len)
{
  struct ch_manifest m, back;
  char *s;

  if (ch_manifest_parse (doc, len, &m) < 0)
    return -1;
  if ((s = ch_manifest_format (&m)) == NULL)
    abort ();
  if (ch_manifest_parse (s, strlen (s), &back) < 0 ||
      strcmp (m.name, back.name) != 0 || m.size != back.size ||
      strcmp (m.sha256, back.sha256) != 0 || strcmp (m.image_id, back.image_id) != 0 ||
      strcmp (m.source, back.source) != 0 ||
      strcmp (m.glance_hash_algo, back.glance_hash_algo) != 0 ||
      strcmp (m.glance_hash, back.glance_hash) != 0)
    abort ();
  free (s);
  return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *doc = (const char *) data + 1;
  size_t len;
  int r;

  if (size == 0)
    return 0;
  len = size - 1;
  ch_error_clear ();
  switch (data[0] % 5) {
  case 0: r = glance_image (doc, len); break;
  case 1: r = glance_list (doc, len); break;
  case 2: r = keystone (doc, len, "public", NULL); break;
  case 3: r = keystone (doc, len, "internalURL", "RegionOne"); break;
  default: r = manifest (doc, len); break;
  }
  if (r < 0 && ch_last_error ()[0] == '\0')
    abort ();                         /* every -1 comes with a message */
  return 0;
}
