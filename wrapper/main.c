/* cowherd's qemu-img shim.
 *
 * Installed as libexec/cowherd/qemu-img and activated by a link ahead of
 * /usr/bin in PATH (or dpkg-divert).  Every call becomes an exec of the
 * real qemu-img ([tools] real_qemu_img) with the same argv and environment:
 * no fork, no shell, so output, status, signals and timing are qemu-img's.
 * The one change: `qemu-img rebase` in safe mode between two _base entries
 * that provably read the same (lib/rebase_proof.h) gets `-u` added, which
 * rewrites the header instead of reading both backing files in full.  Each
 * rebase decision is logged with its reason.
 *
 * With a snapshot key ([snapshot] key_file), two more: Nova's snapshot
 * convert (-O qcow2 -f qcow2 SRC DST) goes to `cowherd snapshot extract`,
 * which makes DST COW-only where it can prove that right and runs the
 * convert as it came otherwise; and a COW-only snapshot being read goes
 * to the CLI too: Nova's info of the download (`*.part`) to `snapshot
 * info` (answered from an unmarked copy), Nova's convert of it to raw to
 * `snapshot to-raw` (the raw image written in one pass), anything else
 * to `snapshot rebuild` (put back together in place first).
 * Both are the CLI's work: libcrypto and libcurl stay out of this
 * process, which every qemu-img call pays for. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <unistd.h>

#include "cleanup.h"
#include "config.h"
#include "cowherd-build.h"
#include "error.h"
#include "log.h"
#include "io.h"
#include "pathutil.h"
#include "qcow2.h"
#include "qemu_img_args.h"
#include "rebase_proof.h"
#include "snapmark.h"
#include "snaptop.h"

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

/* Does PATH carry cowherd's snapshot marker (well formed or not)?  What
 * cannot be read is left to qemu-img. */
static bool
marked (const char *path)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  uint8_t buf[CH_QCOW2_HEADER_READ_MAX];
  struct ch_snap_marker m;
  uint64_t off;
  ssize_t n;

  if (fd < 0)
    return false;
  n = ch_read_full (fd, buf, sizeof buf, 0);
  close (fd);
  return n > 0 && ch_snap_parse (buf, (size_t) n, &m, &off) != 0;
}

/* Hand the call over to `cowherd snapshot SUB ARGS... -- ARGV`. */
static void __attribute__((noreturn))
run_cli (const struct ch_config *cfg, const char *const *args, size_t n_args, int argc,
         char **argv)
{
  char **a = calloc ((size_t) argc + n_args + 4, sizeof *a);
  size_t i = 0;

  if (a == NULL)
    run_real (cfg->real_qemu_img, argv);
  a[i++] = cfg->fetcher;
  a[i++] = (char *) "snapshot";
  for (size_t k = 0; k < n_args; k++)
    a[i++] = (char *) args[k];
  a[i++] = (char *) "--";
  memcpy (a + i, argv, ((size_t) argc + 1) * sizeof *a);
  execv (cfg->fetcher, a);
  fprintf (stderr, "%s: cannot run %s: %s\n", SELF, cfg->fetcher, strerror (errno));
  _exit (errno == ENOENT ? 127 : 126);
}

/* A convert as Nova's snapshot makes it: one qcow2 into one qcow2, with
 * nothing but the cache mode and compression said. */
static bool
nova_snapshot (const struct ch_convert_args *c)
{
  return c->files == 2 && c->src_fmt && strcmp (c->src_fmt, "qcow2") == 0 && c->out_fmt &&
    strcmp (c->out_fmt, "qcow2") == 0 && !c->out_base && !c->out_base_fmt && !c->snapshot &&
    !c->src_cache && !c->no_create && !c->force_share && !c->copy_range && !c->unordered &&
    !c->salvage && !c->image_opts && !c->target_image_opts && !c->help && c->options == 0 &&
    c->objects == 0 && c->others == 0;
}

/* Nova's convert of a downloaded image to raw (fetch_to_raw): one qcow2
 * into a new raw file, nothing else said but the cache modes. */
static bool
nova_to_raw (const struct ch_convert_args *c)
{
  return c->files == 2 && (!c->src_fmt || strcmp (c->src_fmt, "qcow2") == 0) && c->out_fmt &&
    strcmp (c->out_fmt, "raw") == 0 && !c->out_base && !c->out_base_fmt && !c->snapshot &&
    !c->compress && !c->no_create && !c->copy_range && !c->salvage && !c->image_opts &&
    !c->target_image_opts && !c->help && c->options == 0 && c->objects == 0 && c->others == 0;
}

/* Nova's info of a download it is checking (fetch_to_raw: <sha1>.part),
 * one file, no chain asked for. */
static bool
nova_download_info (const struct ch_info_args *i)
{
  size_t n = i->files == 1 ? strlen (i->filename) : 0;

  return n > 5 && strcmp (i->filename + n - 5, ".part") == 0 &&
    (!i->fmt || strcmp (i->fmt, "qcow2") == 0) && !i->backing_chain && !i->image_opts &&
    !i->help && i->objects == 0;
}

/* convert and info, with a snapshot key: see the top of this file. */
static void
snapshots (const struct ch_config *cfg, const char *cmd, int cmd_index, int argc, char **argv)
{
  struct ch_convert_args c = { .cmd_index = cmd_index };
  struct ch_info_args i = { .cmd_index = cmd_index };

  if (strcmp (cmd, "info") == 0 && ch_qemu_img_info_args (argc, argv, &i) &&
      i.files == 1 && !i.image_opts && !i.help && marked (i.filename)) {
    char idx[16];
    int k = 0;

    while (k < argc && argv[k] != i.filename)
      k++;
    snprintf (idx, sizeof idx, "%d", k);
    if (nova_download_info (&i) && k < argc)
      run_cli (cfg, (const char *[]) { "info", idx, i.filename }, 3, argc, argv);
    run_cli (cfg, (const char *[]) { "rebuild", i.filename }, 2, argc, argv);
  }
  if (strcmp (cmd, "convert") != 0 || !ch_qemu_img_convert_args (argc, argv, &c) ||
      c.files != 2 || c.image_opts || c.help)
    return;
  if (marked (c.src)) {
    if (nova_to_raw (&c))
      run_cli (cfg, (const char *[]) { "to-raw", c.src, c.dst }, 3, argc, argv);
    run_cli (cfg, (const char *[]) { "rebuild", c.src }, 2, argc, argv);
  }
  if (nova_snapshot (&c)) {
    const char *args[6] = { "extract" };
    size_t n = 1;

    if (c.compress)
      args[n++] = "-c";
    if (c.cache) {
      args[n++] = "-t";
      args[n++] = c.cache;
    }
    args[n++] = c.src;
    args[n++] = c.dst;
    run_cli (cfg, args, n, argc, argv);
  }
}

/* Does the image's current backing file record a snapshot top
 * (lib/snaptop.h)?  Cheap: one header, one attribute; the CLI proves the
 * rest. */
static bool
over_snapshot (const struct ch_rebase_args *r)
{
  CLEANUP_CLOSE int fd = open (r->image, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  CLEANUP_FREE char *norm = NULL, *backing = NULL;
  struct ch_qcow2_info qi;

  if (fd < 0 || ch_qcow2_read (fd, &qi) < 0 || !qi.has_backing ||
      (norm = ch_path_normalize (r->image)) == NULL ||
      (backing = ch_path_resolve_backing (norm, qi.backing)) == NULL) {
    ch_error_clear ();
    return false;
  }
  return getxattr (backing, CH_SNAPTOP_XATTR, NULL, 0) > 0;
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
  if (cfg_ok && cmd && cfg.snapshot_key_file)
    snapshots (&cfg, cmd, r.cmd_index, argc, argv);
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
    /* The top proof hashes the top: libcrypto, in the CLI. */
    if (over_snapshot (&r) && access (cfg.fetcher, X_OK) == 0)
      run_cli (&cfg, (const char *[]) { "rebase", r.image, r.fmt ? r.fmt : "-", r.backing,
                                        r.backing_fmt ? r.backing_fmt : "-" }, 5, argc, argv);
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
