/* cowherd: tests for lib/state.c, the record of what an incoming migration
 * made, and its undoing. */
#include <fcntl.h>
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

#include "config.h"
#include "error.h"
#include "state.h"
#include "testutil.h"

#define UUID "1b4e28ba-2fa1-11d2-883f-0016d3cca427"

static struct ch_config cfg;
/* Lists a test fills, freed by teardown also when an assertion fails. */
static struct ch_made_list l, back;

static int
setup (void **state)
{
  (void) state;
  if (tu_tmpdir_make ("cowherd-state") < 0 || ch_config_load (NULL, true, &cfg) < 0)
    return -1;
  free (cfg.state_dir);
  free (cfg.instances_path);
  cfg.state_dir = strdup (tpath ("run"));
  cfg.instances_path = strdup (tmpdir);
  return cfg.state_dir && cfg.instances_path ? 0 : -1;
}

static int
teardown (void **state)
{
  (void) state;
  ch_made_clear (&l);
  ch_made_clear (&back);
  ch_config_free (&cfg);
  return tu_tmpdir_remove ();
}

static void
add (struct ch_made_list *list, const char *path)
{
  struct stat st;

  assert_int_equal (lstat (path, &st), 0);
  assert_int_equal (ch_made_add (list, path, &st), 0);
}

/* A boot id that is not this boot's. */
#define OTHER_BOOT "00000000-0000-4000-8000-000000000000"

/* Write TEXT as UUID's record, @ standing for instances_path. */
static void
put_record (const char *text)
{
  char p[256];
  FILE *f;

  snprintf (p, sizeof p, "run/incoming/%s", UUID);
  f = fopen (tpath (p), "w");
  assert_non_null (f);
  for (const char *c = text; *c; c++)
    if (*c == '@')
      fputs (cfg.instances_path, f);
    else
      fputc (*c, f);
  assert_int_equal (fclose (f), 0);
}

static void
test_roundtrip (void **state)
{
  struct ch_boot_clock before, after;

  (void) state;
  assert_int_equal (ch_state_exists (&cfg, UUID), 0);
  assert_int_equal (ch_state_load (&cfg, UUID, &back), 0);
  assert_int_equal (back.n, 0);
  assert_int_equal (mkdir (tpath ("inst dir"), 0755), 0);
  assert_int_equal (close (open (tpath ("inst dir/disk"), O_CREAT | O_WRONLY, 0644)), 0);
  add (&l, tpath ("inst dir"));
  add (&l, tpath ("inst dir/disk"));
  assert_int_equal (ch_boot_clock_now (&before), 0);
  assert_int_equal (ch_state_save (&cfg, UUID, &l), 0);
  assert_int_equal (ch_state_exists (&cfg, UUID), 1);
  assert_int_equal (ch_state_load (&cfg, UUID, &back), 0);
  assert_int_equal (ch_boot_clock_now (&after), 0);
  /* Begun now, in this boot, whatever the machine's uptime. */
  assert_false (back.prepared);
  assert_string_equal (back.boot_id, before.id);
  assert_true (back.boot_sec >= (before.sec > 0 ? before.sec : 1) && back.boot_sec <= after.sec);
  assert_true (back.age_sec >= 0 && back.age_sec <= after.sec - back.boot_sec);
  assert_int_equal (back.n, 2);
  assert_true (back.v[0].is_dir);
  assert_false (back.v[1].is_dir);
  assert_string_equal (back.v[1].path, tpath ("inst dir/disk"));
  assert_int_equal (back.v[1].ino, l.v[1].ino);
  assert_int_equal (back.v[1].dev, l.v[1].dev);
  /* prepare has seen it: the stage is kept, and when it began. */
  back.prepared = true;
  {
    int64_t began = back.boot_sec;

    assert_int_equal (ch_state_save (&cfg, UUID, &back), 0);
    ch_made_clear (&back);
    assert_int_equal (ch_state_load (&cfg, UUID, &back), 0);
    assert_true (back.prepared);
    assert_int_equal (back.boot_sec, began);
    assert_int_equal (back.n, 2);
  }
  ch_made_clear (&back);

  /* The record is root's alone. */
  {
    struct stat st;

    assert_int_equal (stat (tpath ("run/incoming"), &st), 0);
    assert_int_equal (st.st_mode & 0777, 0700);
  }
  assert_int_equal (ch_state_remove (&cfg, UUID), 0);
  assert_int_equal (ch_state_exists (&cfg, UUID), 0);
  assert_int_equal (ch_state_remove (&cfg, UUID), 0);

  /* A path with a line break cannot be recorded (nor read back wrong). */
  l.v[1].path[0] = '\n';
  assert_int_equal (ch_state_save (&cfg, UUID, &l), -1);
  assert_error_contains ("line break");
  assert_int_equal (ch_state_exists (&cfg, UUID), 0);
}

/* Parse TEXT against a boot clock that reads ID and SEC. */
static int
parse_at (const char *text, const char *id, int64_t sec)
{
  struct ch_boot_clock now = { .sec = sec };

  snprintf (now.id, sizeof now.id, "%s", id);
  ch_made_clear (&back);
  return ch_state_parse (text, strlen (text), "/i", &now, &back);
}

#define BOOT_A "6a1f0b6e-3c1d-4f43-9a57-0e5bd1a6c2f1"
#define REC_A(stage) "cowherd incoming 4\nstage " stage "\nboot " BOOT_A "\nsince 5000\n"

/* A record's age is counted on its own boot's clock, and only there. */
static void
test_age (void **state)
{
  (void) state;
  assert_int_equal (parse_at (REC_A ("migrate") "top 1 2 3.0 /i/u/disk\n", BOOT_A, 6000), 0);
  assert_int_equal (back.age_sec, 1000);
  assert_int_equal (back.n, 1);
  assert_false (ch_state_licenses_prepare (&back));
  assert_int_equal (parse_at (REC_A ("migrate"), BOOT_A, 5000), 0);
  assert_int_equal (back.age_sec, 0);
  assert_true (ch_state_licenses_prepare (&back));
  assert_int_equal (parse_at (REC_A ("migrate"), BOOT_A, 5000 + CH_STATE_PREPARE_WINDOW_SEC), 0);
  assert_true (ch_state_licenses_prepare (&back));
  assert_int_equal (parse_at (REC_A ("migrate"), BOOT_A, 5001 + CH_STATE_PREPARE_WINDOW_SEC), 0);
  assert_false (ch_state_licenses_prepare (&back));
  /* The window opens once: prepare has used it. */
  assert_int_equal (parse_at (REC_A ("prepare"), BOOT_A, 5000), 0);
  assert_true (back.prepared);
  assert_false (ch_state_licenses_prepare (&back));

  /* Begun later than now: no record of this boot says that. */
  assert_int_equal (parse_at (REC_A ("migrate"), BOOT_A, 4999), 0);
  assert_int_equal (back.age_sec, -1);
  assert_false (ch_state_licenses_prepare (&back));
  /* Begun in another boot, however the two clocks compare. */
  assert_int_equal (parse_at (REC_A ("migrate"), OTHER_BOOT, 6000), 0);
  assert_int_equal (back.age_sec, -1);
  assert_int_equal (parse_at (REC_A ("migrate"), OTHER_BOOT, 1), 0);
  assert_int_equal (back.age_sec, -1);
  assert_false (ch_state_licenses_prepare (&back));
  /* The previous format names no boot: still read, never fresh. */
  assert_int_equal (parse_at ("cowherd incoming 3\nstage migrate\nsince 5000\n"
                              "dir 1 2 3.0 /i/u\n", BOOT_A, 5000), 0);
  assert_int_equal (back.boot_sec, 5000);
  assert_int_equal (back.age_sec, -1);
  assert_int_equal (back.n, 1);
  assert_true (back.v[0].is_dir);
  assert_false (ch_state_licenses_prepare (&back));
}

/* A record made before this boot: on a machine booted a moment ago as on
 * one up for a year, it is a leftover, and saving it again keeps it one. */
static void
test_before_boot (void **state)
{
  struct ch_boot_clock now;

  (void) state;
  assert_int_equal (ch_boot_clock_now (&now), 0);
  assert_int_equal (ch_state_save (&cfg, UUID, &l), 0);     /* makes the directory */
  put_record ("cowherd incoming 4\nstage migrate\nboot " OTHER_BOOT "\nsince 1\n"
              "top 1 2 3.0 @/u/disk\n");
  assert_int_equal (ch_state_load (&cfg, UUID, &back), 0);
  assert_string_equal (back.boot_id, OTHER_BOOT);
  assert_int_equal (back.age_sec, -1);
  assert_false (ch_state_licenses_prepare (&back));
  back.prepared = true;
  assert_int_equal (ch_state_save (&cfg, UUID, &back), 0);
  ch_made_clear (&back);
  assert_int_equal (ch_state_load (&cfg, UUID, &back), 0);
  assert_string_equal (back.boot_id, OTHER_BOOT);
  assert_int_equal (back.boot_sec, 1);
  assert_int_equal (back.age_sec, -1);
  assert_int_equal (back.n, 1);

  /* A start before this boot's clock began cannot be recorded at all. */
  ch_made_clear (&back);
  back.boot_sec = -1000;
  assert_int_equal (ch_state_save (&cfg, UUID, &back), -1);
  assert_error_contains ("before this boot");
  /* An explicit start in this boot gets this boot's id. */
  back.boot_sec = 7;
  assert_int_equal (ch_state_save (&cfg, UUID, &back), 0);
  assert_int_equal (ch_state_load (&cfg, UUID, &back), 0);
  assert_string_equal (back.boot_id, now.id);
  assert_int_equal (back.boot_sec, 7);
}

static void
test_hostile (void **state)
{
#define H "cowherd incoming 4\nstage migrate\nboot " BOOT_A "\nsince 5\n"
  static const char *bad[] = {
    "", "cowherd incoming 3", "cowherd incoming 3\n", "cowherd incoming 3\nstage x\n",
    "cowherd incoming 1\nstage migrate\n", "cowherd incoming 2\nstage migrate\n",
    "cowherd incoming 3\nstage migrate\n", "cowherd incoming 3\nstage migrate\nsince\n",
    "cowherd incoming 3\nstage migrate\nsince 0\n",
    "cowherd incoming 3\nstage migrate\nsince -5\n",
    "cowherd incoming 3\nstage migrate\nsince  5\n",
    "cowherd incoming 3\nstage migrate\nsince 5 6\n",
    "cowherd incoming 3\nstage migrate\nsince 9223372036854775808\n",
    /* v4 names its boot, in the kernel's spelling, right after the stage. */
    "cowherd incoming 4\nstage migrate\nsince 5\n",
    "cowherd incoming 4\nstage migrate\nboot\nsince 5\n",
    "cowherd incoming 4\nstage migrate\nboot " BOOT_A "x\nsince 5\n",
    "cowherd incoming 4\nstage migrate\nboot 6A1F0B6E-3C1D-4F43-9A57-0E5BD1A6C2F1\nsince 5\n",
    "cowherd incoming 4\nstage migrate\nboot " BOOT_A "\nboot " BOOT_A "\nsince 5\n",
    "cowherd incoming 4\nstage migrate\nsince 5\nboot " BOOT_A "\n",
    "cowherd incoming 4\n\nstage migrate\nboot " BOOT_A "\nsince 5\n",
    "cowherd incoming 5\nstage migrate\nboot " BOOT_A "\nsince 5\n",
    H "\n", H "top 1 2 3.0 @/x\n\n", H "top 1 2 3.0 @/x",
    "cowherd incoming 3\nstage migrate\ntop 1 2 3.0 @/x\nsince 5\n",
    H "file 1 2 3.0 @/x\n",
    H "top 1 2 3.0 relative\n", H "top x 2 3.0 @/x\n", H "top 1\n", H "topx 1 2 3.0 @/x\n",
    H "top -1 2 3.0 @/x\n", H "top +1 2 3.0 @/x\n", H "top 1 2 3.1000000000 @/x\n",
    H "top 1 2 3 @/x\n", H "top 1 99999999999999999999999 3.0 @/x\n",
    H "top 1 2 9223372036854775808.0 @/x\n", H "top  1 2 3.0 @/x\n",
    /* Paths outside instances_path, or not normalised, are no record. */
    H "top 1 2 3.0 /etc/passwd\n", H "top 1 2 3.0 @/../x\n", H "top 1 2 3.0 @/\n",
    H "top 1 2 3.0 @\n", H "top 1 2 3.0 @x/y\n", H "top 1 2 3.0 @//x\n",
  };
#undef H

  (void) state;
  /* Not a uuid: the name would leave the directory. */
  assert_int_equal (ch_state_exists (&cfg, "../../etc/passwd"), -1);
  assert_error_contains ("uuid");
  assert_int_equal (ch_state_load (&cfg, NULL, &l), -1);

  assert_int_equal (ch_state_save (&cfg, UUID, &l), 0);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    put_record (bad[i]);
    if (ch_state_load (&cfg, UUID, &back) != -1)
      fail_msg ("case %zu accepted", i);
    assert_int_equal (back.n, 0);
  }

  /* Good lines, for contrast: the cases above fail for their own fault. */
  put_record ("cowherd incoming 4\nstage prepare\nboot " BOOT_A "\nsince 5\n"
              "top 1 2 3.0 @/x\n");
  assert_int_equal (ch_state_load (&cfg, UUID, &back), 0);
  assert_int_equal (back.n, 1);
  assert_true (back.prepared);
  assert_int_equal (back.boot_sec, 5);
  ch_made_clear (&back);
  put_record ("cowherd incoming 3\nstage prepare\nsince 5\ntop 1 2 3.0 @/x\n");
  assert_int_equal (ch_state_load (&cfg, UUID, &back), 0);
  assert_int_equal (back.n, 1);
  ch_made_clear (&back);

  /* Set aside, it no longer counts, and stays for a look. */
  assert_int_equal (ch_state_set_aside (&cfg, UUID), 0);
  assert_int_equal (ch_state_exists (&cfg, UUID), 0);
  assert_int_equal (access (tpath ("run/incoming/" UUID ".bad"), F_OK), 0);

  /* A state directory others can write to steers nothing. */
  assert_int_equal (chmod (tpath ("run/incoming"), 0777), 0);
  assert_int_equal (ch_state_exists (&cfg, UUID), -1);
  assert_error_contains ("not a private directory");
  assert_int_equal (chmod (tpath ("run/incoming"), 0700), 0);
}

static void
test_undo (void **state)
{
  char big[4096];

  (void) state;
  assert_int_equal (mkdir (tpath ("i"), 0755), 0);
  assert_int_equal (mkdir (tpath ("kept"), 0755), 0);
  qemu_img ("create", "-q", "-f", "raw", tpath ("base"), "4M", NULL);
  qemu_img ("create", "-q", "-f", "qcow2", "-u", "-F", "raw", "-b", tpath ("base"),
            tpath ("i/empty"), "4M", NULL);
  memset (big, 'g', sizeof big);
  {
    int fd = open (tpath ("data.raw"), O_CREAT | O_WRONLY, 0644);
    assert_int_equal (pwrite (fd, big, sizeof big, 0), (ssize_t) sizeof big);
    close (fd);
  }
  qemu_img ("convert", "-q", "-f", "raw", "-O", "qcow2", tpath ("data.raw"), tpath ("kept/data"),
            NULL);
  qemu_img ("create", "-q", "-f", "qcow2", tpath ("kept/replaced"), "4M", NULL);
  add (&l, tpath ("i"));
  add (&l, tpath ("i/empty"));
  add (&l, tpath ("kept"));
  add (&l, tpath ("kept/data"));
  add (&l, tpath ("kept/replaced"));
  /* Replaced after it was recorded: another file now. */
  assert_int_equal (unlink (tpath ("kept/replaced")), 0);
  qemu_img ("create", "-q", "-f", "qcow2", tpath ("kept/replaced"), "4M", NULL);

  /* Unknown status: only tops without data of their own go. */
  assert_int_equal (ch_made_undo (&l, "vm", false), 3);
  assert_int_equal (access (tpath ("i/empty"), F_OK), -1);
  assert_int_equal (access (tpath ("i"), F_OK), -1);
  assert_int_equal (access (tpath ("kept/data"), F_OK), 0);
  assert_int_equal (access (tpath ("kept/replaced"), F_OK), 0);

  /* The domain never ran here: the copy that arrived goes too, but never
   * a file that is not the one recorded. */
  assert_int_equal (ch_made_undo (&l, "vm", true), 2);
  assert_int_equal (access (tpath ("kept/data"), F_OK), -1);
  assert_int_equal (access (tpath ("kept/replaced"), F_OK), 0);
  assert_int_equal (access (tpath ("kept"), F_OK), 0);
  /* Removal moves the name aside first: nothing is left there. */
  {
    char aside[64];

    snprintf (aside, sizeof aside, "kept/.cowherd-undo.%ld", (long) getpid ());
    assert_int_equal (access (tpath (aside), F_OK), -1);
  }
  ch_made_clear (&l);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown (f, setup, teardown)
    T (test_roundtrip),
    T (test_age),
    T (test_before_boot),
    T (test_hostile),
    T (test_undo),
#undef T
  };

  return tu_run_group_tests (tests, NULL, NULL);
}
