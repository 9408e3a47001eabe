#include "rebase_proof.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "config.h"
#include "copy.h"
#include "fsutil.h"
#include "io.h"
#include "lock.h"
#include "manifest.h"
#include "naming.h"
#include "pathutil.h"
#include "qcow2.h"
#include "snapmark.h"
#include "snaptop.h"


/* One backing file: its path as QEMU will open it and the _base entry. */
struct backing {
  char *path;                 /* resolved, normalised */
  const char *leaf;           /* inside path: the name in _base */
  int fd;
  struct stat st;
  struct ch_base_name name;
};

static void
backing_free (struct backing *b)
{
  free (b->path);
  if (b->fd >= 0)
    close (b->fd);
}

/* IMAGE as qemu-img will open it, made absolute against the working
 * directory but otherwise as given: ".." is left to the kernel, after any
 * symlinks, exactly as qemu-img's open will meet it. */
static char *
as_given (const char *image)
{
  CLEANUP_FREE char *cwd = NULL;
  char *p;

  if (image[0] == '/')
    p = strdup (image);
  else if ((cwd = getcwd (NULL, 0)) == NULL || asprintf (&p, "%s/%s", cwd, image) < 0)
    p = NULL;
  if (p == NULL || strlen (p) > CH_PATH_MAX) {
    free (p);
    ch_error ("%.200s: cannot make the path absolute", image);
    return NULL;
  }
  return p;
}

/* Protocols (nbd:, json:{...}, http://...) are not files. */
static bool
is_protocol (const char *name)
{
  const char *colon = strchr (name, ':'), *slash = strchr (name, '/');

  return colon != NULL && (slash == NULL || colon < slash);
}

/* Open the backing file NAME (as written, relative to IMAGE) as an entry of
 * _base.  WHAT is "current" or "new" for the reasons. */
static bool
open_backing (int base_fd, const char *base_dir, const char *image, const char *name,
              const char *what, struct backing *b, char *why, size_t len)
{
  CLEANUP_FREE char *norm = NULL;
  struct stat via_path;
  CLEANUP_FREE char *as_qemu = NULL;
  const char *slash;

  if (name[0] == '\0')
    return ch_why (why, len, "the %s backing file is empty", what);
  if (is_protocol (name))
    return ch_why (why, len, "the %s backing file %.200s is not a plain file name", what, name);
  /* The lexical form only finds the candidate entry; the inode check
   * below decides whether qemu-img would really open it. */
  if ((norm = ch_path_normalize (image)) == NULL ||
      (b->path = ch_path_resolve_backing (norm, name)) == NULL)
    return ch_why (why, len, "%s", ch_last_error ());
  b->leaf = ch_path_leaf_in (b->path, base_dir);
  if (b->leaf == NULL)
    return ch_why (why, len, "the %s backing file %.200s is not in %s", what, b->path, base_dir);
  ch_base_classify (b->leaf, &b->name);
  b->fd = openat (base_fd, b->leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (b->fd < 0)
    return ch_why (why, len, "the %s backing file %.200s: %s", what, b->path,
                   errno == ELOOP ? "is a symbolic link" : strerror (errno));
  if (fstat (b->fd, &b->st) < 0 || !S_ISREG (b->st.st_mode))
    return ch_why (why, len, "the %s backing file %.200s is not a regular file", what, b->path);
  /* QEMU opens the name as written, joined to the image's directory, and
   * the kernel resolves it (symlinked directories, ".." through them): it
   * must reach this very file, whatever the lexical form said. */
  slash = strrchr (image, '/');
  if (name[0] == '/')
    as_qemu = strdup (name);
  else if (asprintf (&as_qemu, "%.*s/%s", (int) (slash - image), image, name) < 0)
    as_qemu = NULL;
  if (as_qemu == NULL)
    return ch_why (why, len, "out of memory");
  if (stat (as_qemu, &via_path) < 0 || via_path.st_dev != b->st.st_dev ||
      via_path.st_ino != b->st.st_ino)
    return ch_why (why, len, "the %s backing file %.200s does not resolve to %s/%s", what,
                   as_qemu, base_dir, b->leaf);
  return true;
}

static bool
read_manifest (int base_fd, const struct backing *b, struct ch_manifest *m)
{
  return ch_manifest_read_current (base_fd, b->leaf, &b->st, m);
}

/* Both entries are copies of one original, extended with zeros. */
static bool
same_original (int base_fd, const char *base_dir, const struct backing *cur,
               const struct backing *new, char *why, size_t len)
{
  CLEANUP_CLOSE int orig_fd = -1;
  struct stat orig;
  uint64_t prefix;

  if ((cur->name.kind != CH_BASE_ORIGINAL && cur->name.kind != CH_BASE_RESIZED) ||
      (new->name.kind != CH_BASE_ORIGINAL && new->name.kind != CH_BASE_RESIZED))
    return ch_why (why, len, "%s and %s are not both <sha1> or <sha1>_<GB> cache entries",
                   cur->leaf, new->leaf);
  if (strcmp (cur->name.sha1, new->name.sha1) != 0)
    return ch_why (why, len, "%s and %s come from different originals", cur->leaf, new->leaf);
  if (new->st.st_size < cur->st.st_size)
    return ch_why (why, len, "the new backing file %s (%jd bytes) is smaller than %s (%jd bytes)",
                   new->leaf, (intmax_t) new->st.st_size, cur->leaf, (intmax_t) cur->st.st_size);
  /* How long the copied prefix is: the original's size. */
  orig_fd = openat (base_fd, cur->name.sha1, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (orig_fd < 0 || fstat (orig_fd, &orig) < 0 || !S_ISREG (orig.st_mode))
    return ch_why (why, len, "the original %s/%s is not there to bound the copied prefix",
                   base_dir, cur->name.sha1);
  prefix = (uint64_t) orig.st_size;
  if (prefix > (uint64_t) cur->st.st_size)
    return ch_why (why, len, "%s is shorter than its original %s", cur->leaf, cur->name.sha1);
  if (!ch_zeros_from (cur->fd, cur->path, prefix, why, len) ||
      !ch_zeros_from (new->fd, new->path, prefix, why, len))
    return false;
  snprintf (why, len, "%s and %s are the original %s (%" PRIu64 " bytes) followed by zeros",
            cur->leaf, new->leaf, cur->name.sha1, prefix);
  return true;
}

static bool
lock_refused (const char *leaf, char *why, size_t len)
{
  if (ch_error_kind () == CH_ERR_TIMED_OUT)
    return ch_why (why, len, "Nova's lock on %s is held by another process", leaf);
  return ch_why (why, len, "%s", ch_last_error ());
}

/* Nova's locks on both entries (one if they are the same), taken without
 * waiting: held until the rebase is done, they keep Nova's image cache
 * manager from removing or replacing an entry after it was proven. */
static bool
lock_entries (const struct ch_config *cfg, const struct backing *cur, const struct backing *new,
              int lock_fds[2], char *why, size_t len)
{
  struct ch_config now = *cfg;

  now.lock_timeout = 0;
  lock_fds[0] = ch_lock_entry (&now, cur->leaf, NULL);
  if (lock_fds[0] < 0)
    return lock_refused (cur->leaf, why, len);
  if (strcmp (cur->leaf, new->leaf) == 0)
    return true;
  lock_fds[1] = ch_lock_entry (&now, new->leaf, NULL);
  if (lock_fds[1] < 0) {
    ch_unlock (lock_fds[0]);
    lock_fds[0] = -1;
    return lock_refused (new->leaf, why, len);
  }
  return true;
}

/* C's image, opened as qemu-img will open it: a qcow2 with a backing file
 * and no data file.  *IMAGE (malloc'd) its absolute path, *IMG_FD open,
 * *ST and *QI its inode and header.  False with the reason in WHY. */
static bool
open_image (const struct ch_rebase_case *c, char **image, int *img_fd, struct stat *st,
            struct ch_qcow2_info *qi, char *why, size_t len)
{
  if (c->image_fmt && strcmp (c->image_fmt, "qcow2") != 0)
    return ch_why (why, len, "the image format is %.32s, not qcow2", c->image_fmt);
  if (c->new_fmt == NULL)
    return ch_why (why, len, "no backing format given (-F)");
  if (is_protocol (c->image))
    return ch_why (why, len, "the image %.200s is not a plain file name", c->image);
  if ((*image = as_given (c->image)) == NULL)
    return ch_why (why, len, "%s", ch_last_error ());
  *img_fd = open (*image, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (*img_fd < 0)
    return ch_why (why, len, "%.200s: %s", *image, strerror (errno));
  ch_error_clear ();
  if (fstat (*img_fd, st) < 0 || ch_qcow2_read (*img_fd, qi) < 0)
    return ch_why (why, len, "%.200s: %s", *image, ch_last_error ());
  if (qi->has_data_file)
    return ch_why (why, len, "%.200s has an external data file", *image);
  if (!qi->has_backing)
    return ch_why (why, len, "%.200s has no backing file", *image);
  return true;
}

bool
ch_rebase_proven (const struct ch_config *cfg, const struct ch_rebase_case *c,
                  int lock_fds[2], char *why, size_t len)
{
  const char *base_dir = cfg->base_dir;
  struct stat img_st;
  struct backing cur = { .fd = -1 }, new = { .fd = -1 };
  struct ch_manifest mc = { .size = 0 }, mn = { .size = 0 };
  struct ch_qcow2_info qi;
  CLEANUP_FREE char *image = NULL;
  CLEANUP_CLOSE int img_fd = -1, base_fd = -1;
  bool r = false;

  lock_fds[0] = lock_fds[1] = -1;
  if (!open_image (c, &image, &img_fd, &img_st, &qi, why, len))
    return false;
  if (strcmp (c->new_fmt, "raw") != 0)
    return ch_why (why, len, "the new backing format is %.32s, not raw", c->new_fmt);
  if (!qi.has_backing_fmt || strcmp (qi.backing_fmt, "raw") != 0)
    return ch_why (why, len, "the current backing format is %s, not raw",
                   qi.has_backing_fmt ? qi.backing_fmt : "not recorded");
  if ((base_fd = ch_open_dir (base_dir, false)) < 0)
    return ch_why (why, len, "%s", ch_last_error ());
  if (open_backing (base_fd, base_dir, image, qi.backing, "current", &cur, why, len) &&
      open_backing (base_fd, base_dir, image, c->new_backing, "new", &new, why, len)) {
    bool have = read_manifest (base_fd, &cur, &mc) && read_manifest (base_fd, &new, &mn);
    int same = have ? ch_manifest_same_content (&mc, &mn) : -1;
    /* The digest they have in common, when they have one. */
    bool by512 = same >= 0 && mc.sha512[0] && mn.sha512[0];
    const char *algo = by512 ? "sha512" : "sha256";
    const char *hc = by512 ? mc.sha512 : mc.sha256, *hn = by512 ? mn.sha512 : mn.sha256;
    if ((cur.st.st_dev == img_st.st_dev && cur.st.st_ino == img_st.st_ino) ||
        (new.st.st_dev == img_st.st_dev && new.st.st_ino == img_st.st_ino))
      r = ch_why (why, len, "the image is its own backing file");
    else if (same == 0 && mc.size == mn.size)
      r = ch_why (why, len, "the manifests of %s and %s disagree (%s %.12s... vs %.12s...)",
                  cur.leaf, new.leaf, algo, hc, hn);
    else if (same == 1) {
      snprintf (why, len, "%s and %s have the same %s in their manifests (%.12s...)",
                cur.leaf, new.leaf, algo, hc);
      r = true;
    }
    else
      r = same_original (base_fd, base_dir, &cur, &new, why, len);
    /* Proven: hold the entries still until qemu-img is done. */
    if (r) {
      char proof[512];

      snprintf (proof, sizeof proof, "%s", why);
      r = lock_entries (cfg, &cur, &new, lock_fds, why, len);
      if (r)
        snprintf (why, len, "%s", proof);
    }
  }
  backing_free (&cur);
  backing_free (&new);
  return r;
}

/* The virtual size of the entry open on FD in format FMT ("raw" or
 * "qcow2"). */
static bool
entry_vsize (int fd, const struct stat *st, const char *fmt, uint64_t *vsize)
{
  struct ch_qcow2_info qi;

  if (strcmp (fmt, "raw") == 0) {
    *vsize = (uint64_t) st->st_size;
    return true;
  }
  if (ch_qcow2_read (fd, &qi) < 0)
    return false;
  *vsize = qi.virtual_size;
  return true;
}

/* The snapshot's top kept beside CUR (which the image names in format
 * CUR_FMT), checked against the record on CUR and against NEW: T->top
 * (malloc'd) on success. */
static bool
check_top (int base_fd, const char *base_dir, const struct backing *cur, const char *cur_fmt,
           const struct backing *new, const char *new_fmt, int (*sha256_fd) (int, char[65]),
           struct ch_rebase_top *t, uint64_t *top_bytes, char *why, size_t len)
{
  char parent[CH_SHA1_HEX + 2], value[CH_SNAPTOP_RECORD_MAX], top[CH_SNAPTOP_NAME_MAX];
  char sum[65];
  struct ch_snaptop_record rec;
  struct ch_qcow2_info tq;
  struct backing tb = { .fd = -1 };
  struct stat st;
  CLEANUP_CLOSE int tfd = -1;
  CLEANUP_FREE char *tpath = NULL;
  uint64_t cur_vsize;
  ssize_t n;
  bool ok = false;

  n = fgetxattr (cur->fd, CH_SNAP_XATTR, parent, sizeof parent);
  if (n != CH_SHA1_HEX || strlen (new->leaf) != CH_SHA1_HEX ||
      memcmp (parent, new->leaf, CH_SHA1_HEX) != 0)
    return ch_why (why, len, "%s was not made whole from a COW-only snapshot over %s",
                   cur->leaf, new->leaf);
  n = fgetxattr (cur->fd, CH_SNAPTOP_XATTR, value, sizeof value);
  if (n <= 0 || !ch_snaptop_parse (value, (size_t) n, &rec))
    return ch_why (why, len, "%s records no snapshot top", cur->leaf);
  /* The safe rebase reads CUR as the image's header says: as what it is. */
  if (strcmp (cur_fmt, rec.fmt) != 0)
    return ch_why (why, len, "the image names %s as %s, but it is %s", cur->leaf, cur_fmt,
                   rec.fmt);
  /* Cache entries are replaced by rename, never rewritten: the same inode
   * of the same size is the original the top was checked over. */
  if (rec.parent_dev != (uint64_t) new->st.st_dev || rec.parent_ino != (uint64_t) new->st.st_ino ||
      rec.parent_size != (uint64_t) new->st.st_size)
    return ch_why (why, len, "%s is not the file %s was made over", new->leaf, cur->leaf);
  if (!ch_snaptop_name (cur->leaf, top))
    return ch_why (why, len, "%s is not an original's name", cur->leaf);
  if ((tpath = ch_path_join (base_dir, top)) == NULL)
    return ch_why (why, len, "out of memory");
  tfd = openat (base_fd, top, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (tfd < 0 || fstat (tfd, &st) < 0 || !S_ISREG (st.st_mode))
    return ch_why (why, len, "the snapshot top %s: %s", tpath,
                   tfd < 0 ? strerror (errno) : "not a regular file");
  if (sha256_fd (tfd, sum) < 0)
    return ch_why (why, len, "the snapshot top %s: %s", tpath, ch_last_error ());
  if (strcmp (sum, rec.sha256) != 0)
    return ch_why (why, len, "the snapshot top %s is not the one %s was made with", tpath,
                   cur->leaf);
  if (ch_qcow2_read (tfd, &tq) < 0)
    return ch_why (why, len, "the snapshot top %s: %s", tpath, ch_last_error ());
  if (tq.has_data_file || !tq.has_backing || !tq.has_backing_fmt ||
      strcmp (tq.backing_fmt, new_fmt) != 0)
    return ch_why (why, len, "the snapshot top %s does not stand on %s as %s", tpath, new->leaf,
                   new_fmt);
  if (!entry_vsize (cur->fd, &cur->st, rec.fmt, &cur_vsize))
    return ch_why (why, len, "%s: %s", cur->path, ch_last_error ());
  if (tq.virtual_size != cur_vsize)
    return ch_why (why, len, "the snapshot top %s is not the size of %s", tpath, cur->leaf);
  /* Its backing file, as QEMU will open it, is the new backing file. */
  if (open_backing (base_fd, base_dir, tpath, tq.backing, "top's", &tb, why, len)) {
    if (tb.st.st_dev == new->st.st_dev && tb.st.st_ino == new->st.st_ino) {
      t->top = CH_STEAL (tpath);
      *top_bytes = (uint64_t) st.st_blocks * 512;
      ok = true;
    }
    else
      ch_why (why, len, "the snapshot top %s stands on %s, not %s", top, tb.leaf, new->leaf);
  }
  backing_free (&tb);
  return ok;
}

void
ch_rebase_top_free (struct ch_rebase_top *t)
{
  free (t->top);
  free (t->backing);
  *t = (struct ch_rebase_top) { 0 };
}

bool
ch_rebase_via_top (const struct ch_config *cfg, const struct ch_rebase_case *c,
                   int (*sha256_fd) (int fd, char hex[65]), int lock_fds[2],
                   struct ch_rebase_top *t, char *why, size_t len)
{
  const char *base_dir = cfg->base_dir;
  struct backing cur = { .fd = -1 }, new = { .fd = -1 };
  struct ch_qcow2_info qi;
  struct stat img_st;
  CLEANUP_FREE char *image = NULL;
  CLEANUP_CLOSE int img_fd = -1, base_fd = -1;
  uint64_t top_bytes = 0;
  bool r = false;

  lock_fds[0] = lock_fds[1] = -1;
  *t = (struct ch_rebase_top) { 0 };
  if (!open_image (c, &image, &img_fd, &img_st, &qi, why, len))
    return false;
  if (!qi.has_backing_fmt)
    return ch_why (why, len, "the current backing format is not recorded");
  if ((base_fd = ch_open_dir (base_dir, false)) < 0)
    return ch_why (why, len, "%s", ch_last_error ());
  if (open_backing (base_fd, base_dir, image, qi.backing, "current", &cur, why, len) &&
      open_backing (base_fd, base_dir, image, c->new_backing, "new", &new, why, len) &&
      check_top (base_fd, base_dir, &cur, qi.backing_fmt, &new, c->new_fmt, sha256_fd, t,
                 &top_bytes, why, len)) {
    r = lock_entries (cfg, &cur, &new, lock_fds, why, len);
    if (r && (t->backing = strdup (qi.backing)) == NULL) {
      ch_why (why, len, "out of memory");
      r = false;
    }
    if (r) {
      snprintf (t->backing_fmt, sizeof t->backing_fmt, "%s", qi.backing_fmt);
      snprintf (why, len, "%s was made whole from a COW-only snapshot over %s, whose top "
                "(%" PRIu64 " bytes allocated) reads as %s over %s", cur.leaf, new.leaf,
                top_bytes, cur.leaf, new.leaf);
    }
    else {
      for (int i = 0; i < 2; i++)
        if (lock_fds[i] >= 0) {
          ch_unlock (lock_fds[i]);
          lock_fds[i] = -1;
        }
      ch_rebase_top_free (t);
    }
  }
  else
    ch_rebase_top_free (t);
  backing_free (&cur);
  backing_free (&new);
  return r;
}
