/* Unit tests for lib/json.c: the strict reader and its getters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleanup.h"
#include "error.h"
#include "json.h"
#include "testutil.h"

#define WHAT "the test's document"

static json_object *
parse_n (const char *buf, size_t len, size_t max_len, int max_depth)
{
  ch_error_clear ();
  return ch_json_parse (buf, len, max_len, max_depth, WHAT);
}

static json_object *
parse (const char *text)
{
  return parse_n (text, strlen (text), 4096, 8);
}

/* TEXT must parse. */
static json_object *
accepted (const char *text)
{
  json_object *j = parse (text);

  if (j == NULL)
    fail_msg ("refused: %s: %s", text, ch_last_error ());
  return j;
}

/* BUF[0..LEN) must be refused with an error containing FRAG, and the
 * error must say what was parsed. */
static void
refused_n (const char *buf, size_t len, size_t max_len, int max_depth, const char *frag)
{
  json_object *j = parse_n (buf, len, max_len, max_depth);

  if (j != NULL) {
    json_object_put (j);
    fail_msg ("accepted: %.*s", (int) len, buf);
  }
  assert_error_contains (WHAT ": ");
  assert_error_contains (frag);
}

static void
refused (const char *text, const char *frag)
{
  refused_n (text, strlen (text), 4096, 8, frag);
}

static void
test_parse (void **state)
{
  CLEANUP_JSON json_object *j = NULL;
  const char *s = NULL;

  (void) state;
  j = accepted (" \t\r\n{\"a\": \"b\", \"n\": [1, 2.5, true, null, {}]} \r\n\t ");
  assert_int_equal (ch_json_get_string (j, "a", WHAT, 0, &s), 1);
  assert_string_equal (s, "b");
  json_object_put (CH_STEAL (j));
  j = accepted ("{}");
  json_object_put (CH_STEAL (j));

  /* LEN is honoured: the bytes after it are not read. */
  j = parse_n ("{\"a\": 1}garbage", 8, 4096, 8);
  assert_non_null (j);
}

static void
test_not_json (void **state)
{
  (void) state;
  refused ("", "not a JSON object (not JSON: unexpected end of data at byte 0)");
  refused ("   ", "not JSON: unexpected end of data at byte 3");
  refused ("{", "not JSON: unexpected end of data at byte 1");
  refused ("[1", "not JSON: unexpected end of data");
  refused ("nul", "not JSON: unexpected end of data");
  refused ("{\"a\": \"b", "not JSON: unexpected end of data");
  refused ("{\"a\": ", "not JSON");
  refused ("nonsense", "not a JSON object");
  refused ("<html>502 Bad Gateway</html>", "not a JSON object");
  /* Strict: what json-c would otherwise let through. */
  refused ("{'a': 'b'}", "not JSON: unexpected character");
  refused ("{\"a\": 'b'}", "not JSON");
  refused ("{\"a\": 1,}", "not JSON");
  refused ("{\"a\": [1,]}", "not JSON");
  refused ("{/* c */}", "not JSON");
  refused ("{\"a\": True}", "not JSON");
  refused ("{\"a\": nan}", "not JSON");
  refused ("{\"a\": 01}", "not JSON");
}

static void
test_trailing (void **state)
{
  CLEANUP_JSON json_object *j = NULL;

  (void) state;
  refused ("{} {}", "not JSON: unexpected character at byte 3");
  refused ("{}x", "not a JSON object");
  refused ("{\"a\": 1}\n]", "not a JSON object");
  refused ("{}\f", "not a JSON object");
  refused ("{}\v", "not a JSON object");
  j = accepted ("{}\n\n  \t\r\n");
}

static void
test_not_object (void **state)
{
  static const char *const docs[] = {
    "[]", "[{}]", "null", "true", "1", "-2.5", "\"string\"", "12 ", " null\n",
  };

  (void) state;
  for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
    refused (docs[i], "not a JSON object");
    /* Valid JSON: no word of a syntax error. */
    if (strstr (ch_last_error (), "not JSON"))
      fail_msg ("%s: %s", docs[i], ch_last_error ());
  }
}

/* MAX_DEPTH levels of nesting pass, one more does not. */
static void
test_depth (void **state)
{
  char doc[256];

  (void) state;
  for (int max = 1; max <= 40; max++) {
    json_object *j;
    size_t n = 0;

    /* {"a": [[...[1]...]]}: the object, then MAX - 1 arrays. */
    n += (size_t) snprintf (doc + n, sizeof doc - n, "{\"a\": ");
    for (int k = 1; k < max; k++)
      doc[n++] = '[';
    doc[n++] = '1';
    for (int k = 1; k < max; k++)
      doc[n++] = ']';
    doc[n++] = '}';
    doc[n] = '\0';
    j = parse_n (doc, n, 4096, max);
    if (j == NULL)
      fail_msg ("depth %d refused at limit %d: %s", max, max, ch_last_error ());
    json_object_put (j);
    if (max > 1)
      refused_n (doc, n, 4096, max - 1, "not JSON: nesting too deep");
  }
}

static void
test_nul (void **state)
{
  static const char in_string[] = "{\"a\": \"b\0c\"}";
  static const char after[] = "{\"a\": 1}\0";
  static const char after_ws[] = "{\"a\": 1} \0 ";
  CLEANUP_JSON json_object *j = NULL;
  const char *s = NULL;

  (void) state;
  refused_n (in_string, sizeof in_string - 1, 4096, 8, "not JSON: a NUL byte at byte 8");
  refused_n (after, sizeof after - 1, 4096, 8, "not JSON: a NUL byte at byte 8");
  refused_n (after_ws, sizeof after_ws - 1, 4096, 8, "a NUL byte at byte 9");
  refused_n ("\0{}", 3, 4096, 8, "a NUL byte at byte 0");
  /* An escaped NUL is JSON; the string getters refuse it. */
  j = accepted ("{\"a\": \"b\\u0000c\"}");
  assert_int_equal (ch_json_get_string (j, "a", WHAT, 0, &s), -1);
}

static void
test_size (void **state)
{
  CLEANUP_FREE char *big = NULL;
  json_object *j;
  const size_t max = 1000;

  (void) state;
  big = malloc (max + 2);
  assert_non_null (big);
  memset (big, ' ', max + 1);
  big[0] = '{';
  big[max - 1] = '}';
  big[max + 1] = '\0';
  /* MAX bytes pass; the byte after them is not read. */
  j = parse_n (big, max, max, 8);
  if (j == NULL)
    fail_msg ("%s", ch_last_error ());
  json_object_put (j);
  refused_n (big, max + 1, max, 8, WHAT ": larger than 1000 bytes");
  /* Refused before anything is read. */
  refused_n ("{", 2, 1, 8, "larger than 1 bytes");
}

static void
test_get_string (void **state)
{
  CLEANUP_JSON json_object *j = NULL;
  const char *s = NULL;

  (void) state;
  j = accepted ("{\"s\": \"text\", \"e\": \"\", \"null\": null, \"n\": 5, \"o\": {}, \"a\": [],"
                " \"nul\": \"x\\u0000y\"}");
  assert_int_equal (ch_json_get_string (j, "s", WHAT, 0, &s), 1);
  assert_string_equal (s, "text");
  assert_int_equal (ch_json_get_string (j, "e", WHAT, 0, &s), 1);
  assert_string_equal (s, "");

  /* Absent: *OUT untouched. */
  s = "unset";
  assert_int_equal (ch_json_get_string (j, "missing", WHAT, 0, &s), 0);
  assert_string_equal (s, "unset");
  assert_int_equal (ch_json_get_string (j, "null", WHAT, CH_JSON_NULL_ABSENT, &s), 0);
  assert_string_equal (s, "unset");

  ch_error_clear ();
  assert_int_equal (ch_json_get_string (j, "null", WHAT, 0, &s), -1);
  assert_error_contains (WHAT ": \"null\" is not a string");
  assert_int_equal (ch_json_get_string (j, "n", WHAT, CH_JSON_NULL_ABSENT, &s), -1);
  assert_error_contains (WHAT ": \"n\" is not a string");
  assert_int_equal (ch_json_get_string (j, "o", WHAT, 0, &s), -1);
  assert_error_contains ("\"o\" is not a string");
  assert_int_equal (ch_json_get_string (j, "a", WHAT, 0, &s), -1);
  assert_error_contains ("\"a\" is not a string");
  assert_int_equal (ch_json_get_string (j, "nul", WHAT, 0, &s), -1);
  assert_error_contains (WHAT ": \"nul\" is not a string (it contains a NUL byte)");
  assert_int_equal (ch_json_get_string (j, "n", WHAT, CH_JSON_BARE_KEY, &s), -1);
  assert_error_contains (WHAT ": n is not a string");
  assert_string_equal (s, "unset");
}

static void
test_copy_string (void **state)
{
  CLEANUP_JSON json_object *j = NULL;
  char buf[5];

  (void) state;
  j = accepted ("{\"fits\": \"four\", \"long\": \"fives\", \"null\": null, \"n\": 1.5,"
                " \"nul\": \"a\\u0000\"}");
  assert_int_equal (ch_json_copy_string (j, "fits", WHAT, 0, buf, sizeof buf), 1);
  assert_string_equal (buf, "four");

  /* Absent, and every error, leave "". */
  assert_int_equal (ch_json_copy_string (j, "missing", WHAT, 0, buf, sizeof buf), 0);
  assert_string_equal (buf, "");
  strcpy (buf, "old");
  assert_int_equal (ch_json_copy_string (j, "null", WHAT, CH_JSON_NULL_ABSENT, buf,
                                         sizeof buf), 0);
  assert_string_equal (buf, "");

  ch_error_clear ();
  strcpy (buf, "old");
  assert_int_equal (ch_json_copy_string (j, "long", WHAT, 0, buf, sizeof buf), -1);
  assert_error_contains (WHAT ": \"long\" longer than 4 bytes");
  assert_string_equal (buf, "");
  assert_int_equal (ch_json_copy_string (j, "null", WHAT, 0, buf, sizeof buf), -1);
  assert_error_contains (WHAT ": \"null\" is not a string");
  assert_int_equal (ch_json_copy_string (j, "n", WHAT, 0, buf, sizeof buf), -1);
  assert_error_contains (WHAT ": \"n\" is not a string");
  assert_int_equal (ch_json_copy_string (j, "nul", WHAT, 0, buf, sizeof buf), -1);
  assert_error_contains (WHAT ": \"nul\" contains a NUL byte");
  assert_string_equal (buf, "");

  /* The manifest's style. */
  assert_int_equal (ch_json_copy_string (j, "long", "manifest", CH_JSON_BARE_KEY, buf,
                                         sizeof buf), -1);
  assert_error_contains ("manifest: long longer than 4 bytes");
  assert_int_equal (ch_json_copy_string (j, "nul", "manifest", CH_JSON_BARE_KEY, buf,
                                         sizeof buf), -1);
  assert_error_contains ("manifest: nul contains a NUL byte");
}

static void
test_get_int64 (void **state)
{
  static const char *const bad[] = { "f", "f0", "e", "s", "b", "null" };
  CLEANUP_JSON json_object *j = NULL;
  int64_t n = 42;

  (void) state;
  j = accepted ("{\"i\": 5, \"neg\": -7, \"zero\": -0, \"big\": 99999999999999999999,"
                " \"small\": -99999999999999999999, \"f\": 1.5, \"f0\": 1.0, \"e\": 1e3,"
                " \"s\": \"5\", \"b\": true, \"null\": null}");
  assert_int_equal (ch_json_get_int64 (j, "i", WHAT, 0, &n), 1);
  assert_int_equal (n, 5);
  assert_int_equal (ch_json_get_int64 (j, "neg", WHAT, 0, &n), 1);
  assert_int_equal (n, -7);
  assert_int_equal (ch_json_get_int64 (j, "zero", WHAT, 0, &n), 1);
  assert_int_equal (n, 0);
  /* json-c saturates. */
  assert_int_equal (ch_json_get_int64 (j, "big", WHAT, 0, &n), 1);
  assert_true (n == INT64_MAX);
  assert_int_equal (ch_json_get_int64 (j, "small", WHAT, 0, &n), 1);
  assert_true (n == INT64_MIN);

  n = 42;
  assert_int_equal (ch_json_get_int64 (j, "missing", WHAT, 0, &n), 0);
  assert_int_equal (n, 42);
  assert_int_equal (ch_json_get_int64 (j, "null", WHAT, CH_JSON_NULL_ABSENT, &n), 0);
  assert_int_equal (n, 42);

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char frag[64];

    ch_error_clear ();
    assert_int_equal (ch_json_get_int64 (j, bad[i], WHAT, 0, &n), -1);
    snprintf (frag, sizeof frag, WHAT ": \"%s\" is not an integer", bad[i]);
    assert_error_contains (frag);
  }
  assert_int_equal (n, 42);
  assert_int_equal (ch_json_get_int64 (j, "s", "manifest", CH_JSON_BARE_KEY, &n), -1);
  assert_error_contains ("manifest: s is not an integer");
}

static void
test_get_containers (void **state)
{
  CLEANUP_JSON json_object *j = NULL;
  json_object *v = NULL;

  (void) state;
  j = accepted ("{\"o\": {\"x\": 1}, \"a\": [1, 2], \"s\": \"[]\", \"null\": null}");
  assert_int_equal (ch_json_get_object (j, "o", WHAT, 0, &v), 1);
  assert_true (json_object_is_type (v, json_type_object));
  assert_int_equal (ch_json_get_array (j, "a", WHAT, 0, &v), 1);
  assert_int_equal (json_object_array_length (v), 2);

  v = NULL;
  assert_int_equal (ch_json_get_object (j, "missing", WHAT, 0, &v), 0);
  assert_int_equal (ch_json_get_array (j, "missing", WHAT, 0, &v), 0);
  assert_int_equal (ch_json_get_object (j, "null", WHAT, CH_JSON_NULL_ABSENT, &v), 0);
  assert_int_equal (ch_json_get_array (j, "null", WHAT, CH_JSON_NULL_ABSENT, &v), 0);
  assert_null (v);

  ch_error_clear ();
  assert_int_equal (ch_json_get_object (j, "a", WHAT, 0, &v), -1);
  assert_error_contains (WHAT ": no \"a\" object");
  assert_int_equal (ch_json_get_object (j, "null", WHAT, 0, &v), -1);
  assert_error_contains (WHAT ": no \"null\" object");
  assert_int_equal (ch_json_get_array (j, "o", WHAT, 0, &v), -1);
  assert_error_contains (WHAT ": no \"o\" array");
  assert_int_equal (ch_json_get_array (j, "s", WHAT, 0, &v), -1);
  assert_error_contains (WHAT ": no \"s\" array");
  assert_null (v);
}

static void
test_peek_string (void **state)
{
  CLEANUP_JSON json_object *j = NULL;
  json_object *arr = NULL;

  (void) state;
  j = accepted ("{\"s\": \"x\", \"n\": 1, \"null\": null, \"nul\": \"a\\u0000b\", \"a\": [\"x\"]}");
  ch_error_clear ();
  assert_string_equal (ch_json_peek_string (j, "s"), "x");
  assert_null (ch_json_peek_string (j, "missing"));
  assert_null (ch_json_peek_string (j, "n"));
  assert_null (ch_json_peek_string (j, "null"));
  assert_null (ch_json_peek_string (j, "nul"));
  /* Anything but an object has no members. */
  assert_int_equal (ch_json_get_array (j, "a", WHAT, 0, &arr), 1);
  assert_null (ch_json_peek_string (arr, "s"));
  assert_null (ch_json_peek_string (json_object_array_get_idx (arr, 0), "s"));
  assert_null (ch_json_peek_string (NULL, "s"));
  /* It reports nothing. */
  assert_string_equal (ch_last_error (), "");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_parse),
    cmocka_unit_test (test_not_json),
    cmocka_unit_test (test_trailing),
    cmocka_unit_test (test_not_object),
    cmocka_unit_test (test_depth),
    cmocka_unit_test (test_nul),
    cmocka_unit_test (test_size),
    cmocka_unit_test (test_get_string),
    cmocka_unit_test (test_copy_string),
    cmocka_unit_test (test_get_int64),
    cmocka_unit_test (test_get_containers),
    cmocka_unit_test (test_peek_string),
  };

  return tu_run_group_tests (tests, NULL, NULL);
}
