/* lib/snaptop.c: the snapshot top's name and the record on its entry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "novacache.h"
#include "snaptop.h"
#include "testutil.h"

#define FP "0123456789abcdef0123456789abcdef01234567"
#define SUM "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void
test_name (void **state)
{
  char top[CH_SNAPTOP_NAME_MAX], entry[CH_SHA1_HEX + 1];

  (void) state;
  assert_true (ch_snaptop_name (FP, top));
  assert_string_equal (top, FP ".cowherd-top");
  /* Nova's download of the entry, being made whole. */
  assert_true (ch_snaptop_name (FP ".part", top));
  assert_string_equal (top, FP ".cowherd-top");
  assert_false (ch_snaptop_name (FP "_1", top));
  assert_false (ch_snaptop_name (FP ".converted", top));
  assert_false (ch_snaptop_name ("0123456789ABCDEF0123456789abcdef01234567", top));
  assert_false (ch_snaptop_name ("swap_512", top));
  assert_false (ch_snaptop_name ("", top));
  assert_true (ch_snaptop_is_top (FP ".cowherd-top", entry));
  assert_string_equal (entry, FP);
  assert_false (ch_snaptop_is_top (FP, entry));
  assert_false (ch_snaptop_is_top (FP ".cowherd-top.x", entry));
  assert_false (ch_snaptop_is_top ("../" FP ".cowherd-to", entry));
  /* Nova's cache manager never removes a top: not a name it knows. */
  assert_int_equal (ch_nova_classify (FP ".cowherd-top"), CH_NOVA_IGNORED);
}

static void
test_record (void **state)
{
  struct ch_snaptop_record r = { .sha256 = SUM, .parent_dev = 2049,
                                 .parent_ino = UINT64_MAX, .parent_size = 67108864,
                                 .fmt = "qcow2" }, back;
  char buf[CH_SNAPTOP_RECORD_MAX];

  (void) state;
  ch_snaptop_format (&r, buf);
  assert_string_equal (buf, "1 " SUM " 2049 18446744073709551615 67108864 qcow2");
  assert_true (ch_snaptop_parse (buf, strlen (buf), &back));
  assert_string_equal (back.sha256, SUM);
  assert_true (back.parent_dev == 2049 && back.parent_ino == UINT64_MAX &&
               back.parent_size == 67108864);
  assert_string_equal (back.fmt, "qcow2");
  strcpy (r.fmt, "raw");
  ch_snaptop_format (&r, buf);
  assert_true (ch_snaptop_parse (buf, strlen (buf), &back));
  assert_string_equal (back.fmt, "raw");
}

static void
test_record_refused (void **state)
{
  static const char *bad[] = {
    "",
    "2 " SUM " 1 2 3 raw",                      /* another version */
    "1 " SUM " 1 2 3",                          /* a field missing */
    "1 " SUM " 1 2 raw",
    "1 " SUM " 1 2 3 raw ",                     /* trailing space */
    "1 " SUM " 1 2 3 raw 4",                    /* a field more */
    "1 " SUM "  1 2 3 raw",                     /* two spaces */
    "1 " SUM " 1 2 18446744073709551616 raw",   /* past 64 bits */
    "1 " SUM " -1 2 3 raw",
    "1 " SUM " 1 02 3 raw",                     /* not as written: one record, one form */
    "1 " SUM " 1 2 3 vmdk",                     /* not a format entries have */
    "1 " SUM " 1 2 3 qcow",
    "1 00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff 1 2 3 raw",
    "1 0011 1 2 3 raw",
  };
  struct ch_snaptop_record r;

  (void) state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_false (ch_snaptop_parse (bad[i], strlen (bad[i]), &r));
  assert_true (ch_snaptop_parse ("1 " SUM " 0 0 0 raw", strlen ("1 " SUM " 0 0 0 raw"), &r));
  /* Not terminated: only LEN bytes are read. */
  assert_true (ch_snaptop_parse ("1 " SUM " 1 2 3 rawx", strlen ("1 " SUM " 1 2 3 raw"), &r));
  assert_true (r.parent_size == 3);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_name),
    cmocka_unit_test (test_record),
    cmocka_unit_test (test_record_refused),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
