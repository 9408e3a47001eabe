/* cowherd: the one JSON reader (json-c), for Glance's and Keystone's
 * answers and for manifests.
 *
 * ch_json_parse reads one JSON object from a bounded buffer, strictly.  The
 * getters read one member of an object, in the style of libvirt's virxml
 * getters: 1 found (*OUT set), 0 absent (*OUT untouched unless said), -1
 * of another type or otherwise unfit (with ch_error naming WHAT and KEY).
 * Whether an absent member is an error is the caller's to say.  Arrays
 * are walked with json-c itself (json_object_array_length,
 * json_object_array_get_idx). */
#ifndef COWHERD_JSON_H
#define COWHERD_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/* Flags for the getters. */
#define CH_JSON_NULL_ABSENT 0x1u   /* a member that is null reads as absent */
#define CH_JSON_BARE_KEY    0x2u   /* messages name KEY unquoted (manifests') */

static inline void
ch_json_putp (json_object **j)
{
  if (*j)
    json_object_put (*j);
}
/* The owner of a parsed tree; strings got from it live as long as it. */
#define CLEANUP_JSON __attribute__((cleanup (ch_json_putp)))

/* BUF[0..LEN) as a JSON object: LEN at most MAX_LEN, no NUL byte, strict
 * JSON (json-c's JSON_TOKENER_STRICT), objects and arrays nested at most
 * MAX_DEPTH (1 or more) deep, the top-level object counting 1, nothing but
 * white space after the object.  The caller owns the tree.  NULL with
 * ch_error: "WHAT: larger than MAX_LEN bytes", else "WHAT: not a JSON
 * object", followed by "(not JSON: <why> at byte N)" if it is not JSON. */
json_object *ch_json_parse (const char *buf, size_t len, size_t max_len, int max_depth,
                            const char *what);

/* A string without NUL bytes; *OUT points into OBJ's tree.  -1: "WHAT:
 * \"KEY\" is not a string". */
int ch_json_get_string (json_object *obj, const char *key, const char *what,
                        unsigned flags, const char **out);
/* The same copied into BUF of SIZE (1 or more) bytes; BUF is "" when
 * the member is absent and on errors.  -1: "WHAT: \"KEY\" is not a
 * string", "... contains a NUL byte", "... longer than SIZE-1 bytes". */
int ch_json_copy_string (json_object *obj, const char *key, const char *what,
                         unsigned flags, char *buf, size_t size);
/* An integer (no fraction, no exponent); json-c saturates what does not
 * fit at INT64_MIN and INT64_MAX.  -1: "WHAT: \"KEY\" is not an integer". */
int ch_json_get_int64 (json_object *obj, const char *key, const char *what,
                       unsigned flags, int64_t *out);
/* An object or an array; *OUT is OBJ's.  -1: "WHAT: no \"KEY\" object"
 * or "... array". */
int ch_json_get_object (json_object *obj, const char *key, const char *what,
                        unsigned flags, json_object **out);
int ch_json_get_array (json_object *obj, const char *key, const char *what,
                       unsigned flags, json_object **out);

/* String member KEY of OBJ if it is a string without NUL bytes, else NULL;
 * reports nothing.  For filters, where an entry of another shape is only
 * not the one sought. */
const char *ch_json_peek_string (json_object *obj, const char *key);

#endif
