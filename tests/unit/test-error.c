/* Unit tests for lib/error.c: the one error path, its kinds and its
 * context prefixes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"

static void
test_kinds (void **state)
{
  (void) state;
  ch_error_clear ();
  assert_string_equal (ch_last_error (), "");
  assert_int_equal (ch_error_kind (), CH_ERR_FAILED);
  ch_error_as (CH_ERR_TIMED_OUT, "timed out after %d s waiting for lock %s", 3, "/l");
  assert_int_equal (ch_error_kind (), CH_ERR_TIMED_OUT);
  assert_string_equal (ch_last_error (), "timed out after 3 s waiting for lock /l");
  /* A plain ch_error is of no particular kind, whatever it says. */
  ch_error ("timed out");
  assert_int_equal (ch_error_kind (), CH_ERR_FAILED);
  ch_error_as (CH_ERR_CORRUPT, "x");
  ch_error_clear ();
  assert_int_equal (ch_error_kind (), CH_ERR_FAILED);
}

static void
test_io_kind (void **state)
{
  (void) state;
  assert_int_equal (ch_err_of_io (ENOSPC), CH_ERR_NO_SPACE);
  assert_int_equal (ch_err_of_io (EDQUOT), CH_ERR_NO_SPACE);
  assert_int_equal (ch_err_of_io (EIO), CH_ERR_IO);
  assert_int_equal (ch_err_of_io (EBADF), CH_ERR_IO);
}

static void
test_prefix (void **state)
{
  (void) state;
  ch_error_as (CH_ERR_NOT_FOUND, "HTTP %d", 404);
  assert_string_equal (ch_error_detail (), "HTTP 404");
  ch_error_prefix ("GET %s", "http://h/x");
  ch_error_prefix ("image %s", "abc");
  assert_string_equal (ch_last_error (), "image abc: GET http://h/x: HTTP 404");
  assert_string_equal (ch_error_detail (), "HTTP 404");
  assert_int_equal (ch_error_kind (), CH_ERR_NOT_FOUND);
  /* A new error forgets the old context. */
  ch_error ("plain");
  assert_string_equal (ch_error_detail (), "plain");

  /* A prefix that fills the slot leaves no detail past its end. */
  {
    char big[CH_ERROR_MAX * 2];

    memset (big, 'p', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ch_error ("why");
    ch_error_prefix ("%s", big);
    assert_int_equal (strlen (ch_last_error ()), CH_ERROR_MAX - 1);
    assert_string_equal (ch_error_detail (), "");
  }
}

static void
test_self_reference (void **state)
{
  (void) state;
  /* Reporting the pending message again, with context, is safe. */
  ch_error ("disk full");
  ch_error ("fetch: %s", ch_last_error ());
  assert_string_equal (ch_last_error (), "fetch: disk full");
}

static void
test_why (void **state)
{
  char why[16];

  (void) state;
  assert_false (ch_why (why, sizeof why, "not %s", "proven"));
  assert_string_equal (why, "not proven");
  assert_false (ch_why (why, sizeof why, "%s", "a reason longer than the buffer"));
  assert_int_equal (strlen (why), sizeof why - 1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_kinds),
    cmocka_unit_test (test_io_kind),
    cmocka_unit_test (test_prefix),
    cmocka_unit_test (test_self_reference),
    cmocka_unit_test (test_why),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
