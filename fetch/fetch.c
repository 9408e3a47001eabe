#include "fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cleanup.h"
#include "digest.h"
#include "error.h"
#include "fsutil.h"
#include "io.h"
#include "glance.h"
#include "http.h"
#include "keystone.h"
#include "lock.h"
#include "log.h"
#include "manifest.h"
#include "naming.h"
#include "pathutil.h"
#include "peer.h"
#include "peerssh.h"
#include "qcow2.h"
#include "runcmd.h"
#include "snapshot.h"

#define DOWNLOAD_SUFFIX ".download"
#define TOKEN_MAX 8192
#define ANSWER_MAX 200                 /* one source's part of the summary */

struct job {
  const struct ch_config *cfg;
  struct ch_http http;                 /* Glance: carries the token */
  struct ch_http peer_http;            /* peers: never the token; the ssh key */
  char token[TOKEN_MAX + 1];
  bool glance;                         /* Glance is a source ([glance] or [keystone]) */
  const char *glance_url;              /* its endpoint; NULL only with glance_why */
  char catalog_url[CH_KEYSTONE_URL_MAX + 1];  /* the endpoint Keystone's catalog gave */
  int base_fd, tmp_fd;
  int dl_fd;                           /* the build file every source writes */
  char name[CH_SHA1_HEX + 1];
  char id[CH_IMAGE_ID_MAX + 1];        /* "" while unknown (peers alone) */
  struct ch_glance_image img;
  bool have_img;                       /* img is Glance's record of id */
  char glance_why[CH_ERROR_MAX];       /* why Glance cannot give it; "": it may */
  char source[1024];                   /* where the published base came from */
  char answers[CH_ERROR_MAX];          /* "peer URL: why; glance: why" */
};

/* The metadata of what is published, beyond its name and size. */
struct origin {
  const char *source;                  /* URL, for the manifest and the log */
  const char *image_id;
  const char *glance_hash_algo, *glance_hash;
  const char *digest_algo;             /* "sha256" or "sha512" */
  const char *digest;                  /* of the file, when already known */
};

static int
read_token (struct job *j)
{
  CLEANUP_CLOSE int fd = -1;
  ssize_t n;

  if (j->cfg->glance_token_file == NULL)
    return 0;
  fd = open (j->cfg->glance_token_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    ch_error ("%s: %m", j->cfg->glance_token_file);
    return -1;
  }
  n = ch_read_full (fd, j->token, TOKEN_MAX, -1);
  if (n < 0) {
    ch_error ("%s: %m", j->cfg->glance_token_file);
    return -1;
  }
  while (n > 0 && (j->token[n - 1] == '\n' || j->token[n - 1] == '\r' || j->token[n - 1] == ' '))
    n--;
  j->token[n] = '\0';
  if (n == 0 || strpbrk (j->token, "\r\n") != NULL) {
    ch_error ("%s: not a single-line token", j->cfg->glance_token_file);
    return -1;
  }
  j->http.token = j->token;
  return 0;
}

/* Glance's endpoint and token: [glance] url and token_file, or a Keystone
 * token, with the image endpoint from Keystone's catalog unless [glance]
 * url names it. */
static int
glance_auth (struct job *j)
{
  const struct ch_config *cfg = j->cfg;
  CLEANUP_FREE char *token = NULL, *url = NULL;

  j->glance_url = cfg->glance_url;
  if (cfg->ks_auth_url == NULL)
    return read_token (j);
  if (ch_keystone_auth (cfg, &j->http, &token, cfg->glance_url ? NULL : &url) < 0)
    return -1;
  if (strlen (token) > TOKEN_MAX || (url && strlen (url) > CH_KEYSTONE_URL_MAX)) {
    ch_error ("Keystone's token or image endpoint is too long");
    return -1;
  }
  strcpy (j->token, token);
  explicit_bzero (token, strlen (token));
  j->http.token = j->token;
  if (url) {
    strcpy (j->catalog_url, url);
    j->glance_url = j->catalog_url;
  }
  return 0;
}

/* Which image is cache entry j->name?  An id given, a candidate whose sha1
 * matches (Nova's metadata names the root disk's image), or Glance's
 * image_id_sha1 property. */
static int
resolve_id (struct job *j, const struct ch_fetch_request *req)
{
  char sha1[CH_SHA1_HEX + 1];

  if (req->image_id) {
    if (!ch_glance_valid_id (req->image_id)) {
      ch_error ("not an image id: %.80s", req->image_id);
      return -1;
    }
    if (ch_image_id_sha1 (req->image_id, j->name) < 0)
      return -1;
    snprintf (j->id, sizeof j->id, "%s", req->image_id);
    return 0;
  }
  {
    struct ch_base_name bn;

    ch_base_classify (req->name, &bn);
    if (bn.kind != CH_BASE_ORIGINAL) {
      ch_error ("%.80s is not the cache name of an original image (40 hex digits)", req->name);
      return -1;
    }
  }
  memcpy (j->name, req->name, sizeof j->name);
  for (size_t i = 0; i < req->n_candidates; i++)
    if (ch_glance_valid_id (req->candidates[i]) &&
        ch_image_id_sha1 (req->candidates[i], sha1) == 0 && strcmp (sha1, j->name) == 0) {
      snprintf (j->id, sizeof j->id, "%s", req->candidates[i]);
      return 0;
    }
  if (!j->glance || j->glance_why[0])
    return 0;                    /* peers alone: the id may stay unknown */
  if (ch_glance_find_by_sha1 (&j->http, j->glance_url, j->name, j->id) == 0)
    return 0;
  if (j->cfg->n_peers == 0)
    return -1;
  /* The peers may still have it; their manifests may name the image. */
  snprintf (j->glance_why, sizeof j->glance_why, "%s", ch_last_error ());
  j->id[0] = '\0';
  ch_log (LOG_INFO, "fetch %s: %s; asking the peers", j->name, j->glance_why);
  return 0;
}

/* Nova refuses an image whose header names another file; so do we. */
static int
refuse_references (int fd, const char *what)
{
  struct ch_qcow2_info qi;

  if (ch_qcow2_read (fd, &qi) < 0) {
    ch_error_prefix ("%s", what);
    return -1;
  }
  if (qi.has_backing || qi.has_data_file) {
    ch_error ("%s: its qcow2 header names a %s file; refused, as Nova refuses it", what,
              qi.has_backing ? "backing" : "data");
    return -1;
  }
  return 0;
}

/* The download, a COW-only snapshot, replaced by the whole image. */
static int
rebuild_download (struct job *j, struct origin *o)
{
  CLEANUP_FREE char *dir = ch_path_join (j->cfg->base_dir, CH_TEMP_DIR);
  char dl[64];
  int fd;

  snprintf (dl, sizeof dl, "%s%s", j->name, DOWNLOAD_SUFFIX);
  if (dir == NULL || ch_snapshot_rebuild_at (j->cfg, j->tmp_fd, dir, dl) < 0)
    return -1;
  if ((fd = openat (j->tmp_fd, dl, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) < 0) {
    ch_error ("%s/%s: %m", dir, dl);
    return -1;
  }
  close (j->dl_fd);
  j->dl_fd = fd;
  o->digest = NULL;                   /* that was the snapshot's */
  return 0;
}

/* Convert the qcow2 download to raw into a new file in the build dir. */
static int
convert_to_raw (struct job *j, int src_fd, int *out_fd)
{
  struct ch_qcow2_info qi;
  CLEANUP_CLOSE int fd = -1;
  char conv[64];

  if (ch_qcow2_read (src_fd, &qi) < 0)
    return -1;
  snprintf (conv, sizeof conv, "%s.raw", j->name);
  if (unlinkat (j->tmp_fd, conv, 0) < 0 && errno != ENOENT) {
    ch_error ("remove stale %s: %m", conv);
    return -1;
  }
  fd = openat (j->tmp_fd, conv, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    ch_error ("create %s: %m", conv);
    return -1;
  }
  if (ftruncate (fd, (off_t) qi.virtual_size) < 0) {
    ch_error ("truncate %s: %m", conv);
    goto undo;
  }
  /* -n: the target exists (cowherd made it, by fd); qemu-img writes only
   * data and leaves holes. */
  if (ch_run_fds ((char *const[]) { j->cfg->qemu_img, (char *) "convert", (char *) "-n",
                                    (char *) "-f", (char *) "qcow2", (char *) "-O",
                                    (char *) "raw", (char *) "/dev/fd/3", (char *) "/dev/fd/4",
                                    NULL },
                  (int[]) { src_fd, fd }, 2) < 0) {
    ch_error_prefix ("%s: converting the qcow2 image to raw (force_raw_images)", j->name);
    goto undo;
  }
  *out_fd = CH_STEAL_FD (fd);
  return 0;
 undo:
  unlinkat (j->tmp_fd, conv, 0);
  return -1;
}

static int
write_manifest (struct job *j, int fd, const struct origin *o)
{
  struct ch_manifest m = { .size = 0 };
  CLEANUP_FREE char *json = NULL;
  CLEANUP_CLOSE int mfd = -1;
  char mname[300];
  struct stat st;
  size_t len;

  if (fstat (fd, &st) < 0) {
    ch_error ("fstat: %m");
    return -1;
  }
  snprintf (m.name, sizeof m.name, "%s", j->name);
  m.size = (uint64_t) st.st_size;
  /* The digest the fetch already checked; only a file made here after
   * it (converted, rebuilt) is read again. */
  if (o->digest && o->digest[0] && strcmp (o->digest_algo, "sha512") == 0)
    snprintf (m.sha512, sizeof m.sha512, "%s", o->digest);
  else if (o->digest && o->digest[0] && strcmp (o->digest_algo, "sha256") == 0)
    snprintf (m.sha256, sizeof m.sha256, "%s", o->digest);
  else if (ch_sha256_fd (fd, m.sha256) < 0)
    return -1;
  snprintf (m.image_id, sizeof m.image_id, "%s", o->image_id ? o->image_id : "");
  snprintf (m.source, sizeof m.source, "%s", o->source);
  snprintf (m.glance_hash_algo, sizeof m.glance_hash_algo, "%s",
            o->glance_hash_algo ? o->glance_hash_algo : "");
  snprintf (m.glance_hash, sizeof m.glance_hash, "%s", o->glance_hash ? o->glance_hash : "");
  if ((json = ch_manifest_format (&m)) == NULL)
    return -1;
  snprintf (mname, sizeof mname, "%s%s", j->name, CH_MANIFEST_SUFFIX);
  unlinkat (j->tmp_fd, mname, 0);
  mfd = openat (j->tmp_fd, mname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  len = strlen (json);
  if (mfd < 0 || write (mfd, json, len) != (ssize_t) len) {
    ch_error ("write %s: %m", mname);
    return -1;
  }
  /* A manifest left from an earlier copy of this entry is replaced. */
  unlinkat (j->base_fd, mname, 0);
  return ch_publish (mfd, j->tmp_fd, mname, j->base_fd, j->cfg->base_dir, mname);
}

/* Record what source LABEL answered, for the error if every source fails. */
static void
answer (struct job *j, const char *label, const char *why)
{
  size_t n = strlen (j->answers);

  snprintf (j->answers + n, sizeof j->answers - n, "%s%s: %.*s", n ? "; " : "", label,
            ANSWER_MAX, why);
}

/* The download failed on this host's side (disk full, I/O error): another
 * source would fail the same way. */
static bool
local_failure (void)
{
  return ch_error_kind () == CH_ERR_IO || ch_error_kind () == CH_ERR_NO_SPACE;
}

/* What the build file holds is not worth resuming: the source served
 * another file than it promised (size or digest), or the filesystem
 * filled up.  A full disk drops the partial download rather than keeping
 * it: _base usually shares its filesystem with the instances' disks, and
 * guests must not be left without room to write. */
static bool
not_worth_resuming (void)
{
  return ch_error_kind () == CH_ERR_CORRUPT || ch_error_kind () == CH_ERR_NO_SPACE;
}

/* Open (once) the build file in the private build directory.  A partial
 * download a dead process left is resumed, never published: http.c checks
 * whether it is a prefix of what the source serves. */
static int
open_download (struct job *j)
{
  CLEANUP_CLOSE int fd = -1;
  struct stat st;
  char dl[64];

  if (j->dl_fd >= 0)
    return 0;
  if (j->tmp_fd < 0 &&
      (j->tmp_fd = ch_open_private_dir (j->base_fd, j->cfg->base_dir, CH_TEMP_DIR)) < 0)
    return -1;
  snprintf (dl, sizeof dl, "%s%s", j->name, DOWNLOAD_SUFFIX);
  fd = openat (j->tmp_fd, dl, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || fstat (fd, &st) < 0) {
    ch_error ("open %s/%s/%s: %m", j->cfg->base_dir, CH_TEMP_DIR, dl);
    return -1;
  }
  if (!S_ISREG (st.st_mode)) {
    if (ftruncate (fd, 0) < 0) {
      ch_error ("truncate %s: %m", dl);
      return -1;
    }
  }
  else if (st.st_size > 0)
    ch_log (LOG_INFO, "%s: resuming a partial download at %lld bytes", j->name,
            (long long) st.st_size);
  j->dl_fd = CH_STEAL_FD (fd);
  return 0;
}

/* Forget what the build file holds: it is not worth resuming (a wrong
 * file).  An empty build file is removed when the fetch ends. */
static void
discard_download (struct job *j)
{
  if (j->dl_fd >= 0 && ftruncate (j->dl_fd, 0) < 0)
    ch_log (LOG_WARNING, "%s: cannot truncate the build file: %m", j->name);
}

/* The verified build file becomes _base/<name>: a qcow2 is refused if its
 * header names another file (as Nova does) and converted to raw when
 * force_raw_images.  WHAT names the image in errors.  0 published, 1 not
 * this file (ch_error says why), -1 when publishing failed. */
static int
deliver (struct job *j, struct ch_fetch_result *res, bool qcow2, const char *what,
         struct origin *o)
{
  CLEANUP_CLOSE int raw_fd = -1;
  char dl[64], conv[64];
  const char *pub_tmp = dl;
  int pub_fd = j->dl_fd;
  struct stat st;

  snprintf (dl, sizeof dl, "%s%s", j->name, DOWNLOAD_SUFFIX);
  if (qcow2) {
    if (refuse_references (j->dl_fd, what) < 0) {
      discard_download (j);
      return 1;
    }
    /* A COW-only snapshot (a domain booted from one needs it again): made
     * whole over its original first, in place; a failure keeps the
     * verified download. */
    if (ch_snapshot_marked (j->dl_fd) && rebuild_download (j, o) < 0)
      return 1;
    if (j->cfg->force_raw_images) {
      /* A failed conversion keeps the verified download for another try. */
      if (convert_to_raw (j, j->dl_fd, &raw_fd) < 0)
        return 1;
      unlinkat (j->tmp_fd, dl, 0);
      close (j->dl_fd);
      j->dl_fd = -1;
      snprintf (conv, sizeof conv, "%s.raw", j->name);
      pub_fd = raw_fd;
      pub_tmp = conv;
      o->digest = NULL;            /* that was the qcow2's */
    }
  }
  if (ch_publish (pub_fd, j->tmp_fd, pub_tmp, j->base_fd, j->cfg->base_dir, j->name) < 0)
    return -1;
  /* The base is good without it; a peer just will not take it from us. */
  if (write_manifest (j, pub_fd, o) < 0)
    ch_log (LOG_WARNING, "%s/%s: no manifest written: %s", j->cfg->base_dir, j->name,
            ch_last_error ());
  if (fstat (pub_fd, &st) == 0)
    res->size = (uint64_t) st.st_size;
  res->fetched = true;
  snprintf (j->source, sizeof j->source, "%s", o->source);
  return 0;
}

/* Glance's record of the image, to check peers' manifests against and to
 * download from.  A failure here only means Glance cannot give it; peers
 * may (an image deleted in Glance is what peers are for). */
static void
glance_lookup (struct job *j)
{
  if (!j->glance || j->glance_why[0] || j->id[0] == '\0')
    return;
  if (ch_glance_show (&j->http, j->glance_url, j->id, &j->img) < 0) {
    snprintf (j->glance_why, sizeof j->glance_why, "%s", ch_last_error ());
    memset (&j->img, 0, sizeof j->img);
    if (j->cfg->n_peers > 0)
      ch_log (LOG_INFO, "fetch %s: %s; peers' copies are checked against their manifests "
              "and the image id only", j->name, j->glance_why);
    return;
  }
  j->have_img = true;
  if (strcmp (j->img.disk_format, "raw") != 0 && strcmp (j->img.disk_format, "qcow2") != 0)
    snprintf (j->glance_why, sizeof j->glance_why,
              "image %s is %s; cowherd fetches raw and qcow2 images only", j->id,
              j->img.disk_format);
  else if (j->img.size > CH_IMAGE_SIZE_MAX)
    snprintf (j->glance_why, sizeof j->glance_why, "image %s is larger than 16 TiB", j->id);
}

/* A peer's transfer failed (ch_error says how; GOT bytes of the file's M->size
 * arrived and were checked).  1: try the next source; -1: no source would
 * do better. */
static int
peer_failed (struct job *j, const char *label, const struct ch_manifest *m, uint64_t got)
{
  const char *algo, *want;
  char what[64];

  if (not_worth_resuming ())
    discard_download (j);
  if (local_failure ())
    return -1;
  if (ch_error_kind () == CH_ERR_CORRUPT) {
    ch_log (LOG_WARNING, "fetch %s: %s serves a different file than its manifest: %s",
            j->name, label, ch_error_detail ());
    ch_manifest_digest (m, &algo, &want);
    snprintf (what, sizeof what, "serves a different file (%s mismatch)",
              got == m->size ? algo : "size");
    answer (j, label, what);
  }
  else {
    ch_log (LOG_WARNING, "fetch %s: %s: %s", j->name, label, ch_error_detail ());
    answer (j, label, ch_error_detail ());
  }
  return 1;
}

/* Ask an sftp peer's cowherd for the base's data extents over ssh.  0 the
 * download holds the base, checked (*M, DIGEST); 1 not from this peer
 * (answer recorded); 2 the peer cannot be asked so: ask it over sftp; -1 a
 * failure no other source would avoid. */
static int
peer_extents (struct job *j, const struct ch_fetch_request *req, const char *peer,
              const struct ch_peer_expect *e, const char *label, struct ch_manifest *m,
              char digest[129])
{
  struct ch_peerssh_out po;
  char why[CH_ERROR_MAX];

  if (open_download (j) < 0)
    return -1;
  switch (ch_peerssh_fetch (j->cfg, peer, e, j->dl_fd, req->progress, req->opaque, &po, why,
                            sizeof why)) {
  case CH_PEERSSH_DONE:
    *m = po.m;
    snprintf (digest, 129, "%s", po.digest);
    return 0;
  case CH_PEERSSH_ANSWERED:
    ch_log (po.answer == CH_PEER_ABSENT ? LOG_INFO : LOG_WARNING, "fetch %s: %s: %s; skipped",
            j->name, label, why);
    answer (j, label, why);
    return 1;
  case CH_PEERSSH_UNSUPPORTED:
    ch_log (LOG_INFO, "fetch %s: %s: %s; the whole file over sftp", j->name, label, why);
    return 2;
  case CH_PEERSSH_FAILED:
    break;
  }
  return peer_failed (j, label, &po.m, po.size);
}

/* Try one peer.  0 published, 1 not from this peer (answer recorded), -1
 * a failure no other source would avoid. */
static int
try_peer (struct job *j, const struct ch_fetch_request *req, struct ch_fetch_result *res,
          const char *peer)
{
  struct ch_peer_expect e = { .name = j->name, .image_id = j->id,
                              .img = j->have_img ? &j->img : NULL };
  struct ch_http dl_http = j->peer_http;
  struct ch_manifest m;
  struct origin o = { 0 };
  char shown[1024], label[1100], why[CH_ERROR_MAX], digest[129], source[1100];
  const char *algo, *want;
  enum ch_peer_answer a;
  enum ch_fmt fmt;
  uint64_t got = 0;
  int r = 2;

  ch_peer_display (peer, shown, sizeof shown);
  snprintf (label, sizeof label, "peer %s", shown);
  if (j->cfg->peer_extents && strncmp (peer, "sftp://", 7) == 0 &&
      (r = peer_extents (j, req, peer, &e, label, &m, digest)) != 2) {
    if (r != 0)
      return r;
    ch_log (LOG_INFO, "fetch %s: %s: its data extents over ssh", j->name, label);
  }
  if (r == 2) {
    a = ch_peer_manifest (&j->peer_http, peer, &e, &m, why, sizeof why);
    if (a != CH_PEER_HAS) {
      ch_log (a == CH_PEER_ABSENT ? LOG_INFO : LOG_WARNING, "fetch %s: %s: %s; skipped",
              j->name, label, why);
      answer (j, label, why);
      return 1;
    }
    if (open_download (j) < 0)
      return -1;
    /* The manifest was a small request; the file is worth the retries. */
    dl_http.retries = j->cfg->retries;
    if (ch_peer_download (&dl_http, peer, &m, j->dl_fd, req->progress, req->opaque, digest,
                          &got) < 0)
      return peer_failed (j, label, &m, got);
  }
  if (ch_probe_format (j->dl_fd, &fmt) < 0)
    return -1;
  snprintf (source, sizeof source, "%s%s", shown, j->name);
  o.source = source;
  /* Not known here: the peer's word, checked against Glance when it could be. */
  o.image_id = j->id[0] ? j->id : ch_glance_valid_id (m.image_id) ? m.image_id : "";
  o.glance_hash_algo = m.glance_hash_algo;
  o.glance_hash = m.glance_hash;
  ch_manifest_digest (&m, &algo, &want);
  o.digest_algo = algo;
  o.digest = digest;
  r = deliver (j, res, fmt == CH_FMT_QCOW2, j->name, &o);
  if (r == 1) {
    ch_log (LOG_WARNING, "fetch %s: %s: %s", j->name, label, ch_last_error ());
    answer (j, label, ch_last_error ());
    return 1;
  }
  if (r == 0 && j->id[0] == '\0')
    snprintf (j->id, sizeof j->id, "%s", o.image_id);
  return r;
}

/* Download from Glance.  0 published, 1 not from Glance (answer recorded,
 * ch_error set), -1 a failure to publish. */
static int
try_glance (struct job *j, const struct ch_fetch_request *req, struct ch_fetch_result *res)
{
  struct ch_download d = { 0 };
  struct origin o = { 0 };
  CLEANUP_FREE char *url = NULL;
  bool qcow2;
  int r;

  if (j->glance_why[0]) {
    ch_error ("%s", j->glance_why);
    goto refused;
  }
  if (open_download (j) < 0)
    return -1;
  if (asprintf (&url, "%s/v2/images/%s/file", j->glance_url, j->id) < 0) {
    url = NULL;
    ch_error ("asprintf: %m");
    return -1;
  }
  d.url = url;
  d.expect_size = j->img.size;
  d.max_size = j->img.size;
  if (j->img.hash_algo[0] && j->img.hash_value[0] && EVP_get_digestbyname (j->img.hash_algo)) {
    d.hash_algo = j->img.hash_algo;
    d.expect_hash = j->img.hash_value;
  }
  else if (j->img.checksum[0]) {
    d.hash_algo = "md5";
    d.expect_hash = j->img.checksum;
  }
  else {
    ch_error ("image %s: Glance records no hash to verify it against", j->id);
    goto refused;
  }
  /* The manifest records the digest Glance's check computed (sha512 by
   * default): one pass.  Only for an md5-only image is a sha256 computed
   * beside it. */
  d.want_sha256 = strcasecmp (d.hash_algo, "sha256") != 0 &&
                  strcasecmp (d.hash_algo, "sha512") != 0;
  d.progress = req->progress;
  d.opaque = req->opaque;
  if (ch_http_download (&j->http, &d, j->dl_fd) < 0) {
    /* A wrong file is not worth resuming; a broken transfer is. */
    if (not_worth_resuming ())
      discard_download (j);
    goto refused;
  }
  qcow2 = strcmp (j->img.disk_format, "qcow2") == 0;
  if (qcow2) {
    enum ch_fmt fmt;

    if (ch_probe_format (j->dl_fd, &fmt) < 0)
      return -1;
    if (fmt != CH_FMT_QCOW2) {
      ch_error ("image %s: Glance says qcow2, but it is not", j->id);
      discard_download (j);
      goto refused;
    }
  }
  o.source = url;
  o.image_id = j->id;
  o.digest_algo = !d.want_sha256 && strcasecmp (d.hash_algo, "sha512") == 0 ? "sha512"
                                                                          : "sha256";
  o.digest = d.want_sha256 ? d.got_sha256 : d.got_hash;
  /* What Glance recorded, so peers taking this base can be checked. */
  if (j->img.hash_algo[0] && j->img.hash_value[0]) {
    o.glance_hash_algo = j->img.hash_algo;
    o.glance_hash = j->img.hash_value;
  }
  else if (j->img.checksum[0]) {
    o.glance_hash_algo = "md5";
    o.glance_hash = j->img.checksum;
  }
  r = deliver (j, res, qcow2, j->id, &o);
  if (r != 1)
    return r;
 refused:
  answer (j, "glance", ch_error_detail ());
  return 1;
}

static int
fetch_locked (struct job *j, const struct ch_fetch_request *req, struct ch_fetch_result *res)
{
  struct stat st;
  int r = 1;

  if (fstatat (j->base_fd, j->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
    return 0;                    /* someone fetched it while we waited */
  glance_lookup (j);
  /* Peers first, in the configured order: a copy next door is cheaper. */
  for (size_t i = 0; r == 1 && i < j->cfg->n_peers; i++)
    r = try_peer (j, req, res, j->cfg->peers[i]);
  if (r == 1 && j->glance)
    r = try_glance (j, req, res);
  if (r == 1) {
    /* Glance alone says what went wrong as it always did; with peers, one
     * line says what each source answered. */
    if (j->cfg->n_peers > 0)
      ch_error ("no source could give %s: %s", j->name, j->answers);
    r = -1;
  }
  if (r < 0 && j->dl_fd >= 0 && fstat (j->dl_fd, &st) == 0 && st.st_size == 0) {
    char dl[64];

    snprintf (dl, sizeof dl, "%s%s", j->name, DOWNLOAD_SUFFIX);
    unlinkat (j->tmp_fd, dl, 0);
  }
  return r;
}

int
ch_fetch (const struct ch_config *cfg, const struct ch_fetch_request *req,
          struct ch_fetch_result *res)
{
  struct job j = { .cfg = cfg, .base_fd = -1, .tmp_fd = -1, .dl_fd = -1 };
  double t0 = ch_now_ms (), waited = 0;
  int lock_fd = -1, r = -1;

  memset (res, 0, sizeof *res);
  if (cfg->glance_url == NULL && cfg->ks_auth_url == NULL && cfg->n_peers == 0) {
    ch_error ("no image source is configured ([glance] url, [keystone] auth_url or "
              "[peers] urls in %s)", "cowherd.conf");
    return -1;
  }
  j.http = (struct ch_http) {
    .ca_file = cfg->ca_file, .insecure = cfg->tls_insecure,
    .connect_timeout = cfg->connect_timeout, .stall_timeout = cfg->stall_timeout,
    .retries = cfg->retries,
  };
  /* Peers get no Glance token.  Their manifests are small requests: a peer
   * that does not answer at once is passed over, not waited for. */
  j.peer_http = j.http;
  j.peer_http.ssh_key = cfg->peer_ssh_key;
  j.peer_http.retries = 0;
  j.glance = cfg->glance_url != NULL || cfg->ks_auth_url != NULL;
  if (j.glance && glance_auth (&j) < 0) {
    if (cfg->n_peers == 0)
      return -1;
    snprintf (j.glance_why, sizeof j.glance_why, "%s", ch_last_error ());
  }
  if (resolve_id (&j, req) < 0)
    return -1;
  snprintf (res->name, sizeof res->name, "%s", j.name);
  if ((j.base_fd = ch_open_dir (cfg->base_dir, true)) < 0)
    return -1;
  /* Nova fetches an original under this same lock. */
  if ((lock_fd = ch_lock_entry (cfg, j.name, &waited)) >= 0) {
    r = fetch_locked (&j, req, res);
    ch_unlock (lock_fd);
  }
  snprintf (res->image_id, sizeof res->image_id, "%s", j.id);
  if (r == 0 && res->fetched) {
    res->ms = ch_now_ms () - t0;
    ch_log (LOG_INFO, "fetch %s/%s: image %s from %s, %llu bytes: done in %.0f ms",
            cfg->base_dir, j.name, j.id[0] ? j.id : "(id unknown)", j.source,
            (unsigned long long) res->size, res->ms);
  }
  if (j.dl_fd >= 0)
    close (j.dl_fd);
  if (j.tmp_fd >= 0)
    close (j.tmp_fd);
  close (j.base_fd);
  return r;
}
