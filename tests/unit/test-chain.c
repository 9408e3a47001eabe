/* Unit tests for lib/chain.c: chains of real and hand-made images. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "chain.h"
#include "error.h"
#include "qcow2.h"
#include "testutil.h"


static struct ch_chain chain;
static int first_free_fd;

/* The lowest free descriptor: the same before and after each test, or
 * something leaked one. */
static int
free_fd (void)
{
  int fd = open ("/dev/null", O_RDONLY);

  if (fd >= 0)
    close (fd);
  return fd;
}

/* qcow2 NAME (size SIZE) whose backing file is BACKING (-u: need not
 * exist) in format FMT. */
static void
qcow2_over (const char *name, const char *backing, const char *fmt,
            const char *size)
{
  if (backing == NULL)
    qemu_img ("create", "-q", "-f", "qcow2", tpath (name), size, NULL);
  else
    qemu_img ("create", "-q", "-f", "qcow2", "-u", "-F", fmt, "-b", backing,
              tpath (name), size, NULL);
}

static void
raw (const char *name, const char *size)
{
  qemu_img ("create", "-q", "-f", "raw", tpath (name), size, NULL);
}

/* A minimal hand-made v3 qcow2 header, for what qemu-img will not write
 * (no backing format, protocol names) or to make many images quickly. */
static void
handmade (const char *name, const char *backing, const char *fmt)
{
  uint8_t buf[1024] = { 0 };
  size_t off = 104;
  int fd;

  put32 (buf, CH_QCOW2_MAGIC);
  put32 (buf + 4, 3);
  put32 (buf + 20, 16);
  put64 (buf + 24, 1 << 20);
  put32 (buf + 96, 4);
  put32 (buf + 100, 104);
  if (fmt) {
    put32 (buf + off, 0xe2792aca);
    put32 (buf + off + 4, (uint32_t) strlen (fmt));
    memcpy (buf + off + 8, fmt, strlen (fmt));
    off += 8 + ((strlen (fmt) + 7) & ~(size_t) 7);
  }
  off += 8;                           /* end marker: zeros */
  if (backing) {
    assert_true (off + strlen (backing) <= sizeof buf);
    put64 (buf + 8, off);
    put32 (buf + 16, (uint32_t) strlen (backing));
    memcpy (buf + off, backing, strlen (backing));
  }
  fd = open (tpath (name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, buf, sizeof buf), (ssize_t) sizeof buf);
  close (fd);
}

static int
probe (const char *name, enum ch_fmt fmt)
{
  ch_chain_clear (&chain);
  ch_error_clear ();
  return ch_chain_probe (tpath (name), fmt, &chain);
}

static int
setup (void **state)
{
  (void) state;
  if (tu_tmpdir_make ("test-chain") < 0)
    return -1;
  memset (&chain, 0, sizeof chain);
  ch_error_clear ();
  first_free_fd = free_fd ();
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  ch_chain_clear (&chain);
  if (free_fd () != first_free_fd) {
    fprintf (stderr, "file descriptor leaked\n");
    return -1;
  }
  return tu_tmpdir_remove ();
}

static void
test_real_chain (void **state)
{
  (void) state;
  raw ("base.raw", "2M");
  qcow2_over ("mid.qcow2", "base.raw", "raw", "2M");
  qcow2_over ("top.qcow2", "mid.qcow2", "qcow2", "4M");

  assert_int_equal (probe ("top.qcow2", CH_FMT_UNKNOWN), 0);
  assert_int_equal (chain.n, 3);

  assert_string_equal (chain.links[0].path, tpath ("top.qcow2"));
  assert_null (chain.links[0].header_name);
  assert_int_equal (chain.links[0].fmt, CH_FMT_QCOW2);
  assert_true (chain.links[0].fmt_probed);
  assert_true (chain.links[0].exists);
  assert_false (chain.links[0].is_symlink);
  assert_true (chain.links[0].is_regular);
  assert_false (chain.links[0].is_block);
  assert_int_equal (chain.links[0].virtual_size, 4 << 20);
  assert_true (chain.links[0].file_size > 0);

  assert_string_equal (chain.links[1].path, tpath ("mid.qcow2"));
  assert_string_equal (chain.links[1].header_name, "mid.qcow2");
  assert_int_equal (chain.links[1].fmt, CH_FMT_QCOW2);
  assert_false (chain.links[1].fmt_probed);
  assert_int_equal (chain.links[1].virtual_size, 2 << 20);

  assert_string_equal (chain.links[2].path, tpath ("base.raw"));
  assert_string_equal (chain.links[2].header_name, "base.raw");
  assert_int_equal (chain.links[2].fmt, CH_FMT_RAW);
  assert_false (chain.links[2].fmt_probed);
  assert_true (chain.links[2].exists);
  assert_int_equal (chain.links[2].virtual_size, 2 << 20);
  assert_int_equal (chain.links[2].file_size, 2 << 20);

  /* Stated: not probed. */
  assert_int_equal (probe ("top.qcow2", CH_FMT_QCOW2), 0);
  assert_int_equal (chain.n, 3);
  assert_false (chain.links[0].fmt_probed);

  ch_chain_clear (&chain);
  assert_int_equal (chain.n, 0);
  assert_null (chain.links[0].path);
}

static void
test_allocated (void **state)
{
  int fd;

  (void) state;
  fd = open (tpath ("full.raw"), O_WRONLY | O_CREAT, 0644);
  assert_true (fd >= 0);
  for (int i = 0; i < 16; i++) {
    char block[4096];

    memset (block, 'x', sizeof block);
    assert_int_equal (write (fd, block, sizeof block), sizeof block);
  }
  close (fd);
  assert_int_equal (probe ("full.raw", CH_FMT_RAW), 0);
  assert_int_equal (chain.links[0].file_size, 65536);
  assert_true (chain.links[0].allocated >= 65536);

  raw ("sparse.raw", "1G");
  assert_int_equal (probe ("sparse.raw", CH_FMT_UNKNOWN), 0);
  assert_int_equal (chain.links[0].fmt, CH_FMT_RAW);
  assert_true (chain.links[0].fmt_probed);
  assert_int_equal (chain.links[0].virtual_size, UINT64_C (1) << 30);
  assert_true (chain.links[0].allocated < UINT64_C (1) << 30);
}

/* A stated raw format is believed, even over qcow2 bytes, as QEMU does. */
static void
test_stated_raw (void **state)
{
  (void) state;
  qcow2_over ("top.qcow2", "base", "raw", "1M");
  assert_int_equal (probe ("top.qcow2", CH_FMT_RAW), 0);
  assert_int_equal (chain.n, 1);
  assert_int_equal (chain.links[0].fmt, CH_FMT_RAW);
  assert_false (chain.links[0].fmt_probed);
  assert_int_equal (chain.links[0].virtual_size, chain.links[0].file_size);
}

static void
test_stated_qcow2_not_qcow2 (void **state)
{
  (void) state;
  raw ("disk", "1M");
  assert_int_equal (probe ("disk", CH_FMT_QCOW2), -1);
  assert_error_contains ("stated format is qcow2 but the image is not qcow2");
  assert_error_contains (tpath ("disk"));

  /* Shorter than any qcow2 header: perhaps one still being copied, which
   * the planner judges by its name.  Recorded, not followed. */
  assert_int_equal (close (open (tpath ("empty"), O_CREAT | O_WRONLY, 0644)), 0);
  assert_int_equal (probe ("empty", CH_FMT_QCOW2), 0);
  assert_true (chain.links[0].partial);
  assert_int_equal (chain.links[0].fmt, CH_FMT_QCOW2);
  assert_int_equal (chain.links[0].virtual_size, 0);
  assert_int_equal (chain.n, 1);
  assert_int_equal (truncate (tpath ("empty"), 71), 0);
  assert_int_equal (probe ("empty", CH_FMT_QCOW2), 0);
  assert_true (chain.links[0].partial);
  assert_int_equal (truncate (tpath ("empty"), 72), 0);
  assert_int_equal (probe ("empty", CH_FMT_QCOW2), -1);
  assert_error_contains ("stated format is qcow2 but the image is not qcow2");
  /* Not stated qcow2: simply raw. */
  assert_int_equal (probe ("empty", CH_FMT_UNKNOWN), 0);
  assert_false (chain.links[0].partial);

  /* Stated by the parent's backing format. */
  qcow2_over ("top.qcow2", "disk", "qcow2", "1M");
  assert_int_equal (probe ("top.qcow2", CH_FMT_UNKNOWN), -1);
  assert_error_contains ("stated format is qcow2");
  assert_error_contains (tpath ("disk"));
  assert_int_equal (chain.n, 2);
}

static void
test_other_format (void **state)
{
  (void) state;
  qcow2_over ("top.qcow2", "disk.vmdk", "vmdk", "1M");
  raw ("disk.vmdk", "1M");
  assert_int_equal (probe ("top.qcow2", CH_FMT_UNKNOWN), 0);
  assert_int_equal (chain.n, 2);
  assert_int_equal (chain.links[1].fmt, CH_FMT_OTHER);
  assert_false (chain.links[1].fmt_probed);
  assert_true (chain.links[1].exists);
  assert_int_equal (chain.links[1].virtual_size, 0);

  assert_int_equal (probe ("top.qcow2", CH_FMT_OTHER), 0);
  assert_int_equal (chain.n, 1);
  assert_int_equal (chain.links[0].fmt, CH_FMT_OTHER);
}

/* No backing format extension: the next link is probed. */
static void
test_probed_backing (void **state)
{
  (void) state;
  handmade ("top", "mid", NULL);
  handmade ("mid", "base", NULL);
  raw ("base", "3M");
  assert_int_equal (probe ("top", CH_FMT_QCOW2), 0);
  assert_int_equal (chain.n, 3);
  assert_int_equal (chain.links[1].fmt, CH_FMT_QCOW2);
  assert_true (chain.links[1].fmt_probed);
  assert_int_equal (chain.links[2].fmt, CH_FMT_RAW);
  assert_true (chain.links[2].fmt_probed);
  assert_int_equal (chain.links[2].virtual_size, 3 << 20);
}

static void
test_loop (void **state)
{
  (void) state;
  qcow2_over ("a.qcow2", "b.qcow2", "qcow2", "1M");
  qcow2_over ("b.qcow2", "a.qcow2", "qcow2", "1M");
  assert_int_equal (probe ("a.qcow2", CH_FMT_QCOW2), -1);
  assert_error_contains ("backing chain loop at");
  assert_error_contains (tpath ("a.qcow2"));
  assert_int_equal (chain.n, 3);

  /* Onto itself. */
  qcow2_over ("self.qcow2", "self.qcow2", "qcow2", "1M");
  assert_int_equal (probe ("self.qcow2", CH_FMT_QCOW2), -1);
  assert_error_contains ("backing chain loop at");

  /* Through another name for the same file. */
  assert_int_equal (symlink ("c.qcow2", tpath ("alias.qcow2")), 0);
  qcow2_over ("c.qcow2", "alias.qcow2", "qcow2", "1M");
  assert_int_equal (probe ("c.qcow2", CH_FMT_QCOW2), -1);
  assert_error_contains ("backing chain loop at");
  assert_error_contains (tpath ("alias.qcow2"));

  qcow2_over ("d.qcow2", "hard.qcow2", "qcow2", "1M");
  assert_int_equal (link (tpath ("d.qcow2"), tpath ("hard.qcow2")), 0);
  assert_int_equal (probe ("d.qcow2", CH_FMT_QCOW2), -1);
  assert_error_contains ("backing chain loop at");
}

static void
test_depth_100 (void **state)
{
  (void) state;
  for (int i = 0; i <= 100; i++) {
    char name[16], next[16];

    snprintf (name, sizeof name, "l%d", i);
    snprintf (next, sizeof next, "l%d", i + 1);
    handmade (name, i < 100 ? next : NULL, "qcow2");
  }
  assert_int_equal (probe ("l0", CH_FMT_QCOW2), -1);
  assert_error_contains ("backing chain deeper than 16");
  assert_error_contains (tpath ("l16"));
  assert_int_equal (chain.n, CH_CHAIN_MAX_DEPTH + 1);
}

/* i0 is raw; i1..iN are qcow2, each over the one before. */
static void
make_levels (int n)
{
  raw ("i0", "1M");
  for (int i = 1; i <= n; i++) {
    char name[16], below[16];

    snprintf (name, sizeof name, "i%d", i);
    snprintf (below, sizeof below, "i%d", i - 1);
    qcow2_over (name, below, i == 1 ? "raw" : "qcow2", "1M");
  }
}

static void
test_depth_16_ok (void **state)
{
  (void) state;
  make_levels (16);
  assert_int_equal (probe ("i16", CH_FMT_QCOW2), 0);
  assert_int_equal (chain.n, 17);
  assert_string_equal (chain.links[16].path, tpath ("i0"));
  assert_int_equal (chain.links[16].fmt, CH_FMT_RAW);
}

static void
test_depth_17_refused (void **state)
{
  (void) state;
  make_levels (17);
  assert_int_equal (probe ("i17", CH_FMT_QCOW2), -1);
  assert_error_contains ("backing chain deeper than 16");
  /* Refused even when the 17th level does not exist. */
  assert_int_equal (unlink (tpath ("i0")), 0);
  assert_int_equal (probe ("i17", CH_FMT_QCOW2), -1);
  assert_error_contains ("backing chain deeper than 16");
}

static void
test_missing (void **state)
{
  (void) state;
  qcow2_over ("top.qcow2", "mid.qcow2", "qcow2", "1M");
  assert_int_equal (probe ("top.qcow2", CH_FMT_QCOW2), 0);
  assert_int_equal (chain.n, 2);
  assert_true (chain.links[0].exists);
  assert_false (chain.links[1].exists);
  assert_false (chain.links[1].is_symlink);
  assert_string_equal (chain.links[1].path, tpath ("mid.qcow2"));
  assert_string_equal (chain.links[1].header_name, "mid.qcow2");
  assert_int_equal (chain.links[1].fmt, CH_FMT_QCOW2);   /* as the parent stated */

  /* A missing top. */
  assert_int_equal (probe ("nothing", CH_FMT_QCOW2), 0);
  assert_int_equal (chain.n, 1);
  assert_false (chain.links[0].exists);

  /* A path through a regular file (ENOTDIR) is missing too. */
  qcow2_over ("top2.qcow2", "top.qcow2/x", "raw", "1M");
  assert_int_equal (probe ("top2.qcow2", CH_FMT_QCOW2), 0);
  assert_int_equal (chain.n, 2);
  assert_false (chain.links[1].exists);
}

static void
test_relative_dotdot (void **state)
{
  char dir[128];

  (void) state;
  snprintf (dir, sizeof dir, "%s/a", tmpdir);
  assert_int_equal (mkdir (dir, 0755), 0);
  snprintf (dir, sizeof dir, "%s/b", tmpdir);
  assert_int_equal (mkdir (dir, 0755), 0);
  raw ("b/base.raw", "1M");
  qcow2_over ("a/top.qcow2", "../b/./x/../base.raw", "raw", "1M");
  assert_int_equal (probe ("a/top.qcow2", CH_FMT_QCOW2), 0);
  assert_int_equal (chain.n, 2);
  assert_string_equal (chain.links[1].path, tpath ("b/base.raw"));
  assert_string_equal (chain.links[1].header_name, "../b/./x/../base.raw");
  assert_true (chain.links[1].exists);

  /* The top path is normalised too. */
  assert_int_equal (probe ("b//../a/./top.qcow2", CH_FMT_QCOW2), 0);
  assert_string_equal (chain.links[0].path, tpath ("a/top.qcow2"));
  assert_string_equal (chain.links[1].path, tpath ("b/base.raw"));
}

static void
test_fifo (void **state)
{
  (void) state;
  assert_int_equal (mkfifo (tpath ("fifo"), 0644), 0);
  qcow2_over ("top.qcow2", "fifo", "raw", "1M");
  alarm (10);                         /* a blocking open would hang here */
  assert_int_equal (probe ("top.qcow2", CH_FMT_QCOW2), -1);
  assert_error_contains ("not a regular file or block device");
  assert_error_contains (tpath ("fifo"));
  assert_int_equal (probe ("fifo", CH_FMT_UNKNOWN), -1);
  assert_error_contains ("not a regular file or block device");
  /* Through a symlink. */
  assert_int_equal (symlink ("fifo", tpath ("fifolink")), 0);
  assert_int_equal (probe ("fifolink", CH_FMT_UNKNOWN), -1);
  assert_error_contains ("not a regular file or block device");
  alarm (0);
}

static void
test_not_a_file (void **state)
{
  (void) state;
  assert_int_equal (mkdir (tpath ("dir"), 0755), 0);
  qcow2_over ("top.qcow2", "dir", "qcow2", "1M");
  assert_int_equal (probe ("top.qcow2", CH_FMT_QCOW2), -1);
  assert_error_contains ("not a regular file or block device");
  assert_int_equal (chain.n, 2);

  ch_chain_clear (&chain);
  assert_int_equal (ch_chain_probe ("/dev/null", CH_FMT_RAW, &chain), -1);
  assert_error_contains ("/dev/null: not a regular file or block device");
}

static void
test_symlink (void **state)
{
  char target[128];

  (void) state;
  assert_int_equal (mkdir (tpath ("real"), 0755), 0);
  raw ("base.raw", "1M");
  /* Relative names in a symlinked image are resolved against the link's
   * directory, as QEMU does: base.raw here, not in real/. */
  qcow2_over ("real/mid.qcow2", "base.raw", "raw", "1M");
  snprintf (target, sizeof target, "%s", tpath ("real/mid.qcow2"));
  assert_int_equal (symlink (target, tpath ("mid.qcow2")), 0);
  qcow2_over ("top.qcow2", "mid.qcow2", "qcow2", "1M");

  assert_int_equal (probe ("top.qcow2", CH_FMT_QCOW2), 0);
  assert_int_equal (chain.n, 3);
  assert_false (chain.links[0].is_symlink);
  assert_true (chain.links[1].exists);
  assert_true (chain.links[1].is_symlink);
  assert_true (chain.links[1].is_regular);
  assert_string_equal (chain.links[1].path, tpath ("mid.qcow2"));
  assert_false (chain.links[2].is_symlink);
  assert_string_equal (chain.links[2].path, tpath ("base.raw"));

  /* A symlinked top. */
  assert_int_equal (symlink ("top.qcow2", tpath ("toplink")), 0);
  assert_int_equal (probe ("toplink", CH_FMT_QCOW2), 0);
  assert_true (chain.links[0].is_symlink);
  assert_int_equal (chain.n, 3);
}

static void
test_dangling_symlink (void **state)
{
  (void) state;
  assert_int_equal (symlink ("nowhere", tpath ("mid.qcow2")), 0);
  qcow2_over ("top.qcow2", "mid.qcow2", "qcow2", "1M");
  assert_int_equal (probe ("top.qcow2", CH_FMT_QCOW2), 0);
  assert_int_equal (chain.n, 2);
  assert_true (chain.links[1].exists);
  assert_true (chain.links[1].is_symlink);
  assert_false (chain.links[1].is_regular);
  assert_false (chain.links[1].is_block);

  /* A symlink loop is an error, not a missing file. */
  assert_int_equal (symlink ("loop2", tpath ("loop1")), 0);
  assert_int_equal (symlink ("loop1", tpath ("loop2")), 0);
  assert_int_equal (probe ("loop1", CH_FMT_QCOW2), -1);
  assert_error_contains (tpath ("loop1"));
}

static void
test_data_file (void **state)
{
  char opt[128];

  (void) state;
  snprintf (opt, sizeof opt, "data_file=%s", tpath ("data.raw"));
  qemu_img ("create", "-q", "-f", "qcow2", "-o", opt, tpath ("df.qcow2"),
            "1M", NULL);
  assert_int_equal (probe ("df.qcow2", CH_FMT_QCOW2), -1);
  assert_error_contains ("external data files are not supported");
  assert_error_contains (tpath ("df.qcow2"));

  qcow2_over ("top.qcow2", "df.qcow2", "qcow2", "1M");
  assert_int_equal (probe ("top.qcow2", CH_FMT_QCOW2), -1);
  assert_error_contains ("external data files are not supported");
}

static void
test_protocol (void **state)
{
  (void) state;
  handmade ("nbd.qcow2", "nbd:localhost:10809", "raw");
  assert_int_equal (probe ("nbd.qcow2", CH_FMT_QCOW2), -1);
  assert_error_contains ("protocol");
  assert_error_contains (tpath ("nbd.qcow2"));
  handmade ("json.qcow2", "json:{\"file\":{\"filename\":\"/x\"}}", NULL);
  assert_int_equal (probe ("json.qcow2", CH_FMT_QCOW2), -1);
  assert_error_contains ("protocol");
  /* A ':' after a '/' is part of a file name. */
  handmade ("colon.qcow2", "./a:b", "raw");
  assert_int_equal (probe ("colon.qcow2", CH_FMT_QCOW2), 0);
  assert_int_equal (chain.n, 2);
  assert_string_equal (chain.links[1].path, tpath ("a:b"));
  assert_false (chain.links[1].exists);
}

static void
test_malformed_header (void **state)
{
  uint8_t buf[64] = { 0 };
  int fd;

  (void) state;
  put32 (buf, CH_QCOW2_MAGIC);
  put32 (buf + 4, 3);
  fd = open (tpath ("short.qcow2"), O_WRONLY | O_CREAT, 0644);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, buf, sizeof buf), sizeof buf);
  close (fd);
  qcow2_over ("top.qcow2", "short.qcow2", "qcow2", "1M");
  assert_int_equal (probe ("top.qcow2", CH_FMT_QCOW2), -1);
  assert_error_contains ("truncated qcow2 header");
  assert_error_contains (tpath ("short.qcow2"));
  assert_int_equal (chain.n, 2);

  /* Probed as qcow2 from the magic, then refused. */
  assert_int_equal (probe ("short.qcow2", CH_FMT_UNKNOWN), -1);
  assert_error_contains ("truncated qcow2 header");
}

static void
test_not_absolute (void **state)
{
  (void) state;
  ch_error_clear ();
  assert_int_equal (ch_chain_probe ("relative.qcow2", CH_FMT_QCOW2, &chain),
                    -1);
  assert_error_contains ("not absolute");
  assert_error_contains ("relative.qcow2");
  assert_int_equal (chain.n, 0);
}

/* Run as an unprivileged user: root reads a file of mode 0, nobody does
 * not.  0: refused as it should be. */
static int
unreadable_as_nobody (void)
{
  int r;

  if (setgroups (0, NULL) < 0 || setresgid (65534, 65534, 65534) < 0 ||
      setresuid (65534, 65534, 65534) < 0) {
    perror ("dropping root");
    return 2;
  }
  r = probe ("secret", CH_FMT_RAW);
  ch_chain_clear (&chain);
  if (r != -1 || strstr (ch_last_error (), tpath ("secret")) == NULL ||
      strstr (ch_last_error (), "Permission denied") == NULL) {
    fprintf (stderr, "probe as nobody: %d, \"%s\"\n", r, ch_last_error ());
    return 1;
  }
  return 0;
}

static void
test_unreadable (void **state)
{
  pid_t pid;
  int status;

  (void) state;
  raw ("secret", "1M");
  assert_int_equal (chmod (tpath ("secret"), 0), 0);
  if (geteuid () != 0) {
    assert_int_equal (probe ("secret", CH_FMT_RAW), -1);
    assert_error_contains (tpath ("secret"));
    assert_error_contains ("Permission denied");
    return;
  }
  /* As root (CI), the check runs in a child that gives root up. */
  assert_int_equal (chmod (tmpdir, 0711), 0);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    _exit (unreadable_as_nobody ());
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFEXITED (status));
  assert_int_equal (WEXITSTATUS (status), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown (f, setup, teardown)
    T (test_real_chain),
    T (test_allocated),
    T (test_stated_raw),
    T (test_stated_qcow2_not_qcow2),
    T (test_other_format),
    T (test_probed_backing),
    T (test_loop),
    T (test_depth_100),
    T (test_depth_16_ok),
    T (test_depth_17_refused),
    T (test_missing),
    T (test_relative_dotdot),
    T (test_fifo),
    T (test_not_a_file),
    T (test_symlink),
    T (test_dangling_symlink),
    T (test_data_file),
    T (test_protocol),
    T (test_malformed_header),
    T (test_not_absolute),
    T (test_unreadable),
#undef T
  };

  return tu_run_group_tests (tests, NULL, NULL);
}
