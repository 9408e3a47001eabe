/* Unit tests: Nova cache names and image id hashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "naming.h"

#define SHA "f2d1a8250ed3d4b744a8250dab8f6840179d502a"

/* Vectors from Nova's imagecache.get_cache_fname:
 * hashlib.sha1(image_id.encode('utf-8')).hexdigest(). */
static void
test_sha1_vectors (void **state)
{
  static const struct { const char *id, *sha1; } v[] = {
    { "155d900f-4e14-4e4c-a73d-069cbf4541e6", SHA },
    { "", "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
    { "abc", "a9993e364706816aba3e25717850c26c9cd0d89d" },
    /* UTF-8 bytes, as Python's encode('utf-8') gives them. */
    { "\xc3\xa9", "bf15be717ac1b080b4f1c456692825891ff5073d" },
  };
  char out[CH_SHA1_HEX + 1];

  (void) state;
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    assert_int_equal (ch_image_id_sha1 (v[i].id, out), 0);
    assert_string_equal (out, v[i].sha1);
  }
}

static void
classify_is (const char *name, enum ch_base_kind kind)
{
  struct ch_base_name bn;

  ch_base_classify (name, &bn);
  if (bn.kind != kind)
    fail_msg ("%s: got %s, want %s", name, ch_base_kind_name (bn.kind), ch_base_kind_name (kind));
}

static void
test_classify_sha1_family (void **state)
{
  struct ch_base_name bn;

  (void) state;
  ch_base_classify (SHA, &bn);
  assert_int_equal (bn.kind, CH_BASE_ORIGINAL);
  assert_string_equal (bn.sha1, SHA);

  ch_base_classify (SHA "_20", &bn);
  assert_int_equal (bn.kind, CH_BASE_RESIZED);
  assert_int_equal (bn.size_gb, 20);
  assert_string_equal (bn.sha1, SHA);

  classify_is (SHA "_sm", CH_BASE_LEGACY_SM);
  classify_is (SHA "_1048576", CH_BASE_RESIZED);
  /* Not Nova's: sizes out of range or not as "%d" prints them, wrong hex. */
  classify_is (SHA "_0", CH_BASE_NONE);
  classify_is (SHA "_020", CH_BASE_NONE);
  classify_is (SHA "_1048577", CH_BASE_NONE);
  classify_is (SHA "_99999999999999999999", CH_BASE_NONE);
  classify_is (SHA "_-1", CH_BASE_NONE);
  classify_is (SHA "_", CH_BASE_NONE);
  classify_is (SHA "_20x", CH_BASE_NONE);
  classify_is (SHA "x", CH_BASE_NONE);
  classify_is ("F2D1A8250ED3D4B744A8250DAB8F6840179D502A", CH_BASE_NONE);
  classify_is ("f2d1a8250ed3d4b744a8250dab8f6840179d502", CH_BASE_NONE);
  classify_is ("", CH_BASE_NONE);
  classify_is ("..", CH_BASE_NONE);
  classify_is (SHA ".part", CH_BASE_TEMP);
  classify_is (SHA "_20.converted", CH_BASE_TEMP);
}

static void
test_classify_ephemeral_swap (void **state)
{
  struct ch_base_name bn;

  (void) state;
  ch_base_classify ("ephemeral_1_0706d66", &bn);
  assert_int_equal (bn.kind, CH_BASE_EPHEMERAL);
  assert_int_equal (bn.eph_gen, CH_EPH_CURRENT);
  assert_int_equal (bn.size_gb, 1);
  assert_string_equal (ch_ephemeral_fs (&bn), "vfat");

  ch_base_classify ("ephemeral_40_40d1d2c", &bn);
  assert_string_equal (ch_ephemeral_fs (&bn), "ext4");

  ch_base_classify ("ephemeral_10_default", &bn);
  assert_int_equal (bn.eph_gen, CH_EPH_GRIZZLY);
  assert_string_equal (bn.eph_tag, "default");
  assert_string_equal (ch_ephemeral_fs (&bn), "ext3");

  ch_base_classify ("ephemeral_0_10_windows", &bn);
  assert_int_equal (bn.kind, CH_BASE_EPHEMERAL);
  assert_int_equal (bn.eph_gen, CH_EPH_FOLSOM);
  assert_int_equal (bn.size_gb, 10);
  assert_string_equal (ch_ephemeral_fs (&bn), "ntfs");

  /* A custom mkfs command's hash cannot be turned back into a command. */
  ch_base_classify ("ephemeral_10_abcdef1", &bn);
  assert_int_equal (bn.kind, CH_BASE_EPHEMERAL);
  assert_null (ch_ephemeral_fs (&bn));

  classify_is ("ephemeral_0_linux", CH_BASE_NONE);
  classify_is ("ephemeral__0706d66", CH_BASE_NONE);
  classify_is ("ephemeral_1_", CH_BASE_NONE);
  classify_is ("ephemeral_1_a/b", CH_BASE_NONE);
  classify_is ("ephemeral_1_a_b", CH_BASE_NONE);

  ch_base_classify ("swap_512", &bn);
  assert_int_equal (bn.kind, CH_BASE_SWAP);
  assert_int_equal (bn.size_mb, 512);
  classify_is ("swap_0", CH_BASE_NONE);
  classify_is ("swap_", CH_BASE_NONE);
  classify_is ("swap_512M", CH_BASE_NONE);
}

/* The tags in naming.c's table are md5(fs)[:7], as Nova computes them. */
static void
test_ephemeral_hashes (void **state)
{
  static const char *const fs[] = { "vfat", "ext4", "ext3", "ext2", "xfs", "ntfs", "btrfs" };

  (void) state;
  for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len;
    char name[64];
    struct ch_base_name bn;

    assert_true (EVP_Digest (fs[i], strlen (fs[i]), md, &len, EVP_md5 (), NULL));
    snprintf (name, sizeof name, "ephemeral_5_%02x%02x%02x%x", md[0], md[1], md[2], md[3] >> 4);
    ch_base_classify (name, &bn);
    assert_int_equal (bn.eph_gen, CH_EPH_CURRENT);
    assert_non_null (ch_ephemeral_fs (&bn));
    assert_string_equal (ch_ephemeral_fs (&bn), fs[i]);
  }
}

static void
test_compose_roundtrip (void **state)
{
  static const char *const names[] = {
    SHA, SHA "_20", SHA "_sm", "ephemeral_1_0706d66", "ephemeral_10_default",
    "ephemeral_0_10_linux", "swap_512",
  };
  char buf[CH_BASE_NAME_MAX + 1];
  struct ch_base_name bn;

  (void) state;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    ch_base_classify (names[i], &bn);
    assert_int_not_equal (bn.kind, CH_BASE_NONE);
    assert_int_equal (ch_base_compose (&bn, buf, sizeof buf), 0);
    assert_string_equal (buf, names[i]);
  }
  ch_base_classify (SHA "_20", &bn);
  assert_int_equal (ch_base_compose (&bn, buf, 10), -1);
  bn.kind = CH_BASE_NONE;
  assert_int_equal (ch_base_compose (&bn, buf, sizeof buf), -1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_sha1_vectors),
    cmocka_unit_test (test_classify_sha1_family),
    cmocka_unit_test (test_classify_ephemeral_swap),
    cmocka_unit_test (test_ephemeral_hashes),
    cmocka_unit_test (test_compose_roundtrip),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
