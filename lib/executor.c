#include "executor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "copy.h"
#include "error.h"
#include "lock.h"
#include "log.h"
#include "pathutil.h"
#include "runcmd.h"

struct ctx {
  const struct ch_config *cfg;
  const struct ch_exec_opts *opts;
  int base_fd;
};

static int
open_base_dir (const struct ch_config *cfg)
{
  int fd = open (cfg->base_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0 && errno == ENOENT) {
    /* Nova creates _base on first use; so may we (ephemeral, swap). */
    if (mkdir (cfg->base_dir, 0755) < 0 && errno != EEXIST) {
      ch_error ("mkdir %s: %m", cfg->base_dir);
      return -1;
    }
    fd = open (cfg->base_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
  if (fd < 0)
    ch_error ("%s: %m", cfg->base_dir);
  return fd;
}

/* 1 if NAME exists as a regular file, 0 if absent, -1 otherwise. */
static int
entry_present (const struct ctx *c, const char *name)
{
  struct stat st;

  if (fstatat (c->base_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT)
      return 0;
    ch_error ("%s/%s: %m", c->cfg->base_dir, name);
    return -1;
  }
  if (!S_ISREG (st.st_mode)) {
    ch_error ("%s/%s: exists but is not a regular file", c->cfg->base_dir, name);
    return -1;
  }
  return 1;
}

/* What a creation needs between making its temp file and publishing it. */
typedef int (*fill_fn) (const struct ctx *c, const struct ch_action *a,
                        int tmp_fd, const char *tmp_path);

static int
fill_copy_extend (const struct ctx *c, const struct ch_action *a, int tmp_fd,
                  const char *tmp_path)
{
  CLEANUP_CLOSE int src = -1;
  struct stat st;
  bool reflinked;
  char size[32];

  src = openat (c->base_fd, a->src_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (src < 0) {
    ch_error ("%s/%s: %m", c->cfg->base_dir, a->src_name);
    return -1;
  }
  if (fstat (src, &st) < 0 || !S_ISREG (st.st_mode)) {
    ch_error ("%s/%s: not a regular file", c->cfg->base_dir, a->src_name);
    return -1;
  }
  if (ch_copy_sparse (src, tmp_fd, &reflinked) < 0) {
    ch_error_prefix ("copy %s/%s", c->cfg->base_dir, a->src_name);
    return -1;
  }
  if (a->fmt == CH_FMT_RAW) {
    if ((uint64_t) st.st_size > a->size) {
      ch_error ("%s/%s is larger than %llu bytes", c->cfg->base_dir, a->src_name,
                (unsigned long long) a->size);
      return -1;
    }
    if (ftruncate (tmp_fd, (off_t) a->size) < 0) {
      ch_error ("extend %s: %m", tmp_path);
      return -1;
    }
    return 0;
  }
  /* qcow2 original (force_raw_images off): grow it the way Nova does. */
  snprintf (size, sizeof size, "%llu", (unsigned long long) a->size);
  return ch_run ((char *const[]) { c->cfg->qemu_img, (char *) "resize", (char *) "-f",
                                   (char *) "qcow2", (char *) tmp_path, size, NULL });
}

static int
fill_ephemeral (const struct ctx *c, const struct ch_action *a, int tmp_fd,
                const char *tmp_path)
{
  /* Nova's disk/api.py mkfs(): -F for ext3/ext4/ntfs, the label with -n
   * for vfat and -L otherwise. */
  bool force = !strcmp (a->fs, "ext3") || !strcmp (a->fs, "ext4") || !strcmp (a->fs, "ntfs");
  const char *label_opt = strcmp (a->fs, "vfat") == 0 ? "-n" : "-L";
  char *argv[10];
  size_t i = 0;

  if (ftruncate (tmp_fd, (off_t) a->size) < 0) {
    ch_error ("truncate %s: %m", tmp_path);
    return -1;
  }
  argv[i++] = c->cfg->mkfs;
  argv[i++] = (char *) "-t";
  argv[i++] = (char *) a->fs;
  if (force)
    argv[i++] = (char *) "-F";
  argv[i++] = (char *) label_opt;
  argv[i++] = (char *) "ephemeral0";
  argv[i++] = (char *) tmp_path;
  argv[i] = NULL;
  return ch_run (argv);
}

static int
fill_swap (const struct ctx *c, const struct ch_action *a, int tmp_fd,
           const char *tmp_path)
{
  if (ftruncate (tmp_fd, (off_t) a->size) < 0) {
    ch_error ("truncate %s: %m", tmp_path);
    return -1;
  }
  return ch_run ((char *const[]) { c->cfg->mkswap, (char *) tmp_path, NULL });
}

/* Publish TMP as NAME without ever replacing an entry someone else made. */
static int
publish (const struct ctx *c, const char *tmp, const char *name)
{
  if (renameat2 (c->base_fd, tmp, c->base_fd, name, RENAME_NOREPLACE) < 0) {
    if (errno != EINVAL) {
      ch_error ("rename %s to %s: %m", tmp, name);
      return -1;
    }
    /* The filesystem has no RENAME_NOREPLACE: the lock and the check under
     * it already exclude Nova. */
    if (renameat (c->base_fd, tmp, c->base_fd, name) < 0) {
      ch_error ("rename %s to %s: %m", tmp, name);
      return -1;
    }
  }
  if (fsync (c->base_fd) < 0) {
    ch_error ("fsync %s: %m", c->cfg->base_dir);
    return -1;
  }
  return 0;
}

static int
create_entry (const struct ctx *c, const struct ch_action *a, fill_fn fill,
              bool *made)
{
  char tmp[CH_PATH_MAX], tmp_path[CH_PATH_MAX];
  CLEANUP_CLOSE int fd = -1;
  int r;

  *made = false;
  if ((size_t) snprintf (tmp, sizeof tmp, "%s%s", a->name, CH_TEMP_SUFFIX) >= sizeof tmp ||
      (size_t) snprintf (tmp_path, sizeof tmp_path, "%s/%s", c->cfg->base_dir, tmp) >=
      sizeof tmp_path) {
    ch_error ("%s: name too long", a->name);
    return -1;
  }
  /* Someone (Nova, another hook) may have made it while we waited. */
  r = entry_present (c, a->name);
  if (r != 0)
    return r < 0 ? -1 : 0;
  /* Under the lock no one else writes this temp name: a leftover is stale. */
  if (unlinkat (c->base_fd, tmp, 0) < 0 && errno != ENOENT) {
    ch_error ("remove stale %s: %m", tmp_path);
    return -1;
  }
  fd = openat (c->base_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    ch_error ("create %s: %m", tmp_path);
    return -1;
  }
  if (fill (c, a, fd, tmp_path) < 0)
    goto undo;
  if (fsync (fd) < 0) {
    ch_error ("fsync %s: %m", tmp_path);
    goto undo;
  }
  if (publish (c, tmp, a->name) < 0)
    goto undo;
  *made = true;
  return 0;

 undo:
  unlinkat (c->base_fd, tmp, 0);
  return -1;
}

static fill_fn
filler (enum ch_action_kind kind)
{
  switch (kind) {
  case CH_ACT_COPY_EXTEND: return fill_copy_extend;
  case CH_ACT_CREATE_EPHEMERAL: return fill_ephemeral;
  case CH_ACT_CREATE_SWAP: return fill_swap;
  case CH_ACT_MARK_IN_USE:
  case CH_ACT_FAIL:
    break;
  }
  return NULL;
}

static int
mark_in_use (const struct ctx *c, const struct ch_action *a)
{
  int lock_fd = -1, r = 0;

  if (c->opts->lock_marks &&
      (lock_fd = ch_lock_entry (c->cfg, a->name, NULL)) < 0)
    return -1;
  /* Nova's GC ages entries by mtime; an entry gone meanwhile is not ours to
   * complain about when only marking. */
  if (utimensat (c->base_fd, a->name, NULL, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT) {
    ch_error ("touch %s: %m", a->path);
    r = -1;
  }
  ch_unlock (lock_fd);
  return r;
}

static int
run_action (const struct ctx *c, const struct ch_action *a)
{
  double t0, waited = 0;
  fill_fn fill = filler (a->kind);
  bool made;
  int lock_fd, r;

  if (fill == NULL)
    return a->kind == CH_ACT_MARK_IN_USE ? mark_in_use (c, a) : 0;

  if ((lock_fd = ch_lock_entry (c->cfg, a->name, &waited)) < 0)
    return -1;
  t0 = ch_now_ms ();             /* the lock wait is logged on its own */
  r = create_entry (c, a, fill, &made);
  ch_unlock (lock_fd);
  if (r < 0)
    return -1;
  if (waited >= 1)
    ch_log (LOG_INFO, "domain %s: disk %s: waited %.0f ms for the lock on %s",
            c->opts->domain, a->disk, waited, a->name);
  if (made)
    ch_log (LOG_INFO, "domain %s: disk %s: %s %s: done in %.0f ms",
            c->opts->domain, a->disk, ch_action_kind_name (a->kind), a->path,
            ch_now_ms () - t0);
  else
    ch_log (LOG_INFO, "domain %s: disk %s: %s %s: already present",
            c->opts->domain, a->disk, ch_action_kind_name (a->kind), a->path);
  return 0;
}

int
ch_execute (const struct ch_plan *plan, const struct ch_config *cfg,
            const struct ch_exec_opts *opts)
{
  struct ctx c = { .cfg = cfg, .opts = opts, .base_fd = -1 };
  int r = 0;

  if (plan->failed) {
    ch_error ("refusing to execute a plan that cannot succeed");
    return -1;
  }
  if (plan->n == 0)
    return 0;
  if ((c.base_fd = open_base_dir (cfg)) < 0)
    return -1;
  for (size_t i = 0; i < plan->n && r == 0; i++) {
    const struct ch_action *a = &plan->v[i];

    r = run_action (&c, a);
    if (r < 0)
      ch_error_prefix ("disk %s: %s", a->disk, a->path);
  }
  close (c.base_fd);
  return r;
}
