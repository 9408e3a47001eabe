/* Unit tests for lib/qcow2.c: real images from qemu-img and hand-made
 * malformed headers. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

#include "cleanup.h"
#include "error.h"
#include "qcow2.h"
#include "testutil.h"

#define BUFSZ (128 * 1024)


static uint32_t
get32 (const uint8_t *p)
{
  return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 |
         (uint32_t) p[2] << 8 | p[3];
}

static uint64_t
get64 (const uint8_t *p)
{
  return (uint64_t) get32 (p) << 32 | get32 (p + 4);
}

/* Read up to the first 64 KiB of the image NAME in tmpdir. */
static size_t
slurp (const char *name, uint8_t *buf)
{
  const char *p = tpath (name);
  int fd = open (p, O_RDONLY);
  ssize_t n;

  assert_true (fd >= 0);
  n = pread (fd, buf, CH_QCOW2_HEADER_READ_MAX, 0);
  assert_true (n > 0);
  close (fd);
  return (size_t) n;
}

static int
read_image (const char *name, struct ch_qcow2_info *info)
{
  const char *p = tpath (name);
  int fd = open (p, O_RDONLY);
  int r;

  assert_true (fd >= 0);
  ch_error_clear ();
  r = ch_qcow2_read (fd, info);
  close (fd);
  return r;
}

static void
write_file (const char *name, const uint8_t *buf, size_t len)
{
  const char *p = tpath (name);
  int fd = open (p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

  assert_true (fd >= 0);
  assert_int_equal (write (fd, buf, len), (ssize_t) len);
  close (fd);
}

static int
setup (void **state)
{
  (void) state;
  if (tu_tmpdir_make ("test-qcow2") < 0)
    return -1;
  ch_error_clear ();
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  return tu_tmpdir_remove ();
}

/* Hand-made headers. */

/* Zero BUF and write a header of VERSION with CLUSTER_BITS and SIZE; the
 * extensions start at the returned offset. */
static size_t
make_header (uint8_t *buf, uint32_t version, uint32_t cluster_bits,
             uint64_t size)
{
  memset (buf, 0, BUFSZ);
  put32 (buf, CH_QCOW2_MAGIC);
  put32 (buf + 4, version);
  put32 (buf + 20, cluster_bits);
  put64 (buf + 24, size);
  if (version < 3)
    return 72;
  put32 (buf + 96, 4);                /* refcount_order */
  put32 (buf + 100, 104);
  return 104;
}

/* Append an extension at OFF; returns the offset after its padding. */
static size_t
add_ext (uint8_t *buf, size_t off, uint32_t type, const void *data,
         uint32_t len)
{
  put32 (buf + off, type);
  put32 (buf + off + 4, len);
  if (len)
    memcpy (buf + off + 8, data, len);
  return off + 8 + ((len + 7) & ~7U);
}

static void
set_backing (uint8_t *buf, uint64_t off, const void *name, uint32_t len)
{
  put64 (buf + 8, off);
  put32 (buf + 16, len);
  if (name)
    memcpy (buf + off, name, len);
}

/* Parse the first LEN bytes from an exactly-sized copy, so that valgrind
 * and ASan see any read past the end. */
static int
parse_exact (const uint8_t *buf, size_t len, struct ch_qcow2_info *info)
{
  CLEANUP_FREE uint8_t *copy = malloc (len ? len : 1);
  int r;

  assert_non_null (copy);
  memcpy (copy, buf, len);
  ch_error_clear ();
  r = ch_qcow2_parse (copy, len, info);
  if (r == -1)
    assert_true (ch_last_error ()[0] != '\0');
  return r;
}

static void
expect_fail (const uint8_t *buf, size_t len, const char *frag)
{
  struct ch_qcow2_info info;

  assert_int_equal (parse_exact (buf, len, &info), -1);
  assert_error_contains (frag);
  assert_false (info.has_backing);
}

/* Real images. */

static void
test_v2_no_backing (void **state)
{
  struct ch_qcow2_info info;

  (void) state;
  qemu_img ("create", "-q", "-f", "qcow2", "-o", "compat=0.10",
            tpath ("v2.qcow2"), "1M", NULL);
  assert_int_equal (read_image ("v2.qcow2", &info), 0);
  assert_int_equal (info.version, 2);
  assert_int_equal (info.cluster_bits, 16);
  assert_int_equal (info.virtual_size, 1024 * 1024);
  assert_false (info.has_backing);
  assert_false (info.has_backing_fmt);
  assert_false (info.has_data_file);
}

static void
test_v3_no_backing (void **state)
{
  struct ch_qcow2_info info;

  (void) state;
  qemu_img ("create", "-q", "-f", "qcow2", "-o", "compat=1.1",
            tpath ("v3.qcow2"), "10G", NULL);
  assert_int_equal (read_image ("v3.qcow2", &info), 0);
  assert_int_equal (info.version, 3);
  assert_int_equal (info.virtual_size, UINT64_C (10) << 30);
  assert_false (info.has_backing);
  assert_false (info.has_backing_fmt);
}

static void
test_v3_backing_raw (void **state)
{
  struct ch_qcow2_info info;

  (void) state;
  qemu_img ("create", "-q", "-f", "raw", tpath ("base"), "3M", NULL);
  qemu_img ("create", "-q", "-f", "qcow2", "-o", "compat=1.1", "-F", "raw",
            "-b", "base", tpath ("top.qcow2"), NULL);
  assert_int_equal (read_image ("top.qcow2", &info), 0);
  assert_int_equal (info.version, 3);
  assert_int_equal (info.virtual_size, 3 * 1024 * 1024);
  assert_true (info.has_backing);
  assert_string_equal (info.backing, "base");
  assert_true (info.has_backing_fmt);
  assert_string_equal (info.backing_fmt, "raw");
}

static void
test_v2_backing_relative (void **state)
{
  struct ch_qcow2_info info;

  (void) state;
  qemu_img ("create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-u",
            "-F", "qcow2", "-b", "../other/./base.qcow2",
            tpath ("top.qcow2"), "5G", NULL);
  assert_int_equal (read_image ("top.qcow2", &info), 0);
  assert_int_equal (info.version, 2);
  assert_int_equal (info.virtual_size, UINT64_C (5) << 30);
  assert_true (info.has_backing);
  assert_string_equal (info.backing, "../other/./base.qcow2");
  assert_true (info.has_backing_fmt);
  assert_string_equal (info.backing_fmt, "qcow2");
}

static void
test_cluster_sizes (void **state)
{
  struct ch_qcow2_info info;

  (void) state;
  qemu_img ("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", "-u",
            "-F", "raw", "-b", "/some/where/base", tpath ("small.qcow2"),
            "1G", NULL);
  assert_int_equal (read_image ("small.qcow2", &info), 0);
  assert_int_equal (info.cluster_bits, 9);
  assert_string_equal (info.backing, "/some/where/base");
  qemu_img ("create", "-q", "-f", "qcow2", "-o", "cluster_size=2M", "-u",
            "-F", "raw", "-b", "/some/where/base", tpath ("big.qcow2"),
            "1G", NULL);
  assert_int_equal (read_image ("big.qcow2", &info), 0);
  assert_int_equal (info.cluster_bits, 21);
  assert_int_equal (info.virtual_size, UINT64_C (1) << 30);
  assert_string_equal (info.backing, "/some/where/base");
}

static void
test_real_data_file (void **state)
{
  CLEANUP_FREE char *opt = NULL;
  struct ch_qcow2_info info;

  (void) state;
  assert_true (asprintf (&opt, "data_file=%s/data.raw", tmpdir) > 0);
  qemu_img ("create", "-q", "-f", "qcow2", "-o", opt, tpath ("df.qcow2"),
            "1M", NULL);
  assert_int_equal (read_image ("df.qcow2", &info), 0);
  assert_true (info.has_data_file);
}

/* Every proper prefix of a real header (including its extensions and the
 * backing name) is refused cleanly; the whole of it parses. */
static void
truncations_of (const char *name)
{
  CLEANUP_FREE uint8_t *buf = malloc (CH_QCOW2_HEADER_READ_MAX);
  struct ch_qcow2_info info;
  size_t len, need;

  len = slurp (name, buf);
  assert_int_equal (ch_qcow2_parse (buf, len, &info), 0);
  if (info.has_backing)
    need = (size_t) get64 (buf + 8) + strlen (info.backing);
  else {
    /* Up to and including the end-of-extensions marker. */
    size_t off = info.version == 2 ? 72 : get32 (buf + 100);

    for (;;) {
      uint32_t type = get32 (buf + off), n = get32 (buf + off + 4);

      off += 8;
      if (type == 0)
        break;
      off += (n + 7) & ~7U;
    }
    need = off;
  }
  assert_true (need < len);
  for (size_t i = 0; i < need; i++)
    assert_int_equal (parse_exact (buf, i, &info), -1);
  assert_int_equal (parse_exact (buf, need, &info), 0);
}

static void
test_truncated_real (void **state)
{
  (void) state;
  qemu_img ("create", "-q", "-f", "qcow2", "-o", "compat=1.1", "-u",
            "-F", "raw", "-b", "base.raw", tpath ("v3b.qcow2"), "1M", NULL);
  qemu_img ("create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-u",
            "-F", "qcow2", "-b", "base.qcow2", tpath ("v2b.qcow2"), "1M",
            NULL);
  qemu_img ("create", "-q", "-f", "qcow2", "-o", "compat=0.10",
            tpath ("v2.qcow2"), "1M", NULL);
  qemu_img ("create", "-q", "-f", "qcow2", "-o", "compat=1.1",
            tpath ("v3.qcow2"), "1M", NULL);
  truncations_of ("v3b.qcow2");
  truncations_of ("v2b.qcow2");
  truncations_of ("v2.qcow2");
  truncations_of ("v3.qcow2");
}

/* ch_qcow2_read on a file shorter than the fixed header. */
static void
test_truncated_file (void **state)
{
  CLEANUP_FREE uint8_t *buf = malloc (BUFSZ);
  struct ch_qcow2_info info;

  (void) state;
  make_header (buf, 3, 16, 1 << 20);
  for (size_t len = 0; len < 104; len += 13) {
    write_file ("short", buf, len);
    assert_int_equal (read_image ("short", &info), -1);
    assert_error_contains ("truncated qcow2 header");
  }
}

static void
test_probe_format (void **state)
{
  CLEANUP_FREE uint8_t *buf = malloc (BUFSZ);
  static const struct { const char *name; size_t len; enum ch_fmt fmt; } t[] = {
    { "empty", 0, CH_FMT_RAW },
    { "three", 3, CH_FMT_RAW },
    { "magic", 4, CH_FMT_QCOW2 },
    { "zeros", 4096, CH_FMT_RAW },
  };

  (void) state;
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    const char *p = tpath (t[i].name);
    enum ch_fmt fmt = CH_FMT_UNKNOWN;
    int fd;

    memset (buf, 0, BUFSZ);
    if (t[i].fmt == CH_FMT_QCOW2)
      put32 (buf, CH_QCOW2_MAGIC);
    else if (t[i].len >= 3)
      memcpy (buf, "QFI", 3);         /* a prefix of the magic is not it */
    write_file (t[i].name, buf, t[i].len);
    fd = open (p, O_RDONLY);
    assert_true (fd >= 0);
    assert_int_equal (ch_probe_format (fd, &fmt), 0);
    assert_int_equal (fmt, t[i].fmt);
    close (fd);
  }

  qemu_img ("create", "-q", "-f", "raw", tpath ("raw"), "1M", NULL);
  qemu_img ("create", "-q", "-f", "qcow2", tpath ("q"), "1M", NULL);
  for (int i = 0; i < 2; i++) {
    const char *p = tpath (i == 0 ? "raw" : "q");
    enum ch_fmt fmt;
    int fd = open (p, O_RDONLY);

    assert_true (fd >= 0);
    assert_int_equal (ch_probe_format (fd, &fmt), 0);
    assert_int_equal (fmt, i == 0 ? CH_FMT_RAW : CH_FMT_QCOW2);
    close (fd);
  }
  put32 (buf, CH_QCOW2_MAGIC);
  assert_true (ch_qcow2_is_qcow2 (buf, 4));
  assert_false (ch_qcow2_is_qcow2 (buf, 3));
  buf[0] = 'q';
  assert_false (ch_qcow2_is_qcow2 (buf, 4));
}

static void
test_probe_read_error (void **state)
{
  enum ch_fmt fmt;
  int fd = open (tmpdir, O_RDONLY | O_DIRECTORY);

  (void) state;
  assert_true (fd >= 0);
  assert_int_equal (ch_probe_format (fd, &fmt), -1);
  assert_error_contains ("read image header");
  close (fd);
}

/* Hand-made headers. */

static void
test_handmade_ok (void **state)
{
  CLEANUP_FREE uint8_t *buf = malloc (BUFSZ);
  struct ch_qcow2_info info;
  size_t off;

  (void) state;
  off = make_header (buf, 3, 16, 12345);
  off = add_ext (buf, off, 0x6803f857, "unknown", 7);   /* skipped */
  off = add_ext (buf, off, 0xe2792aca, "qcow2", 5);
  off = add_ext (buf, off, 0, NULL, 0);
  set_backing (buf, off, "base image", 10);
  assert_int_equal (parse_exact (buf, off + 10, &info), 0);
  assert_int_equal (info.virtual_size, 12345);
  assert_string_equal (info.backing, "base image");
  assert_string_equal (info.backing_fmt, "qcow2");
  assert_false (info.has_data_file);

  /* Offset 0 or size 0: no backing file. */
  set_backing (buf, 0, NULL, 10);
  assert_int_equal (parse_exact (buf, off + 10, &info), 0);
  assert_false (info.has_backing);
  set_backing (buf, off, NULL, 0);
  assert_int_equal (parse_exact (buf, off + 10, &info), 0);
  assert_false (info.has_backing);
}

static void
test_name_too_long (void **state)
{
  CLEANUP_FREE uint8_t *buf = malloc (BUFSZ);
  size_t off;

  (void) state;
  off = make_header (buf, 2, 21, 1 << 20);
  off = add_ext (buf, off, 0, NULL, 0);
  /* A 64 KiB name, all of it present. */
  memset (buf + off, 'a', BUFSZ - off);
  set_backing (buf, off, NULL, 65536);
  expect_fail (buf, BUFSZ, "backing file name too long (65536 bytes)");
  set_backing (buf, off, NULL, 1024);
  expect_fail (buf, BUFSZ, "backing file name too long (1024 bytes)");
  set_backing (buf, off, NULL, 0xffffffff);
  expect_fail (buf, BUFSZ, "backing file name too long (4294967295 bytes)");
  set_backing (buf, off, NULL, 1023);
  {
    struct ch_qcow2_info info;

    assert_int_equal (parse_exact (buf, off + 1023, &info), 0);
    assert_int_equal (strlen (info.backing), 1023);
  }
}

static void
test_name_out_of_bounds (void **state)
{
  CLEANUP_FREE uint8_t *buf = malloc (BUFSZ);
  size_t off;

  (void) state;
  off = make_header (buf, 3, 16, 1 << 20);
  add_ext (buf, off, 0, NULL, 0);
  /* Past the bytes given. */
  set_backing (buf, 4096, NULL, 10);
  expect_fail (buf, 1024, "beyond the end of the file");
  /* Ending one byte past them. */
  set_backing (buf, 1020, NULL, 5);
  expect_fail (buf, 1024, "truncated qcow2 header");
  /* Past the first cluster, as QEMU refuses. */
  set_backing (buf, 65537, NULL, 1);
  expect_fail (buf, BUFSZ, "outside the first cluster");
  set_backing (buf, UINT64_MAX, NULL, 1);
  expect_fail (buf, BUFSZ, "outside the first cluster");
  set_backing (buf, 65530, NULL, 10);
  expect_fail (buf, BUFSZ, "outside the first cluster");
}

/* With 2 MiB clusters a name may legally lie beyond the 64 KiB cowherd
 * reads; ch_qcow2_read refuses it clearly. */
static void
test_name_beyond_read_limit (void **state)
{
  CLEANUP_FREE uint8_t *buf = malloc (BUFSZ);
  struct ch_qcow2_info info;
  size_t off;

  (void) state;
  off = make_header (buf, 3, 21, 1 << 20);
  add_ext (buf, off, 0, NULL, 0);
  set_backing (buf, 70000, "far", 3);
  write_file ("far.qcow2", buf, BUFSZ);
  assert_int_equal (read_image ("far.qcow2", &info), -1);
  assert_error_contains ("beyond the first 65536 bytes");
  set_backing (buf, 65535, "far", 3);
  write_file ("far.qcow2", buf, BUFSZ);
  assert_int_equal (read_image ("far.qcow2", &info), -1);
  assert_error_contains ("beyond the first 65536 bytes");
}

static void
test_name_nul (void **state)
{
  CLEANUP_FREE uint8_t *buf = malloc (BUFSZ);
  size_t off;

  (void) state;
  off = make_header (buf, 2, 16, 1 << 20);
  off = add_ext (buf, off, 0, NULL, 0);
  set_backing (buf, off, "ab\0cd", 5);
  expect_fail (buf, off + 5, "backing file name contains a NUL byte");
  set_backing (buf, off, "abcd\0", 5);
  expect_fail (buf, off + 5, "NUL");
}

static void
test_ext_overflow (void **state)
{
  CLEANUP_FREE uint8_t *buf = malloc (BUFSZ);
  size_t off, start;

  (void) state;
  start = make_header (buf, 3, 16, 1 << 20);
  put32 (buf + start, 0xe2792aca);
  put32 (buf + start + 4, 0xffffffff);
  expect_fail (buf, BUFSZ, "too large");
  put32 (buf + start, 0x12345678);
  expect_fail (buf, BUFSZ, "too large");
  put32 (buf + start + 4, 0xfffffff8);
  expect_fail (buf, BUFSZ, "too large");

  /* An extension running into the backing name. */
  off = add_ext (buf, start, 0x12345678, "12345678", 8);
  add_ext (buf, off, 0, NULL, 0);
  set_backing (buf, start + 12, "base", 4);
  expect_fail (buf, BUFSZ, "too large");
  /* An extension header that does not fit before the name. */
  set_backing (buf, off + 4, "base", 4);
  expect_fail (buf, BUFSZ, "overruns");

  /* Extensions cut off by the end of the bytes given. */
  make_header (buf, 3, 16, 1 << 20);
  off = add_ext (buf, start, 0x12345678, "12345678", 8);
  expect_fail (buf, off, "truncated qcow2 header");
  expect_fail (buf, off + 7, "truncated qcow2 header");
  expect_fail (buf, start + 12, "truncated qcow2 header");
}

static void
test_backing_fmt (void **state)
{
  CLEANUP_FREE uint8_t *buf = malloc (BUFSZ);
  struct ch_qcow2_info info;
  char fmt[40];
  size_t start, off;

  (void) state;
  memset (fmt, 'f', sizeof fmt);
  start = make_header (buf, 2, 16, 1 << 20);
  off = add_ext (buf, start, 0xe2792aca, fmt, CH_BACKING_FMT_MAX);
  add_ext (buf, off, 0, NULL, 0);
  assert_int_equal (parse_exact (buf, off + 8, &info), 0);
  assert_true (info.has_backing_fmt);
  assert_int_equal (strlen (info.backing_fmt), CH_BACKING_FMT_MAX);

  off = add_ext (buf, start, 0xe2792aca, fmt, CH_BACKING_FMT_MAX + 1);
  add_ext (buf, off, 0, NULL, 0);
  expect_fail (buf, off + 8, "backing format name too long (32 bytes)");

  off = add_ext (buf, start, 0xe2792aca, "ra\0w", 4);
  add_ext (buf, off, 0, NULL, 0);
  expect_fail (buf, off + 8, "NUL");

  /* Empty: as if absent. */
  off = add_ext (buf, start, 0xe2792aca, NULL, 0);
  add_ext (buf, off, 0, NULL, 0);
  assert_int_equal (parse_exact (buf, off + 8, &info), 0);
  assert_false (info.has_backing_fmt);
}

static void
test_data_file (void **state)
{
  CLEANUP_FREE uint8_t *buf = malloc (BUFSZ);
  struct ch_qcow2_info info;
  size_t start, off;

  (void) state;
  start = make_header (buf, 3, 16, 1 << 20);
  off = add_ext (buf, start, 0x44415441, "data.raw", 8);
  add_ext (buf, off, 0, NULL, 0);
  assert_int_equal (parse_exact (buf, off + 8, &info), 0);
  assert_true (info.has_data_file);

  /* The incompatible feature bit alone. */
  add_ext (buf, start, 0, NULL, 0);
  put64 (buf + 72, 1 << 2);
  assert_int_equal (parse_exact (buf, start + 8, &info), 0);
  assert_true (info.has_data_file);
  assert_int_equal (info.incompatible_features, 4);
}

static void
test_cluster_bits (void **state)
{
  CLEANUP_FREE uint8_t *buf = malloc (BUFSZ);
  struct ch_qcow2_info info;
  static const uint32_t bad[] = { 0, 8, 22, 63, 64, 0xffffffff };

  (void) state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    add_ext (buf, make_header (buf, 2, bad[i], 1 << 20), 0, NULL, 0);
    expect_fail (buf, 512, "cluster_bits");
  }
  add_ext (buf, make_header (buf, 2, 9, 1 << 20), 0, NULL, 0);
  assert_int_equal (parse_exact (buf, 512, &info), 0);
  add_ext (buf, make_header (buf, 2, 21, 1 << 20), 0, NULL, 0);
  assert_int_equal (parse_exact (buf, 512, &info), 0);
}

static void
test_version (void **state)
{
  CLEANUP_FREE uint8_t *buf = malloc (BUFSZ);

  (void) state;
  make_header (buf, 1, 16, 1 << 20);
  expect_fail (buf, 512, "unsupported qcow2 version 1");
  make_header (buf, 4, 16, 1 << 20);
  expect_fail (buf, 512, "unsupported qcow2 version 4");
  make_header (buf, 0, 16, 1 << 20);
  expect_fail (buf, 512, "unsupported qcow2 version 0");
  make_header (buf, 0xffffffff, 16, 1 << 20);
  expect_fail (buf, 512, "unsupported qcow2 version 4294967295");
}

static void
test_bad_magic (void **state)
{
  CLEANUP_FREE uint8_t *buf = malloc (BUFSZ);

  (void) state;
  make_header (buf, 3, 16, 1 << 20);
  buf[3] = 0xfa;
  expect_fail (buf, 512, "not a qcow2 image");
  expect_fail (buf, 5, "not a qcow2 image");
  expect_fail (buf, 2, "truncated qcow2 header");
}

static void
test_header_length (void **state)
{
  CLEANUP_FREE uint8_t *buf = malloc (BUFSZ);
  struct ch_qcow2_info info;

  (void) state;
  make_header (buf, 3, 9, 1 << 20);
  put32 (buf + 100, 103);
  expect_fail (buf, 1024, "too short");
  put32 (buf + 100, 0);
  expect_fail (buf, 1024, "too short");
  put32 (buf + 100, 513);
  expect_fail (buf, 1024, "exceeds the cluster size");
  put32 (buf + 100, 0xffffffff);
  expect_fail (buf, 1024, "exceeds the cluster size");
  /* A longer header: extensions start after it. */
  put32 (buf + 100, 112);
  add_ext (buf, 112, 0xe2792aca, "raw", 3);
  add_ext (buf, 128, 0, NULL, 0);
  assert_int_equal (parse_exact (buf, 136, &info), 0);
  assert_string_equal (info.backing_fmt, "raw");
  /* Header filling the whole cluster: no room for extensions. */
  put32 (buf + 100, 512);
  assert_int_equal (parse_exact (buf, 512, &info), 0);
  assert_false (info.has_backing_fmt);
}

static void
test_virtual_size (void **state)
{
  CLEANUP_FREE uint8_t *buf = malloc (BUFSZ);
  struct ch_qcow2_info info;

  (void) state;
  add_ext (buf, make_header (buf, 2, 16, (uint64_t) INT64_MAX + 1), 0,
           NULL, 0);
  expect_fail (buf, 512, "virtual size 9223372036854775808 too large");
  add_ext (buf, make_header (buf, 2, 16, UINT64_MAX), 0, NULL, 0);
  expect_fail (buf, 512, "too large");
  add_ext (buf, make_header (buf, 2, 16, INT64_MAX), 0, NULL, 0);
  assert_int_equal (parse_exact (buf, 512, &info), 0);
  assert_int_equal (info.virtual_size, INT64_MAX);
}

/* Without an end marker the walk stops at the end of the cluster. */
static void
test_no_end_marker (void **state)
{
  CLEANUP_FREE uint8_t *buf = malloc (BUFSZ);
  struct ch_qcow2_info info;
  size_t off;

  (void) state;
  off = make_header (buf, 2, 9, 1 << 20);
  /* One unknown extension filling the cluster exactly. */
  put32 (buf + off, 0x11111111);
  put32 (buf + off + 4, (uint32_t) (512 - off - 8));
  assert_int_equal (parse_exact (buf, 512, &info), 0);
  expect_fail (buf, 511, "truncated qcow2 header");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown (f, setup, teardown)
    T (test_v2_no_backing),
    T (test_v3_no_backing),
    T (test_v3_backing_raw),
    T (test_v2_backing_relative),
    T (test_cluster_sizes),
    T (test_real_data_file),
    T (test_truncated_real),
    T (test_truncated_file),
    T (test_probe_format),
    T (test_probe_read_error),
    T (test_handmade_ok),
    T (test_name_too_long),
    T (test_name_out_of_bounds),
    T (test_name_beyond_read_limit),
    T (test_name_nul),
    T (test_ext_overflow),
    T (test_backing_fmt),
    T (test_data_file),
    T (test_cluster_bits),
    T (test_version),
    T (test_bad_magic),
    T (test_header_length),
    T (test_virtual_size),
    T (test_no_end_marker),
#undef T
  };

  return tu_run_group_tests (tests, NULL, NULL);
}
