#include "fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cleanup.h"
#include "error.h"
#include "executor.h"
#include "fsutil.h"
#include "glance.h"
#include "http.h"
#include "lock.h"
#include "log.h"
#include "manifest.h"
#include "naming.h"
#include "qcow2.h"
#include "runcmd.h"

#define DOWNLOAD_SUFFIX ".download"
#define TOKEN_MAX 8192
/* The largest image cowherd will fetch: 16 TiB. */
#define IMAGE_MAX (16ULL << 40)

struct job {
  const struct ch_config *cfg;
  struct ch_http http;
  char token[TOKEN_MAX + 1];
  int base_fd, tmp_fd;
  char name[CH_SHA1_HEX + 1];
  char id[CH_IMAGE_ID_MAX + 1];
  struct ch_glance_image img;
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
  n = read (fd, j->token, TOKEN_MAX);
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
  return ch_glance_find_by_sha1 (&j->http, j->cfg->glance_url, j->name, j->id);
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
                  (int[]) { src_fd, fd }, 2) < 0)
    goto undo;
  *out_fd = CH_STEAL_FD (fd);
  return 0;
 undo:
  unlinkat (j->tmp_fd, conv, 0);
  return -1;
}

/* sha256 of FD's content, for the manifest. */
static int
sha256_fd (int fd, char hex[65])
{
  CLEANUP_FREE unsigned char *buf = malloc (1 << 20);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  off_t off = 0;
  int r = -1;

  if (buf == NULL || ctx == NULL || !EVP_DigestInit_ex (ctx, EVP_sha256 (), NULL)) {
    ch_error ("sha256: out of memory");
    goto out;
  }
  for (;;) {
    ssize_t n = pread (fd, buf, 1 << 20, off);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      ch_error ("read: %m");
      goto out;
    }
    if (n == 0)
      break;
    EVP_DigestUpdate (ctx, buf, (size_t) n);
    off += n;
  }
  EVP_DigestFinal_ex (ctx, md, &mdlen);
  for (unsigned int i = 0; i < mdlen; i++)
    sprintf (hex + 2 * i, "%02x", md[i]);
  r = 0;
 out:
  EVP_MD_CTX_free (ctx);
  return r;
}

/* Publish build-dir file TMP as _base/NAME: owned like _base, durable,
 * never replacing anything. */
static int
publish (struct job *j, int fd, const char *tmp, const char *name)
{
  if (ch_own_like (fd, j->base_fd, name) < 0)
    return -1;
  if (fsync (fd) < 0) {
    ch_error ("fsync %s: %m", tmp);
    return -1;
  }
  if (renameat2 (j->tmp_fd, tmp, j->base_fd, name, RENAME_NOREPLACE) < 0 &&
      (errno != EINVAL || renameat (j->tmp_fd, tmp, j->base_fd, name) < 0)) {
    ch_error ("rename into %s/%s: %m", j->cfg->base_dir, name);
    return -1;
  }
  if (fsync (j->base_fd) < 0) {
    ch_error ("fsync %s: %m", j->cfg->base_dir);
    return -1;
  }
  return 0;
}

static int
write_manifest (struct job *j, int fd, const char *source)
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
  if (sha256_fd (fd, m.sha256) < 0)
    return -1;
  snprintf (m.image_id, sizeof m.image_id, "%s", j->id);
  snprintf (m.source, sizeof m.source, "%s", source);
  snprintf (m.glance_hash_algo, sizeof m.glance_hash_algo, "%s", j->img.hash_algo);
  snprintf (m.glance_hash, sizeof m.glance_hash, "%s", j->img.hash_value);
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
  return publish (j, mfd, mname, mname);
}

static int
fetch_locked (struct job *j, const struct ch_fetch_request *req, struct ch_fetch_result *res)
{
  struct ch_download d = { 0 };
  CLEANUP_FREE char *url = NULL;
  CLEANUP_CLOSE int fd = -1, raw_fd = -1;
  char dl[64];
  struct stat st;
  int pub_fd;
  const char *pub_tmp;
  char conv[64];

  if (fstatat (j->base_fd, j->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
    return 0;                    /* someone fetched it while we waited */
  if (ch_glance_show (&j->http, j->cfg->glance_url, j->id, &j->img) < 0)
    return -1;
  if (strcmp (j->img.disk_format, "raw") != 0 && strcmp (j->img.disk_format, "qcow2") != 0) {
    ch_error ("image %s is %s; cowherd fetches raw and qcow2 images only", j->id,
              j->img.disk_format);
    return -1;
  }
  if (j->img.size > IMAGE_MAX) {
    ch_error ("image %s is larger than 16 TiB", j->id);
    return -1;
  }
  if ((j->tmp_fd = ch_open_private_dir (j->base_fd, j->cfg->base_dir, CH_TEMP_DIR)) < 0)
    return -1;
  /* A partial download a dead process left is resumed, never published. */
  snprintf (dl, sizeof dl, "%s%s", j->name, DOWNLOAD_SUFFIX);
  fd = openat (j->tmp_fd, dl, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || fstat (fd, &st) < 0) {
    ch_error ("open %s/%s/%s: %m", j->cfg->base_dir, CH_TEMP_DIR, dl);
    return -1;
  }
  if (!S_ISREG (st.st_mode) || (uint64_t) st.st_size > j->img.size) {
    if (ftruncate (fd, 0) < 0) {
      ch_error ("truncate %s: %m", dl);
      return -1;
    }
  }
  else if (st.st_size > 0)
    ch_log (LOG_INFO, "%s: resuming a partial download at %lld bytes", j->name,
            (long long) st.st_size);

  if (asprintf (&url, "%s/v2/images/%s/file", j->cfg->glance_url, j->id) < 0) {
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
    return -1;
  }
  d.progress = req->progress;
  d.opaque = req->opaque;
  if (ch_http_download (&j->http, &d, fd) < 0) {
    /* A wrong file is not worth resuming; a broken transfer is. */
    if (strstr (ch_last_error (), "mismatch") || strstr (ch_last_error (), "larger than"))
      unlinkat (j->tmp_fd, dl, 0);
    return -1;
  }

  pub_fd = fd;
  pub_tmp = dl;
  if (strcmp (j->img.disk_format, "qcow2") == 0) {
    enum ch_fmt fmt;

    if (ch_probe_format (fd, &fmt) < 0 || fmt != CH_FMT_QCOW2) {
      ch_error ("image %s: Glance says qcow2, but it is not", j->id);
      unlinkat (j->tmp_fd, dl, 0);
      return -1;
    }
    if (refuse_references (fd, j->id) < 0) {
      unlinkat (j->tmp_fd, dl, 0);
      return -1;
    }
    if (j->cfg->force_raw_images) {
      if (convert_to_raw (j, fd, &raw_fd) < 0)
        return -1;
      unlinkat (j->tmp_fd, dl, 0);
      snprintf (conv, sizeof conv, "%s.raw", j->name);
      pub_fd = raw_fd;
      pub_tmp = conv;
    }
  }
  if (publish (j, pub_fd, pub_tmp, j->name) < 0)
    return -1;
  /* The base is good without it; a peer just will not take it from us. */
  if (write_manifest (j, pub_fd, url) < 0)
    ch_log (LOG_WARNING, "%s/%s: no manifest written: %s", j->cfg->base_dir, j->name,
            ch_last_error ());
  if (fstat (pub_fd, &st) == 0)
    res->size = (uint64_t) st.st_size;
  res->fetched = true;
  return 0;
}

int
ch_fetch (const struct ch_config *cfg, const struct ch_fetch_request *req,
          struct ch_fetch_result *res)
{
  struct job j = { .cfg = cfg, .base_fd = -1, .tmp_fd = -1 };
  double t0 = ch_now_ms (), waited = 0;
  int lock_fd = -1, r = -1;

  memset (res, 0, sizeof *res);
  if (cfg->glance_url == NULL) {
    ch_error ("no image source is configured ([glance] url in %s)", "cowherd.conf");
    return -1;
  }
  j.http = (struct ch_http) {
    .ca_file = cfg->ca_file, .insecure = cfg->tls_insecure,
    .connect_timeout = cfg->connect_timeout, .stall_timeout = cfg->stall_timeout,
    .retries = cfg->retries,
  };
  if (read_token (&j) < 0 || resolve_id (&j, req) < 0)
    return -1;
  snprintf (res->name, sizeof res->name, "%s", j.name);
  snprintf (res->image_id, sizeof res->image_id, "%s", j.id);
  if ((j.base_fd = ch_open_dir (cfg->base_dir, true)) < 0)
    return -1;
  /* Nova fetches an original under this same lock. */
  if ((lock_fd = ch_lock_entry (cfg, j.name, &waited)) >= 0) {
    r = fetch_locked (&j, req, res);
    ch_unlock (lock_fd);
  }
  if (r == 0 && res->fetched) {
    res->ms = ch_now_ms () - t0;
    ch_log (LOG_INFO, "fetch %s/%s: image %s from %s, %llu bytes: done in %.0f ms",
            cfg->base_dir, j.name, j.id, cfg->glance_url, (unsigned long long) res->size,
            res->ms);
  }
  if (j.tmp_fd >= 0)
    close (j.tmp_fd);
  close (j.base_fd);
  return r;
}
