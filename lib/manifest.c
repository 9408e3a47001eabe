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
#include "naming.h"

/* A manifest is flat; deeper documents are not ours. */
#define MAX_DEPTH 8

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
  F (sha256, true),
  F (image_id, false),
  F (source, false),
  F (glance_hash_algo, false),
  F (glance_hash, false),
};
#undef F

static bool
is_lower_hex (const char *s, size_t len)
{
  if (strlen (s) != len)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

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
  if (!is_lower_hex (m->sha256, 64)) {
    ch_error ("manifest: sha256 is not 64 lowercase hex digits");
    return -1;
  }
  if (m->size >= INT64_MAX) {
    ch_error ("manifest: size %" PRIu64 " out of range", m->size);
    return -1;
  }
  return 0;
}

static int
get_string (struct json_object *obj, const struct field *f, struct ch_manifest *m)
{
  struct json_object *v;
  const char *s;
  size_t len;

  if (!json_object_object_get_ex (obj, f->key, &v)) {
    if (f->required) {
      ch_error ("manifest: %s missing", f->key);
      return -1;
    }
    return 0;
  }
  if (!json_object_is_type (v, json_type_string)) {
    ch_error ("manifest: %s is not a string", f->key);
    return -1;
  }
  s = json_object_get_string (v);
  len = (size_t) json_object_get_string_len (v);
  if (strlen (s) != len) {
    ch_error ("manifest: %s contains a NUL byte", f->key);
    return -1;
  }
  if (len >= f->cap) {
    ch_error ("manifest: %s longer than %zu bytes", f->key, f->cap - 1);
    return -1;
  }
  memcpy ((char *) m + f->offset, s, len + 1);
  return 0;
}

static int
get_size (struct json_object *obj, struct ch_manifest *m)
{
  struct json_object *v;
  int64_t n;

  if (!json_object_object_get_ex (obj, "size", &v)) {
    ch_error ("manifest: size missing");
    return -1;
  }
  if (!json_object_is_type (v, json_type_int)) {
    ch_error ("manifest: size is not an integer");
    return -1;
  }
  /* json-c saturates what does not fit in 64 bits; anything at the limit
   * is refused along with it. */
  n = json_object_get_int64 (v);
  if (n < 0 || n == INT64_MAX) {
    ch_error ("manifest: size out of range");
    return -1;
  }
  m->size = (uint64_t) n;
  return 0;
}

static struct json_object *
parse_object (const char *json, size_t len)
{
  struct json_tokener *tok;
  struct json_object *obj;
  size_t end;

  if (len > CH_MANIFEST_MAX) {
    ch_error ("manifest: larger than %d bytes", CH_MANIFEST_MAX);
    return NULL;
  }
  tok = json_tokener_new_ex (MAX_DEPTH);
  if (tok == NULL) {
    ch_error ("manifest: out of memory");
    return NULL;
  }
  json_tokener_set_flags (tok, JSON_TOKENER_STRICT);
  obj = json_tokener_parse_ex (tok, json, (int) len);
  if (obj == NULL) {
    enum json_tokener_error e = json_tokener_get_error (tok);

    ch_error ("manifest: not JSON: %s",
              e == json_tokener_continue ? "unexpected end" : json_tokener_error_desc (e));
    json_tokener_free (tok);
    return NULL;
  }
  end = json_tokener_get_parse_end (tok);
  json_tokener_free (tok);
  while (end < len && json[end] && strchr (" \t\r\n", json[end]))
    end++;
  if (end < len) {
    json_object_put (obj);
    ch_error ("manifest: garbage after the JSON object");
    return NULL;
  }
  if (!json_object_is_type (obj, json_type_object)) {
    json_object_put (obj);
    ch_error ("manifest: not a JSON object");
    return NULL;
  }
  return obj;
}

int
ch_manifest_parse (const char *json, size_t len, struct ch_manifest *m)
{
  struct json_object *obj;
  int r = 0;

  memset (m, 0, sizeof *m);
  obj = parse_object (json, len);
  if (obj == NULL)
    return -1;
  for (size_t i = 0; r == 0 && i < sizeof fields / sizeof fields[0]; i++)
    r = get_string (obj, &fields[i], m);
  if (r == 0)
    r = get_size (obj, m);
  json_object_put (obj);
  if (r == 0)
    r = check (m);
  return r;
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

bool
ch_manifest_read_current (int base_fd, const char *leaf, const struct stat *fst,
                          struct ch_manifest *m)
{
  char name[CH_BASE_NAME_MAX + sizeof CH_MANIFEST_SUFFIX];
  CLEANUP_CLOSE int fd = -1;
  CLEANUP_FREE char *buf = NULL;
  struct stat st;
  ssize_t n;

  if ((size_t) snprintf (name, sizeof name, "%s%s", leaf, CH_MANIFEST_SUFFIX) >= sizeof name)
    return false;
  fd = openat (base_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_size > CH_MANIFEST_MAX)
    return false;
  if ((buf = malloc (CH_MANIFEST_MAX + 1)) == NULL)
    return false;
  n = ch_read_full (fd, buf, CH_MANIFEST_MAX, 0);
  if (n <= 0 || ch_manifest_parse (buf, (size_t) n, m) < 0)
    return false;
  if (strcmp (m->name, leaf) != 0 || m->size != (uint64_t) fst->st_size)
    return false;
  if (fst->st_ctim.tv_sec > st.st_mtim.tv_sec ||
      (fst->st_ctim.tv_sec == st.st_mtim.tv_sec && fst->st_ctim.tv_nsec >= st.st_mtim.tv_nsec))
    return false;
  return true;
}
