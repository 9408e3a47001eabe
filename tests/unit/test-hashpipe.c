/* Unit tests for fetch/hashpipe.c: digests computed in worker threads must
 * equal OpenSSL's one-shot digests, whatever the piece sizes, across slot
 * and ring boundaries, after a reset and for empty input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "error.h"
#include "hashpipe.h"
#include "testutil.h"

static void
oneshot (const char *algo, const unsigned char *buf, size_t len, char hex[129])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;

  assert_int_equal (EVP_Digest (buf, len, md, &n, EVP_get_digestbyname (algo), NULL), 1);
  for (unsigned i = 0; i < n; i++)
    snprintf (hex + 2 * i, 3, "%02x", md[i]);
}

/* Patterned bytes with runs of zeros, as an image has. */
static unsigned char *
pattern (size_t len)
{
  unsigned char *b = malloc (len ? len : 1);
  uint32_t x = 2463534242u;

  assert_non_null (b);
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    b[i] = (i / 65536) % 3 == 0 ? 0 : (unsigned char) x;
  }
  return b;
}

/* Feed LEN bytes in pieces of the sizes in STEPS (cycled); compare. */
static void
check (size_t len, const size_t *steps, size_t nsteps)
{
  static const char *const algos[] = { "sha512", "sha256" };
  struct ch_hashpipe *p = ch_hashpipe_new (algos, 2);
  unsigned char *b = pattern (len);
  char got[2][129], want[2][129];
  size_t off = 0, k = 0;

  assert_non_null (p);
  while (off < len) {
    size_t n = steps[k++ % nsteps];

    if (n > len - off)
      n = len - off;
    assert_int_equal (ch_hashpipe_update (p, b + off, n), 0);
    off += n;
  }
  assert_int_equal (ch_hashpipe_final (p, got), 0);
  oneshot ("sha512", b, len, want[0]);
  oneshot ("sha256", b, len, want[1]);
  assert_string_equal (got[0], want[0]);
  assert_string_equal (got[1], want[1]);
  free (b);
  ch_hashpipe_free (p);
}

static void
test_sizes (void **state)
{
  static const size_t one[] = { 1 }, odd[] = { 4095, 1, 131072, 17, 262145 },
    big[] = { 3u << 20 };

  (void) state;
  check (0, one, 1);
  check (1, one, 1);
  check (5000, one, 1);
  check ((128u << 10) - 1, odd, 5);
  check (128u << 10, big, 1);
  check ((128u << 10) + 1, odd, 5);
  check (3 * CH_HASHPIPE_RING + 12345, odd, 5);   /* the ring wraps */
  check (3 * CH_HASHPIPE_RING, big, 1);           /* pieces larger than the ring */
}

/* Zeros fed as a run (a hole) hash as the same zeros fed as bytes, in
 * order with the data around them, however long. */
static void
test_zeros (void **state)
{
  static const char *const algos[] = { "sha512", "sha256" };
  struct ch_hashpipe *p = ch_hashpipe_new (algos, 2);
  size_t len = 5 * CH_HASHPIPE_RING + 777;
  unsigned char *b = pattern (len);
  char got[2][129], want[2][129];

  (void) state;
  assert_non_null (p);
  /* pattern() leaves every third 64 KiB run zero: feed those as runs. */
  for (size_t off = 0; off < len;) {
    size_t n = 65536 - off % 65536;

    if (n > len - off)
      n = len - off;
    if ((off / 65536) % 3 == 0)
      assert_int_equal (ch_hashpipe_zeros (p, n), 0);
    else
      assert_int_equal (ch_hashpipe_update (p, b + off, n), 0);
    off += n;
  }
  assert_int_equal (ch_hashpipe_zeros (p, 0), 0);
  assert_int_equal (ch_hashpipe_final (p, got), 0);
  oneshot ("sha512", b, len, want[0]);
  oneshot ("sha256", b, len, want[1]);
  assert_string_equal (got[0], want[0]);
  assert_string_equal (got[1], want[1]);
  /* A run longer than the ring, alone. */
  free (b);
  b = calloc (1, 3 * CH_HASHPIPE_RING);
  assert_non_null (b);
  assert_int_equal (ch_hashpipe_reset (p), 0);
  assert_int_equal (ch_hashpipe_zeros (p, 3 * CH_HASHPIPE_RING), 0);
  assert_int_equal (ch_hashpipe_final (p, got), 0);
  oneshot ("sha256", b, 3 * CH_HASHPIPE_RING, want[1]);
  assert_string_equal (got[1], want[1]);
  free (b);
  ch_hashpipe_free (p);
}

/* What was fed before a reset does not count; final then reset reuses. */
static void
test_reset (void **state)
{
  static const char *const algos[] = { "sha256" };
  struct ch_hashpipe *p = ch_hashpipe_new (algos, 1);
  unsigned char *b = pattern (1u << 20);
  char got[1][129], want[129];

  (void) state;
  assert_non_null (p);
  assert_int_equal (ch_hashpipe_update (p, "garbage", 7), 0);
  assert_int_equal (ch_hashpipe_reset (p), 0);
  assert_int_equal (ch_hashpipe_update (p, b, 1u << 20), 0);
  assert_int_equal (ch_hashpipe_final (p, got), 0);
  oneshot ("sha256", b, 1u << 20, want);
  assert_string_equal (got[0], want);

  /* Used again without a reset: refused, not a wrong digest. */
  ch_error_clear ();
  assert_int_equal (ch_hashpipe_update (p, b, 1), -1);
  assert_error_contains ("without reset");
  assert_int_equal (ch_hashpipe_reset (p), 0);
  assert_int_equal (ch_hashpipe_final (p, got), 0);
  oneshot ("sha256", b, 0, want);
  assert_string_equal (got[0], want);
  free (b);
  ch_hashpipe_free (p);
}

static void
test_refused (void **state)
{
  static const char *const bad[] = { "sha256", "sha7" }, *const three[] = { "md5", "sha1", "sha256" };

  (void) state;
  ch_error_clear ();
  assert_null (ch_hashpipe_new (bad, 2));
  assert_error_contains ("unknown hash algorithm sha7");
  assert_null (ch_hashpipe_new (three, 3));
  assert_null (ch_hashpipe_new (three, 0));
  /* Freed while the workers still run: they stop. */
  ch_hashpipe_free (ch_hashpipe_new (three, 2));
  ch_hashpipe_free (NULL);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_sizes),
    cmocka_unit_test (test_zeros),
    cmocka_unit_test (test_reset),
    cmocka_unit_test (test_refused),
  };

  return tu_run_group_tests (tests, NULL, NULL);
}
