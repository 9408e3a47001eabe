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

static char *
copy_value (const char *value)
{
  char *n = strdup (value);

  if (n == NULL)
    ch_error ("strdup: %m");
  return n;
}

/* The parsers of string values: a new string, or NULL with ch_error.  KEY
 * is "[section] key". */

static char *
parse_path (const char *key, const char *value)
{
  if (value[0] != '/') {
    ch_error ("%s: must be an absolute path: %.200s", key, value);
    return NULL;
  }
  return ch_path_normalize (value);
}

static char *
parse_string (const char *key, const char *value)
{
  if (strchr (value, '/') != NULL) {
    ch_error ("%s: must not contain '/': %.100s", key, value);
    return NULL;
  }
  return copy_value (value);
}

static char *
parse_word (const char *key, const char *value)
{
  size_t n = strlen (value);

  for (size_t i = 0; i < n; i++)
    if ((unsigned char) value[i] < 0x20 || value[i] == '"' || value[i] == '\\') {
      ch_error ("%s: control characters, quotes and backslashes are not allowed", key);
      return NULL;
    }
  if (n == 0 || n > 255) {
    ch_error ("%s: must be 1 to 255 bytes", key);
    return NULL;
  }
  return copy_value (value);
}

static char *
parse_url (const char *key, const char *value)
{
  size_t n = strlen (value);
  char *u;

  if ((strncmp (value, "http://", 7) != 0 && strncmp (value, "https://", 8) != 0) ||
      n > 1024 || strpbrk (value, " \t\r\n\"'<>\\") != NULL) {
    ch_error ("%s: not an http:// or https:// URL: %.100s", key, value);
    return NULL;
  }
  while (n > 8 && value[n - 1] == '/')
    n--;
  u = strndup (value, n);
  if (u == NULL)
    ch_error ("strndup: %m");
  return u;
}

/* Further checks (the table's check). */

static int
check_ephemeral (const char *key, const char *fs)
{
  if (ch_ephemeral_tag (fs) == NULL) {
    ch_error ("%s: not a filesystem Nova formats ephemeral disks with: %.32s", key, fs);
    return -1;
  }
  return 0;
}

/* Another host's _base: sftp://, http(s)://, file:///, ending in '/'. */
static int
check_peer (const char *key, const char *url)
{
  size_t n = strlen (url);

  if ((strncmp (url, "sftp://", 7) && strncmp (url, "http://", 7) &&
       strncmp (url, "https://", 8) && strncmp (url, "file:///", 8)) ||
      n == 0 || n > 1024 || url[n - 1] != '/' || strpbrk (url, "\"'<>\\") != NULL) {
    ch_error ("%s: not an sftp://, http(s):// or file:/// URL ending in '/': %.100s", key, url);
    return -1;
  }
  return 0;
}

/* The offset of field F of struct ch_config; it does not compile unless F
 * has type T, so a row cannot name a field of another type. */
#define FIELD(f, T) \
  (offsetof (struct ch_config, f) + 0 * sizeof (_Generic (((struct ch_config *) 0)->f, T: 1)))
#define AS_PATH(f)   .type = CH_CONF_PATH, .offset = FIELD (f, char *)
#define AS_STRING(f) .type = CH_CONF_STRING, .offset = FIELD (f, char *)
#define AS_WORD(f)   .type = CH_CONF_WORD, .offset = FIELD (f, char *)
#define AS_URL(f)    .type = CH_CONF_URL, .offset = FIELD (f, char *)
#define AS_BOOL(f)   .type = CH_CONF_BOOL, .offset = FIELD (f, bool)
#define AS_INT(f, l, h) .type = CH_CONF_INT, .offset = FIELD (f, int), .lo = (l), .hi = (h)
#define AS_LIST(f, n, m, what) .type = CH_CONF_LIST, .offset = FIELD (f, char **), \
    .count_offset = FIELD (n, size_t), .max = (m), .item = (what)

const struct ch_config_key ch_config_keys[] = {
  { "nova", "instances_path", AS_PATH (instances_path), .def = DEFAULT_INSTANCES },
  /* Unset: under instances_path, after parsing. */
  { "nova", "base_dir", AS_PATH (base_dir) },
  { "nova", "lock_path", AS_PATH (lock_dir) },
  { "nova", "lock_prefix", AS_STRING (lock_prefix), .def = "nova-" },
  { "nova", "default_ephemeral_format", AS_STRING (eph_format), .check = check_ephemeral },
  { "hook", "state_dir", AS_PATH (state_dir), .def = "/run/cowherd" },
  { "locks", "timeout", AS_INT (lock_timeout, 0, 86400), .def_num = 600 },
  { "tools", "qemu_img", AS_PATH (qemu_img), .def = "/usr/bin/qemu-img" },
  { "tools", "real_qemu_img", AS_PATH (real_qemu_img), .def = "/usr/bin/qemu-img" },
  { "tools", "mkfs", AS_PATH (mkfs), .def = "/sbin/mkfs" },
  { "tools", "mkswap", AS_PATH (mkswap), .def = "/sbin/mkswap" },
  { "tools", "fetcher", AS_PATH (fetcher), .def = COWHERD_BINDIR "/cowherd" },
  { "tools", "ssh", AS_PATH (ssh), .def = "/usr/bin/ssh" },
  { "log", "syslog", AS_BOOL (log_syslog), .def_num = true },
  /* "file =" leaves it as it was: by default no log file. */
  { "log", "file", AS_PATH (log_file), .empty_ignored = true },
  { "glance", "url", AS_URL (glance_url) },
  { "glance", "token_file", AS_PATH (glance_token_file) },
  { "keystone", "auth_url", AS_URL (ks_auth_url) },
  { "keystone", "username", AS_WORD (ks_username) },
  { "keystone", "password_file", AS_PATH (ks_password_file) },
  { "keystone", "project_name", AS_WORD (ks_project_name) },
  { "keystone", "user_domain_name", AS_WORD (ks_user_domain), .def = "Default" },
  { "keystone", "project_domain_name", AS_WORD (ks_project_domain), .def = "Default" },
  { "keystone", "region_name", AS_WORD (ks_region) },
  { "keystone", "interface", AS_WORD (ks_interface), .def = "public" },
  { "peers", "urls", AS_LIST (peers, n_peers, 16, "peers"), .check = check_peer },
  { "peers", "ssh_key", AS_PATH (peer_ssh_key) },
  { "peers", "extents", AS_BOOL (peer_extents), .def_num = true },
  { "peers", "remote_cowherd", AS_WORD (peer_remote_cowherd), .def = "cowherd" },
  { "fetch", "ca_file", AS_PATH (ca_file) },
  { "fetch", "insecure", AS_BOOL (tls_insecure), .def_num = false },
  { "fetch", "connect_timeout", AS_INT (connect_timeout, 1, 3600), .def_num = 10 },
  { "fetch", "stall_timeout", AS_INT (stall_timeout, 1, 3600), .def_num = 30 },
  { "fetch", "retries", AS_INT (retries, 0, 100), .def_num = 3 },
  { "fetch", "force_raw_images", AS_BOOL (force_raw_images), .def_num = true },
  { "snapshot", "key_file", AS_PATH (snapshot_key_file) },
};
const size_t ch_config_n_keys = sizeof ch_config_keys / sizeof ch_config_keys[0];

static void *
field (struct ch_config *cfg, size_t offset)
{
  return (char *) cfg + offset;
}

typedef char *parse_fn (const char *key, const char *value);

/* The parser of a type held in a char *; NULL for the others. */
static parse_fn *
string_parser (enum ch_config_type type)
{
  switch (type) {
  case CH_CONF_PATH: return parse_path;
  case CH_CONF_STRING: return parse_string;
  case CH_CONF_WORD: return parse_word;
  case CH_CONF_URL: return parse_url;
  case CH_CONF_BOOL: case CH_CONF_INT: case CH_CONF_LIST: break;
  }
  return NULL;
}

static void
free_list (char ***items, size_t *count)
{
  for (size_t i = 0; i < *count; i++)
    free ((*items)[i]);
  free (*items);
  *items = NULL;
  *count = 0;
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
set_int (int *slot, const struct ch_config_key *k, const char *key, const char *value)
{
  char *end;
  long v;

  errno = 0;
  v = strtol (value, &end, 10);
  if (errno || end == value || *end != '\0' || v < k->lo || v > k->hi) {
    ch_error ("%s: not a number from %ld to %ld: %.100s", key, k->lo, k->hi, value);
    return -1;
  }
  *slot = (int) v;
  return 0;
}

static int
set_list (struct ch_config *cfg, const struct ch_config_key *k, const char *key,
          const char *value)
{
  CLEANUP_FREE char *copy = copy_value (value);
  char ***items = field (cfg, k->offset);
  size_t *count = field (cfg, k->count_offset);
  char *save = NULL, *tok;

  if (copy == NULL)
    return -1;
  free_list (items, count);
  for (tok = strtok_r (copy, ", \t", &save); tok; tok = strtok_r (NULL, ", \t", &save)) {
    char **v;

    if (k->check && k->check (key, tok) < 0)
      return -1;
    if (*count == k->max) {
      ch_error ("%s: more than %zu %s", key, k->max, k->item);
      return -1;
    }
    if ((v = reallocarray (*items, *count + 1, sizeof *v)) == NULL) {
      ch_error ("realloc: %m");
      return -1;
    }
    *items = v;
    if ((v[*count] = copy_value (tok)) == NULL)
      return -1;
    (*count)++;
  }
  return 0;
}

static int
set_value (struct ch_config *cfg, const struct ch_config_key *k, const char *key,
           const char *value)
{
  void *slot = field (cfg, k->offset);
  CLEANUP_FREE char *s = NULL;

  if (k->empty_ignored && value[0] == '\0')
    return 0;
  if (k->type == CH_CONF_BOOL)
    return set_bool (slot, key, value);
  if (k->type == CH_CONF_INT)
    return set_int (slot, k, key, value);
  if (k->type == CH_CONF_LIST)
    return set_list (cfg, k, key, value);
  if ((s = string_parser (k->type) (key, value)) == NULL ||
      (k->check && k->check (key, s) < 0))
    return -1;
  /* A key given twice: the later line wins. */
  free (*(char **) slot);
  *(char **) slot = CH_STEAL (s);
  return 0;
}

static const struct ch_config_key *
find_key (const char *section, const char *key)
{
  for (size_t i = 0; i < ch_config_n_keys; i++)
    if (strcmp (ch_config_keys[i].section, section) == 0 &&
        strcmp (ch_config_keys[i].key, key) == 0)
      return &ch_config_keys[i];
  return NULL;
}

struct parse_state {
  struct ch_config *cfg;
  bool failed;
};

static int
handle (void *opaque, const char *section, const char *key, const char *value)
{
  struct parse_state *st = opaque;
  const struct ch_config_key *k;
  CLEANUP_FREE char *full = NULL;

  /* Only the first error is reported. */
  if (st->failed)
    return 0;
  if (asprintf (&full, "[%s] %s", section, key) < 0) {
    full = NULL;
    ch_error ("asprintf: %m");
    st->failed = true;
  }
  else if ((k = find_key (section, key)) == NULL) {
    ch_error ("unknown key %s", full);
    st->failed = true;
  }
  else if (set_value (st->cfg, k, full, value) < 0)
    st->failed = true;
  return !st->failed;
}

static int
set_defaults (struct ch_config *cfg)
{
  memset (cfg, 0, sizeof *cfg);
  for (size_t i = 0; i < ch_config_n_keys; i++) {
    const struct ch_config_key *k = &ch_config_keys[i];

    if (k->type == CH_CONF_BOOL)
      *(bool *) field (cfg, k->offset) = k->def_num != 0;
    else if (k->type == CH_CONF_INT)
      *(int *) field (cfg, k->offset) = (int) k->def_num;
    else if (string_parser (k->type) != NULL && k->def != NULL &&
             (*(char **) field (cfg, k->offset) = copy_value (k->def)) == NULL)
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

  if (set_defaults (cfg) < 0)
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
  if (cfg->base_dir == NULL &&
      (cfg->base_dir = ch_path_join (cfg->instances_path, "_base")) == NULL)
    goto err;
  if (cfg->lock_dir == NULL &&
      (cfg->lock_dir = ch_path_join (cfg->instances_path, "locks")) == NULL)
    goto err;
  return 0;

 err:
  ch_config_free (cfg);
  return -1;
}

void
ch_config_free (struct ch_config *cfg)
{
  for (size_t i = 0; i < ch_config_n_keys; i++) {
    const struct ch_config_key *k = &ch_config_keys[i];

    if (k->type == CH_CONF_LIST)
      free_list (field (cfg, k->offset), field (cfg, k->count_offset));
    else if (string_parser (k->type) != NULL)
      free (*(char **) field (cfg, k->offset));
  }
  memset (cfg, 0, sizeof *cfg);
}

bool
ch_config_has_sources (const struct ch_config *cfg)
{
  return cfg->glance_url != NULL || cfg->ks_auth_url != NULL || cfg->n_peers > 0;
}
