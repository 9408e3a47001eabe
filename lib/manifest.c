/* manifest.h uses size_t without including <stddef.h>. */
#include <stddef.h>

#include "manifest.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cleanup.h"
#include "error.h"
#include "io.h"
#include "json.h"
#include "naming.h"

/* A manifest is flat; deeper documents are not ours. */
#define MAX_DEPTH 7

/* The string fields, with where they live and how long they may be. */
struct field {
  const char *key;
  size_t offset, cap;                  /* cap includes the NUL */
  bool required;
};

#define F(k, req) { #k, offsetof (struct ch_manifest, k), \
                    sizeof ((struct ch_manifest *) 0)->k, req }
static const struct field fields[] = {
  F (name, true),
  F (sha256, false),
  F (sha512, false),
  F (image_id, false),
  F (source, false),
  F (glance_hash_algo, false),
  F (glance_hash, false),
};
#undef F

/* What both directions insist on, so format's output always parses. */
static int
check (const struct ch_manifest *m)
{
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
    if (strnlen ((const char *) m + fields[i].offset, fields[i].cap) == fields[i].cap) {
      ch_error ("manifest: %s is not terminated", fields[i].key);
      return -1;
    }
  if (m->name[0] == '\0' || strchr (m->name, '/') ||
      strcmp (m->name, ".") == 0 || strcmp (m->name, "..") == 0) {
    ch_error ("manifest: name \"%.64s\" is not a file name", m->name);
    return -1;
  }
  if (m->sha256[0] == '\0' && m->sha512[0] == '\0') {
    ch_error ("manifest: no sha256 or sha512");
    return -1;
  }
  if (m->sha256[0] && !ch_is_lower_hex (m->sha256, 64)) {
    ch_error ("manifest: sha256 is not 64 lowercase hex digits");
    return -1;
  }
  if (m->sha512[0] && !ch_is_lower_hex (m->sha512, 128)) {
    ch_error ("manifest: sha512 is not 128 lowercase hex digits");
    return -1;
  }
  if (m->size >= INT64_MAX) {
    ch_error ("manifest: size %" PRIu64 " out of range", m->size);
    return -1;
  }
  return 0;
}

int
ch_manifest_parse (const char *json, size_t len, struct ch_manifest *m)
{
  CLEANUP_JSON json_object *obj = NULL;
  int64_t n;
  int r;

  memset (m, 0, sizeof *m);
  obj = ch_json_parse (json, len, CH_MANIFEST_MAX, MAX_DEPTH, "manifest");
  if (obj == NULL)
    return -1;
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    const struct field *f = &fields[i];

    r = ch_json_copy_string (obj, f->key, "manifest", CH_JSON_BARE_KEY,
                             (char *) m + f->offset, f->cap);
    if (r < 0)
      return -1;
    if (r == 0 && f->required) {
      ch_error ("manifest: %s missing", f->key);
      return -1;
    }
  }
  r = ch_json_get_int64 (obj, "size", "manifest", CH_JSON_BARE_KEY, &n);
  if (r < 0)
    return -1;
  if (r == 0) {
    ch_error ("manifest: size missing");
    return -1;
  }
  /* json-c saturates what does not fit in 64 bits; anything at the limit
   * is refused along with it. */
  if (n < 0 || n == INT64_MAX) {
    ch_error ("manifest: size out of range");
    return -1;
  }
  m->size = (uint64_t) n;
  return check (m);
}

void
ch_manifest_digest (const struct ch_manifest *m, const char **algo, const char **hex)
{
  *algo = m->sha512[0] ? "sha512" : "sha256";
  *hex = m->sha512[0] ? m->sha512 : m->sha256;
}

int
ch_manifest_same_content (const struct ch_manifest *a, const struct ch_manifest *b)
{
  if (a->size != b->size)
    return 0;
  if (a->sha512[0] && b->sha512[0])
    return strcmp (a->sha512, b->sha512) == 0;
  if (a->sha256[0] && b->sha256[0])
    return strcmp (a->sha256, b->sha256) == 0;
  return -1;
}

static int
add (struct json_object *obj, const char *key, struct json_object *v)
{
  if (v == NULL || json_object_object_add (obj, key, v) < 0) {
    json_object_put (v);
    return -1;
  }
  return 0;
}

char *
ch_manifest_format (const struct ch_manifest *m)
{
  struct json_object *obj;
  char *s = NULL;
  int r;

  if (check (m) < 0)
    return NULL;
  obj = json_object_new_object ();
  r = obj ? 0 : -1;
  for (size_t i = 0; r == 0 && i < sizeof fields / sizeof fields[0]; i++) {
    const char *v = (const char *) m + fields[i].offset;

    if (fields[i].required || v[0])    /* unknowns are left out */
      r = add (obj, fields[i].key, json_object_new_string (v));
  }
  if (r == 0)
    r = add (obj, "size", json_object_new_int64 ((int64_t) m->size));
  if (r == 0)
    s = strdup (json_object_to_json_string_ext (obj, JSON_C_TO_STRING_PLAIN |
                                                JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put (obj);
  if (s == NULL)
    ch_error ("manifest: out of memory");
  return s;
}

/* LEAF's manifest into *M, and the manifest file's own stat into *ST. */
static bool
read_manifest (int base_fd, const char *leaf, struct ch_manifest *m, struct stat *st)
{
  char name[CH_BASE_NAME_MAX + sizeof CH_MANIFEST_SUFFIX];
  CLEANUP_CLOSE int fd = -1;
  CLEANUP_FREE char *buf = NULL;
  ssize_t n;

  if ((size_t) snprintf (name, sizeof name, "%s%s", leaf, CH_MANIFEST_SUFFIX) >= sizeof name)
    return false;
  fd = openat (base_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0 || fstat (fd, st) < 0 || !S_ISREG (st->st_mode) || st->st_size > CH_MANIFEST_MAX)
    return false;
  if ((buf = malloc (CH_MANIFEST_MAX + 1)) == NULL)
    return false;
  n = ch_read_full (fd, buf, CH_MANIFEST_MAX, 0);
  return n > 0 && ch_manifest_parse (buf, (size_t) n, m) == 0 && strcmp (m->name, leaf) == 0;
}

bool
ch_manifest_read (int base_fd, const char *leaf, struct ch_manifest *m)
{
  struct stat st;

  return read_manifest (base_fd, leaf, m, &st);
}

bool
ch_manifest_read_current (int base_fd, const char *leaf, const struct stat *fst,
                          struct ch_manifest *m)
{
  struct stat st;

  if (!read_manifest (base_fd, leaf, m, &st))
    return false;
  if (m->size != (uint64_t) fst->st_size)
    return false;
  /* Written after the file last changed.  The manifest is written right
   * after the file is published, often within one clock tick of it: equal
   * times are that, not a later change. */
  if (fst->st_ctim.tv_sec > st.st_mtim.tv_sec ||
      (fst->st_ctim.tv_sec == st.st_mtim.tv_sec && fst->st_ctim.tv_nsec > st.st_mtim.tv_nsec))
    return false;
  return true;
}
