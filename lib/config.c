#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "cleanup.h"
#include "cowherd-build.h"
#include "error.h"
#include "naming.h"
#include "pathutil.h"

#define DEFAULT_INSTANCES "/var/lib/nova/instances"

struct parse_state {
  struct ch_config *cfg;
  bool failed;
  bool base_set, lock_set;
};

static int
set_path (char **slot, const char *key, const char *value)
{
  char *n;

  if (value[0] != '/') {
    ch_error ("%s: must be an absolute path: %.200s", key, value);
    return -1;
  }
  n = ch_path_normalize (value);
  if (n == NULL)
    return -1;
  free (*slot);
  *slot = n;
  return 0;
}

static int
set_bool (bool *slot, const char *key, const char *value)
{
  if (!strcmp (value, "true") || !strcmp (value, "yes") || !strcmp (value, "1"))
    *slot = true;
  else if (!strcmp (value, "false") || !strcmp (value, "no") || !strcmp (value, "0"))
    *slot = false;
  else {
    ch_error ("%s: not a boolean: %.100s", key, value);
    return -1;
  }
  return 0;
}

static int
set_int (int *slot, const char *key, const char *value, long lo, long hi)
{
  char *end;
  long v;

  errno = 0;
  v = strtol (value, &end, 10);
  if (errno || end == value || *end != '\0' || v < lo || v > hi) {
    ch_error ("%s: not a number from %ld to %ld: %.100s", key, lo, hi, value);
    return -1;
  }
  *slot = (int) v;
  return 0;
}

static int
set_string (char **slot, const char *key, const char *value)
{
  char *n;

  if (strchr (value, '/') != NULL) {
    ch_error ("%s: must not contain '/': %.100s", key, value);
    return -1;
  }
  n = strdup (value);
  if (n == NULL) {
    ch_error ("strdup: %m");
    return -1;
  }
  free (*slot);
  *slot = n;
  return 0;
}

/* A name (user, project, domain, region): printable, no quotes or
 * backslashes (it goes into JSON), at most 255 bytes. */
static int
set_word (char **slot, const char *key, const char *value)
{
  size_t n = strlen (value);
  char *v;

  for (size_t i = 0; i < n; i++)
    if ((unsigned char) value[i] < 0x20 || value[i] == '"' || value[i] == '\\') {
      ch_error ("%s: control characters, quotes and backslashes are not allowed", key);
      return -1;
    }
  if (n == 0 || n > 255) {
    ch_error ("%s: must be 1 to 255 bytes", key);
    return -1;
  }
  if ((v = strdup (value)) == NULL) {
    ch_error ("strdup: %m");
    return -1;
  }
  free (*slot);
  *slot = v;
  return 0;
}

#define PEERS_MAX 16

/* Comma-separated peer URLs of other hosts' _base: sftp://, http(s)://,
 * file://, each ending in '/'. */
static int
set_peers (struct ch_config *c, const char *key, const char *value)
{
  CLEANUP_FREE char *copy = strdup (value);
  char *save = NULL, *tok;

  if (copy == NULL) {
    ch_error ("strdup: %m");
    return -1;
  }
  for (size_t i = 0; i < c->n_peers; i++)
    free (c->peers[i]);
  free (c->peers);
  c->peers = NULL;
  c->n_peers = 0;
  for (tok = strtok_r (copy, ", \t", &save); tok; tok = strtok_r (NULL, ", \t", &save)) {
    size_t n = strlen (tok);
    char **v;

    if ((strncmp (tok, "sftp://", 7) && strncmp (tok, "http://", 7) &&
         strncmp (tok, "https://", 8) && strncmp (tok, "file:///", 8)) ||
        n > 1024 || tok[n - 1] != '/' || strpbrk (tok, "\"'<>\\") != NULL) {
      ch_error ("%s: not an sftp://, http(s):// or file:/// URL ending in '/': %.100s", key, tok);
      return -1;
    }
    if (c->n_peers == PEERS_MAX) {
      ch_error ("%s: more than %d peers", key, PEERS_MAX);
      return -1;
    }
    if ((v = reallocarray (c->peers, c->n_peers + 1, sizeof *v)) == NULL) {
      ch_error ("realloc: %m");
      return -1;
    }
    c->peers = v;
    if ((c->peers[c->n_peers] = strdup (tok)) == NULL) {
      ch_error ("strdup: %m");
      return -1;
    }
    c->n_peers++;
  }
  return 0;
}

/* An http(s) endpoint, kept without trailing slashes. */
static int
set_url (char **slot, const char *key, const char *value)
{
  size_t n = strlen (value);
  char *u;

  if ((strncmp (value, "http://", 7) != 0 && strncmp (value, "https://", 8) != 0) ||
      n > 1024 || strpbrk (value, " \t\r\n\"'<>\\") != NULL) {
    ch_error ("%s: not an http:// or https:// URL: %.100s", key, value);
    return -1;
  }
  while (n > 8 && value[n - 1] == '/')
    n--;
  u = strndup (value, n);
  if (u == NULL) {
    ch_error ("strndup: %m");
    return -1;
  }
  free (*slot);
  *slot = u;
  return 0;
}

static int
handle (void *opaque, const char *section, const char *key, const char *value)
{
  struct parse_state *st = opaque;
  struct ch_config *c = st->cfg;
  CLEANUP_FREE char *full = NULL;
  int r;

  if (st->failed)
    return 0;
  if (asprintf (&full, "[%s] %s", section, key) < 0) {
    ch_error ("asprintf: %m");
    st->failed = true;
    return 0;
  }
#define IS(s, k) (strcmp (section, s) == 0 && strcmp (key, k) == 0)
  if (IS ("nova", "instances_path"))
    r = set_path (&c->instances_path, full, value);
  else if (IS ("nova", "base_dir"))
    r = set_path (&c->base_dir, full, value), st->base_set = true;
  else if (IS ("nova", "lock_path"))
    r = set_path (&c->lock_dir, full, value), st->lock_set = true;
  else if (IS ("nova", "lock_prefix"))
    r = set_string (&c->lock_prefix, full, value);
  else if (IS ("nova", "default_ephemeral_format")) {
    r = set_string (&c->eph_format, full, value);
    if (r == 0 && ch_ephemeral_tag (value) == NULL) {
      ch_error ("%s: not a filesystem Nova formats ephemeral disks with: %.32s", full, value);
      r = -1;
    }
  }
  else if (IS ("locks", "timeout"))
    r = set_int (&c->lock_timeout, full, value, 0, 86400);
  else if (IS ("tools", "qemu_img"))
    r = set_path (&c->qemu_img, full, value);
  else if (IS ("tools", "real_qemu_img"))
    r = set_path (&c->real_qemu_img, full, value);
  else if (IS ("tools", "mkfs"))
    r = set_path (&c->mkfs, full, value);
  else if (IS ("tools", "mkswap"))
    r = set_path (&c->mkswap, full, value);
  else if (IS ("log", "syslog"))
    r = set_bool (&c->log_syslog, full, value);
  else if (IS ("log", "file"))
    r = value[0] ? set_path (&c->log_file, full, value) : 0;
  else if (IS ("glance", "url"))
    r = set_url (&c->glance_url, full, value);
  else if (IS ("glance", "token_file"))
    r = set_path (&c->glance_token_file, full, value);
  else if (IS ("fetch", "ca_file"))
    r = set_path (&c->ca_file, full, value);
  else if (IS ("fetch", "insecure"))
    r = set_bool (&c->tls_insecure, full, value);
  else if (IS ("fetch", "connect_timeout"))
    r = set_int (&c->connect_timeout, full, value, 1, 3600);
  else if (IS ("fetch", "stall_timeout"))
    r = set_int (&c->stall_timeout, full, value, 1, 3600);
  else if (IS ("fetch", "retries"))
    r = set_int (&c->retries, full, value, 0, 100);
  else if (IS ("fetch", "force_raw_images"))
    r = set_bool (&c->force_raw_images, full, value);
  else if (IS ("tools", "fetcher"))
    r = set_path (&c->fetcher, full, value);
  else if (IS ("keystone", "auth_url"))
    r = set_url (&c->ks_auth_url, full, value);
  else if (IS ("keystone", "username"))
    r = set_word (&c->ks_username, full, value);
  else if (IS ("keystone", "password_file"))
    r = set_path (&c->ks_password_file, full, value);
  else if (IS ("keystone", "project_name"))
    r = set_word (&c->ks_project_name, full, value);
  else if (IS ("keystone", "user_domain_name"))
    r = set_word (&c->ks_user_domain, full, value);
  else if (IS ("keystone", "project_domain_name"))
    r = set_word (&c->ks_project_domain, full, value);
  else if (IS ("keystone", "region_name"))
    r = set_word (&c->ks_region, full, value);
  else if (IS ("keystone", "interface"))
    r = set_word (&c->ks_interface, full, value);
  else if (IS ("peers", "urls"))
    r = set_peers (c, full, value);
  else if (IS ("peers", "ssh_key"))
    r = set_path (&c->peer_ssh_key, full, value);
  else if (IS ("hook", "state_dir"))
    r = set_path (&c->state_dir, full, value);
  else {
    ch_error ("unknown key %s", full);
    r = -1;
  }
#undef IS
  if (r < 0)
    st->failed = true;
  return r == 0;
}

static int
dup_default (char **slot, const char *v)
{
  *slot = strdup (v);
  if (*slot == NULL) {
    ch_error ("strdup: %m");
    return -1;
  }
  return 0;
}

int
ch_config_load (const char *path, bool missing_ok, struct ch_config *cfg)
{
  struct parse_state st = { .cfg = cfg };
  CLEANUP_FCLOSE FILE *fp = NULL;
  int line;

  memset (cfg, 0, sizeof *cfg);
  cfg->lock_timeout = 600;
  cfg->log_syslog = true;
  cfg->connect_timeout = 10;
  cfg->stall_timeout = 30;
  cfg->retries = 3;
  cfg->force_raw_images = true;
  if (dup_default (&cfg->instances_path, DEFAULT_INSTANCES) < 0 ||
      dup_default (&cfg->lock_prefix, "nova-") < 0 ||
      dup_default (&cfg->qemu_img, "/usr/bin/qemu-img") < 0 ||
      dup_default (&cfg->real_qemu_img, "/usr/bin/qemu-img") < 0 ||
      dup_default (&cfg->mkfs, "/sbin/mkfs") < 0 ||
      dup_default (&cfg->mkswap, "/sbin/mkswap") < 0 ||
      dup_default (&cfg->fetcher, COWHERD_BINDIR "/cowherd") < 0 ||
      dup_default (&cfg->state_dir, "/run/cowherd") < 0 ||
      dup_default (&cfg->ks_user_domain, "Default") < 0 ||
      dup_default (&cfg->ks_project_domain, "Default") < 0 ||
      dup_default (&cfg->ks_interface, "public") < 0)
    goto err;

  if (path) {
    fp = fopen (path, "re");
    if (fp == NULL && !(errno == ENOENT && missing_ok)) {
      ch_error ("%s: %m", path);
      goto err;
    }
  }
  if (fp) {
    line = ini_parse_file (fp, handle, &st);
    if (st.failed) {
      ch_error_prefix ("%s", path);
      goto err;
    }
    if (line != 0) {
      ch_error ("%s: line %d: syntax error", path, line);
      goto err;
    }
  }
  /* Nova's layout: the cache and the locks live under instances_path unless
   * set apart. */
  if (!st.base_set && (cfg->base_dir = ch_path_join (cfg->instances_path, "_base")) == NULL)
    goto err;
  if (!st.lock_set && (cfg->lock_dir = ch_path_join (cfg->instances_path, "locks")) == NULL)
    goto err;
  return 0;

 err:
  ch_config_free (cfg);
  return -1;
}

void
ch_config_free (struct ch_config *cfg)
{
  free (cfg->instances_path);
  free (cfg->base_dir);
  free (cfg->lock_dir);
  free (cfg->lock_prefix);
  free (cfg->eph_format);
  free (cfg->qemu_img);
  free (cfg->real_qemu_img);
  free (cfg->mkfs);
  free (cfg->mkswap);
  free (cfg->log_file);
  free (cfg->glance_url);
  free (cfg->glance_token_file);
  free (cfg->ca_file);
  free (cfg->fetcher);
  free (cfg->ks_auth_url);
  free (cfg->ks_username);
  free (cfg->ks_password_file);
  free (cfg->ks_project_name);
  free (cfg->ks_user_domain);
  free (cfg->ks_project_domain);
  free (cfg->ks_region);
  free (cfg->ks_interface);
  for (size_t i = 0; i < cfg->n_peers; i++)
    free (cfg->peers[i]);
  free (cfg->peers);
  free (cfg->peer_ssh_key);
  free (cfg->state_dir);
  memset (cfg, 0, sizeof *cfg);
}

bool
ch_config_has_sources (const struct ch_config *cfg)
{
  return cfg->glance_url != NULL || cfg->ks_auth_url != NULL || cfg->n_peers > 0;
}
