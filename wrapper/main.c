/* cowherd's qemu-img shim.
 *
 * Installed as libexec/cowherd/qemu-img and activated by a link ahead of
 * /usr/bin in PATH (or dpkg-divert).  Every call becomes an exec of the
 * real qemu-img ([tools] real_qemu_img) with the same argv and environment:
 * no fork, no shell, so output, status, signals and timing are qemu-img's.
 * The one change: `qemu-img rebase` in safe mode between two _base entries
 * that provably read the same (lib/rebase_proof.h) gets `-u` added, which
 * rewrites the header instead of reading both backing files in full.  Each
 * rebase decision is logged with its reason. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "cowherd-build.h"
#include "error.h"
#include "log.h"
#include "qemu_img_args.h"
#include "rebase_proof.h"

#define SELF "qemu-img (cowherd shim)"
#define DEFAULT_REAL "/usr/bin/qemu-img"
#define DIVERTED_REAL "/usr/bin/qemu-img.distrib"    /* dpkg-divert --rename */

static void __attribute__((noreturn))
run_real (const char *real, char **argv)
{
  execv (real, argv);
  fprintf (stderr, "%s: cannot run %s: %s\n", SELF, real, strerror (errno));
  _exit (errno == ENOENT ? 127 : 126);
}

static bool
is_self (const char *path)
{
  struct stat me, it;

  return stat (path, &it) == 0 && stat ("/proc/self/exe", &me) == 0 &&
         me.st_dev == it.st_dev && me.st_ino == it.st_ino;
}

/* The shim must never run itself: that would recurse for ever. */
static void
loop_guard (const char *real)
{
  if (is_self (real)) {
    fprintf (stderr, "%s: [tools] real_qemu_img = %s is this shim itself; "
             "set it to the real qemu-img in %s\n", SELF, real, COWHERD_CONFIG_PATH);
    exit (1);
  }
}

/* Add -u right after "rebase", where it is always an option. */
static char **
with_unsafe (int argc, char **argv, int cmd_index)
{
  char **a = calloc ((size_t) argc + 2, sizeof *a);

  if (a == NULL)
    return NULL;
  memcpy (a, argv, ((size_t) cmd_index + 1) * sizeof *a);
  a[cmd_index + 1] = (char *) "-u";
  memcpy (a + cmd_index + 2, argv + cmd_index + 1,
          ((size_t) (argc - cmd_index - 1) + 1) * sizeof *a);
  return a;
}

/* Why a rebase call is left to the real safe rebase, or NULL if the
 * proof may be tried. */
static const char *
not_a_candidate (const struct ch_rebase_args *r)
{
  if (r->unsafe)
    return "already unsafe (-u)";
  if (r->help)
    return "help";
  if (r->image_opts)
    return "--image-opts";
  if (r->objects)
    return "--object";
  if (r->force_share)
    return "-U";
  if (r->files != 1)
    return "not exactly one image";
  if (r->backing == NULL || r->backing[0] == '\0')
    return "no new backing file (-b)";
  return NULL;
}

int
main (int argc, char **argv)
{
  struct ch_config cfg;
  struct ch_rebase_args r = { 0 };
  const char *cmd, *skip;
  bool cfg_ok;
  char why[512];
  char **fast;
  int locks[2];

  cfg_ok = ch_config_load (COWHERD_CONFIG_PATH, true, &cfg) == 0;
  if (!cfg_ok) {
    /* A broken cowherd.conf must not break qemu-img: defaults, no changes.
     * Where the default is this shim (dpkg-divert), the diverted binary. */
    char *err = strdup (ch_last_error ());

    if (ch_config_load (NULL, true, &cfg) < 0)
      cfg.real_qemu_img = (char *) DEFAULT_REAL;
    if (is_self (cfg.real_qemu_img) && access (DIVERTED_REAL, X_OK) == 0)
      cfg.real_qemu_img = (char *) DIVERTED_REAL;
    ch_log_init ("cowherd-qemu-img", &cfg);
    ch_log (LOG_WARNING, "%s; passing everything through to %s", err ? err : "bad config",
            cfg.real_qemu_img);
    free (err);
  }
  loop_guard (cfg.real_qemu_img);

  cmd = ch_qemu_img_command (argc, argv, &r.cmd_index);
  if (!cfg_ok || cmd == NULL || strcmp (cmd, "rebase") != 0)
    run_real (cfg.real_qemu_img, argv);

  ch_log_init ("cowherd-qemu-img", &cfg);
  if (!ch_qemu_img_rebase_args (argc, argv, &r))
    run_real (cfg.real_qemu_img, argv);   /* qemu-img will say what is wrong */
  if ((skip = not_a_candidate (&r)) != NULL) {
    if (r.files == 1)
      ch_log (LOG_INFO, "rebase %s: full rebase: %s", r.image, skip);
    run_real (cfg.real_qemu_img, argv);
  }
  if (!ch_rebase_proven (&cfg, &(struct ch_rebase_case) {
        .image = r.image, .image_fmt = r.fmt, .new_backing = r.backing,
        .new_fmt = r.backing_fmt }, locks, why, sizeof why)) {
    ch_log (LOG_INFO, "rebase %s onto %s: full rebase: %s", r.image, r.backing, why);
    run_real (cfg.real_qemu_img, argv);
  }
  if ((fast = with_unsafe (argc, argv, r.cmd_index)) == NULL)
    run_real (cfg.real_qemu_img, argv);
  /* Nova's locks on the entries live on in qemu-img until it exits. */
  for (int i = 0; i < 2; i++)
    if (locks[i] >= 0 && fcntl (locks[i], F_SETFD, 0) < 0)
      run_real (cfg.real_qemu_img, argv);
  ch_log (LOG_INFO, "rebase %s onto %s: header only (-u), proven equivalent: %s",
          r.image, r.backing, why);
  run_real (cfg.real_qemu_img, fast);
}
