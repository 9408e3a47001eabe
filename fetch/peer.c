#include "peer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "cleanup.h"
#include "config.h"
#include "error.h"

static char *
peer_url (const char *peer, const char *name, const char *suffix)
{
  char *u;

  if (asprintf (&u, "%s%s%s", peer, name, suffix) < 0) {
    ch_error ("asprintf: %m");
    return NULL;
  }
  return u;
}

/* The manifest's record of Glance's hash against Glance's own, when both
 * have one.  Glance's os_hash (sha512 by default) or, for images that
 * predate it, the md5 checksum. */
static bool
glance_hash_agrees (const struct ch_manifest *m, const struct ch_glance_image *img,
                    char *why, size_t len)
{
  const char *theirs = NULL;

  if (m->glance_hash_algo[0] == '\0' || m->glance_hash[0] == '\0')
    return true;
  if (img->hash_algo[0] && img->hash_value[0] &&
      strcasecmp (m->glance_hash_algo, img->hash_algo) == 0)
    theirs = img->hash_value;
  else if (strcasecmp (m->glance_hash_algo, "md5") == 0 && img->checksum[0])
    theirs = img->checksum;
  else if ((img->hash_algo[0] && img->hash_value[0]) || img->checksum[0]) {
    return ch_why (why, len, "its manifest records a %s hash, Glance %s for image %s",
                   m->glance_hash_algo, img->hash_algo[0] ? img->hash_algo : "md5", img->id);
  }
  else
    return true;                       /* Glance records none */
  if (strcasecmp (m->glance_hash, theirs) != 0)
    return ch_why (why, len, "its manifest records %s %.16s... for image %s, Glance %.16s...",
                   m->glance_hash_algo, m->glance_hash, img->id, theirs);
  return true;
}

enum ch_peer_answer
ch_peer_manifest (const struct ch_http *h, const char *peer, const struct ch_peer_expect *e,
                  struct ch_manifest *m, char *why, size_t why_len)
{
  CLEANUP_FREE char *url = NULL, *body = NULL;
  long status = 0;

  memset (m, 0, sizeof *m);
  why[0] = '\0';
  if ((url = peer_url (peer, e->name, CH_MANIFEST_SUFFIX)) == NULL) {
    ch_why (why, why_len, "%s", ch_last_error ());
    return CH_PEER_DOWN;
  }
  if (ch_http_get (h, url, &body, &status) < 0) {
    /* Not the URL: the caller names the peer, and it may carry a password. */
    ch_why (why, why_len, "%s", ch_error_detail ());
    /* A document past http.c's bound is the peer's doing, not the link's. */
    return ch_error_kind () == CH_ERR_REFUSED ? CH_PEER_REFUSED : CH_PEER_DOWN;
  }
  if (status == 404) {
    ch_why (why, why_len, "no manifest (404)");
    return CH_PEER_ABSENT;
  }
  if (status != 200) {
    ch_why (why, why_len, "manifest: HTTP %ld", status);
    return CH_PEER_DOWN;
  }
  return ch_peer_manifest_check (body, strlen (body), e, m, why, why_len);
}

enum ch_peer_answer
ch_peer_manifest_check (const char *json, size_t len, const struct ch_peer_expect *e,
                        struct ch_manifest *m, char *why, size_t why_len)
{
  why[0] = '\0';
  if (ch_manifest_parse (json, len, m) < 0) {
    ch_why (why, why_len, "malformed %s", ch_last_error ());
    return CH_PEER_REFUSED;
  }
  if (strcmp (m->name, e->name) != 0) {
    ch_why (why, why_len, "its manifest is for %.64s", m->name);
    return CH_PEER_REFUSED;
  }
  if (m->size == 0 || m->size > CH_IMAGE_SIZE_MAX) {
    ch_why (why, why_len, "its manifest gives a size of %" PRIu64 " bytes", m->size);
    return CH_PEER_REFUSED;
  }
  if (e->image_id && e->image_id[0] && m->image_id[0] && strcmp (m->image_id, e->image_id) != 0) {
    ch_why (why, why_len, "its manifest names image %.64s, not %s", m->image_id, e->image_id);
    return CH_PEER_REFUSED;
  }
  if (e->img && !glance_hash_agrees (m, e->img, why, why_len))
    return CH_PEER_REFUSED;
  return CH_PEER_HAS;
}

int
ch_peer_download (const struct ch_http *h, const char *peer, const struct ch_manifest *m,
                  int dst_fd, void (*progress) (void *, uint64_t, uint64_t), void *opaque,
                  char got_digest[129], uint64_t *got_size)
{
  CLEANUP_FREE char *url = NULL;
  struct ch_download d = { 0 };
  int r;

  if ((url = peer_url (peer, m->name, "")) == NULL)
    return -1;
  d.url = url;
  d.expect_size = m->size;
  d.max_size = m->size;
  ch_manifest_digest (m, &d.hash_algo, &d.expect_hash);
  d.progress = progress;
  d.opaque = opaque;
  r = ch_http_download (h, &d, dst_fd);
  *got_size = d.got_size;
  if (r < 0)
    return -1;
  snprintf (got_digest, 129, "%s", d.got_hash);
  return 0;
}

void
ch_peer_display (const char *peer, char *out, size_t len)
{
  CURLU *u = curl_url ();
  char *pw = NULL, *s = NULL;

  snprintf (out, len, "%s", peer);
  if (u == NULL)
    return;
  if (curl_url_set (u, CURLUPART_URL, peer, 0) == CURLUE_OK &&
      curl_url_get (u, CURLUPART_PASSWORD, &pw, 0) == CURLUE_OK && pw != NULL &&
      curl_url_set (u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
      curl_url_get (u, CURLUPART_URL, &s, 0) == CURLUE_OK)
    snprintf (out, len, "%s", s);
  curl_free (pw);
  curl_free (s);
  curl_url_cleanup (u);
}

/* PEER with its path replaced by PATH, percent-encoded. */
static char *
peer_path_url (const char *peer, const char *path)
{
  CURLU *u = curl_url ();
  char *s = NULL, *r = NULL;

  if (u && curl_url_set (u, CURLUPART_URL, peer, 0) == CURLUE_OK &&
      curl_url_set (u, CURLUPART_PATH, path, CURLU_URLENCODE) == CURLUE_OK &&
      curl_url_get (u, CURLUPART_URL, &s, 0) == CURLUE_OK)
    r = strdup (s);
  curl_free (s);
  curl_url_cleanup (u);
  return r;
}

ssize_t
ch_peer_read_head (void *opaque, size_t peer, const char *path, uint8_t *buf, size_t max,
                   char *origin, size_t origin_len, char *why, size_t why_len)
{
  const struct ch_config *cfg = opaque;
  struct ch_http h = {
    .ca_file = cfg->ca_file, .insecure = cfg->tls_insecure, .ssh_key = cfg->peer_ssh_key,
    .connect_timeout = cfg->connect_timeout, .stall_timeout = cfg->stall_timeout,
  };
  CLEANUP_FREE char *url = NULL;
  char shown[1024];
  long n;

  why[0] = '\0';
  /* Only sftp reaches another host's instances directory. */
  if (peer >= cfg->n_peers || strncmp (cfg->peers[peer], "sftp://", 7) != 0)
    return 0;
  if ((url = peer_path_url (cfg->peers[peer], path)) == NULL) {
    ch_error ("%s: cannot make a URL for %s", cfg->peers[peer], path);
    return -1;
  }
  ch_peer_display (url, shown, sizeof shown);
  n = ch_http_get_head (&h, url, buf, max);
  if (n > 0) {
    snprintf (origin, origin_len, "%s", shown);
    return n;
  }
  snprintf (why, why_len, "%s: %s", shown, n == 0 ? "no such file" : ch_last_error ());
  return n == 0 ? 0 : -2;
}
