/* Unit tests for wrapper/qemu_img_args.c: qemu-img 7.2's command line as
 * the shim reads it.  What the grammar does not accept must be reported
 * as such (the call is then passed through), and argv is never changed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qemu_img_args.h"

#define ARGV(...) (char *[]) { __VA_ARGS__, NULL }
#define ARGC(a) ((int) (sizeof (a) / sizeof (a)[0]) - 1)

static const char *
command (int argc, char **argv, int *idx)
{
  *idx = -1;
  return ch_qemu_img_command (argc, argv, idx);
}

static void
test_command (void **state)
{
  char **a;
  int i;

  (void) state;
  a = ARGV ("qemu-img", "rebase", "-b", "x", "disk");
  assert_string_equal (command (5, a, &i), "rebase");
  assert_int_equal (i, 1);
  a = ARGV ("qemu-img", "-T", "bdrv_*", "rebase", "disk");
  assert_string_equal (command (5, a, &i), "rebase");
  assert_int_equal (i, 3);
  a = ARGV ("qemu-img", "--trace=bdrv_*", "info", "disk");
  assert_string_equal (command (4, a, &i), "info");
  assert_int_equal (i, 2);
  a = ARGV ("qemu-img", "--tr", "x", "info");          /* an unambiguous prefix */
  assert_string_equal (command (4, a, &i), "info");
  /* Help, version, errors: no subcommand to act on. */
  assert_null (command (2, ARGV ("qemu-img", "-h"), &i));
  assert_null (command (3, ARGV ("qemu-img", "-V", "rebase"), &i));
  assert_null (command (3, ARGV ("qemu-img", "--version", "rebase"), &i));
  assert_null (command (3, ARGV ("qemu-img", "--bogus", "rebase"), &i));
  assert_null (command (2, ARGV ("qemu-img", "-T"), &i));
  assert_null (command (1, ARGV ("qemu-img"), &i));
  /* "+": the first non-option ends the global options. */
  a = ARGV ("qemu-img", "rebase", "-V");
  assert_string_equal (command (3, a, &i), "rebase");
}

static bool
rebase (int argc, char **argv, struct ch_rebase_args *r)
{
  int i;
  const char *cmd = ch_qemu_img_command (argc, argv, &i);

  assert_non_null (cmd);
  assert_string_equal (cmd, "rebase");
  memset (r, 0, sizeof *r);
  r->cmd_index = i;
  return ch_qemu_img_rebase_args (argc, argv, r);
}

static void
test_nova (void **state)
{
  char **a = ARGV ("qemu-img", "rebase", "-b", "/b/x_2", "-F", "raw", "-f", "qcow2", "/i/disk");
  char *copy[10];
  struct ch_rebase_args r;

  (void) state;
  memcpy (copy, a, sizeof copy);
  assert_true (rebase (ARGC (copy), a, &r));
  assert_string_equal (r.backing, "/b/x_2");
  assert_string_equal (r.backing_fmt, "raw");
  assert_string_equal (r.fmt, "qcow2");
  assert_string_equal (r.image, "/i/disk");
  assert_int_equal (r.files, 1);
  assert_false (r.unsafe);
  assert_memory_equal (a, copy, sizeof copy);        /* argv untouched */
}

static void
test_forms (void **state)
{
  struct ch_rebase_args r;
  char **a;

  (void) state;
  /* Clusters, attached values, options after the file name. */
  a = ARGV ("qemu-img", "rebase", "-qpfqcow2", "disk", "-Fraw", "-bnew");
  assert_true (rebase (6, a, &r));
  assert_string_equal (r.fmt, "qcow2");
  assert_string_equal (r.backing_fmt, "raw");
  assert_string_equal (r.backing, "new");
  assert_string_equal (r.image, "disk");
  /* The last -b wins, as in qemu-img. */
  a = ARGV ("qemu-img", "rebase", "-b", "one", "-b", "two", "disk");
  assert_true (rebase (7, a, &r));
  assert_string_equal (r.backing, "two");
  /* -u anywhere, also in a cluster. */
  a = ARGV ("qemu-img", "rebase", "-b", "x", "disk", "-qu");
  assert_true (rebase (6, a, &r));
  assert_true (r.unsafe);
  /* Long options, their prefixes and =value forms. */
  a = ARGV ("qemu-img", "rebase", "--object=secret,id=s0,data=x", "--image", "--force", "-b", "x",
            "driver=qcow2,file.filename=disk");
  assert_true (rebase (8, a, &r));
  assert_int_equal (r.objects, 1);
  assert_true (r.image_opts);
  assert_true (r.force_share);
  a = ARGV ("qemu-img", "rebase", "--object", "secret,id=s0,data=x", "-b", "x", "disk");
  assert_true (rebase (7, a, &r));
  assert_int_equal (r.objects, 1);
  assert_string_equal (r.image, "disk");
  /* "--" ends the options: "-b" after it is a file name. */
  a = ARGV ("qemu-img", "rebase", "-b", "x", "--", "-disk");
  assert_true (rebase (6, a, &r));
  assert_string_equal (r.image, "-disk");
  a = ARGV ("qemu-img", "rebase", "-b", "x", "one", "two");
  assert_true (rebase (6, a, &r));
  assert_int_equal (r.files, 2);
  assert_null (r.image);
  /* An empty -b is given (it means: no backing file). */
  a = ARGV ("qemu-img", "rebase", "-b", "", "disk");
  assert_true (rebase (5, a, &r));
  assert_string_equal (r.backing, "");
  a = ARGV ("qemu-img", "rebase", "--help");
  assert_true (rebase (3, a, &r));
  assert_true (r.help);
}

static void
test_refused (void **state)
{
  struct ch_rebase_args r;

  (void) state;
  assert_false (rebase (5, ARGV ("qemu-img", "rebase", "-x", "-b", "disk"), &r));
  assert_false (rebase (4, ARGV ("qemu-img", "rebase", "disk", "-b"), &r));
  assert_false (rebase (5, ARGV ("qemu-img", "rebase", "--compress", "-bx", "disk"), &r));
  assert_false (rebase (4, ARGV ("qemu-img", "rebase", "--backing=x", "disk"), &r));
  assert_false (rebase (4, ARGV ("qemu-img", "rebase", "--image-opts=1", "disk"), &r));
  /* A long option that is a prefix of none. */
  assert_false (rebase (4, ARGV ("qemu-img", "rebase", "--zzz", "disk"), &r));
}

/* POSIXLY_CORRECT stops at the first file name, for qemu-img and the shim. */
static void
test_posixly_correct (void **state)
{
  struct ch_rebase_args r;

  (void) state;
  setenv ("POSIXLY_CORRECT", "1", 1);
  assert_true (rebase (5, ARGV ("qemu-img", "rebase", "disk", "-b", "x"), &r));
  assert_int_equal (r.files, 3);
  assert_null (r.backing);
  unsetenv ("POSIXLY_CORRECT");
  assert_true (rebase (5, ARGV ("qemu-img", "rebase", "disk", "-b", "x"), &r));
  assert_int_equal (r.files, 1);
  assert_string_equal (r.backing, "x");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_command),
    cmocka_unit_test (test_nova),
    cmocka_unit_test (test_forms),
    cmocka_unit_test (test_refused),
    cmocka_unit_test (test_posixly_correct),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
