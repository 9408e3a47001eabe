#include "json.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"

json_object *
ch_json_parse (const char *buf, size_t len, size_t max_len, int max_depth, const char *what)
{
  CLEANUP_JSON json_object *j = NULL;
  json_tokener *tok;
  enum json_tokener_error e;
  const char *nul;
  size_t end;

  /* json-c counts in int. */
  if (max_len > INT_MAX)
    max_len = INT_MAX;
  if (len > max_len) {
    ch_error ("%s: larger than %zu bytes", what, max_len);
    return NULL;
  }
  /* json-c stops at a NUL as if the text ended there. */
  if ((nul = memchr (buf, '\0', len)) != NULL) {
    ch_error ("%s: not a JSON object (not JSON: a NUL byte at byte %zu)", what,
              (size_t) (nul - buf));
    return NULL;
  }
  /* json-c's depth counts the level it starts at. */
  if ((tok = json_tokener_new_ex (max_depth + 1)) == NULL) {
    ch_error ("%s: out of memory", what);
    return NULL;
  }
  json_tokener_set_flags (tok, JSON_TOKENER_STRICT);
  j = json_tokener_parse_ex (tok, buf, (int) len);
  end = json_tokener_get_parse_end (tok);
  /* A number or a literal at the very end is complete only once json-c
   * knows the text ends: its NUL says so. */
  if (j == NULL && json_tokener_get_error (tok) == json_tokener_continue)
    j = json_tokener_parse_ex (tok, "", 1);
  e = json_tokener_get_error (tok);
  json_tokener_free (tok);
  if (e != json_tokener_success) {
    ch_error ("%s: not a JSON object (not JSON: %s at byte %zu)", what,
              json_tokener_error_desc (e), end);
    return NULL;
  }
  /* Not every json-c refuses what follows the value when strict. */
  while (end < len && strchr (" \t\r\n", buf[end]))
    end++;
  if (end < len) {
    ch_error ("%s: not a JSON object (not JSON: garbage after it at byte %zu)", what, end);
    return NULL;
  }
  /* JSON's null is json-c's NULL, which is of type null. */
  if (!json_object_is_type (j, json_type_object)) {
    ch_error ("%s: not a JSON object", what);
    return NULL;
  }
  return CH_STEAL (j);
}

/* The quote around KEY in messages. */
static const char *
q (unsigned flags)
{
  return (flags & CH_JSON_BARE_KEY) ? "" : "\"";
}

/* Member KEY of OBJ into *V if it is of TYPE: as the getters. */
static int
member (json_object *obj, const char *key, const char *what, unsigned flags,
        enum json_type type, json_object **v)
{
  if (!json_object_object_get_ex (obj, key, v) ||
      ((flags & CH_JSON_NULL_ABSENT) && json_object_is_type (*v, json_type_null)))
    return 0;
  if (json_object_is_type (*v, type))
    return 1;
  if (type == json_type_object || type == json_type_array)
    ch_error ("%s: no %s%s%s %s", what, q (flags), key, q (flags),
              type == json_type_object ? "object" : "array");
  else
    ch_error ("%s: %s%s%s is not %s", what, q (flags), key, q (flags),
              type == json_type_string ? "a string" : "an integer");
  return -1;
}

static bool
has_nul (json_object *v)
{
  return strlen (json_object_get_string (v)) != (size_t) json_object_get_string_len (v);
}

int
ch_json_get_string (json_object *obj, const char *key, const char *what,
                    unsigned flags, const char **out)
{
  json_object *v;
  int r;

  if ((r = member (obj, key, what, flags, json_type_string, &v)) <= 0)
    return r;
  if (has_nul (v)) {
    ch_error ("%s: %s%s%s is not a string (it contains a NUL byte)", what, q (flags), key,
              q (flags));
    return -1;
  }
  *out = json_object_get_string (v);
  return 1;
}

int
ch_json_copy_string (json_object *obj, const char *key, const char *what,
                     unsigned flags, char *buf, size_t size)
{
  json_object *v;
  size_t len;
  int r;

  buf[0] = '\0';
  if ((r = member (obj, key, what, flags, json_type_string, &v)) <= 0)
    return r;
  if (has_nul (v)) {
    ch_error ("%s: %s%s%s contains a NUL byte", what, q (flags), key, q (flags));
    return -1;
  }
  len = (size_t) json_object_get_string_len (v);
  if (len >= size) {
    ch_error ("%s: %s%s%s longer than %zu bytes", what, q (flags), key, q (flags), size - 1);
    return -1;
  }
  memcpy (buf, json_object_get_string (v), len + 1);
  return 1;
}

int
ch_json_get_int64 (json_object *obj, const char *key, const char *what,
                   unsigned flags, int64_t *out)
{
  json_object *v;
  int r;

  if ((r = member (obj, key, what, flags, json_type_int, &v)) <= 0)
    return r;
  *out = json_object_get_int64 (v);
  return 1;
}

/* Container member KEY of OBJ of TYPE: as the getters. */
static int
container (json_object *obj, const char *key, const char *what, unsigned flags,
           enum json_type type, json_object **out)
{
  json_object *v;
  int r;

  if ((r = member (obj, key, what, flags, type, &v)) == 1)
    *out = v;
  return r;
}

int
ch_json_get_object (json_object *obj, const char *key, const char *what,
                    unsigned flags, json_object **out)
{
  return container (obj, key, what, flags, json_type_object, out);
}

int
ch_json_get_array (json_object *obj, const char *key, const char *what,
                   unsigned flags, json_object **out)
{
  return container (obj, key, what, flags, json_type_array, out);
}

const char *
ch_json_peek_string (json_object *obj, const char *key)
{
  json_object *v;

  if (!json_object_object_get_ex (obj, key, &v) || !json_object_is_type (v, json_type_string) ||
      has_nul (v))
    return NULL;
  return json_object_get_string (v);
}
