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
#include "fsutil.h"
#include "lock.h"
#include "log.h"
#include "pathutil.h"
#include "qcow2.h"
#include "runcmd.h"

struct ctx {
  const struct ch_config *cfg;
  const struct ch_exec_opts *opts;
  int base_fd;
  int tmp_fd;               /* CH_TEMP_DIR, opened on first need */
};

/* Entries are built in a directory of _base private to root: _base belongs
 * to nova, and nova must not be able to swap a file being built for a
 * symlink.  It is reached by fd only. */
static int
temp_dir (struct ctx *c)
{
  if (c->tmp_fd < 0)
    c->tmp_fd = ch_open_private_dir (c->base_fd, c->cfg->base_dir, CH_TEMP_DIR);
  return c->tmp_fd;
}

/* 1 if NAME exists as a regular file (its size in *SIZE), 0 if absent, -1
 * otherwise. */
static int
entry_present (const struct ctx *c, const char *name, uint64_t *size)
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
  *size = (uint64_t) st.st_size;
  return 1;
}

/* The format of the copy a COPY_EXTEND makes: its original's, which a
 * fetch earlier in the run may only now have brought. */
static int
copy_format (const struct ctx *c, const struct ch_action *a, enum ch_fmt *fmt)
{
  CLEANUP_CLOSE int src = -1;

  *fmt = a->fmt;
  if (*fmt != CH_FMT_UNKNOWN)
    return 0;
  src = openat (c->base_fd, a->src_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (src < 0) {
    ch_error ("%s/%s: %m", c->cfg->base_dir, a->src_name);
    return -1;
  }
  return ch_probe_format (src, fmt);
}

/* How far someone else's copy at A's name has got: its size (raw) or the
 * virtual size its header says (qcow2; 0 while no header is readable).
 * 1 present (*SIZE set), 0 absent, -1 with ch_error. */
static int
copy_size (const struct ctx *c, const struct ch_action *a, enum ch_fmt fmt, uint64_t *size)
{
  CLEANUP_CLOSE int fd = openat (c->base_fd, a->name,
                                 O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  struct ch_qcow2_info qi;
  enum ch_fmt got;
  struct stat st;

  if (fd < 0 && errno == ENOENT)
    return 0;
  if (fd < 0 || fstat (fd, &st) < 0) {
    ch_error ("%s: %m", a->path);
    return -1;
  }
  if (!S_ISREG (st.st_mode)) {
    ch_error ("%s: exists but is not a regular file", a->path);
    return -1;
  }
  *size = (uint64_t) st.st_size;
  if (fmt == CH_FMT_QCOW2)
    *size = ch_probe_format (fd, &got) == 0 && got == CH_FMT_QCOW2 &&
      ch_qcow2_read (fd, &qi) == 0 ? qi.virtual_size : 0;
  return 1;
}

/* Nova builds a legacy <sha1>_<GB> with cp straight to its final name and
 * without the lock, then extends it: until it has its full size it is
 * Nova's work in progress, not a base.  Wait for it (bounded).  0 when it
 * is complete; 1 when there is none, or it went away (Nova gives up and
 * removes it when its extend fails): we hold the lock, ours to build; -1
 * with ch_error. */
static int
wait_copy (const struct ctx *c, const struct ch_action *a, enum ch_fmt fmt)
{
  double deadline = ch_now_ms () + c->cfg->lock_timeout * 1e3;
  uint64_t size;
  bool logged = false;
  int r;

  while ((r = copy_size (c, a, fmt, &size)) == 1 && size != a->size) {
    if (!logged)
      ch_log (LOG_INFO, "%s is %llu bytes of %llu: waiting for whoever is making it",
              a->path, (unsigned long long) size, (unsigned long long) a->size);
    logged = true;
    if (ch_now_ms () >= deadline) {
      ch_error ("%s is %llu bytes, not %llu, and did not grow for %d s: "
                "a copy by someone else that did not finish", a->path,
                (unsigned long long) size, (unsigned long long) a->size,
                c->cfg->lock_timeout);
      return -1;
    }
    usleep (100000);
  }
  if (r == 0 && logged)
    ch_log (LOG_INFO, "%s: whoever was making it removed it: cowherd makes it", a->path);
  return r < 0 ? -1 : r == 0;
}

/* What a creation does between making its temp file and publishing it.
 * Programs get the file as CH_RUN_FD_PATH, never by a name. */
typedef int (*fill_fn) (const struct ctx *c, const struct ch_action *a, int tmp_fd);

/* A's format is known here (create_entry resolves it). */
static int
fill_copy_extend (const struct ctx *c, const struct ch_action *a, int tmp_fd)
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
      ch_error ("extend %s: %m", a->path);
      return -1;
    }
    return 0;
  }
  /* qcow2 original (force_raw_images off): grow it the way Nova does. */
  snprintf (size, sizeof size, "%llu", (unsigned long long) a->size);
  return ch_run_fd ((char *const[]) { c->cfg->qemu_img, (char *) "resize", (char *) "-f",
                                      (char *) "qcow2", (char *) CH_RUN_FD_PATH, size, NULL },
                    tmp_fd);
}

static int
fill_ephemeral (const struct ctx *c, const struct ch_action *a, int tmp_fd)
{
  /* Nova's mkfs: -F for ext3/ext4/ntfs, the label with -n for vfat and -L
   * otherwise. */
  bool force = !strcmp (a->fs, "ext3") || !strcmp (a->fs, "ext4") || !strcmp (a->fs, "ntfs");
  const char *label_opt = strcmp (a->fs, "vfat") == 0 ? "-n" : "-L";
  char *argv[10];
  size_t i = 0;

  if (ftruncate (tmp_fd, (off_t) a->size) < 0) {
    ch_error ("truncate %s: %m", a->path);
    return -1;
  }
  argv[i++] = c->cfg->mkfs;
  argv[i++] = (char *) "-t";
  argv[i++] = (char *) a->fs;
  if (force)
    argv[i++] = (char *) "-F";
  argv[i++] = (char *) label_opt;
  argv[i++] = (char *) "ephemeral0";
  argv[i++] = (char *) CH_RUN_FD_PATH;
  argv[i] = NULL;
  return ch_run_fd (argv, tmp_fd);
}

static int
fill_swap (const struct ctx *c, const struct ch_action *a, int tmp_fd)
{
  if (ftruncate (tmp_fd, (off_t) a->size) < 0) {
    ch_error ("truncate %s: %m", a->path);
    return -1;
  }
  return ch_run_fd ((char *const[]) { c->cfg->mkswap, (char *) CH_RUN_FD_PATH, NULL }, tmp_fd);
}

/* Someone else may make A at the same time, outside the lock: Nova's
 * legacy <sha1>_<GB> copy.  How many times cowherd builds its own and
 * finds theirs came first before it gives up. */
#define COPY_ROUNDS 4

static int
create_entry (struct ctx *c, const struct ch_action *a, fill_fn fill, bool *made)
{
  struct ch_action act = *a;           /* A, with its format resolved */
  uint64_t size;
  int r;

  *made = false;
  if (a->kind == CH_ACT_COPY_EXTEND && copy_format (c, a, &act.fmt) < 0)
    return -1;
  for (int round = 0; round < COPY_ROUNDS; round++) {
    CLEANUP_CLOSE int fd = -1;

    /* Someone (Nova, another hook) may have made it while we waited. */
    if (a->kind == CH_ACT_COPY_EXTEND) {
      if ((r = wait_copy (c, &act, act.fmt)) <= 0)
        return r;
    }
    else if ((r = entry_present (c, a->name, &size)) != 0)
      return r < 0 ? -1 : 0;
    if (temp_dir (c) < 0)
      return -1;
    /* Under the lock no one else builds this name: a leftover is stale. */
    if (unlinkat (c->tmp_fd, a->name, 0) < 0 && errno != ENOENT) {
      ch_error ("remove stale %s/%s/%s: %m", c->cfg->base_dir, CH_TEMP_DIR, a->name);
      return -1;
    }
    fd = openat (c->tmp_fd, a->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 0644);
    if (fd < 0) {
      ch_error ("create %s/%s/%s: %m", c->cfg->base_dir, CH_TEMP_DIR, a->name);
      return -1;
    }
    if (fill (c, &act, fd) < 0) {
      unlinkat (c->tmp_fd, a->name, 0);
      return -1;
    }
    if (ch_publish (fd, c->tmp_fd, a->name, c->base_fd, c->cfg->base_dir, a->name) == 0) {
      *made = true;
      return 0;
    }
    r = errno;
    unlinkat (c->tmp_fd, a->name, 0);
    /* Nova's copy took the name meanwhile: it is theirs to finish. */
    if (r != EEXIST || a->kind != CH_ACT_COPY_EXTEND)
      return -1;
  }
  ch_error ("%s: made by someone else, without Nova's lock, %d times while cowherd "
            "made it too", a->path, COPY_ROUNDS);
  return -1;
}

static fill_fn
filler (enum ch_action_kind kind)
{
  switch (kind) {
  case CH_ACT_COPY_EXTEND: return fill_copy_extend;
  case CH_ACT_CREATE_EPHEMERAL: return fill_ephemeral;
  case CH_ACT_CREATE_SWAP: return fill_swap;
  case CH_ACT_FETCH:
  case CH_ACT_CREATE_TOP:
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
  /* Nova's cache manager ages entries by mtime. */
  if (utimensat (c->base_fd, a->name, NULL, AT_SYMLINK_NOFOLLOW) < 0) {
    /* Gone since it was planned: on prepare that is fatal (libvirt would
     * fail to open it with a worse message); when merely marking, not our
     * business. */
    if (errno != ENOENT || c->opts->lock_marks) {
      ch_error (errno == ENOENT ? "%s: removed (by Nova's image cache manager?) while "
                "the domain was being prepared; start it again"
                : "touch %s: %m", a->path);
      r = -1;
    }
  }
  ch_unlock (lock_fd);
  return r;
}

/* Fetching needs libcurl and friends, which the hook does not load: it runs
 * the CLI's fetch, which takes Nova's lock for the entry itself. */
static int
fetch (const struct ctx *c, const struct ch_action *a)
{
  char *argv[8];
  size_t i = 0;
  double t0 = ch_now_ms ();

  argv[i++] = c->cfg->fetcher;
  argv[i++] = (char *) "fetch";
  argv[i++] = (char *) "--sha1";
  if (a->src_name) {
    argv[i++] = (char *) "--candidate";
    argv[i++] = a->src_name;
  }
  argv[i++] = a->name;
  argv[i] = NULL;
  if (ch_run (argv) < 0)
    return -1;
  ch_log (LOG_INFO, "domain %s: disk %s: fetch %s: done in %.0f ms",
          c->opts->domain, a->disk, a->path, ch_now_ms () - t0);
  return 0;
}

/* The size of the image at PATH (format FMT, or found out), and its
 * format in *FMT. */
static int
image_size (const char *path, enum ch_fmt *fmt, uint64_t *size)
{
  CLEANUP_CLOSE int fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  struct ch_qcow2_info qi;
  struct stat st;

  if (fd < 0 || fstat (fd, &st) < 0) {
    ch_error ("%s: %m", path);
    return -1;
  }
  if (*fmt == CH_FMT_UNKNOWN && ch_probe_format (fd, fmt) < 0)
    return -1;
  if (*fmt == CH_FMT_QCOW2) {
    if (ch_qcow2_read (fd, &qi) < 0) {
      ch_error_prefix ("%s", path);
      return -1;
    }
    *size = qi.virtual_size;
  }
  else
    *size = (uint64_t) st.st_size;
  return 0;
}

/* Open the instance directory DIR_LEAF of instances_path, making it (owned
 * like instances_path, as Nova's are) if it is missing. */
static int
instance_dir (const struct ctx *c, const char *dir_leaf, const char *dir_path)
{
  CLEANUP_CLOSE int inst = ch_open_dir (c->cfg->instances_path, false);
  int fd;
  struct stat st;
  bool mine = false;

  if (inst < 0) {
    ch_error ("%s: %m", c->cfg->instances_path);
    return -1;
  }
  fd = openat (inst, dir_leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0 || errno != ENOENT) {
    if (fd < 0)
      ch_error ("%s: %m", dir_path);
    return fd;
  }
  /* EEXIST: Nova (pre_live_migration) made it meanwhile: not ours. */
  if (mkdirat (inst, dir_leaf, 0755) == 0)
    mine = true;
  else if (errno != EEXIST) {
    ch_error ("mkdir %s: %m", dir_path);
    return -1;
  }
  fd = openat (inst, dir_leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || (mine && fstat (fd, &st) < 0)) {
    ch_error ("%s: %m", dir_path);
    /* Not recorded yet: take it back now (only while still empty). */
    if (mine)
      unlinkat (inst, dir_leaf, AT_REMOVEDIR);
    if (fd >= 0)
      close (fd);
    return -1;
  }
  if (!mine)
    return fd;
  /* Recorded first: whatever fails next, the record lets it be undone. */
  if (c->opts->created && c->opts->created (c->opts->opaque, dir_path, &st) < 0) {
    unlinkat (inst, dir_leaf, AT_REMOVEDIR);
    close (fd);
    return -1;
  }
  if (ch_own_like (fd, inst, dir_path) < 0) {
    close (fd);
    return -1;
  }
  if (fsync (inst) < 0) {
    ch_error ("fsync %s: %m", c->cfg->instances_path);
    close (fd);
    return -1;
  }
  return fd;
}

/* An empty qcow2 overlay over the chain the source host has, with the
 * source's virtual size, for an incoming migration to fill.  Built under a
 * temporary name in its own directory (the backing name may be relative
 * to it) and renamed into place without replacing anything. */
static int
create_top (struct ctx *c, const struct ch_action *a, bool *made)
{
  CLEANUP_FREE char *dir = strdup (a->path), *backing = NULL, *tmp = NULL;
  CLEANUP_CLOSE int dfd = -1, fd = -1;
  const char *leaf, *dir_leaf;
  enum ch_fmt fmt = a->fmt;
  uint64_t size = a->size, bsize;
  char size_s[32], *argv[14];
  struct stat st;
  size_t i = 0;

  *made = false;
  if (dir == NULL) {
    ch_error ("strdup: %m");
    return -1;
  }
  *strrchr (dir, '/') = '\0';
  leaf = strrchr (a->path, '/') + 1;
  if ((dir_leaf = ch_path_leaf_in (dir, c->cfg->instances_path)) == NULL) {
    ch_error ("%s is not an instance directory of %s", dir, c->cfg->instances_path);
    return -1;
  }
  if ((dfd = instance_dir (c, dir_leaf, dir)) < 0)
    return -1;
  if (fstatat (dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0)
    return 0;                    /* made meanwhile (Nova's pre_live_migration) */
  if (a->src_name) {
    if ((backing = ch_path_resolve_backing (a->path, a->src_name)) == NULL ||
        image_size (backing, &fmt, &bsize) < 0)
      return -1;
    if (size == 0 || (a->at_least && size < bsize))
      size = bsize;
  }
  if (size == 0) {
    ch_error ("the disk's virtual size is not known");
    return -1;
  }
  if (asprintf (&tmp, ".%s.cowherd-%ld", leaf, (long) getpid ()) < 0) {
    tmp = NULL;
    ch_error ("asprintf: %m");
    return -1;
  }
  unlinkat (dfd, tmp, 0);        /* a leftover of a killed run with our pid */
  fd = openat (dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    ch_error ("create %s/%s: %m", dir, tmp);
    return -1;
  }
  snprintf (size_s, sizeof size_s, "%llu", (unsigned long long) size);
  argv[i++] = c->cfg->qemu_img;
  argv[i++] = (char *) "create";
  argv[i++] = (char *) "-q";
  argv[i++] = (char *) "-f";
  argv[i++] = (char *) "qcow2";
  if (a->src_name) {
    /* -u: the backing was checked above; qemu-img would look for a
     * relative name beside /dev/fd/3. */
    argv[i++] = (char *) "-u";
    argv[i++] = (char *) "-F";
    argv[i++] = (char *) ch_fmt_name (fmt);
    argv[i++] = (char *) "-b";
    argv[i++] = a->src_name;
  }
  argv[i++] = (char *) CH_RUN_FD_PATH;
  argv[i++] = size_s;
  argv[i] = NULL;
  if (ch_own_like (fd, dfd, a->path) < 0 || ch_run_fd (argv, fd) < 0)
    goto undo;
  if (fsync (fd) < 0) {
    ch_error ("fsync %s/%s: %m", dir, tmp);
    goto undo;
  }
  if (fstat (fd, &st) < 0) {
    ch_error ("%s/%s: %m", dir, tmp);
    goto undo;
  }
  if (renameat2 (dfd, tmp, dfd, leaf, RENAME_NOREPLACE) < 0) {
    if (errno == EEXIST) {
      unlinkat (dfd, tmp, 0);
      return 0;
    }
    ch_error ("rename into %s: %m", a->path);
    goto undo;
  }
  /* Recorded at once: a top that cannot be recorded could not be undone
   * if the migration fails, so it does not stay. */
  if (c->opts->created && c->opts->created (c->opts->opaque, a->path, &st) < 0) {
    unlinkat (dfd, leaf, 0);
    return -1;
  }
  *made = true;
  if (fsync (dfd) < 0) {
    ch_error ("fsync %s: %m", dir);
    return -1;
  }
  return 0;

 undo:
  unlinkat (dfd, tmp, 0);
  return -1;
}

static int
run_action (struct ctx *c, const struct ch_action *a)
{
  fill_fn fill = filler (a->kind);
  double t0, waited = 0;
  bool made;
  int lock_fd, r;

  if (a->kind == CH_ACT_FETCH)
    return fetch (c, a);
  if (a->kind == CH_ACT_CREATE_TOP) {
    t0 = ch_now_ms ();
    if (create_top (c, a, &made) < 0)
      return -1;
    ch_log (LOG_INFO, "domain %s: disk %s: create-top %s over %s (chain from %s): %s in %.0f ms",
            c->opts->domain, a->disk, a->path, a->src_name ? a->src_name : "nothing",
            a->origin ? a->origin : "?", made ? "done" : "already present", ch_now_ms () - t0);
    return 0;
  }
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
  struct ctx c = { .cfg = cfg, .opts = opts, .base_fd = -1, .tmp_fd = -1 };
  int r = 0;

  if (plan->failed) {
    ch_error ("refusing to execute a plan that cannot succeed");
    return -1;
  }
  if (plan->n == 0)
    return 0;
  /* Nova creates _base on first use; so may we (ephemeral, swap). */
  if ((c.base_fd = ch_open_dir (cfg->base_dir, true)) < 0)
    return -1;
  for (size_t i = 0; i < plan->n && r == 0; i++) {
    const struct ch_action *a = &plan->v[i];

    r = run_action (&c, a);
    if (r < 0)
      ch_error_prefix ("disk %s: %s", a->disk, a->path);
  }
  if (c.tmp_fd >= 0)
    close (c.tmp_fd);
  close (c.base_fd);
  return r;
}
