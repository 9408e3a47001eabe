/* Unit tests for fetch/manifest.c: <name>.cowherd.json, both ways. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "manifest.h"
#include "testutil.h"

#define SHA "f2d1a8250ed3d4b744a8250dab8f6840179d502a"
#define SHA256 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define SHA512 "ee26b0dd4af7e749aa1a8ee3c10ae9923f618980772e473f8819a5d4940e0db2" \
               "7ac185f8a0e1d5f84f88bc887fd67b143732c304cc5fa9ad8e6f57f50028a8ff"

static int
parse (const char *json, struct ch_manifest *m)
{
  ch_error_clear ();
  return ch_manifest_parse (json, strlen (json), m);
}

/* JSON must be refused with an error containing FRAG. */
static void
refused (const char *json, const char *frag)
{
  struct ch_manifest m;

  if (parse (json, &m) != -1)
    fail_msg ("accepted: %s", json);
  assert_error_contains (frag);
}

static struct ch_manifest
full (void)
{
  struct ch_manifest m = { .size = 21474836480ull };

  strcpy (m.name, SHA);
  strcpy (m.sha256, SHA256);
  strcpy (m.image_id, "155d900f-4e14-4e4c-a73d-069cbf4541e6");
  strcpy (m.source, "https://glance.example:9292/v2/images/"
          "155d900f-4e14-4e4c-a73d-069cbf4541e6/file");
  strcpy (m.glance_hash_algo, "sha512");
  strcpy (m.glance_hash, SHA512);
  return m;
}

static void
assert_same (const struct ch_manifest *a, const struct ch_manifest *b)
{
  assert_string_equal (a->name, b->name);
  assert_int_equal (a->size, b->size);
  assert_string_equal (a->sha256, b->sha256);
  assert_string_equal (a->sha512, b->sha512);
  assert_string_equal (a->image_id, b->image_id);
  assert_string_equal (a->source, b->source);
  assert_string_equal (a->glance_hash_algo, b->glance_hash_algo);
  assert_string_equal (a->glance_hash, b->glance_hash);
}

static void
round_trip (const struct ch_manifest *m)
{
  struct ch_manifest back;
  char *s = ch_manifest_format (m);

  if (s == NULL)
    fail_msg ("%s", ch_last_error ());
  assert_null (strchr (s, '\n'));
  if (parse (s, &back) < 0)
    fail_msg ("%s: %s", s, ch_last_error ());
  assert_same (m, &back);
  free (s);
}

static void
test_round_trip (void **state)
{
  struct ch_manifest m = full ();

  (void) state;
  round_trip (&m);

  /* Only what is required; unknowns stay "". */
  memset (m.image_id, 0, sizeof m.image_id);
  m.source[0] = m.glance_hash_algo[0] = m.glance_hash[0] = '\0';
  m.size = 0;
  round_trip (&m);

  /* Strings that need escaping, and fields at their caps. */
  m = full ();
  strcpy (m.name, "a \"quoted\" \\ name\twith \xc3\xa9");
  memset (m.source, 'x', sizeof m.source - 1);
  memset (m.image_id, 'i', sizeof m.image_id - 1);
  memset (m.glance_hash_algo, 'h', sizeof m.glance_hash_algo - 1);
  m.size = INT64_MAX - 1;
  round_trip (&m);
  memset (m.name, 'n', sizeof m.name - 1);
  round_trip (&m);
}

static void
test_parse (void **state)
{
  struct ch_manifest m;

  (void) state;
  assert_int_equal (parse ("  {\"name\": \"" SHA "\", \"size\": 1024, \"sha256\": \"" SHA256 "\","
                           " \"image_id\": \"abc\", \"future_key\": {\"x\": [1, 2]}}\n", &m), 0);
  assert_string_equal (m.name, SHA);
  assert_int_equal (m.size, 1024);
  assert_string_equal (m.sha256, SHA256);
  assert_string_equal (m.image_id, "abc");
  assert_string_equal (m.source, "");
  assert_string_equal (m.glance_hash, "");
}

#define NAME "\"name\": \"" SHA "\""
#define SIZE "\"size\": 5"
#define SUM "\"sha256\": \"" SHA256 "\""

static void
test_malformed (void **state)
{
  (void) state;
  refused ("", "not JSON");
  refused ("{", "not JSON");
  refused ("{\"name\": ", "not JSON");
  refused ("nonsense", "not JSON");
  refused ("{'name': 'x'}", "not JSON");
  refused ("[1, 2]", "not a JSON object");
  refused ("\"string\"", "not a JSON object");
  refused ("{" NAME ", " SIZE ", " SUM "} {}", "not JSON: unexpected character");
  refused ("{" NAME ", " SIZE ", " SUM "} x", "not JSON: unexpected character");
  refused ("{\"a\": [[[[[[[[[[1]]]]]]]]]]}", "not JSON");

  refused ("{" SIZE ", " SUM "}", "name missing");
  refused ("{" NAME ", " SUM "}", "size missing");
  refused ("{" NAME ", " SIZE "}", "no sha256 or sha512");
  refused ("{" NAME ", " SIZE ", \"sha512\": \"" SHA256 "\"}", "sha512 is not 128 lowercase hex");
  refused ("{" NAME ", " SIZE ", \"sha512\": 7}", "sha512 is not a string");

  refused ("{\"name\": 5, " SIZE ", " SUM "}", "name is not a string");
  refused ("{\"name\": null, " SIZE ", " SUM "}", "name is not a string");
  refused ("{\"name\": \"a/b\", " SIZE ", " SUM "}", "is not a file name");
  refused ("{\"name\": \"..\", " SIZE ", " SUM "}", "is not a file name");
  refused ("{\"name\": \"\", " SIZE ", " SUM "}", "is not a file name");
  refused ("{\"name\": \"a\\u0000b\", " SIZE ", " SUM "}", "name contains a NUL byte");

  refused ("{" NAME ", \"size\": -1, " SUM "}", "size out of range");
  refused ("{" NAME ", \"size\": 99999999999999999999999, " SUM "}", "size");
  refused ("{" NAME ", \"size\": 18446744073709551615, " SUM "}", "size out of range");
  refused ("{" NAME ", \"size\": 1.5, " SUM "}", "size is not an integer");
  refused ("{" NAME ", \"size\": 1e3, " SUM "}", "size is not an integer");
  refused ("{" NAME ", \"size\": \"5\", " SUM "}", "size is not an integer");
  refused ("{" NAME ", \"size\": true, " SUM "}", "size is not an integer");

  refused ("{" NAME ", " SIZE ", \"sha256\": \"abc\"}", "sha256 is not 64 lowercase hex");
  refused ("{" NAME ", " SIZE ", \"sha256\": \"" SHA256 "0\"}", "sha256 longer than 64");
  refused ("{" NAME ", " SIZE ", \"sha256\": \"9F86D081884C7D659A2FEAA0C55AD015"
           "A3BF4F1B2B0B822CD15D6C15B0F00A08\"}", "sha256 is not 64 lowercase hex");
  refused ("{" NAME ", " SIZE ", \"sha256\": \"zf86d081884c7d659a2feaa0c55ad015"
           "a3bf4f1b2b0b822cd15d6c15b0f00a08\"}", "sha256 is not 64 lowercase hex");
  refused ("{" NAME ", " SIZE ", \"sha256\": [1]}", "sha256 is not a string");

  refused ("{" NAME ", " SIZE ", " SUM ", \"image_id\": 7}", "image_id is not a string");
  refused ("{" NAME ", " SIZE ", " SUM ", \"source\": {}}", "source is not a string");
  refused ("{" NAME ", " SIZE ", " SUM ", \"glance_hash_algo\": false}",
           "glance_hash_algo is not a string");
  refused ("{" NAME ", " SIZE ", " SUM ", \"glance_hash_algo\": \"sha512sha512sha512\"}",
           "glance_hash_algo longer than 15 bytes");
  refused ("{" NAME ", " SIZE ", " SUM ", \"glance_hash\": \"" SHA512 "0\"}",
           "glance_hash longer than 128 bytes");
}

/* Lengths just past each cap, built rather than written out. */
static void
test_caps (void **state)
{
  static const struct { const char *key; size_t cap; } caps[] = {
    { "name", 255 }, { "image_id", 127 }, { "source", 1023 },
  };
  char json[4096], frag[64], *big;
  struct ch_manifest m;

  (void) state;
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
    char v[2048];
    const char *name = strcmp (caps[i].key, "name") ? "\"name\": \"" SHA "\", " : "";

    memset (v, 'x', caps[i].cap);
    v[caps[i].cap] = '\0';
    snprintf (json, sizeof json, "{%s\"%s\": \"%s\", " SIZE ", " SUM "}", name, caps[i].key, v);
    assert_int_equal (parse (json, &m), 0);
    strcat (v, "x");
    snprintf (json, sizeof json, "{%s\"%s\": \"%s\", " SIZE ", " SUM "}", name, caps[i].key, v);
    snprintf (frag, sizeof frag, "%s longer than %zu bytes", caps[i].key, caps[i].cap);
    refused (json, frag);
  }

  /* The document itself: bounded before parsing. */
  big = malloc (CH_MANIFEST_MAX + 2);
  assert_non_null (big);
  memset (big, ' ', CH_MANIFEST_MAX + 1);
  big[0] = '{';
  strcpy (big + CH_MANIFEST_MAX + 1 - 40, "\"a\": 1}");
  big[CH_MANIFEST_MAX + 1] = '\0';
  ch_error_clear ();
  assert_int_equal (ch_manifest_parse (big, CH_MANIFEST_MAX + 1, &m), -1);
  assert_error_contains ("larger than 65536 bytes");
  free (big);

  /* LEN is honoured: the bytes after it are not read. */
  assert_int_equal (ch_manifest_parse ("{" NAME ", " SIZE ", " SUM "}garbage",
                                       strlen ("{" NAME ", " SIZE ", " SUM "}"), &m), 0);
}

/* A manifest from a Glance download records sha512 alone; which digest a
 * manifest is checked by, and when two say the same content. */
static void
test_digests (void **state)
{
  struct ch_manifest a = full (), b = full ();
  const char *algo, *hex;

  (void) state;
  ch_manifest_digest (&a, &algo, &hex);
  assert_string_equal (algo, "sha256");
  assert_ptr_equal (hex, a.sha256);
  a.sha256[0] = '\0';
  strcpy (a.sha512, SHA512);
  round_trip (&a);
  ch_manifest_digest (&a, &algo, &hex);
  assert_string_equal (algo, "sha512");
  assert_string_equal (hex, SHA512);
  /* sha512 against sha256 alone: nothing in common. */
  assert_int_equal (ch_manifest_same_content (&a, &b), -1);
  strcpy (b.sha512, SHA512);
  assert_int_equal (ch_manifest_same_content (&a, &b), 1);
  b.sha512[5] = b.sha512[5] == 'a' ? 'b' : 'a';
  assert_int_equal (ch_manifest_same_content (&a, &b), 0);
  b = a;
  b.size++;
  assert_int_equal (ch_manifest_same_content (&a, &b), 0);
}

static void
test_format_refuses (void **state)
{
  struct ch_manifest m = full ();

  (void) state;
  strcpy (m.name, "../etc");
  ch_error_clear ();
  assert_null (ch_manifest_format (&m));
  assert_error_contains ("is not a file name");

  m = full ();
  m.sha256[3] = 'G';
  assert_null (ch_manifest_format (&m));
  assert_error_contains ("sha256");

  m = full ();
  memset (m.source, 'x', sizeof m.source);      /* no NUL */
  assert_null (ch_manifest_format (&m));
  assert_error_contains ("source is not terminated");
}

/* Current: written after the file last changed.  Equal times (the same
 * clock tick, as when a fetch publishes both) count as after; a file that
 * changed later, as not. */
static void
test_current (void **state)
{
  struct ch_manifest m = full (), back;
  struct timespec ts[2];
  struct stat st;
  char *json;
  int dfd, fd;

  (void) state;
  assert_int_equal (tu_tmpdir_make ("test-manifest"), 0);
  strcpy (m.name, "0123456789abcdef0123456789abcdef01234567");
  m.size = 4096;
  dfd = open (tmpdir, O_RDONLY | O_DIRECTORY);
  assert_true (dfd >= 0);
  fd = openat (dfd, m.name, O_CREAT | O_WRONLY, 0644);
  assert_int_equal (ftruncate (fd, 4096), 0);
  assert_int_equal (fstat (fd, &st), 0);
  close (fd);
  json = ch_manifest_format (&m);
  assert_non_null (json);
  fd = openat (dfd, "0123456789abcdef0123456789abcdef01234567" CH_MANIFEST_SUFFIX,
               O_CREAT | O_WRONLY, 0644);
  assert_int_equal (write (fd, json, strlen (json)), (ssize_t) strlen (json));
  free (json);
  ts[0] = ts[1] = st.st_ctim;
  assert_int_equal (futimens (fd, ts), 0);
  assert_true (ch_manifest_read_current (dfd, m.name, &st, &back));
  assert_string_equal (back.sha256, m.sha256);
  /* The file changed a nanosecond after the manifest was written. */
  if (ts[0].tv_nsec > 0)
    ts[0].tv_nsec--;
  else {
    ts[0].tv_sec--;
    ts[0].tv_nsec = 999999999;
  }
  ts[1] = ts[0];
  assert_int_equal (futimens (fd, ts), 0);
  assert_false (ch_manifest_read_current (dfd, m.name, &st, &back));
  /* Any manifest naming the entry still says where it came from. */
  assert_true (ch_manifest_read (dfd, m.name, &back));
  assert_string_equal (back.image_id, m.image_id);
  /* Another size: not the file it was written for. */
  st.st_size = 8192;
  assert_false (ch_manifest_read_current (dfd, m.name, &st, &back));
  close (fd);
  close (dfd);
  assert_int_equal (tu_tmpdir_remove (), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_round_trip),
    cmocka_unit_test (test_parse),
    cmocka_unit_test (test_malformed),
    cmocka_unit_test (test_caps),
    cmocka_unit_test (test_format_refuses),
    cmocka_unit_test (test_digests),
    cmocka_unit_test (test_current),
  };

  return tu_run_group_tests (tests, NULL, NULL);
}
