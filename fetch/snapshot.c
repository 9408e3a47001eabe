#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "chain.h"
#include "cleanup.h"
#include "copy.h"
#include "digest.h"
#include "error.h"
#include "fetch.h"
#include "fsutil.h"
#include "io.h"
#include "log.h"
#include "manifest.h"
#include "naming.h"
#include "pathutil.h"
#include "qcow2.h"
#include "runcmd.h"
#include "snapsign.h"
#include "snaptop.h"

struct key {
  uint8_t *bytes;
  size_t len;
};

static void
key_freep (struct key *k)
{
  ch_snap_key_free (k->bytes, k->len);
}
#define CLEANUP_KEY __attribute__((cleanup (key_freep)))

/* The first cluster of the qcow2 image open on FD (at least its header),
 * malloc'd; *LEN its length.  NULL with ch_error. */
static uint8_t *
read_first_cluster (int fd, size_t *len)
{
  struct ch_qcow2_info qi;
  uint8_t *buf;
  ssize_t n;

  if (ch_qcow2_read (fd, &qi) < 0)
    return NULL;
  *len = (size_t) 1 << qi.cluster_bits;
  if ((buf = calloc (1, *len)) == NULL) {
    ch_error ("calloc: %m");
    return NULL;
  }
  if ((n = ch_read_full (fd, buf, *len, 0)) < 0) {
    ch_error ("read: %m");
    free (buf);
    return NULL;
  }
  return buf;                           /* a short file reads as zeros after its end */
}

/* Run the real qemu-img (never the shim, whatever PATH says). */
static int
qemu_img (const struct ch_config *cfg, const char *const *args)
{
  CLEANUP_FREE char **argv = NULL;
  size_t n = 0;

  while (args[n])
    n++;
  if ((argv = calloc (n + 2, sizeof *argv)) == NULL) {
    ch_error ("calloc: %m");
    return -1;
  }
  argv[0] = cfg->real_qemu_img;
  memcpy (argv + 1, args, n * sizeof *argv);
  return ch_run (argv);
}

/* ---- extract ---------------------------------------------------------------- */

/* What the marker says of the original under SRC's backing LINK (an entry
 * of _base, open in BASE_FD).  false with WHY when it cannot be proven. */
static bool
describe_parent (const struct ch_config *cfg, int base_fd, const struct ch_link *l,
                 struct ch_snap_marker *m, char *why, size_t len)
{
  const char *leaf = ch_path_leaf_in (l->path, cfg->base_dir);
  CLEANUP_CLOSE int orig = -1, entry = -1;
  struct ch_base_name bn;
  struct ch_manifest man;
  struct stat st;
  enum ch_fmt fmt;

  if (leaf == NULL || strchr (leaf, '/') != NULL)
    return ch_why (why, len, "its backing file %s is not an entry of %s", l->path,
                   cfg->base_dir);
  ch_base_classify (leaf, &bn);
  if (bn.kind != CH_BASE_ORIGINAL && bn.kind != CH_BASE_RESIZED)
    return ch_why (why, len, "its backing file %s is not an original or a resized image",
                   leaf);
  if (l->is_symlink || !l->is_regular || l->fmt != CH_FMT_RAW)
    return ch_why (why, len, "its backing file %s is not a raw regular file", leaf);
  /* The original says where the copied prefix ends, and its size checks
   * the one the other host has. */
  orig = openat (base_fd, bn.sha1, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (orig < 0 || fstat (orig, &st) < 0 || !S_ISREG (st.st_mode))
    return ch_why (why, len, "the original %s is not in %s", bn.sha1, cfg->base_dir);
  if (ch_probe_format (orig, &fmt) < 0 || fmt != CH_FMT_RAW)
    return ch_why (why, len, "the original %s is not raw", bn.sha1);
  if ((uint64_t) st.st_size > l->virtual_size)
    return ch_why (why, len, "%s is shorter than its original", leaf);
  if (bn.kind == CH_BASE_RESIZED) {
    entry = openat (base_fd, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (entry < 0)
      return ch_why (why, len, "%s: %s", leaf, strerror (errno));
    if (!ch_zeros_from (entry, l->path, (uint64_t) st.st_size, why, len))
      return false;
  }
  memset (m, 0, sizeof *m);
  m->version = CH_SNAP_VERSION;
  memcpy (m->parent, bn.sha1, sizeof m->parent);
  m->parent_size = (uint64_t) st.st_size;
  m->parent_vsize = l->virtual_size;
  /* Where it came from, from any manifest; what it holds, only from one
   * written after the file last changed. */
  if (ch_manifest_read (base_fd, bn.sha1, &man) && strlen (man.image_id) <= CH_SNAP_IMAGE_ID_MAX)
    snprintf (m->image_id, sizeof m->image_id, "%s", man.image_id);
  if (ch_manifest_read_current (base_fd, bn.sha1, &st, &man)) {
    const char *hex = man.sha256[0] ? man.sha256 : man.sha512;

    for (size_t i = 0; i < 32; i++)
      sscanf (hex + 2 * i, "%2hhx", &m->parent_hash[i]);
    m->parent_digest = man.sha256[0] ? CH_SNAP_DIGEST_SHA256 : CH_SNAP_DIGEST_SHA512;
  }
  return true;
}

/* Mark and sign DST (made by qemu-img, no backing file). */
static int
mark_and_sign (const struct key *k, const char *dst, const struct ch_snap_marker *m)
{
  CLEANUP_CLOSE int fd = open (dst, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  CLEANUP_FREE uint8_t *buf = NULL;
  uint8_t hmac[CH_SNAP_HMAC_LEN];
  uint64_t hmac_off;
  size_t len;

  if (fd < 0) {
    ch_error ("%s: %m", dst);
    return -1;
  }
  if ((buf = read_first_cluster (fd, &len)) == NULL || ch_snap_mark (buf, len, m, &hmac_off) < 0) {
    ch_error_prefix ("%s", dst);
    return -1;
  }
  if (ch_write_full (fd, buf, len, 0) < 0) {
    ch_error ("write %s: %m", dst);
    return -1;
  }
  if (ch_snap_hmac (fd, k->bytes, k->len, hmac_off, hmac) < 0 ||
      ch_write_full (fd, hmac, sizeof hmac, (off_t) hmac_off) < 0 || fsync (fd) < 0) {
    ch_error ("sign %s: %s", dst, ch_last_error ());
    return -1;
  }
  return 0;
}

bool
ch_snapshot_extract (const struct ch_config *cfg, const struct ch_snapshot_convert *c,
                     char *why, size_t len)
{
  CLEANUP_KEY struct key k = { 0 };
  CLEANUP_CLOSE int base_fd = -1;
  struct ch_chain chain;
  struct ch_snap_marker m;
  const char *fmt;
  bool ok;

  if (cfg->snapshot_key_file == NULL)
    return ch_why (why, len, "no [snapshot] key_file");
  if (ch_snap_key_load (cfg->snapshot_key_file, &k.bytes, &k.len) < 0)
    return ch_why (why, len, "%s", ch_last_error ());
  if ((base_fd = ch_open_dir (cfg->base_dir, false)) < 0)
    return ch_why (why, len, "%s: %s", cfg->base_dir, strerror (errno));
  if (ch_chain_probe (c->src, CH_FMT_QCOW2, &chain) < 0) {
    ch_why (why, len, "%s", ch_last_error ());
    ch_chain_clear (&chain);
    return false;
  }
  /* One level: the disk's own layer over one cache entry. */
  if (chain.n != 2 || !chain.links[1].exists)
    ok = ch_why (why, len, chain.n < 2 ? "%s has no backing file"
                 : !chain.links[1].exists ? "the backing file of %s is missing"
                 : "%s is more than one layer over the cache", c->src);
  else
    ok = describe_parent (cfg, base_fd, &chain.links[1], &m, why, len);
  if (!ok) {
    ch_chain_clear (&chain);
    return false;
  }
  /* Only the top's clusters: -B names what lies under them. */
  fmt = ch_fmt_name (chain.links[1].fmt);
  {
    const char *args[16] = { "convert", "-q", "-t", c->cache ? c->cache : "writeback",
                             "-O", "qcow2", "-f", "qcow2", "-B", chain.links[1].path,
                             "-F", fmt };
    const char *unback[] = { "rebase", "-q", "-u", "-f", "qcow2", "-b", "", c->dst, NULL };
    size_t n = 12;

    if (c->compress)
      args[n++] = "-c";
    args[n++] = c->src;
    args[n++] = c->dst;
    args[n] = NULL;

    ok = qemu_img (cfg, args) == 0 && qemu_img (cfg, unback) == 0 &&
      mark_and_sign (&k, c->dst, &m) == 0;
  }
  ch_chain_clear (&chain);
  if (!ok) {
    ch_why (why, len, "%s", ch_last_error ());
    unlink (c->dst);
  }
  return ok;
}

/* ---- rebuild ---------------------------------------------------------------- */

/* Check the signature of the image open on FD. */
static int
verify (const struct ch_config *cfg, int fd, const char *path, uint64_t hmac_off,
        const struct ch_snap_marker *m)
{
  CLEANUP_KEY struct key k = { 0 };
  uint8_t hmac[CH_SNAP_HMAC_LEN];

  if (cfg->snapshot_key_file == NULL) {
    ch_error ("%s: a COW-only snapshot, and no [snapshot] key_file to check it with", path);
    return -1;
  }
  if (ch_snap_key_load (cfg->snapshot_key_file, &k.bytes, &k.len) < 0 ||
      ch_snap_hmac (fd, k.bytes, k.len, hmac_off, hmac) < 0)
    return -1;
  if (CRYPTO_memcmp (hmac, m->hmac, sizeof hmac) != 0) {
    ch_error ("%s: the COW-only snapshot's signature does not hold: not made with this "
              "cloud's key, or changed since", path);
    return -1;
  }
  return 0;
}

/* The original PARENT in BASE_FD, fetched if it is missing; its format and
 * size checked against the marker.  The fd, or -1 with ch_error. */
static int
open_parent (const struct ch_config *cfg, int base_fd, const struct ch_snap_marker *m,
             enum ch_fmt *fmt)
{
  CLEANUP_CLOSE int fd = -1;
  struct ch_qcow2_info qi;
  struct stat st;
  uint64_t vsize;

  fd = openat (base_fd, m->parent, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0 && errno == ENOENT) {
    const char *cand[] = { m->image_id };
    struct ch_fetch_request req = { .name = m->parent, .candidates = cand,
                                    .n_candidates = m->image_id[0] ? 1 : 0 };
    struct ch_fetch_result res;

    if (!ch_config_has_sources (cfg)) {
      ch_error ("the original %s/%s is missing, and no image source is configured",
                cfg->base_dir, m->parent);
      return -1;
    }
    if (ch_fetch (cfg, &req, &res) < 0) {
      ch_error_prefix ("the original %s", m->parent);
      return -1;
    }
    fd = openat (base_fd, m->parent, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  }
  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
    ch_error ("%s/%s: %s", cfg->base_dir, m->parent,
              fd < 0 ? strerror (errno) : "not a regular file");
    return -1;
  }
  if (ch_probe_format (fd, fmt) < 0)
    return -1;
  vsize = (uint64_t) st.st_size;
  if (*fmt == CH_FMT_QCOW2) {
    if (ch_qcow2_read (fd, &qi) < 0) {
      ch_error_prefix ("%s/%s", cfg->base_dir, m->parent);
      return -1;
    }
    if (qi.has_backing || qi.has_data_file) {
      ch_error ("%s/%s names another file", cfg->base_dir, m->parent);
      return -1;
    }
    vsize = qi.virtual_size;
  }
  if (m->parent_size && vsize != m->parent_size) {
    ch_error ("the original %s is %" PRIu64 " bytes here, %" PRIu64 " where the "
              "snapshot was taken", m->parent, vsize, m->parent_size);
    return -1;
  }
  return CH_STEAL_FD (fd);
}

/* The parent's content is what the snapshot recorded, when it recorded a
 * digest: a current manifest says so, or the file is hashed. */
static int
check_parent_digest (const struct ch_config *cfg, int base_fd, int fd,
                     const struct ch_snap_marker *m)
{
  bool sha512 = m->parent_digest == CH_SNAP_DIGEST_SHA512;
  const char *algo = sha512 ? "sha512" : "sha256";
  struct ch_manifest man;
  struct stat st;
  char want[65], got[129];

  if (m->parent_digest == CH_SNAP_DIGEST_NONE)
    return 0;
  for (size_t i = 0; i < 32; i++)
    snprintf (want + 2 * i, 3, "%02x", m->parent_hash[i]);
  if (fstat (fd, &st) == 0 && ch_manifest_read_current (base_fd, m->parent, &st, &man) &&
      (sha512 ? man.sha512 : man.sha256)[0])
    snprintf (got, sizeof got, "%s", sha512 ? man.sha512 : man.sha256);
  else if (ch_digest_fd (fd, algo, got) < 0)
    return -1;
  /* sha512's first 32 bytes are the first 64 hex digits. */
  if (strncmp (got, want, 64) == 0)
    return 0;
  ch_error ("the original %s/%s holds other content than the one the snapshot was "
            "taken over (%s)", cfg->base_dir, m->parent, algo);
  return -1;
}

/* Say on the image made whole which original it was made over (an
 * extended attribute: it stays with the file when Nova renames it into
 * the cache), for `cowherd cache ls`.  Where the filesystem has no user
 * attributes, the entry is listed as an original. */
static void
note_parent (int fd, const struct ch_snap_marker *m)
{
  (void) fsetxattr (fd, CH_SNAP_XATTR, m->parent, strlen (m->parent), 0);
}

/* A COW-only snapshot taken in hand: a private, verified, unmarked copy
 * of it beside it, and its original open. */
struct taken {
  int dir_fd;                         /* borrowed */
  char tmp[64];                       /* the copy's name in dir_fd */
  char *path, *tmp_path, *parent_path;
  int tfd, base_fd, parent_fd;
  enum ch_fmt pfmt;
  struct ch_snap_marker m;
  struct stat st;                     /* of the snapshot itself */
};

static void
release (struct taken *t)
{
  if (t->tfd >= 0) {
    close (t->tfd);
    unlinkat (t->dir_fd, t->tmp, 0);
  }
  if (t->base_fd >= 0)
    close (t->base_fd);
  if (t->parent_fd >= 0)
    close (t->parent_fd);
  free (t->path);
  free (t->tmp_path);
  free (t->parent_path);
}

/* Take LEAF of DIR_FD (DIR_PATH): copy it (everything is checked on the
 * private copy: what was verified is what is used, whatever happens to
 * the file meanwhile), check its marker and signature, find (or fetch)
 * its original and check it, and unmark the copy.  With PARENT false, no
 * original.  -1 with ch_error; release T either way. */
static int
take (const struct ch_config *cfg, int dir_fd, const char *dir_path, const char *leaf,
      bool parent, struct taken *t)
{
  CLEANUP_CLOSE int fd = -1;
  CLEANUP_FREE uint8_t *hdr = NULL;
  uint64_t hmac_off;
  size_t len;
  bool reflinked;
  int r;

  *t = (struct taken) { .dir_fd = dir_fd, .tfd = -1, .base_fd = -1, .parent_fd = -1 };
  if ((t->path = ch_path_join (dir_path, leaf)) == NULL)
    return -1;
  if ((t->base_fd = ch_open_dir (cfg->base_dir, false)) < 0) {
    ch_error ("%s: %m", cfg->base_dir);
    return -1;
  }
  fd = openat (dir_fd, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0 || fstat (fd, &t->st) < 0 || !S_ISREG (t->st.st_mode)) {
    ch_error ("%s: %s", t->path, fd < 0 ? strerror (errno) : "not a regular file");
    return -1;
  }
  snprintf (t->tmp, sizeof t->tmp, ".%.40s.cowherd-%ld", leaf, (long) getpid ());
  unlinkat (dir_fd, t->tmp, 0);
  if ((t->tmp_path = ch_path_join (dir_path, t->tmp)) == NULL)
    return -1;
  t->tfd = openat (dir_fd, t->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (t->tfd < 0) {
    ch_error ("create %s: %m", t->tmp_path);
    return -1;
  }
  if (ch_copy_sparse (fd, t->tfd, &reflinked) < 0 ||
      (hdr = read_first_cluster (t->tfd, &len)) == NULL) {
    ch_error_prefix ("%s", t->path);
    return -1;
  }
  if ((r = ch_snap_parse (hdr, len, &t->m, &hmac_off)) != 1) {
    if (r == 0)
      ch_error ("not a COW-only snapshot");
    ch_error_prefix ("%s", t->path);
    return -1;
  }
  /* The lock of the entry being made is held (by Nova, or by cowherd's
   * fetch); the parent's is taken to fetch it.  The same name would wait
   * on itself. */
  if (strncmp (leaf, t->m.parent, CH_SHA1_HEX) == 0) {
    ch_error ("%s: a snapshot that names its own cache entry as its parent", t->path);
    return -1;
  }
  if (verify (cfg, t->tfd, t->path, hmac_off, &t->m) < 0)
    return -1;
  if (parent &&
      ((t->parent_fd = open_parent (cfg, t->base_fd, &t->m, &t->pfmt)) < 0 ||
       check_parent_digest (cfg, t->base_fd, t->parent_fd, &t->m) < 0 ||
       (t->parent_path = ch_path_join (cfg->base_dir, t->m.parent)) == NULL))
    return -1;
  if (ch_snap_unmark (hdr, len) < 0 || ch_write_full (t->tfd, hdr, len, 0) < 0) {
    ch_error_prefix ("%s", t->tmp_path);
    return -1;
  }
  return 0;
}

/* Point the unmarked copy at its original, header only.  -t unsafe: the
 * copy is not flushed; it is read back through the page cache and
 * removed after (the flush wrote the whole top to disk for nothing: 0.16 s
 * for a 96 MiB top in bench/snapshot.sh). */
static int
over (const struct ch_config *cfg, const struct taken *t, const char *backing, enum ch_fmt fmt)
{
  const char *rebase[] = { "rebase", "-q", "-u", "-t", "unsafe", "-f", "qcow2", "-b",
                           backing, "-F", ch_fmt_name (fmt), t->tmp_path, NULL };

  return qemu_img (cfg, rebase);
}

/* Keep the snapshot's top beside the entry LEAF of _base made whole from
 * it, WHOLE_FD in format FMT (lib/snaptop.h): T's private copy, pointed at
 * the original (header only), given the entry's mode, made durable and
 * renamed to <sha1>.cowherd-top, then the record on the whole image.  Only
 * once the entry is complete; best effort: without it, Nova's later
 * rebase of a disk onto the original is the full one. */
static void
keep_top (const struct ch_config *cfg, struct taken *t, const char *dir_path, const char *leaf,
          int whole_fd, const char *fmt)
{
  char top[CH_SNAPTOP_NAME_MAX], value[CH_SNAPTOP_RECORD_MAX];
  struct ch_snaptop_record rec = { .fmt = "" };
  struct stat pst, wst;

  if (strcmp (dir_path, cfg->base_dir) != 0 || !ch_snaptop_name (leaf, top))
    return;
  snprintf (rec.fmt, sizeof rec.fmt, "%s", fmt);
  ch_error_clear ();
  errno = 0;
  if (over (cfg, t, t->parent_path, t->pfmt) < 0 || fstat (whole_fd, &wst) < 0 ||
      fchmod (t->tfd, wst.st_mode & 0777) < 0 || fsync (t->tfd) < 0 ||
      ch_sha256_fd (t->tfd, rec.sha256) < 0 || fstat (t->parent_fd, &pst) < 0 ||
      renameat (t->dir_fd, t->tmp, t->dir_fd, top) < 0) {
    ch_log (LOG_WARNING, "%s/%s: the snapshot's top is not kept: %s", dir_path, top,
            ch_last_error ()[0] ? ch_last_error () : strerror (errno));
    return;
  }
  close (t->tfd);
  t->tfd = -1;
  rec.parent_dev = (uint64_t) pst.st_dev;
  rec.parent_ino = (uint64_t) pst.st_ino;
  rec.parent_size = (uint64_t) pst.st_size;
  ch_snaptop_format (&rec, value);
  if (fsync (t->dir_fd) < 0 ||
      fsetxattr (whole_fd, CH_SNAPTOP_XATTR, value, strlen (value), 0) < 0 || fsync (whole_fd) < 0)
    ch_log (LOG_WARNING, "%s/%s: the snapshot's top is kept but not recorded: %m", dir_path,
            top);
}

int
ch_snapshot_rebuild_at (const struct ch_config *cfg, int dir_fd, const char *dir_path,
                        const char *leaf)
{
  struct taken t;
  CLEANUP_FREE char *new_path = NULL;
  CLEANUP_CLOSE int nfd = -1;
  char newn[72];
  int r = -1;

  if (take (cfg, dir_fd, dir_path, leaf, true, &t) < 0)
    goto out;
  snprintf (newn, sizeof newn, "%s.new", t.tmp);
  unlinkat (dir_fd, newn, 0);
  if ((new_path = ch_path_join (dir_path, newn)) == NULL)
    goto out;
  {
    const char *flatten[] = { "convert", "-q", "-f", "qcow2", "-O", "qcow2", t.tmp_path,
                              new_path, NULL };

    if (over (cfg, &t, t.parent_path, t.pfmt) < 0 || qemu_img (cfg, flatten) < 0)
      goto out;
  }
  nfd = openat (dir_fd, newn, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (nfd >= 0)
    note_parent (nfd, &t.m);
  if (nfd < 0 || fchmod (nfd, t.st.st_mode & 0777) < 0 || fsync (nfd) < 0 ||
      renameat (dir_fd, newn, dir_fd, leaf) < 0 || fsync (dir_fd) < 0) {
    ch_error ("%s: %m", new_path);
    goto out;
  }
  ch_log (LOG_INFO, "%s: COW-only snapshot over %s (image %s) made whole", t.path,
          t.m.parent, t.m.image_id[0] ? t.m.image_id : "unknown");
  keep_top (cfg, &t, dir_path, leaf, nfd, "qcow2");
  r = 0;
 out:
  if (new_path)
    unlinkat (dir_fd, newn, 0);
  release (&t);
  return r;
}

/* PATH as a leaf of _base, open as *BASE_FD.  NULL with ch_error. */
static const char *
in_base (const struct ch_config *cfg, const char *norm, const char *path)
{
  const char *leaf = ch_path_leaf_in (norm, cfg->base_dir);

  if (leaf == NULL || strchr (leaf, '/') != NULL || leaf[0] == '.') {
    ch_error ("%s: COW-only snapshots are put back together in %s only", path, cfg->base_dir);
    return NULL;
  }
  return leaf;
}

/* PATH, a file directly in _base: *NORM its normalised path (malloc'd, the
 * caller frees it), *LEAF its name there.  The open _base, or -1 with
 * ch_error. */
static int
base_entry (const struct ch_config *cfg, const char *path, char **norm, const char **leaf)
{
  int fd;

  if ((*norm = ch_path_normalize (path)) == NULL || (*leaf = in_base (cfg, *norm, path)) == NULL)
    return -1;
  if ((fd = ch_open_dir (cfg->base_dir, false)) < 0)
    ch_error ("%s: %m", cfg->base_dir);
  return fd;
}

int
ch_snapshot_unmarked (const struct ch_config *cfg, const char *path, char **copy)
{
  CLEANUP_FREE char *norm = NULL;
  CLEANUP_CLOSE int base_fd = -1;
  struct taken t;
  const char *leaf;

  *copy = NULL;
  if ((base_fd = base_entry (cfg, path, &norm, &leaf)) < 0)
    return -1;
  /* Everything checked now, the original too: with force_raw_images off
   * Nova publishes this file as it is, and what it publishes must be
   * sure to become whole at its next qemu-img call. */
  if (take (cfg, base_fd, cfg->base_dir, leaf, true, &t) < 0) {
    release (&t);
    return -1;
  }
  /* Handed over: the caller removes it. */
  close (t.tfd);
  t.tfd = -1;
  *copy = CH_STEAL (t.tmp_path);
  release (&t);
  return 0;
}

int
ch_snapshot_to_raw (const struct ch_config *cfg, const char *src, const char *dst)
{
  CLEANUP_FREE char *norm = NULL;
  CLEANUP_CLOSE int base_fd = -1, out = -1;
  struct ch_qcow2_info qi;
  struct taken t = { .tfd = -1, .base_fd = -1, .parent_fd = -1 };
  const char *leaf;
  bool reflinked;
  int r = -1;

  if ((base_fd = base_entry (cfg, src, &norm, &leaf)) < 0)
    return -1;
  if (take (cfg, base_fd, cfg->base_dir, leaf, true, &t) < 0 ||
      ch_qcow2_read (t.tfd, &qi) < 0)
    goto out;
  /* The original, as raw, at the image's size... */
  out = open (dst, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
  if (out < 0) {
    ch_error ("%s: %m", dst);
    goto out;
  }
  if (t.pfmt == CH_FMT_RAW) {
    if (ch_copy_sparse (t.parent_fd, out, &reflinked) < 0) {
      ch_error_prefix ("copy %s into %s", t.parent_path, dst);
      goto out;
    }
  }
  else {
    const char *raw[] = { "convert", "-q", "-n", "-f", "qcow2", "-O", "raw", t.parent_path,
                          dst, NULL };

    /* -n writes into DST as it is: already as large as the image. */
    if (ftruncate (out, (off_t) qi.virtual_size) < 0 || qemu_img (cfg, raw) < 0)
      goto out;
  }
  if (ftruncate (out, (off_t) qi.virtual_size) < 0) {
    ch_error ("extend %s: %m", dst);
    goto out;
  }
  /* ...and the snapshot's own clusters written into it. */
  {
    /* -d: the copy is removed after, no need to empty it. */
    const char *commit[] = { "commit", "-q", "-d", "-t", "writeback", "-f", "qcow2",
                             t.tmp_path, NULL };

    if (over (cfg, &t, dst, CH_FMT_RAW) < 0 || qemu_img (cfg, commit) < 0)
      goto out;
  }
  note_parent (out, &t.m);
  if (fsync (out) < 0) {
    ch_error ("fsync %s: %m", dst);
    goto out;
  }
  keep_top (cfg, &t, cfg->base_dir, leaf, out, "raw");
  ch_log (LOG_INFO, "%s: COW-only snapshot over %s (image %s) made whole into %s", t.path,
          t.m.parent, t.m.image_id[0] ? t.m.image_id : "unknown", dst);
  r = 0;
 out:
  if (r < 0 && out >= 0)
    unlink (dst);
  release (&t);
  return r;
}

int
ch_snapshot_rebuild (const struct ch_config *cfg, const char *path)
{
  CLEANUP_FREE char *norm = NULL;
  CLEANUP_CLOSE int base_fd = -1;
  const char *leaf;

  if ((base_fd = base_entry (cfg, path, &norm, &leaf)) < 0)
    return -1;
  return ch_snapshot_rebuild_at (cfg, base_fd, cfg->base_dir, leaf);
}

bool
ch_snapshot_marked (int fd)
{
  uint8_t buf[CH_QCOW2_HEADER_READ_MAX];
  struct ch_snap_marker m;
  uint64_t off;
  ssize_t n = ch_read_full (fd, buf, sizeof buf, 0);

  return n > 0 && ch_snap_parse (buf, (size_t) n, &m, &off) != 0;
}

int
ch_snapshot_inspect (const struct ch_config *cfg, const char *path, struct ch_snap_marker *m,
                     bool *marked, int *signed_ok)
{
  CLEANUP_CLOSE int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  CLEANUP_FREE uint8_t *hdr = NULL;
  CLEANUP_KEY struct key k = { 0 };
  uint8_t hmac[CH_SNAP_HMAC_LEN];
  uint64_t hmac_off;
  size_t len;
  int r;

  *marked = false;
  *signed_ok = -1;
  if (fd < 0) {
    ch_error ("%s: %m", path);
    return -1;
  }
  if ((hdr = read_first_cluster (fd, &len)) == NULL ||
      (r = ch_snap_parse (hdr, len, m, &hmac_off)) < 0) {
    ch_error_prefix ("%s", path);
    return -1;
  }
  if (r == 0)
    return 0;
  *marked = true;
  if (cfg->snapshot_key_file == NULL)
    return 0;
  if (ch_snap_key_load (cfg->snapshot_key_file, &k.bytes, &k.len) < 0 ||
      ch_snap_hmac (fd, k.bytes, k.len, hmac_off, hmac) < 0)
    return -1;
  *signed_ok = CRYPTO_memcmp (hmac, m->hmac, sizeof hmac) == 0;
  return 0;
}
