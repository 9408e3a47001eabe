/* Unit tests: lexical path handling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pathutil.h"

static void
norm_is (const char *in, const char *want)
{
  char *got = ch_path_normalize (in);

  assert_non_null (got);
  assert_string_equal (got, want);
  free (got);
}

static void
test_normalize (void **state)
{
  (void) state;
  norm_is ("/", "/");
  norm_is ("/a/b", "/a/b");
  norm_is ("//a///b/", "/a/b");
  norm_is ("/a/./b/.", "/a/b");
  norm_is ("/a/b/../c", "/a/c");
  norm_is ("/../../etc/passwd", "/etc/passwd");
  norm_is ("/a/..", "/");
  norm_is ("/a/...", "/a/...");
  norm_is ("/a/..b", "/a/..b");
  assert_null (ch_path_normalize ("relative/path"));
  assert_null (ch_path_normalize (""));
}

static void
test_normalize_long (void **state)
{
  char *p = malloc (CH_PATH_MAX + 10);

  (void) state;
  memset (p, 'a', CH_PATH_MAX + 9);
  p[0] = '/';
  p[CH_PATH_MAX + 9] = '\0';
  assert_null (ch_path_normalize (p));
  free (p);
}

static void
resolve_is (const char *image, const char *backing, const char *want)
{
  char *got = ch_path_resolve_backing (image, backing);

  assert_non_null (got);
  assert_string_equal (got, want);
  free (got);
}

static void
test_resolve_backing (void **state)
{
  (void) state;
  resolve_is ("/i/u/disk", "/i/_base/x", "/i/_base/x");
  resolve_is ("/i/u/disk", "../_base/x", "/i/_base/x");
  resolve_is ("/i/u/disk", "snap", "/i/u/snap");
  resolve_is ("/i/_base/a", "b", "/i/_base/b");
  resolve_is ("/i/u/disk", "../../../../etc/shadow", "/etc/shadow");
}

static void
test_dotdot_and_leaf (void **state)
{
  (void) state;
  assert_true (ch_path_has_dotdot ("../x"));
  assert_true (ch_path_has_dotdot ("/a/../x"));
  assert_true (ch_path_has_dotdot ("a/.."));
  assert_false (ch_path_has_dotdot ("a/..b/c"));
  assert_false (ch_path_has_dotdot ("/a/b"));

  assert_false (ch_str_has_control ("/i/u/disk \xc3\xa9~"));
  assert_false (ch_str_has_control (""));
  assert_true (ch_str_has_control ("/b/x\nforged"));
  assert_true (ch_str_has_control ("\x1b[2J"));
  assert_true (ch_str_has_control ("a\x7f"));

  assert_string_equal (ch_path_leaf_in ("/i/_base/x", "/i/_base"), "x");
  assert_null (ch_path_leaf_in ("/i/_base/x/y", "/i/_base"));
  assert_null (ch_path_leaf_in ("/i/_basex", "/i/_base"));
  assert_null (ch_path_leaf_in ("/i/_base", "/i/_base"));
  assert_null (ch_path_leaf_in ("/i/_base/", "/i/_base"));
  assert_null (ch_path_leaf_in ("/other/x", "/i/_base"));
  assert_string_equal (ch_path_leaf_in ("/x", "/"), "x");
}

static void
test_join (void **state)
{
  char *p;

  (void) state;
  p = ch_path_join ("/a", "b");
  assert_string_equal (p, "/a/b");
  free (p);
  p = ch_path_join ("/a/", "b");
  assert_string_equal (p, "/a/b");
  free (p);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_normalize),
    cmocka_unit_test (test_normalize_long),
    cmocka_unit_test (test_resolve_backing),
    cmocka_unit_test (test_dotdot_and_leaf),
    cmocka_unit_test (test_join),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
