/* Unit tests: the planner, a pure function, fed hand-made worlds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "planner.h"

#define BASE "/i/_base"
#define SHA "f2d1a8250ed3d4b744a8250dab8f6840179d502a"
#define GiB (1024ULL * 1024 * 1024)

/* A world: up to 4 disks, each a chain of up to 4 links, and a cache. */
struct entry { const char *name; struct ch_entry e; };
struct fake {
  struct ch_chain chains[4];
  const char *errors[4];
  struct entry cache[8];
  struct ch_disk disks[4];
  struct ch_domain dom;
  struct ch_world world;
};

static int
lookup (void *opaque, const char *leaf, struct ch_entry *out)
{
  struct fake *f = opaque;

  memset (out, 0, sizeof *out);
  for (size_t i = 0; i < 8 && f->cache[i].name; i++)
    if (strcmp (f->cache[i].name, leaf) == 0)
      *out = f->cache[i].e;
  return 0;
}

static struct ch_entry
raw_file (uint64_t size)
{
  return (struct ch_entry) { .exists = true, .is_regular = true, .fmt = CH_FMT_RAW,
                             .virtual_size = size };
}

static void
init (struct fake *f)
{
  memset (f, 0, sizeof *f);
  f->dom.name = (char *) "instance-1";
  f->dom.disks = f->disks;
  f->world.base_dir = BASE;
  f->world.chains = f->chains;
  f->world.chain_errors = f->errors;
  f->world.lookup = lookup;
  f->world.opaque = f;
}

/* Add disk DEV whose chain is the NULL-terminated list of (path, exists). */
static void
disk (struct fake *f, const char *dev, const char *top, int top_exists, ...)
{
  size_t d = f->dom.n_disks++;
  struct ch_chain *c = &f->chains[d];
  va_list ap;
  const char *p;

  f->disks[d].target = (char *) dev;
  f->disks[d].device = (char *) "disk";
  f->disks[d].source = (char *) top;
  f->disks[d].fmt = CH_FMT_QCOW2;
  /* Overlays as large as any base below them, unless a test says less. */
  c->links[0] = (struct ch_link) { .path = (char *) top, .exists = top_exists,
                                   .is_regular = top_exists, .fmt = CH_FMT_QCOW2,
                                   .virtual_size = 1024 * GiB };
  c->n = 1;
  va_start (ap, top_exists);
  while ((p = va_arg (ap, const char *)) != NULL) {
    bool exists = va_arg (ap, int);

    c->links[c->n++] = (struct ch_link) { .path = (char *) p, .header_name = (char *) p,
                                          .exists = exists, .is_regular = exists,
                                          .fmt = CH_FMT_RAW };
  }
  va_end (ap);
}

static struct ch_plan
plan (struct fake *f, enum ch_plan_mode mode)
{
  struct ch_plan p;

  assert_int_equal (ch_plan_build (&f->dom, &f->world, mode, &p), 0);
  return p;
}

static void
test_whole_chain_marks (void **state)
{
  struct fake f;
  struct ch_plan p;

  (void) state;
  init (&f);
  disk (&f, "vda", "/i/u/disk", true, BASE "/" SHA "_1", true, NULL);
  disk (&f, "vdb", "/i/u/disk.eph0", true, BASE "/ephemeral_1_0706d66", true, NULL);
  disk (&f, "vdc", "/i/u/disk.config", true, NULL);
  f.chains[0].links[1].file_size = 1 * GiB;
  p = plan (&f, CH_PLAN_ENSURE);
  assert_false (p.failed);
  assert_int_equal (p.n, 2);
  assert_int_equal (p.v[0].kind, CH_ACT_MARK_IN_USE);
  assert_string_equal (p.v[0].name, SHA "_1");
  assert_string_equal (p.v[1].path, BASE "/ephemeral_1_0706d66");
  ch_plan_clear (&p);
}

static void
test_resized_from_original (void **state)
{
  struct fake f;
  struct ch_plan p;

  (void) state;
  init (&f);
  f.cache[0] = (struct entry) { SHA, raw_file (64 << 20) };
  disk (&f, "vda", "/i/u/disk", true, BASE "/" SHA "_20", false, NULL);
  p = plan (&f, CH_PLAN_ENSURE);
  assert_false (p.failed);
  assert_int_equal (p.n, 2);
  assert_int_equal (p.v[0].kind, CH_ACT_COPY_EXTEND);
  assert_string_equal (p.v[0].name, SHA "_20");
  assert_string_equal (p.v[0].src_name, SHA);
  assert_int_equal (p.v[0].size, 20 * GiB);
  assert_int_equal (p.v[0].fmt, CH_FMT_RAW);
  assert_string_equal (p.v[0].disk, "vda");
  /* The original it copies from is marked in use too. */
  assert_int_equal (p.v[1].kind, CH_ACT_MARK_IN_USE);
  assert_string_equal (p.v[1].name, SHA);
  ch_plan_clear (&p);
}

static void
test_resized_in_progress (void **state)
{
  struct fake f;
  struct ch_plan p;

  (void) state;
  init (&f);
  f.cache[0] = (struct entry) { SHA, raw_file (64 << 20) };
  disk (&f, "vda", "/i/u/disk", true, BASE "/" SHA "_2", true, NULL);
  /* Present but short of 2 GiB: Nova's cp has not been extended yet. */
  f.chains[0].links[1].file_size = 64 << 20;
  p = plan (&f, CH_PLAN_ENSURE);
  assert_false (p.failed);
  assert_int_equal (p.v[0].kind, CH_ACT_COPY_EXTEND);
  assert_string_equal (p.v[0].name, SHA "_2");
  ch_plan_clear (&p);

  /* Full size: just marked. */
  f.chains[0].links[1].file_size = 2 * GiB;
  p = plan (&f, CH_PLAN_ENSURE);
  for (size_t i = 0; i < p.n; i++)
    assert_int_equal (p.v[i].kind, CH_ACT_MARK_IN_USE);
  ch_plan_clear (&p);

  /* A qcow2 copy (force_raw_images off): its header's size counts, and a
   * header cp has not written yet means in progress too. */
  f.cache[0].e.fmt = CH_FMT_QCOW2;
  f.chains[0].links[1].fmt = CH_FMT_QCOW2;
  f.chains[0].links[1].virtual_size = 64 << 20;
  p = plan (&f, CH_PLAN_ENSURE);
  assert_false (p.failed);
  assert_int_equal (p.v[0].kind, CH_ACT_COPY_EXTEND);
  ch_plan_clear (&p);
  f.chains[0].links[1].virtual_size = 0;
  f.chains[0].links[1].file_size = 0;
  f.chains[0].links[1].partial = true;
  p = plan (&f, CH_PLAN_ENSURE);
  assert_false (p.failed);
  assert_int_equal (p.v[0].kind, CH_ACT_COPY_EXTEND);
  assert_string_equal (p.v[0].name, SHA "_2");
  ch_plan_clear (&p);
  f.chains[0].links[1].partial = false;
  f.chains[0].links[1].virtual_size = 2 * GiB;
  p = plan (&f, CH_PLAN_ENSURE);
  for (size_t i = 0; i < p.n; i++)
    assert_int_equal (p.v[i].kind, CH_ACT_MARK_IN_USE);
  ch_plan_clear (&p);
}

static void
test_fetch_when_sources (void **state)
{
  struct fake f;
  struct ch_plan p;

  (void) state;
  init (&f);
  f.world.can_fetch = true;
  f.dom.nova.present = true;
  f.dom.nova.root_uuid = (char *) "155d900f-4e14-4e4c-a73d-069cbf4541e6";
  disk (&f, "vda", "/i/u/disk", true, BASE "/" SHA "_1", false, NULL);
  disk (&f, "vdb", "/i/u/disk2", true, BASE "/" SHA, false, NULL);
  p = plan (&f, CH_PLAN_ENSURE);
  assert_false (p.failed);
  /* One fetch of the original, first; then the copy, whose format is the
   * fetched file's; then the mark of the original. */
  assert_int_equal (p.n, 3);
  assert_int_equal (p.v[0].kind, CH_ACT_FETCH);
  assert_string_equal (p.v[0].name, SHA);
  assert_string_equal (p.v[0].src_name, "155d900f-4e14-4e4c-a73d-069cbf4541e6");
  assert_int_equal (p.v[1].kind, CH_ACT_COPY_EXTEND);
  assert_string_equal (p.v[1].src_name, SHA);
  assert_int_equal (p.v[1].fmt, CH_FMT_UNKNOWN);
  assert_int_equal (p.v[2].kind, CH_ACT_MARK_IN_USE);
  assert_string_equal (p.v[2].name, SHA);
  ch_plan_clear (&p);

  /* No metadata: a fetch with no candidate (the fetcher asks Glance by
   * image_id_sha1). */
  f.dom.nova.present = false;
  p = plan (&f, CH_PLAN_ENSURE);
  assert_int_equal (p.v[0].kind, CH_ACT_FETCH);
  assert_null (p.v[0].src_name);
  ch_plan_clear (&p);
}

static void
test_shared_base_planned_once (void **state)
{
  struct fake f;
  struct ch_plan p;
  size_t creations = 0;

  (void) state;
  init (&f);
  f.cache[0] = (struct entry) { SHA, raw_file (1 << 20) };
  disk (&f, "vda", "/i/u/disk", true, BASE "/" SHA "_1", false, NULL);
  disk (&f, "vdb", "/i/u/disk2", true, BASE "/" SHA "_1", false, NULL);
  p = plan (&f, CH_PLAN_ENSURE);
  for (size_t i = 0; i < p.n; i++)
    creations += p.v[i].kind == CH_ACT_COPY_EXTEND;
  assert_int_equal (creations, 1);
  ch_plan_clear (&p);
}

static void
test_ephemeral_and_swap (void **state)
{
  struct fake f;
  struct ch_plan p;

  (void) state;
  init (&f);
  disk (&f, "vdb", "/i/u/disk.eph0", true, BASE "/ephemeral_2_40d1d2c", false, NULL);
  disk (&f, "vdc", "/i/u/disk.swap", true, BASE "/swap_512", false, NULL);
  disk (&f, "vdd", "/i/u/disk.eph1", true, BASE "/ephemeral_0_3_linux", false, NULL);
  p = plan (&f, CH_PLAN_ENSURE);
  assert_false (p.failed);
  assert_int_equal (p.n, 3);
  assert_int_equal (p.v[0].kind, CH_ACT_CREATE_EPHEMERAL);
  assert_string_equal (p.v[0].fs, "ext4");
  assert_int_equal (p.v[0].size, 2 * GiB);
  assert_int_equal (p.v[1].kind, CH_ACT_CREATE_SWAP);
  assert_int_equal (p.v[1].size, 512ULL << 20);
  assert_string_equal (p.v[2].fs, "ext3");
  assert_int_equal (p.v[2].size, 3 * GiB);
  ch_plan_clear (&p);
}

static void
fails_with (struct fake *f, const char *path, const char *fragment)
{
  struct ch_plan p = plan (f, CH_PLAN_ENSURE);
  const struct ch_action *a = ch_plan_first_failure (&p);

  assert_true (p.failed);
  assert_non_null (a);
  if (path)
    assert_string_equal (a->path, path);
  if (strstr (a->reason, fragment) == NULL)
    fail_msg ("reason '%s' lacks '%s'", a->reason, fragment);
  /* A failed plan creates nothing. */
  for (size_t i = 0; i < p.n; i++)
    assert_true (p.v[i].kind == CH_ACT_FAIL || p.v[i].kind == CH_ACT_MARK_IN_USE);
  ch_plan_clear (&p);
}

/* A qcow2 shorter than a header anywhere else is no copy in progress. */
static void
test_partial_elsewhere (void **state)
{
  struct fake f;

  (void) state;
  init (&f);
  disk (&f, "vda", "/i/u/disk", true, BASE "/" SHA, true, NULL);
  f.chains[0].links[1].fmt = CH_FMT_QCOW2;
  f.chains[0].links[1].partial = true;
  fails_with (&f, BASE "/" SHA, "stated format is qcow2 but the image is not qcow2");
  /* Nor is a top. */
  init (&f);
  disk (&f, "vda", "/i/u/disk", true, NULL);
  f.chains[0].links[0].partial = true;
  fails_with (&f, "/i/u/disk", "stated format is qcow2 but the image is not qcow2");
}

static void
test_failures (void **state)
{
  struct fake f;

  (void) state;
  /* Original missing: the error names the original. */
  init (&f);
  disk (&f, "vda", "/i/u/disk", true, BASE "/" SHA "_1", false, NULL);
  fails_with (&f, BASE "/" SHA, "original image missing");

  init (&f);
  disk (&f, "vda", "/i/u/disk", true, BASE "/" SHA, false, NULL);
  fails_with (&f, BASE "/" SHA, "no image source");

  /* Original bigger than the flavor's disk. */
  init (&f);
  f.cache[0] = (struct entry) { SHA, raw_file (2 * GiB) };
  disk (&f, "vda", "/i/u/disk", true, BASE "/" SHA "_1", false, NULL);
  fails_with (&f, BASE "/" SHA "_1", "larger than");

  /* Original is a symlink. */
  init (&f);
  f.cache[0] = (struct entry) { SHA, { .exists = true, .is_symlink = true } };
  disk (&f, "vda", "/i/u/disk", true, BASE "/" SHA "_1", false, NULL);
  fails_with (&f, BASE "/" SHA, "symlink");

  /* Top missing: never created. */
  init (&f);
  disk (&f, "vda", "/i/u/disk", false, NULL);
  fails_with (&f, "/i/u/disk", "never creates a top image");

  /* Outside the cache. */
  init (&f);
  disk (&f, "vda", "/i/u/disk", true, "/elsewhere/base", false, NULL);
  fails_with (&f, "/elsewhere/base", "not an entry of the image cache");

  init (&f);
  disk (&f, "vda", "/i/u/disk", true, BASE "/not-a-nova-name", false, NULL);
  fails_with (&f, NULL, "not one of Nova's cache names");

  init (&f);
  disk (&f, "vda", "/i/u/disk", true, BASE "/" SHA "_sm", false, NULL);
  fails_with (&f, NULL, "legacy");

  init (&f);
  disk (&f, "vda", "/i/u/disk", true, BASE "/ephemeral_1_abcdef1", false, NULL);
  fails_with (&f, NULL, "names no filesystem");

  /* A name written with ".." that lands in the cache is still not created. */
  init (&f);
  disk (&f, "vda", "/i/u/disk", true, BASE "/swap_64", false, NULL);
  f.chains[0].links[1].header_name = (char *) "../_base/x/../swap_64";
  fails_with (&f, NULL, "'..'");

  /* Dangling symlink where the base should be. */
  init (&f);
  disk (&f, "vda", "/i/u/disk", true, BASE "/swap_64", false, NULL);
  f.chains[0].links[1].exists = true;
  f.chains[0].links[1].is_symlink = true;
  fails_with (&f, NULL, "symlink");

  /* A chain that could not be read. */
  init (&f);
  disk (&f, "vda", "/i/u/disk", true, NULL);
  f.errors[0] = "/i/u/disk: backing chain loop at /i/u/disk";
  fails_with (&f, NULL, "loop");

  /* An original that names a backing file (as Nova refuses them). */
  init (&f);
  f.cache[0] = (struct entry) { SHA, raw_file (1 << 20) };
  f.cache[0].e.fmt = CH_FMT_QCOW2;
  f.cache[0].e.has_backing = true;
  disk (&f, "vda", "/i/u/disk", true, BASE "/" SHA "_1", false, NULL);
  fails_with (&f, BASE "/" SHA, "backing or data file");

  /* A name larger than the disk over it: never written. */
  init (&f);
  disk (&f, "vda", "/i/u/disk.swap", true, BASE "/swap_1048576", false, NULL);
  f.chains[0].links[0].virtual_size = 64 << 20;
  fails_with (&f, BASE "/swap_1048576", "the disk over it is only 67108864 bytes");
  init (&f);
  disk (&f, "vda", "/i/u/disk.eph0", true, BASE "/ephemeral_2_0706d66", false, NULL);
  f.chains[0].links[0].virtual_size = 2 * GiB - 1;
  fails_with (&f, NULL, "the disk over it");

  /* Stated qcow2 for a swap base. */
  init (&f);
  disk (&f, "vda", "/i/u/disk", true, BASE "/swap_64", false, NULL);
  f.chains[0].links[1].fmt = CH_FMT_QCOW2;
  fails_with (&f, NULL, "raw");
}

static void
test_mark_mode (void **state)
{
  struct fake f;
  struct ch_plan p;

  (void) state;
  init (&f);
  disk (&f, "vda", "/i/u/disk", true, BASE "/" SHA "_1", false, NULL);
  disk (&f, "vdb", "/i/u/disk.swap", true, BASE "/swap_64", true, NULL);
  disk (&f, "vdc", "/i/u/gone", false, NULL);
  f.errors[2] = "whatever";
  p = plan (&f, CH_PLAN_MARK);
  assert_false (p.failed);
  assert_int_equal (p.n, 1);
  assert_int_equal (p.v[0].kind, CH_ACT_MARK_IN_USE);
  assert_string_equal (p.v[0].name, "swap_64");
  ch_plan_clear (&p);
}

static void
test_no_source_disk_skipped (void **state)
{
  struct fake f;
  struct ch_plan p;

  (void) state;
  init (&f);
  f.dom.n_disks = 1;
  f.disks[0].target = (char *) "hdc";
  f.disks[0].device = (char *) "cdrom";
  p = plan (&f, CH_PLAN_ENSURE);
  assert_int_equal (p.n, 0);
  assert_false (p.failed);
  ch_plan_clear (&p);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_whole_chain_marks),
    cmocka_unit_test (test_resized_from_original),
    cmocka_unit_test (test_resized_in_progress),
    cmocka_unit_test (test_partial_elsewhere),
    cmocka_unit_test (test_fetch_when_sources),
    cmocka_unit_test (test_shared_base_planned_once),
    cmocka_unit_test (test_ephemeral_and_swap),
    cmocka_unit_test (test_failures),
    cmocka_unit_test (test_mark_mode),
    cmocka_unit_test (test_no_source_disk_skipped),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
