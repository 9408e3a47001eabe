/* Unit tests for lib/snapmark.c: the COW-only snapshot marker in real
 * qemu-img headers, and hostile ones. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "snapmark.h"
#include "testutil.h"

#define CLUSTER 65536
#define PARENT "0123456789abcdef0123456789abcdef01234567"

static uint8_t hdr[CLUSTER];

static int
setup (void **state)
{
  (void) state;
  return tu_tmpdir_make ("test-snapmark");
}

static int
teardown (void **state)
{
  (void) state;
  return tu_tmpdir_remove ();
}

/* Read NAME's first cluster into hdr. */
static void
load (const char *name)
{
  int fd = open (tpath (name), O_RDONLY);

  assert_true (fd >= 0);
  memset (hdr, 0, sizeof hdr);
  assert_true (read (fd, hdr, sizeof hdr) > 0);
  close (fd);
}

static void
store (const char *name)
{
  int fd = open (tpath (name), O_WRONLY);

  assert_true (fd >= 0);
  assert_int_equal (pwrite (fd, hdr, sizeof hdr, 0), (ssize_t) sizeof hdr);
  close (fd);
}

/* Does the real qemu-img open NAME? */
static bool
qemu_opens (const char *name)
{
  pid_t pid = fork ();
  int status;

  assert_true (pid >= 0);
  if (pid == 0) {
    int null = open ("/dev/null", O_WRONLY);

    dup2 (null, 1);
    dup2 (null, 2);
    execl (QEMU_IMG, QEMU_IMG, "info", "-f", "qcow2", tpath (name), (char *) NULL);
    _exit (127);
  }
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFEXITED (status) && WEXITSTATUS (status) != 127);
  return WEXITSTATUS (status) == 0;
}

static struct ch_snap_marker
marker (void)
{
  struct ch_snap_marker m = { .version = CH_SNAP_VERSION, .parent_size = 64 << 20,
                              .parent_vsize = 1 << 30, .parent = PARENT,
                              .image_id = "155d900f-4e14-4e4c-a73d-069cbf4541e6",
                              .parent_digest = CH_SNAP_DIGEST_SHA256 };

  memset (m.parent_hash, 0xab, sizeof m.parent_hash);
  memset (m.hmac, 0x5c, sizeof m.hmac);
  return m;
}

static void
test_roundtrip (void **state)
{
  struct ch_snap_marker m = marker (), back;
  uint64_t off, off2;

  (void) state;
  qemu_img ("create", "-q", "-f", "qcow2", tpath ("s.qcow2"), "1G", NULL);
  load ("s.qcow2");
  assert_int_equal (ch_snap_parse (hdr, sizeof hdr, &back, &off), 0);
  assert_int_equal (ch_snap_mark (hdr, sizeof hdr, &m, &off), 0);
  assert_int_equal (ch_snap_parse (hdr, sizeof hdr, &back, &off2), 1);
  assert_int_equal (off, off2);
  assert_memory_equal (hdr + off, m.hmac, CH_SNAP_HMAC_LEN);
  assert_string_equal (back.parent, PARENT);
  assert_string_equal (back.image_id, m.image_id);
  assert_int_equal (back.parent_size, m.parent_size);
  assert_int_equal (back.parent_vsize, m.parent_vsize);
  assert_int_equal (back.parent_digest, CH_SNAP_DIGEST_SHA256);
  assert_memory_equal (back.parent_hash, m.parent_hash, 32);
  assert_memory_equal (back.hmac, m.hmac, 32);
  /* The point of the marker: plain qemu-img refuses it, and opens it again
   * once it is cleared. */
  store ("s.qcow2");
  assert_false (qemu_opens ("s.qcow2"));
  assert_int_equal (ch_snap_unmark (hdr, sizeof hdr), 0);
  store ("s.qcow2");
  assert_true (qemu_opens ("s.qcow2"));
  /* sha512's first 32 bytes (a parent fetched from Glance). */
  m.parent_digest = CH_SNAP_DIGEST_SHA512;
  qemu_img ("create", "-q", "-f", "qcow2", tpath ("u.qcow2"), "1G", NULL);
  load ("u.qcow2");
  assert_int_equal (ch_snap_mark (hdr, sizeof hdr, &m, &off), 0);
  assert_int_equal (ch_snap_parse (hdr, sizeof hdr, &back, &off), 1);
  assert_int_equal (back.parent_digest, CH_SNAP_DIGEST_SHA512);
  assert_memory_equal (back.parent_hash, m.parent_hash, 32);
  /* No digest, no image id. */
  m.parent_digest = CH_SNAP_DIGEST_NONE;
  memset (m.parent_hash, 0, 32);
  m.image_id[0] = '\0';
  qemu_img ("create", "-q", "-f", "qcow2", tpath ("t.qcow2"), "1G", NULL);
  load ("t.qcow2");
  assert_int_equal (ch_snap_mark (hdr, sizeof hdr, &m, &off), 0);
  assert_int_equal (ch_snap_parse (hdr, sizeof hdr, &back, &off), 1);
  assert_int_equal (back.parent_digest, CH_SNAP_DIGEST_NONE);
  assert_string_equal (back.image_id, "");
  /* Only the first LEN bytes are read: a buffer short of the marker has none. */
  assert_int_equal (ch_snap_parse (hdr, 200, &back, &off), 0);
}

static void
test_not_markable (void **state)
{
  struct ch_snap_marker m = marker ();
  uint64_t off;

  (void) state;
  /* A backing file, a v2 image, an image already marked. */
  qemu_img ("create", "-q", "-f", "raw", tpath ("base"), "1M", NULL);
  qemu_img ("create", "-q", "-f", "qcow2", "-F", "raw", "-b", tpath ("base"), tpath ("o"), NULL);
  load ("o");
  assert_int_equal (ch_snap_mark (hdr, sizeof hdr, &m, &off), -1);
  assert_error_contains ("standalone");
  qemu_img ("create", "-q", "-f", "qcow2", "-o", "compat=0.10", tpath ("v2"), "1M", NULL);
  load ("v2");
  assert_int_equal (ch_snap_mark (hdr, sizeof hdr, &m, &off), -1);
  qemu_img ("create", "-q", "-f", "qcow2", tpath ("m"), "1M", NULL);
  load ("m");
  assert_int_equal (ch_snap_mark (hdr, sizeof hdr, &m, &off), 0);
  assert_int_equal (ch_snap_mark (hdr, sizeof hdr, &m, &off), -1);
  /* Less than the whole first cluster. */
  load ("m");
  assert_int_equal (ch_snap_mark (hdr, 4096, &m, &off), -1);
  /* Not a snapshot: nothing to unmark. */
  load ("v2");
  assert_int_equal (ch_snap_unmark (hdr, sizeof hdr), -1);
  assert_error_contains ("not a cowherd snapshot");
}

/* The offset of the marker's data in hdr (marked). */
static size_t
data_at (void)
{
  struct ch_snap_marker m;
  uint64_t off;

  assert_int_equal (ch_snap_parse (hdr, sizeof hdr, &m, &off), 1);
  return (size_t) off - (CH_SNAP_EXT_LEN - CH_SNAP_HMAC_LEN);
}

/* Change one thing in a freshly marked header; it must be refused. */
static void
refused_after (void (*edit) (uint8_t *d), const char *frag)
{
  struct ch_snap_marker m = marker ();
  uint64_t off;

  qemu_img ("create", "-q", "-f", "qcow2", tpath ("h"), "1G", NULL);
  load ("h");
  assert_int_equal (ch_snap_mark (hdr, sizeof hdr, &m, &off), 0);
  edit (hdr + data_at ());
  ch_error_clear ();
  assert_int_equal (ch_snap_parse (hdr, sizeof hdr, &m, &off), -1);
  assert_error_contains (frag);
  unlink (tpath ("h"));
}

static void bad_version (uint8_t *d) { d[3] = 2; }
static void bad_flags (uint8_t *d) { d[7] = 4; }
static void both_digests (uint8_t *d) { d[7] = 3; }
static void bad_sizes (uint8_t *d) { memset (d + 8, 0xff, 8); }
static void zero_vsize (uint8_t *d) { memset (d + 8, 0, 16); }
static void bad_parent (uint8_t *d) { d[24] = 'G'; }
static void digest_unflagged (uint8_t *d) { d[7] = 0; }
static void id_too_long (uint8_t *d) { d[99] = 129; }
static void id_slash (uint8_t *d) { d[100] = '/'; }
static void id_trailing (uint8_t *d) { d[96 + 3] = 4; d[100 + 10] = 'x'; }
static void ext_length (uint8_t *d) { d[-1] = 8; }   /* 264 */
static void no_bit (uint8_t *d) { (void) d; hdr[79] &= (uint8_t) ~8; }
static void zstd (uint8_t *d) { (void) d; hdr[104] = 1; }

static void
test_hostile (void **state)
{
  (void) state;
  refused_after (bad_version, "version");
  refused_after (bad_flags, "unknown flags");
  refused_after (both_digests, "unknown flags");
  refused_after (bad_sizes, "make no sense");
  refused_after (zero_vsize, "make no sense");
  refused_after (bad_parent, "not a cache name");
  refused_after (digest_unflagged, "not flagged");
  refused_after (id_too_long, "image id");
  refused_after (id_slash, "image id");
  refused_after (id_trailing, "image id");
  refused_after (ext_length, "marker of 264 bytes");
  refused_after (no_bit, "without its feature bit");
  refused_after (zstd, "without its feature bit");
}

static void
test_two_markers (void **state)
{
  struct ch_snap_marker m = marker ();
  uint64_t off;
  size_t d;

  (void) state;
  qemu_img ("create", "-q", "-f", "qcow2", tpath ("two"), "1G", NULL);
  load ("two");
  assert_int_equal (ch_snap_mark (hdr, sizeof hdr, &m, &off), 0);
  /* A copy of the extension right after it. */
  d = data_at () - 8;
  memcpy (hdr + d + 8 + CH_SNAP_EXT_LEN + 4, hdr + d, 8 + CH_SNAP_EXT_LEN);
  assert_int_equal (ch_snap_parse (hdr, sizeof hdr, &m, &off), -1);
  assert_error_contains ("two cowherd snapshot markers");
}

/* Anything that is not a qcow2 v3 header cowherd reads carries no marker. */
static void
test_not_ours (void **state)
{
  struct ch_snap_marker m;
  uint64_t off;

  (void) state;
  memset (hdr, 0, sizeof hdr);
  assert_int_equal (ch_snap_parse (hdr, sizeof hdr, &m, &off), 0);
  assert_int_equal (ch_snap_parse (hdr, 0, &m, &off), 0);
  memcpy (hdr, "QFI\xfb\0\0\0\3", 8);
  assert_int_equal (ch_snap_parse (hdr, 8, &m, &off), 0);
  assert_int_equal (ch_snap_parse (hdr, sizeof hdr, &m, &off), 0);
  assert_string_equal (ch_last_error (), "");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown (f, setup, teardown)
    T (test_roundtrip),
    T (test_not_markable),
    T (test_hostile),
    T (test_two_markers),
    T (test_not_ours),
#undef T
  };

  return tu_run_group_tests (tests, NULL, NULL);
}
