/* The extent stream (lib/extstream.h): what `cowherd send` writes reads
 * back as the file, holes left out; pieces of any size; what is malformed
 * is refused with a reason. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "bigendian.h"
#include "error.h"
#include "extstream.h"
#include "io.h"
#include "testutil.h"

#define SIZE (1 << 20)
#define MANIFEST "{\"name\": \"x\"}"

/* What the callbacks rebuild. */
struct sink {
  uint8_t file[SIZE];
  uint64_t size, data_bytes;
  int manifests, ends;
  bool absent;
};

static int
on_manifest (void *o, const char *json, size_t len)
{
  struct sink *s = o;

  s->manifests++;
  if (json == NULL)
    s->absent = true;
  else
    assert_memory_equal (json, MANIFEST, len);
  return 0;
}

static int
on_size (void *o, uint64_t size)
{
  ((struct sink *) o)->size = size;
  return 0;
}

static int
on_data (void *o, uint64_t off, const uint8_t *p, size_t n)
{
  struct sink *s = o;

  memcpy (s->file + off, p, n);
  s->data_bytes += n;
  return 0;
}

static int
on_end (void *o)
{
  ((struct sink *) o)->ends++;
  return 0;
}

static const struct ch_xs_ops ops = { on_manifest, on_size, on_data, on_end };

/* The stream of a file of SIZE bytes with data at 64 KiB and 512 KiB. */
static uint8_t *
stream_of (uint8_t *content, uint64_t from, const char *manifest, size_t *len)
{
  int fd, out = memfd_create ("stream", 0);
  char *buf;

  assert_int_equal (tu_tmpdir_make ("test-extstream"), 0);
  fd = open (tpath ("f"), O_RDWR | O_CREAT | O_TRUNC, 0600);
  assert_true (fd >= 0 && out >= 0);
  assert_int_equal (ftruncate (fd, SIZE), 0);
  memset (content, 0, SIZE);
  for (size_t i = 0; i < 8192; i++) {
    content[65536 + i] = (uint8_t) (i * 7 + 1);
    content[524288 + i] = (uint8_t) (i * 3 + 2);
  }
  assert_int_equal (ch_write_full (fd, content + 65536, 8192, 65536), 0);
  assert_int_equal (ch_write_full (fd, content + 524288, 8192, 524288), 0);
  assert_int_equal (ch_xs_send (fd, manifest, manifest ? strlen (manifest) : 0, from, out), 0);
  close (fd);
  assert_int_equal (tu_tmpdir_remove (), 0);
  assert_true (lseek (out, 0, SEEK_SET) == 0);
  assert_int_equal (ch_read_all (out, 1 << 22, &buf, len), 0);
  close (out);
  return (uint8_t *) buf;
}

static int
feed (struct ch_xs_rx *rx, const uint8_t *s, size_t len, size_t step, struct sink *k)
{
  int r = 0;

  for (size_t i = 0; i < len && r == 0; i += step)
    r = ch_xs_feed (rx, s + i, len - i < step ? len - i : step, &ops, k);
  return r;
}

static void
test_roundtrip (void **state)
{
  static uint8_t content[SIZE];
  static struct sink k;
  static const size_t steps[] = { 1, 7, 4096, 1 << 20 };
  size_t len;
  uint8_t *s = stream_of (content, 0, MANIFEST, &len);

  (void) state;
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
    struct ch_xs_rx rx = { .size_max = SIZE, .manifest_max = 64 };

    memset (&k, 0, sizeof k);
    assert_int_equal (feed (&rx, s, len, steps[i], &k), 1);
    assert_true (ch_xs_started (&rx));
    assert_int_equal (k.size, SIZE);
    assert_int_equal (k.manifests, 1);
    assert_int_equal (k.ends, 1);
    assert_memory_equal (k.file, content, SIZE);
    /* Data only: the file system's blocks around the two 8 KiB runs. */
    assert_true (k.data_bytes >= 16384 && k.data_bytes <= 4 * 16384);
    ch_xs_rx_free (&rx);
  }
  free (s);
}

/* --from: nothing before it is sent; the receiver refuses a record there. */
static void
test_from (void **state)
{
  static uint8_t content[SIZE];
  static struct sink k;
  struct ch_xs_rx rx = { .from = 300000, .size_max = SIZE, .manifest_max = 64 };
  size_t len;
  uint8_t *s = stream_of (content, 300000, MANIFEST, &len);

  (void) state;
  memset (&k, 0, sizeof k);
  assert_int_equal (feed (&rx, s, len, 1000, &k), 1);
  assert_memory_equal (k.file + 300000, content + 300000, SIZE - 300000);
  assert_true (k.file[65536] == 0);
  ch_xs_rx_free (&rx);
  free (s);
  /* The full stream against a receiver resuming at 300000: refused. */
  s = stream_of (content, 0, MANIFEST, &len);
  rx = (struct ch_xs_rx) { .from = 300000, .size_max = SIZE, .manifest_max = 64 };
  ch_error_clear ();
  assert_int_equal (feed (&rx, s, len, len, &k), -1);
  assert_int_equal (ch_error_kind (), CH_ERR_REFUSED);
  ch_xs_rx_free (&rx);
  free (s);
}

static void
test_absent (void **state)
{
  static uint8_t content[SIZE];
  static struct sink k;
  struct ch_xs_rx rx = { .size_max = SIZE, .manifest_max = 64 };
  size_t len;
  uint8_t *s = stream_of (content, 0, NULL, &len);

  (void) state;
  memset (&k, 0, sizeof k);
  assert_int_equal (len, CH_XS_MAGIC_LEN + 4);
  assert_int_equal (feed (&rx, s, len, 3, &k), 1);
  assert_true (k.absent);
  free (s);
}

/* refused STREAM LEN FRAGMENT: the parser refuses it, saying FRAGMENT. */
static void
refused (const uint8_t *s, size_t len, const char *frag)
{
  static struct sink k;
  struct ch_xs_rx rx = { .size_max = SIZE, .manifest_max = 64 };

  memset (&k, 0, sizeof k);
  ch_error_clear ();
  assert_int_equal (feed (&rx, s, len, 5, &k), -1);
  assert_error_contains (frag);
  ch_xs_rx_free (&rx);
}

static void
test_hostile (void **state)
{
  static uint8_t content[SIZE];
  size_t len;
  uint8_t *s = stream_of (content, 0, MANIFEST, &len), *t = malloc (len + 8);
  size_t rec = CH_XS_MAGIC_LEN + 4 + strlen (MANIFEST) + 8;

  (void) state;
  assert_non_null (t);
  memcpy (t, s, len);
  t[0] = 'C';
  refused (t, len, "no magic");
  memcpy (t, s, len);
  ch_put_be32 (t + CH_XS_MAGIC_LEN, 65);
  refused (t, len, "a manifest of 65 bytes");
  memcpy (t, s, len);
  ch_put_be64 (t + rec - 8, SIZE + 1);
  refused (t, len, "a size of");
  memcpy (t, s, len);
  ch_put_be64 (t + rec + 8, SIZE);           /* the first extent runs past the end */
  refused (t, len, "out of order or past the end");
  memcpy (t, s, len);
  ch_put_be64 (t + len - 16, SIZE - 1);      /* an end short of the size */
  refused (t, len, "an end at");
  memcpy (t, s, len);
  memcpy (t + len, "tail", 4);
  refused (t, len + 4, "bytes after the end");
  free (t);
  free (s);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_roundtrip),
    cmocka_unit_test (test_from),
    cmocka_unit_test (test_absent),
    cmocka_unit_test (test_hostile),
  };

  return tu_run_group_tests (tests, NULL, NULL);
}
