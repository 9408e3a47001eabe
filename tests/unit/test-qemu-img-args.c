/* Unit tests for wrapper/qemu_img_args.c: qemu-img 7.2's command line as
 * the shim reads it.  What the grammar does not accept must be reported
 * as such (the call is then passed through), and argv is never changed.
 * Some calls also go to the real qemu-img, which must accept or refuse
 * them just as the parser does. */
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "qemu_img_args.h"
#include "testutil.h"

#define ARGV(...) (char *[]) { __VA_ARGS__, NULL }
#define ARGC(a) ((int) (sizeof (a) / sizeof (a)[0]) - 1)
#define MAX_ARGS 32

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

/* Where ARGV's subcommand is; it must be NAME. */
static int
command_index (int argc, char **argv, const char *name)
{
  int i = -1;
  const char *cmd = ch_qemu_img_command (argc, argv, &i);

  assert_non_null (cmd);
  assert_string_equal (cmd, name);
  return i;
}

static bool
rebase (int argc, char **argv, struct ch_rebase_args *r)
{
  char *copy[MAX_ARGS];
  bool ok;

  assert_true (argc < MAX_ARGS);
  memcpy (copy, argv, sizeof *argv * (size_t) (argc + 1));
  memset (r, 0, sizeof *r);
  r->cmd_index = command_index (argc, argv, "rebase");
  ok = ch_qemu_img_rebase_args (argc, argv, r);
  assert_memory_equal (argv, copy, sizeof *argv * (size_t) (argc + 1));
  return ok;
}

/* The number of arguments in the NULL-terminated ARGV; also keeps a copy
 * of the pointers in COPY, to see that the parser leaves them alone. */
static int
count_args (char **argv, char **copy)
{
  int n = 0;

  while (argv[n] != NULL)
    n++;
  assert_true (n < MAX_ARGS);
  memcpy (copy, argv, sizeof *argv * (size_t) (n + 1));
  return n;
}

/* Parse the NULL-terminated ARGV as `convert` or `info`. */
static bool
convert (char **argv, struct ch_convert_args *r)
{
  char *copy[MAX_ARGS];
  int argc = count_args (argv, copy);
  bool ok;

  memset (r, 0xa5, sizeof *r);          /* the parser must clear it */
  r->cmd_index = command_index (argc, argv, "convert");
  ok = ch_qemu_img_convert_args (argc, argv, r);
  assert_memory_equal (argv, copy, sizeof *argv * (size_t) (argc + 1));
  return ok;
}

static bool
info (char **argv, struct ch_info_args *r)
{
  char *copy[MAX_ARGS];
  int argc = count_args (argv, copy);
  bool ok;

  memset (r, 0xa5, sizeof *r);
  r->cmd_index = command_index (argc, argv, "info");
  ok = ch_qemu_img_info_args (argc, argv, r);
  assert_memory_equal (argv, copy, sizeof *argv * (size_t) (argc + 1));
  return ok;
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

/* Nova's convert calls, as Nova spells them. */
static void
test_convert_nova (void **state)
{
  struct ch_convert_args r;

  (void) state;
  assert_true (convert (ARGV ("qemu-img", "convert", "-t", "none", "-O", "qcow2", "-f", "qcow2",
                              "/i/src", "/i/dst"), &r));
  assert_int_equal (r.cmd_index, 1);
  assert_string_equal (r.cache, "none");
  assert_string_equal (r.out_fmt, "qcow2");
  assert_string_equal (r.src_fmt, "qcow2");
  assert_int_equal (r.files, 2);
  assert_string_equal (r.src, "/i/src");
  assert_string_equal (r.dst, "/i/dst");
  assert_false (r.compress);
  assert_null (r.src_cache);
  assert_null (r.out_base);
  assert_null (r.out_base_fmt);
  assert_null (r.snapshot);
  assert_false (r.no_create || r.force_share || r.image_opts || r.target_image_opts || r.help
                || r.salvage || r.copy_range || r.unordered);
  assert_int_equal (r.options + r.objects + r.others, 0);

  assert_true (convert (ARGV ("qemu-img", "convert", "-t", "writeback", "-O", "qcow2", "-f",
                              "qcow2", "-c", "/i/src", "/i/dst"), &r));
  assert_string_equal (r.cache, "writeback");
  assert_true (r.compress);
  assert_string_equal (r.src, "/i/src");
  assert_string_equal (r.dst, "/i/dst");
  assert_int_equal (r.others, 0);

  assert_true (convert (ARGV ("qemu-img", "convert", "-t", "none", "-O", "raw", "-f", "qcow2",
                              "/b/P.part", "/b/P.converted"), &r));
  assert_string_equal (r.out_fmt, "raw");
  assert_string_equal (r.src_fmt, "qcow2");
  assert_string_equal (r.src, "/b/P.part");
  assert_string_equal (r.dst, "/b/P.converted");
  assert_false (r.compress);
}

static void
test_convert_forms (void **state)
{
  struct ch_convert_args r;

  (void) state;
  /* A cluster ending in an option's attached value. */
  assert_true (convert (ARGV ("qemu-img", "convert", "-cOqcow2", "s", "d"), &r));
  assert_true (r.compress);
  assert_string_equal (r.out_fmt, "qcow2");
  /* -T takes the rest of its word: "tnone" is a value, not -t none. */
  assert_true (convert (ARGV ("qemu-img", "convert", "-Ttnone", "s", "d"), &r));
  assert_string_equal (r.src_cache, "tnone");
  assert_null (r.cache);
  assert_true (convert (ARGV ("qemu-img", "convert", "-qpnfraw", "-Oraw", "s", "d"), &r));
  assert_true (r.no_create);
  assert_string_equal (r.src_fmt, "raw");
  /* Options after, and between, the file names. */
  assert_true (convert (ARGV ("qemu-img", "convert", "s", "-O", "raw", "d", "-c"), &r));
  assert_true (r.compress);
  assert_string_equal (r.out_fmt, "raw");
  assert_string_equal (r.src, "s");
  assert_string_equal (r.dst, "d");
  /* "--" ends the options. */
  assert_true (convert (ARGV ("qemu-img", "convert", "-O", "raw", "--", "-c", "-d"), &r));
  assert_false (r.compress);
  assert_string_equal (r.src, "-c");
  assert_string_equal (r.dst, "-d");
  /* Two sources: no single source to name. */
  assert_true (convert (ARGV ("qemu-img", "convert", "-O", "raw", "s1", "s2", "d"), &r));
  assert_int_equal (r.files, 3);
  assert_null (r.src);
  assert_null (r.dst);
  assert_true (convert (ARGV ("qemu-img", "convert", "-O", "raw", "d"), &r));
  assert_int_equal (r.files, 1);
  assert_null (r.dst);
  /* The last value wins, as in qemu-img; an empty one is given. */
  assert_true (convert (ARGV ("qemu-img", "convert", "-O", "raw", "-Oqcow2", "-f", "", "s", "d"),
                        &r));
  assert_string_equal (r.out_fmt, "qcow2");
  assert_string_equal (r.src_fmt, "");
  /* Every option lands where it belongs. */
  assert_true (convert (ARGV ("qemu-img", "convert", "-B", "base", "-F", "raw", "-l", "snap",
                              "-o", "compat=1.1", "-ocluster_size=65536", "-WCU", "--salvage",
                              "--image-opts", "--target-image-opts", "--object", "secret,id=s0",
                              "--object=secret,id=s1", "s", "d"), &r));
  assert_string_equal (r.out_base, "base");
  assert_string_equal (r.out_base_fmt, "raw");
  assert_string_equal (r.snapshot, "snap");
  assert_int_equal (r.options, 2);
  assert_true (r.unordered && r.copy_range && r.force_share && r.salvage);
  assert_true (r.image_opts && r.target_image_opts);
  assert_int_equal (r.objects, 2);
  assert_int_equal (r.others, 0);
  /* What changes the result in ways the shim does not follow. */
  assert_true (convert (ARGV ("qemu-img", "convert", "-S", "0", "-m8", "-r", "1M", "--bitmaps",
                              "--skip-broken-bitmaps", "--target-is-zero", "s", "d"), &r));
  assert_int_equal (r.others, 6);
  assert_int_equal (r.files, 2);
  /* Unambiguous prefixes of long options. */
  assert_true (convert (ARGV ("qemu-img", "convert", "--force-s", "--sal", "--target-im", "--b",
                              "--ob", "x", "--image", "s", "d"), &r));
  assert_true (r.force_share && r.salvage && r.target_image_opts && r.image_opts);
  assert_int_equal (r.others, 1);
  assert_int_equal (r.objects, 1);
  assert_int_equal (r.files, 2);
  assert_true (convert (ARGV ("qemu-img", "convert", "--help"), &r));
  assert_true (r.help);
  assert_true (convert (ARGV ("qemu-img", "convert", "-h"), &r));
  assert_true (r.help);
  /* Global options before the subcommand. */
  assert_true (convert (ARGV ("qemu-img", "-T", "bdrv_*", "convert", "-O", "raw", "s", "d"), &r));
  assert_int_equal (r.cmd_index, 3);
  assert_string_equal (r.out_fmt, "raw");
}

static void
test_convert_refused (void **state)
{
  struct ch_convert_args r;

  (void) state;
  /* An option's value is missing. */
  assert_false (convert (ARGV ("qemu-img", "convert", "s", "d", "-O"), &r));
  assert_false (convert (ARGV ("qemu-img", "convert", "s", "d", "-cT"), &r));
  assert_false (convert (ARGV ("qemu-img", "convert", "s", "d", "--object"), &r));
  /* Unknown: -s (gone before 7.2), -b and --rate (later versions). */
  assert_false (convert (ARGV ("qemu-img", "convert", "-s", "snap", "s", "d"), &r));
  assert_false (convert (ARGV ("qemu-img", "convert", "-b", "base", "s", "d"), &r));
  assert_false (convert (ARGV ("qemu-img", "convert", "--rate=1M", "s", "d"), &r));
  assert_false (convert (ARGV ("qemu-img", "convert", "--output=json", "s", "d"), &r));
  assert_false (convert (ARGV ("qemu-img", "convert", "s", "d", "-cx"), &r));
  /* A value for an option that takes none. */
  assert_false (convert (ARGV ("qemu-img", "convert", "--salvage=yes", "s", "d"), &r));
  /* Ambiguous prefixes: target-image-opts/target-is-zero, salvage/skip-... */
  assert_false (convert (ARGV ("qemu-img", "convert", "--target", "s", "d"), &r));
  assert_false (convert (ARGV ("qemu-img", "convert", "--s", "s", "d"), &r));
}

/* Nova's info calls, as Nova spells them. */
static void
test_info_nova (void **state)
{
  struct ch_info_args r;

  (void) state;
  /* env LC_ALL=C LANG=C qemu-img info P.part --force-share --output=json */
  assert_true (info (ARGV ("qemu-img", "info", "/b/P.part", "--force-share", "--output=json"), &r));
  assert_int_equal (r.cmd_index, 1);
  assert_int_equal (r.files, 1);
  assert_string_equal (r.filename, "/b/P.part");
  assert_true (r.force_share);
  assert_string_equal (r.output, "json");
  assert_null (r.fmt);
  assert_false (r.backing_chain || r.image_opts || r.help);
  assert_int_equal (r.objects + r.others, 0);

  assert_true (info (ARGV ("qemu-img", "info", "-f", "qcow2", "--output=json", "/i/disk"), &r));
  assert_string_equal (r.fmt, "qcow2");
  assert_string_equal (r.output, "json");
  assert_string_equal (r.filename, "/i/disk");
  assert_false (r.force_share);
  /* With a format given, it comes last. */
  assert_true (info (ARGV ("qemu-img", "info", "/b/P.part", "--force-share", "--output=json",
                           "-f", "raw"), &r));
  assert_string_equal (r.filename, "/b/P.part");
  assert_string_equal (r.fmt, "raw");
  assert_int_equal (r.files, 1);
}

static void
test_info_forms (void **state)
{
  struct ch_info_args r;

  (void) state;
  assert_true (info (ARGV ("qemu-img", "info", "--output", "json", "disk"), &r));
  assert_string_equal (r.output, "json");
  assert_string_equal (r.filename, "disk");
  /* Prefixes: --ou (not --o: object), --form and --forc (not --for). */
  assert_true (info (ARGV ("qemu-img", "info", "--ou=human", "--form", "raw", "--forc", "--back",
                           "disk"), &r));
  assert_string_equal (r.output, "human");
  assert_string_equal (r.fmt, "raw");
  assert_true (r.force_share);
  assert_true (r.backing_chain);
  assert_true (info (ARGV ("qemu-img", "info", "--format=qcow2", "disk"), &r));
  assert_string_equal (r.fmt, "qcow2");
  assert_true (info (ARGV ("qemu-img", "info", "-Ufraw", "disk"), &r));
  assert_true (r.force_share);
  assert_string_equal (r.fmt, "raw");
  assert_true (info (ARGV ("qemu-img", "info", "disk", "-f", "raw", "-U"), &r));
  assert_string_equal (r.filename, "disk");
  assert_string_equal (r.fmt, "raw");
  assert_true (info (ARGV ("qemu-img", "info", "--", "-U"), &r));
  assert_string_equal (r.filename, "-U");
  assert_false (r.force_share);
  assert_true (info (ARGV ("qemu-img", "info", "one", "two"), &r));
  assert_int_equal (r.files, 2);
  assert_null (r.filename);
  assert_true (info (ARGV ("qemu-img", "info", "--output=json"), &r));
  assert_int_equal (r.files, 0);
  assert_null (r.filename);
  assert_true (info (ARGV ("qemu-img", "info", "--image-opts", "--object", "secret,id=s0",
                           "driver=qcow2,file.filename=disk"), &r));
  assert_true (r.image_opts);
  assert_int_equal (r.objects, 1);
  assert_int_equal (r.others, 0);
  assert_true (info (ARGV ("qemu-img", "info", "-h"), &r));
  assert_true (r.help);
}

static void
test_info_refused (void **state)
{
  struct ch_info_args r;

  (void) state;
  assert_false (info (ARGV ("qemu-img", "info", "disk", "--output"), &r));
  assert_false (info (ARGV ("qemu-img", "info", "disk", "-f"), &r));
  assert_false (info (ARGV ("qemu-img", "info", "disk", "-Uf"), &r));
  /* -b is --backing-chain only in later versions; -q is not info's. */
  assert_false (info (ARGV ("qemu-img", "info", "-b", "disk"), &r));
  assert_false (info (ARGV ("qemu-img", "info", "-q", "disk"), &r));
  assert_false (info (ARGV ("qemu-img", "info", "--backing-chain=yes", "disk"), &r));
  assert_false (info (ARGV ("qemu-img", "info", "--o=json", "disk"), &r));
  assert_false (info (ARGV ("qemu-img", "info", "--f", "raw", "disk"), &r));
  assert_false (info (ARGV ("qemu-img", "info", "--salvage", "disk"), &r));
}

/* POSIXLY_CORRECT: the first file name ends the options of convert and
 * info too, so Nova's info call then names three files. */
static void
test_posixly_correct_convert_info (void **state)
{
  struct ch_convert_args c;
  struct ch_info_args i;

  (void) state;
  setenv ("POSIXLY_CORRECT", "1", 1);
  assert_true (convert (ARGV ("qemu-img", "convert", "-O", "raw", "s", "d", "-c"), &c));
  assert_int_equal (c.files, 3);
  assert_false (c.compress);
  assert_null (c.dst);
  assert_true (info (ARGV ("qemu-img", "info", "P.part", "--force-share", "--output=json"), &i));
  assert_int_equal (i.files, 3);
  assert_false (i.force_share);
  assert_null (i.output);
  unsetenv ("POSIXLY_CORRECT");
  assert_true (convert (ARGV ("qemu-img", "convert", "-O", "raw", "s", "d", "-c"), &c));
  assert_int_equal (c.files, 2);
  assert_true (c.compress);
  assert_true (info (ARGV ("qemu-img", "info", "P.part", "--force-share", "--output=json"), &i));
  assert_int_equal (i.files, 1);
  assert_string_equal (i.output, "json");
}

/* The real qemu-img, run in tmpdir on ARGV (whose argv[0] it replaces):
 * its exit status, and the start of its stderr in ERR. */
static int
real_qemu_img (char **argv, char *err, size_t len)
{
  extern char **environ;
  char *av[MAX_ARGS], chunk[512];
  posix_spawn_file_actions_t fa;
  int p[2], status, n;
  size_t got = 0;
  ssize_t r;
  pid_t pid;

  av[0] = (char *) QEMU_IMG;
  for (n = 1; argv[n] != NULL; n++) {
    assert_true (n < MAX_ARGS - 1);
    av[n] = argv[n];
  }
  av[n] = NULL;
  assert_int_equal (pipe2 (p, O_CLOEXEC), 0);
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen (&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2 (&fa, p[1], 2);
  posix_spawn_file_actions_addchdir_np (&fa, tmpdir);
  /* environ: POSIXLY_CORRECT reaches qemu-img when a test sets it. */
  assert_int_equal (posix_spawn (&pid, QEMU_IMG, &fa, NULL, av, environ), 0);
  posix_spawn_file_actions_destroy (&fa);
  close (p[1]);
  /* Read to the end, so qemu-img never blocks on a full pipe. */
  while ((r = read (p[0], chunk, sizeof chunk)) > 0)
    for (ssize_t k = 0; k < r && got + 1 < len; k++)
      err[got++] = chunk[k];
  err[got] = '\0';
  close (p[0]);
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFEXITED (status));
  return WEXITSTATUS (status);
}

/* The real qemu-img accepts ARGV (it runs, and succeeds) exactly when the
 * parser does; when both refuse, qemu-img says it was the options. */
static void
same_as_real (char **argv, bool parsed)
{
  char err[4096];
  int rc = real_qemu_img (argv, err, sizeof err);

  if (parsed) {
    if (rc != 0)
      fail_msg ("qemu-img %s ... exited %d: %s", argv[1], rc, err);
  } else if (rc == 0 || (strstr (err, "unrecognized option") == NULL
                         && strstr (err, "missing argument for option") == NULL)) {
    fail_msg ("qemu-img %s ... exited %d, not refusing the options: %s", argv[1], rc, err);
  }
}

static int
setup_images (void **state)
{
  (void) state;
  return tu_tmpdir_make ("cowherd-args");
}

static int
remove_images (void **state)
{
  (void) state;
  return tu_tmpdir_remove ();
}

static void
make_images (void)
{
  qemu_img ("create", "-q", "-f", "raw", tpath ("s.raw"), "1M", NULL);
  qemu_img ("create", "-q", "-f", "qcow2", tpath ("s.qcow2"), "1M", NULL);
}

static void
test_convert_real (void **state)
{
  struct ch_convert_args r;
  char **a;

  (void) state;
  make_images ();
  /* Nova's shape (-t writeback: the test's directory may not do O_DIRECT). */
  a = ARGV ("qemu-img", "convert", "-t", "writeback", "-O", "qcow2", "-f", "qcow2", "-c",
            "s.qcow2", "d1");
  assert_true (convert (a, &r));
  same_as_real (a, true);
  /* -c takes no value: "-cOqcow2" is -c -O qcow2. */
  a = ARGV ("qemu-img", "convert", "-cOqcow2", "s.raw", "d2");
  assert_true (convert (a, &r));
  assert_string_equal (r.out_fmt, "qcow2");
  same_as_real (a, true);
  /* -S and -m take one: "0" and "2" are no file names. */
  a = ARGV ("qemu-img", "convert", "-Oraw", "s.raw", "d3", "-S", "0", "-m", "2", "-WU");
  assert_true (convert (a, &r));
  assert_int_equal (r.files, 2);
  assert_string_equal (r.dst, "d3");
  same_as_real (a, true);
  a = ARGV ("qemu-img", "convert", "--sal", "-O", "raw", "--", "s.raw", "s.raw", "d4");
  assert_true (convert (a, &r));
  assert_int_equal (r.files, 3);
  same_as_real (a, true);
  /* Refused alike: a missing value, a value where none is taken, an
   * ambiguous prefix, an option of another version. */
  a = ARGV ("qemu-img", "convert", "-O", "raw", "s.raw", "d5", "-T");
  assert_false (convert (a, &r));
  same_as_real (a, false);
  a = ARGV ("qemu-img", "convert", "--salvage=yes", "-O", "raw", "s.raw", "d5");
  assert_false (convert (a, &r));
  same_as_real (a, false);
  a = ARGV ("qemu-img", "convert", "--target", "-O", "raw", "s.raw", "d5");
  assert_false (convert (a, &r));
  same_as_real (a, false);
  a = ARGV ("qemu-img", "convert", "-s", "snap", "-O", "raw", "s.raw", "d5");
  assert_false (convert (a, &r));
  same_as_real (a, false);
  assert_int_equal (access (tpath ("d5"), F_OK), -1);
}

static void
test_info_real (void **state)
{
  struct ch_info_args r;
  char err[4096];
  char **a;

  (void) state;
  make_images ();
  a = ARGV ("qemu-img", "info", "s.qcow2", "--force-share", "--output=json");
  assert_true (info (a, &r));
  same_as_real (a, true);
  a = ARGV ("qemu-img", "info", "-f", "qcow2", "--output=json", "s.qcow2");
  assert_true (info (a, &r));
  same_as_real (a, true);
  /* --output takes a value: "json" is not a second file name. */
  a = ARGV ("qemu-img", "info", "--output", "json", "s.qcow2");
  assert_true (info (a, &r));
  assert_int_equal (r.files, 1);
  same_as_real (a, true);
  a = ARGV ("qemu-img", "info", "--form=raw", "--forc", "s.raw", "--back", "-Ufraw");
  assert_true (info (a, &r));
  same_as_real (a, true);
  a = ARGV ("qemu-img", "info", "s.raw", "--output");
  assert_false (info (a, &r));
  same_as_real (a, false);
  a = ARGV ("qemu-img", "info", "--backing-chain=yes", "s.raw");
  assert_false (info (a, &r));
  same_as_real (a, false);
  a = ARGV ("qemu-img", "info", "--f", "raw", "s.raw");
  assert_false (info (a, &r));
  same_as_real (a, false);
  a = ARGV ("qemu-img", "info", "-b", "s.raw");
  assert_false (info (a, &r));
  same_as_real (a, false);
  /* POSIXLY_CORRECT: "-f raw" after the file name are file names for
   * both, and qemu-img then finds three where it wants one. */
  a = ARGV ("qemu-img", "info", "s.raw", "-f", "raw");
  setenv ("POSIXLY_CORRECT", "1", 1);
  assert_true (info (a, &r));
  assert_int_equal (r.files, 3);
  assert_int_not_equal (real_qemu_img (a, err, sizeof err), 0);
  unsetenv ("POSIXLY_CORRECT");
  if (strstr (err, "Expecting one image file name") == NULL)
    fail_msg ("qemu-img info under POSIXLY_CORRECT: %s", err);
  assert_true (info (a, &r));
  assert_int_equal (r.files, 1);
  same_as_real (a, true);
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
    cmocka_unit_test (test_convert_nova),
    cmocka_unit_test (test_convert_forms),
    cmocka_unit_test (test_convert_refused),
    cmocka_unit_test (test_info_nova),
    cmocka_unit_test (test_info_forms),
    cmocka_unit_test (test_info_refused),
    cmocka_unit_test (test_posixly_correct_convert_info),
    cmocka_unit_test_setup_teardown (test_convert_real, setup_images, remove_images),
    cmocka_unit_test_setup_teardown (test_info_real, setup_images, remove_images),
  };

  return tu_run_group_tests (tests, NULL, NULL);
}
