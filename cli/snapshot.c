/* cowherd snapshot: COW-only snapshots.
 *
 *   snapshot show FILE         an operator reading a snapshot image
 *   snapshot extract ... -- ARGV, snapshot rebuild FILE -- ARGV,
 *   snapshot info IDX FILE -- ARGV, snapshot to-raw SRC DST -- ARGV,
 *   snapshot rebase IMAGE IMAGE_FMT NEW NEW_FMT -- ARGV
 *                              what the qemu-img shim hands over, with the
 *                              qemu-img call it stands in for (ARGV): done
 *                              here, or that call run as it was. */
#include <errno.h>
#include <spawn.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "digest.h"
#include "error.h"
#include "io.h"
#include "lock.h"
#include "log.h"
#include "pathutil.h"
#include "rebase_proof.h"
#include "runcmd.h"
#include "snapshot.h"

/* The qemu-img call after "--" in ARGV, run as it came (the real binary
 * replaces this process: its output, status and signals are the caller's). */
static int __attribute__((noreturn))
run_qemu_img (const struct cli *cli, char **qargv)
{
  execv (cli->cfg.real_qemu_img, qargv);
  fprintf (stderr, "qemu-img (cowherd): cannot run %s: %s\n", cli->cfg.real_qemu_img,
           strerror (errno));
  _exit (errno == ENOENT ? 127 : 126);
}

/* PATH as qemu-img reads it, absolute: relative to the working directory.
 * malloc'd, or NULL with ch_error. */
static char *
absolute (const char *path)
{
  CLEANUP_FREE char *cwd = NULL;
  char *abs;

  if (path[0] == '/')
    return ch_path_normalize (path);
  if ((cwd = getcwd (NULL, 0)) == NULL) {
    ch_error ("getcwd: %m");
    return NULL;
  }
  if ((abs = ch_path_join (cwd, path)) == NULL)
    return NULL;
  {
    char *norm = ch_path_normalize (abs);

    free (abs);
    return norm;
  }
}

/* The index in ARGV of the qemu-img call after "--", or -1. */
static int
after_dashes (int argc, char *argv[])
{
  for (int i = optind; i < argc; i++)
    if (strcmp (argv[i], "--") == 0)
      return i + 1 < argc ? i + 1 : -1;
  return -1;
}

static int
extract (struct cli *cli, int argc, char *argv[])
{
  struct ch_snapshot_convert c = { 0 };
  CLEANUP_FREE char *src = NULL, *dst = NULL;
  char why[CH_ERROR_MAX];
  int q, opt;

  while ((opt = getopt (argc, argv, "+ct:")) != -1) {
    switch (opt) {
    case 'c': c.compress = true; break;
    case 't': c.cache = optarg; break;
    default: return 2;
    }
  }
  q = after_dashes (argc, argv);
  if (q < 0 || q - 1 - optind != 2) {
    fprintf (stderr, "usage: cowherd snapshot extract [-c] [-t CACHE] SRC DST -- QEMU-IMG-ARGV\n");
    return 2;
  }
  if ((c.src = src = absolute (argv[optind])) == NULL ||
      (c.dst = dst = absolute (argv[optind + 1])) == NULL || cli_load_config (cli) < 0) {
    /* qemu-img's job must not depend on cowherd's configuration. */
    fprintf (stderr, "qemu-img (cowherd): %s\n", ch_last_error ());
    return 1;
  }
  if (ch_snapshot_extract (&cli->cfg, &c, why, sizeof why)) {
    ch_log (LOG_INFO, "snapshot %s: COW-only into %s", c.src, c.dst);
    return 0;
  }
  ch_log (LOG_INFO, "snapshot %s: flattened: %s", c.src, why);
  run_qemu_img (cli, argv + q);
}

/* FILE put back together in place, then the qemu-img call QARGV. */
static int
rebuild_and_run (struct cli *cli, const char *arg, char **qargv)
{
  CLEANUP_FREE char *file = NULL;

  if ((file = absolute (arg)) == NULL || cli_load_config (cli) < 0 ||
      ch_snapshot_rebuild (&cli->cfg, file) < 0) {
    fprintf (stderr, "qemu-img (cowherd): %s\n", ch_last_error ());
    ch_log (LOG_ERR, "%s", ch_last_error ());
    return 1;
  }
  run_qemu_img (cli, qargv);
}

static int
rebuild (struct cli *cli, int argc, char *argv[])
{
  int q = after_dashes (argc, argv);

  if (q < 0 || q - 1 - optind != 1) {
    fprintf (stderr, "usage: cowherd snapshot rebuild FILE -- QEMU-IMG-ARGV\n");
    return 2;
  }
  return rebuild_and_run (cli, argv[optind], argv + q);
}

/* A path that qemu-img prints as it is, in its human and JSON output
 * alike: printable ASCII, nothing JSON escapes. */
static bool
plain (const char *s)
{
  for (; *s; s++)
    if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
      return false;
  return true;
}

/* Write OUT with every FROM in it replaced by TO. */
static int
print_replacing (FILE *f, const char *out, const char *from, const char *to)
{
  size_t flen = strlen (from);
  const char *p;

  while ((p = strstr (out, from)) != NULL) {
    fwrite (out, 1, (size_t) (p - out), f);
    fputs (to, f);
    out = p + flen;
  }
  fputs (out, f);
  return fflush (f) == 0 ? 0 : -1;
}

#define INFO_OUTPUT_MAX (1u << 20)

/* Nova's `qemu-img info` of the COW-only snapshot it is downloading (a
 * .part in _base): answered by qemu-img itself from a verified, unmarked
 * copy, with the copy's name put back as the file's.  The image is put
 * together later, by the convert that follows (to-raw), or by the first
 * info of the entry it is renamed to. */
static int
info (struct cli *cli, int argc, char *argv[])
{
  CLEANUP_FREE char *file = NULL, *copy = NULL, *out = NULL;
  CLEANUP_CLOSE int mfd = -1;
  char **qargv, *end, line[512];
  size_t len;
  int q = after_dashes (argc, argv), idx, status;

  if (q < 0 || q - 1 - optind != 2) {
    fprintf (stderr, "usage: cowherd snapshot info IDX FILE -- QEMU-IMG-ARGV\n");
    return 2;
  }
  qargv = argv + q;
  idx = (int) strtol (argv[optind], &end, 10);
  if (*end != '\0' || idx <= 0 || idx >= argc - q || strcmp (qargv[idx], argv[optind + 1]) != 0) {
    fprintf (stderr, "qemu-img (cowherd): snapshot info: argument %s is not the file\n",
             argv[optind]);
    return 2;
  }
  if (!plain (qargv[idx]))
    return rebuild_and_run (cli, qargv[idx], qargv);
  if ((file = absolute (argv[optind + 1])) == NULL || cli_load_config (cli) < 0 ||
      ch_snapshot_unmarked (&cli->cfg, file, &copy) < 0) {
    fprintf (stderr, "qemu-img (cowherd): %s\n", ch_last_error ());
    ch_log (LOG_ERR, "%s", ch_last_error ());
    return 1;
  }
  if (!plain (copy)) {
    unlink (copy);
    return rebuild_and_run (cli, qargv[idx], qargv);
  }
  qargv[0] = cli->cfg.real_qemu_img;
  qargv[idx] = copy;
  if ((mfd = memfd_create ("qemu-img-info", MFD_CLOEXEC)) < 0) {
    ch_error ("memfd_create: %m");
    status = -1;
  }
  else
    status = ch_run_status (qargv, NULL, 0, mfd, line, sizeof line);
  unlink (copy);
  if (status < 0) {
    fprintf (stderr, "qemu-img (cowherd): %s\n", ch_last_error ());
    return 1;
  }
  if (status != 0) {
    /* qemu-img's own last line, about the file as the caller named it. */
    print_replacing (stderr, line, copy, argv[optind + 1]);
    fputc ('\n', stderr);
    return status;
  }
  if (lseek (mfd, 0, SEEK_SET) < 0 || ch_read_all (mfd, INFO_OUTPUT_MAX, &out, &len) < 0) {
    fprintf (stderr, "qemu-img (cowherd): qemu-img info's output: %s\n", strerror (errno));
    return 1;
  }
  return print_replacing (stdout, out, copy, argv[optind + 1]) < 0 ? 1 : 0;
}

/* Nova's `qemu-img convert -O raw` of a COW-only snapshot it downloaded:
 * the raw image written here in one pass, from the original and the
 * snapshot's own clusters, instead of putting a whole qcow2 together
 * first and converting that. */
static int
to_raw (struct cli *cli, int argc, char *argv[])
{
  CLEANUP_FREE char *src = NULL, *dst = NULL;
  int q = after_dashes (argc, argv);

  if (q < 0 || q - 1 - optind != 2) {
    fprintf (stderr, "usage: cowherd snapshot to-raw SRC DST -- QEMU-IMG-ARGV\n");
    return 2;
  }
  if ((src = absolute (argv[optind])) == NULL || (dst = absolute (argv[optind + 1])) == NULL ||
      cli_load_config (cli) < 0 || ch_snapshot_to_raw (&cli->cfg, src, dst) < 0) {
    fprintf (stderr, "qemu-img (cowherd): %s\n", ch_last_error ());
    ch_log (LOG_ERR, "%s", ch_last_error ());
    return 1;
  }
  return 0;
}

static void
hex (const uint8_t *p, size_t n, char *out)
{
  for (size_t i = 0; i < n; i++)
    sprintf (out + 2 * i, "%02x", p[i]);
}

static int
show (struct cli *cli, int argc, char *argv[])
{
  struct ch_snap_marker m;
  char sha[65];
  bool marked;
  int sig;

  if (optind != argc - 1) {
    fprintf (stderr, "usage: cowherd snapshot show FILE\n");
    return 2;
  }
  if (cli_load_config (cli) < 0 ||
      ch_snapshot_inspect (&cli->cfg, argv[optind], &m, &marked, &sig) < 0)
    return -1;
  if (!marked) {
    printf ("%s: not a COW-only snapshot\n", argv[optind]);
    return 1;
  }
  hex (m.parent_hash, sizeof m.parent_hash, sha);
  printf ("%s: COW-only snapshot (marker version %" PRIu32 ")\n", argv[optind], m.version);
  printf ("  parent:        %s\n", m.parent);
  printf ("  image id:      %s\n", m.image_id[0] ? m.image_id : "(not recorded)");
  printf ("  parent size:   %" PRIu64 " bytes, %" PRIu64 " as the disk saw it\n",
          m.parent_size, m.parent_vsize);
  if (m.parent_digest == CH_SNAP_DIGEST_SHA512)
    printf ("  parent sha512: %s... (its first 256 bits)\n", sha);
  else
    printf ("  parent sha256: %s\n", m.parent_digest == CH_SNAP_DIGEST_SHA256 ? sha
                                                                         : "(not recorded)");
  printf ("  signature:     %s\n", sig > 0 ? "holds"
          : sig == 0 ? "DOES NOT HOLD (another cloud's key, or changed since)"
          : "not checked (no [snapshot] key_file)");
  return sig == 0 ? 1 : 0;
}

/* QARGV with the real qemu-img, this process waiting (stdio shared: the
 * caller sees its output): its exit status, 128 + the signal that ended
 * it, or -1 with ch_error. */
static int
run_wait (const struct cli *cli, char **qargv)
{
  pid_t pid;
  int st, e;

  qargv[0] = cli->cfg.real_qemu_img;
  if ((e = posix_spawn (&pid, qargv[0], NULL, NULL, qargv, environ)) != 0) {
    ch_error ("cannot run %s: %s", qargv[0], strerror (e));
    return -1;
  }
  while (waitpid (pid, &st, 0) < 0)
    if (errno != EINTR) {
      ch_error ("waitpid: %m");
      return -1;
    }
  return WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
}

/* Nova's safe rebase of IMAGE onto NEW (ARGV), where the current backing
 * file carries a snapshot top (lib/snaptop.h): header only onto the top,
 * then ARGV itself, which then compares only the top's clusters, with
 * Nova's locks on both entries held until it is done.  If it fails, the
 * header is pointed back at the entry (the same content) and its status
 * is this command's.  "-" for a format not given.  Not proven: ARGV as
 * it came. */
static int
rebase (struct cli *cli, int argc, char *argv[])
{
  int q = after_dashes (argc, argv), locks[2], status;
  struct ch_rebase_top t = { 0 };
  char why[768];

  if (q < 0 || q - 1 - optind != 4) {
    fprintf (stderr, "usage: cowherd snapshot rebase IMAGE IMAGE_FMT NEW NEW_FMT -- "
             "QEMU-IMG-ARGV\n");
    return 2;
  }
  if (cli_load_config (cli) < 0) {
    /* The shim read it a moment ago; whatever broke, the rebase runs. */
    fprintf (stderr, "qemu-img (cowherd): %s; running the full rebase\n", ch_last_error ());
    if (ch_config_load (NULL, true, &cli->cfg) < 0)
      return 1;
    run_qemu_img (cli, argv + q);
  }
  const char *image = argv[optind], *ifmt = argv[optind + 1], *new = argv[optind + 2],
    *nfmt = argv[optind + 3];
  struct ch_rebase_case c = {
    .image = image, .image_fmt = strcmp (ifmt, "-") ? ifmt : NULL,
    .new_backing = new, .new_fmt = strcmp (nfmt, "-") ? nfmt : NULL,
  };

  if (!ch_rebase_via_top (&cli->cfg, &c, ch_sha256_fd, locks, &t, why, sizeof why)) {
    ch_log (LOG_INFO, "rebase %s onto %s: full rebase: %s", image, new, why);
    run_qemu_img (cli, argv + q);
  }
  char *unsafe[] = { cli->cfg.real_qemu_img, (char *) "rebase", (char *) "-q", (char *) "-u",
                     (char *) "-f", (char *) "qcow2", (char *) "-b", t.top, (char *) "-F",
                     (char *) "qcow2", (char *) image, NULL };
  char *back[] = { cli->cfg.real_qemu_img, (char *) "rebase", (char *) "-q", (char *) "-u",
                   (char *) "-f", (char *) "qcow2", (char *) "-b", t.backing, (char *) "-F",
                   t.backing_fmt, (char *) image, NULL };

  /* Equal content: the header now names the top, over NEW. */
  if (ch_run (unsafe) < 0) {
    ch_log (LOG_WARNING, "rebase %s onto %s: full rebase: pointing it at %s failed: %s",
            image, new, t.top, ch_last_error ());
    run_qemu_img (cli, argv + q);
  }
  status = run_wait (cli, argv + q);
  if (status == 0)
    ch_log (LOG_INFO, "rebase %s onto %s: through the snapshot top %s: %s", image, new, t.top,
            why);
  else {
    char reason[CH_ERROR_MAX + 64];

    if (status < 0)
      snprintf (reason, sizeof reason, "%s", ch_last_error ());
    else
      snprintf (reason, sizeof reason, "qemu-img ended with status %d", status);
    if (ch_run (back) < 0)
      ch_log (LOG_ERR, "rebase %s onto %s through the snapshot top %s: %s; pointing it back "
              "at %s failed too (%s): it stands on the top, which reads the same", image, new,
              t.top, reason, t.backing, ch_last_error ());
    else
      ch_log (LOG_WARNING, "rebase %s onto %s through the snapshot top %s: %s; its header "
              "names %s again", image, new, t.top, reason, t.backing);
    if (status < 0) {
      fprintf (stderr, "qemu-img (cowherd): %s\n", reason);
      status = 1;
    }
  }
  for (int i = 0; i < 2; i++)
    if (locks[i] >= 0)
      ch_unlock (locks[i]);
  ch_rebase_top_free (&t);
  return status;
}

int
cmd_snapshot (struct cli *cli, int argc, char *argv[])
{
  const char *sub = argc > 1 ? argv[1] : "";

  argc--;
  argv++;
  optind = 0;
  if (strcmp (sub, "show") == 0) {
    optind = 1;
    return show (cli, argc, argv);
  }
  if (strcmp (sub, "extract") == 0)
    return extract (cli, argc, argv);
  if (strcmp (sub, "rebuild") == 0) {
    optind = 1;
    return rebuild (cli, argc, argv);
  }
  if (strcmp (sub, "info") == 0) {
    optind = 1;
    return info (cli, argc, argv);
  }
  if (strcmp (sub, "to-raw") == 0) {
    optind = 1;
    return to_raw (cli, argc, argv);
  }
  if (strcmp (sub, "rebase") == 0) {
    optind = 1;
    return rebase (cli, argc, argv);
  }
  fprintf (stderr, "usage: cowherd snapshot show|extract|rebuild|info|to-raw|rebase ...; "
           "see cowherd(8)\n");
  return 2;
}
