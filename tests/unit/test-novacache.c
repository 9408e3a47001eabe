/* lib/novacache.c against Nova 26's cache manager rules (the shapes its
 * _scan_base_images takes, _find_base_file's matches, the ages). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "novacache.h"
#include "testutil.h"

#define FP "0123456789abcdef0123456789abcdef01234567"

static void
test_classify (void **state)
{
  (void) state;
  assert_int_equal (ch_nova_classify (FP), CH_NOVA_ORIGINAL);
  /* Nova counts characters, not hex digits. */
  assert_int_equal (ch_nova_classify ("0123456789ABCDEF0123456789abcdef01234567"),
                    CH_NOVA_ORIGINAL);
  assert_int_equal (ch_nova_classify (FP "_10"), CH_NOVA_RESIZED);
  assert_int_equal (ch_nova_classify (FP "_sm"), CH_NOVA_RESIZED);
  /* 42 characters: neither original nor resized, nor swap or ephemeral. */
  assert_int_equal (ch_nova_classify (FP "_1"), CH_NOVA_IGNORED);
  assert_int_equal (ch_nova_classify (FP "_9"), CH_NOVA_IGNORED);
  assert_int_equal (ch_nova_classify ("swap_512"), CH_NOVA_SWAP);
  assert_int_equal (ch_nova_classify ("swap_"), CH_NOVA_IGNORED);
  assert_int_equal (ch_nova_classify ("swap_5x"), CH_NOVA_IGNORED);
  assert_int_equal (ch_nova_classify ("ephemeral_1_0706d66"), CH_NOVA_EPHEMERAL);
  assert_int_equal (ch_nova_classify ("ephemeral_20_40d1d2c"), CH_NOVA_EPHEMERAL);
  assert_int_equal (ch_nova_classify ("ephemeral_1_linux"), CH_NOVA_IGNORED);
  assert_int_equal (ch_nova_classify ("ephemeral_0_1_linux"), CH_NOVA_IGNORED);
  assert_int_equal (ch_nova_classify ("ephemeral__0706d66"), CH_NOVA_IGNORED);
  assert_int_equal (ch_nova_classify ("notes.txt"), CH_NOVA_IGNORED);
}

static void
test_image_entry (void **state)
{
  (void) state;
  assert_true (ch_nova_image_entry (FP, FP));
  assert_true (ch_nova_image_entry (FP "_sm", FP));
  assert_true (ch_nova_image_entry (FP "_10", FP));
  assert_false (ch_nova_image_entry (FP "_1", FP));     /* never scanned */
  assert_false (ch_nova_image_entry (FP "_1x", FP));
  assert_false (ch_nova_image_entry ("1123456789abcdef0123456789abcdef01234567", FP));
}

static void
test_verdict (void **state)
{
  struct ch_nova_settings s = { .remove_unused = true, .original_age = 86400,
                                .resized_age = 3600 };
  int64_t in;

  (void) state;
  assert_int_equal (ch_nova_verdict (CH_NOVA_ORIGINAL, true, 1000000, &s, &in), CH_NOVA_IN_USE);
  assert_int_equal (ch_nova_verdict (CH_NOVA_ORIGINAL, false, 100, &s, &in), CH_NOVA_REMOVE);
  assert_int_equal (in, 86300);
  assert_int_equal (ch_nova_verdict (CH_NOVA_RESIZED, false, 3600, &s, &in), CH_NOVA_REMOVE);
  assert_int_equal (in, 0);
  assert_int_equal (ch_nova_verdict (CH_NOVA_SWAP, false, 7200, &s, &in), CH_NOVA_REMOVE);
  assert_int_equal (in, 86400 - 7200);
  assert_int_equal (ch_nova_verdict (CH_NOVA_IGNORED, false, 1000000, &s, &in), CH_NOVA_NEVER);
  s.remove_unused = false;
  assert_int_equal (ch_nova_verdict (CH_NOVA_ORIGINAL, false, 1000000, &s, &in), CH_NOVA_NEVER);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_classify),
    cmocka_unit_test (test_image_entry),
    cmocka_unit_test (test_verdict),
  };

  return tu_run_group_tests (tests, NULL, NULL);
}
