/* Unit tests: configuration parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "error.h"

static char *
write_conf (const char *text)
{
  char *path = strdup ("/tmp/cowherd-test-conf-XXXXXX");
  int fd = mkstemp (path);
  FILE *fp;

  assert_true (fd >= 0);
  fp = fdopen (fd, "w");
  fputs (text, fp);
  fclose (fp);
  return path;
}

static int
load_text (const char *text, struct ch_config *cfg)
{
  char *path = write_conf (text);
  int r = ch_config_load (path, false, cfg);

  unlink (path);
  free (path);
  return r;
}

static void
test_defaults (void **state)
{
  struct ch_config cfg;

  (void) state;
  assert_int_equal (ch_config_load ("/nonexistent/cowherd.conf", true, &cfg), 0);
  assert_string_equal (cfg.instances_path, "/var/lib/nova/instances");
  assert_string_equal (cfg.base_dir, "/var/lib/nova/instances/_base");
  assert_string_equal (cfg.lock_dir, "/var/lib/nova/instances/locks");
  assert_string_equal (cfg.lock_prefix, "nova-");
  assert_int_equal (cfg.lock_timeout, 600);
  assert_true (cfg.log_syslog);
  assert_null (cfg.log_file);
  ch_config_free (&cfg);

  assert_int_equal (ch_config_load ("/nonexistent/cowherd.conf", false, &cfg), -1);
  assert_non_null (strstr (ch_last_error (), "/nonexistent/cowherd.conf"));
}

static void
test_values (void **state)
{
  struct ch_config cfg;

  (void) state;
  assert_int_equal (load_text ("# comment\n[nova]\ninstances_path = /srv/nova//inst/\n"
                               "[locks]\ntimeout = 5\n[log]\nsyslog = false\nfile = /tmp/x.log\n",
                               &cfg), 0);
  assert_string_equal (cfg.instances_path, "/srv/nova/inst");
  assert_string_equal (cfg.base_dir, "/srv/nova/inst/_base");
  assert_string_equal (cfg.lock_dir, "/srv/nova/inst/locks");
  assert_int_equal (cfg.lock_timeout, 5);
  assert_false (cfg.log_syslog);
  assert_string_equal (cfg.log_file, "/tmp/x.log");
  ch_config_free (&cfg);

  assert_int_equal (load_text ("[nova]\nbase_dir = /cache\nlock_path = /l\n", &cfg), 0);
  assert_string_equal (cfg.base_dir, "/cache");
  assert_string_equal (cfg.lock_dir, "/l");
  ch_config_free (&cfg);
}

static void
test_sources (void **state)
{
  struct ch_config cfg;

  (void) state;
  assert_int_equal (ch_config_load ("/nonexistent", true, &cfg), 0);
  assert_false (ch_config_has_sources (&cfg));
  assert_string_equal (cfg.ks_user_domain, "Default");
  assert_string_equal (cfg.ks_interface, "public");
  ch_config_free (&cfg);

  assert_int_equal (load_text ("[glance]\nurl = https://g.example:9292//\n"
                               "[peers]\nurls = sftp://nova@h2/var/lib/nova/instances/_base/, "
                               "file:///srv/base/\nssh_key = /etc/cowherd/id\n"
                               "[keystone]\nauth_url = http://k:5000/v3\nusername = nova\n"
                               "password_file = /etc/cowherd/pw\nproject_name = service\n",
                               &cfg), 0);
  assert_true (ch_config_has_sources (&cfg));
  assert_string_equal (cfg.glance_url, "https://g.example:9292");
  assert_int_equal (cfg.n_peers, 2);
  assert_string_equal (cfg.peers[1], "file:///srv/base/");
  assert_string_equal (cfg.ks_auth_url, "http://k:5000/v3");
  assert_string_equal (cfg.ks_project_name, "service");
  ch_config_free (&cfg);
}

static void
bad (const char *text, const char *fragment)
{
  struct ch_config cfg;

  assert_int_equal (load_text (text, &cfg), -1);
  if (strstr (ch_last_error (), fragment) == NULL)
    fail_msg ("error '%s' lacks '%s'", ch_last_error (), fragment);
}

static void
test_errors (void **state)
{
  (void) state;
  bad ("[nova]\ninstances_path = relative\n", "absolute");
  bad ("[nova]\nbogus = 1\n", "unknown key [nova] bogus");
  bad ("[bogus]\nx = 1\n", "unknown key");
  bad ("[locks]\ntimeout = -1\n", "timeout");
  bad ("[locks]\ntimeout = 5s\n", "timeout");
  bad ("[locks]\ntimeout = 99999999999999999999\n", "timeout");
  bad ("[log]\nsyslog = maybe\n", "boolean");
  bad ("[nova]\nlock_prefix = a/b\n", "'/'");
  bad ("[nova\n", "syntax");
  bad ("[glance]\nurl = ftp://x/\n", "http");
  bad ("[glance]\nurl = http://x/a b\n", "http");
  bad ("[peers]\nurls = sftp://h/base\n", "ending in '/'");
  bad ("[peers]\nurls = gopher://h/\n", "sftp://");
  bad ("[keystone]\nusername = a\"b\n", "quotes");
}

/* What each key accepts and refuses, written out here apart from the table
 * in lib/config.c, so that a wrong row there shows.  RESULT is how the
 * field reads afterwards (see field_text); a refused value has ERROR, the
 * message after "FILE: [section] key: ". */
struct key_case {
  const char *section, *key;
  size_t offset;
  const char *value, *result, *error;
};

#define F(f) offsetof (struct ch_config, f)
#define OK(s, k, f, v, r) { s, k, F (f), v, r, NULL }
#define NO(s, k, f, v, e) { s, k, F (f), v, NULL, e }
#define ABS "must be an absolute path: "
#define WORD_CHARS "control characters, quotes and backslashes are not allowed"
#define PEER_URL "not an sftp://, http(s):// or file:/// URL ending in '/': "

static const struct key_case cases[] = {
  OK ("nova", "instances_path", instances_path, "/srv//nova/inst/", "/srv/nova/inst"),
  NO ("nova", "instances_path", instances_path, "relative", ABS "relative"),
  OK ("nova", "base_dir", base_dir, "/cache//x/", "/cache/x"),
  NO ("nova", "base_dir", base_dir, "cache", ABS "cache"),
  OK ("nova", "lock_path", lock_dir, "/l/", "/l"),
  NO ("nova", "lock_path", lock_dir, "", ABS),
  OK ("nova", "lock_prefix", lock_prefix, "cowherd-", "cowherd-"),
  NO ("nova", "lock_prefix", lock_prefix, "a/b", "must not contain '/': a/b"),
  OK ("nova", "default_ephemeral_format", eph_format, "ext4", "ext4"),
  OK ("nova", "default_ephemeral_format", eph_format, "vfat", "vfat"),
  NO ("nova", "default_ephemeral_format", eph_format, "zfs",
      "not a filesystem Nova formats ephemeral disks with: zfs"),
  NO ("nova", "default_ephemeral_format", eph_format, "ext4/", "must not contain '/': ext4/"),
  NO ("nova", "default_ephemeral_format", eph_format, "abcdefghijklmnopqrstuvwxyz0123456789",
      "not a filesystem Nova formats ephemeral disks with: abcdefghijklmnopqrstuvwxyz012345"),
  OK ("hook", "state_dir", state_dir, "/run/x/", "/run/x"),
  NO ("hook", "state_dir", state_dir, "run", ABS "run"),
  OK ("locks", "timeout", lock_timeout, "5", "5"),
  OK ("locks", "timeout", lock_timeout, "0", "0"),
  OK ("locks", "timeout", lock_timeout, "86400", "86400"),
  OK ("locks", "timeout", lock_timeout, "+7", "7"),
  NO ("locks", "timeout", lock_timeout, "-1", "not a number from 0 to 86400: -1"),
  NO ("locks", "timeout", lock_timeout, "86401", "not a number from 0 to 86400: 86401"),
  NO ("locks", "timeout", lock_timeout, "5s", "not a number from 0 to 86400: 5s"),
  NO ("locks", "timeout", lock_timeout, "", "not a number from 0 to 86400: "),
  NO ("locks", "timeout", lock_timeout, "99999999999999999999",
      "not a number from 0 to 86400: 99999999999999999999"),
  OK ("tools", "qemu_img", qemu_img, "/opt/bin//qemu-img", "/opt/bin/qemu-img"),
  NO ("tools", "qemu_img", qemu_img, "qemu-img", ABS "qemu-img"),
  OK ("tools", "real_qemu_img", real_qemu_img, "/opt/real/qemu-img", "/opt/real/qemu-img"),
  NO ("tools", "real_qemu_img", real_qemu_img, "./qemu-img", ABS "./qemu-img"),
  OK ("tools", "mkfs", mkfs, "/usr/sbin/mkfs", "/usr/sbin/mkfs"),
  NO ("tools", "mkfs", mkfs, "mkfs", ABS "mkfs"),
  OK ("tools", "mkswap", mkswap, "/usr/sbin/mkswap", "/usr/sbin/mkswap"),
  NO ("tools", "mkswap", mkswap, "mkswap", ABS "mkswap"),
  OK ("tools", "fetcher", fetcher, "/opt/cowherd", "/opt/cowherd"),
  NO ("tools", "fetcher", fetcher, "cowherd", ABS "cowherd"),
  OK ("tools", "ssh", ssh, "/opt/openssh/bin/ssh", "/opt/openssh/bin/ssh"),
  NO ("tools", "ssh", ssh, "ssh", ABS "ssh"),
  OK ("log", "syslog", log_syslog, "no", "false"),
  OK ("log", "syslog", log_syslog, "false", "false"),
  OK ("log", "syslog", log_syslog, "0", "false"),
  OK ("log", "syslog", log_syslog, "yes", "true"),
  OK ("log", "syslog", log_syslog, "true", "true"),
  OK ("log", "syslog", log_syslog, "1", "true"),
  NO ("log", "syslog", log_syslog, "maybe", "not a boolean: maybe"),
  NO ("log", "syslog", log_syslog, "TRUE", "not a boolean: TRUE"),
  OK ("log", "file", log_file, "/var/log//cowherd.log", "/var/log/cowherd.log"),
  OK ("log", "file", log_file, "", "(null)"),
  NO ("log", "file", log_file, "cowherd.log", ABS "cowherd.log"),
  OK ("glance", "url", glance_url, "https://g.example:9292//", "https://g.example:9292"),
  OK ("glance", "url", glance_url, "http://g/v2", "http://g/v2"),
  NO ("glance", "url", glance_url, "ftp://x/", "not an http:// or https:// URL: ftp://x/"),
  NO ("glance", "url", glance_url, "http://x/a b", "not an http:// or https:// URL: http://x/a b"),
  NO ("glance", "url", glance_url, "http://x/<a>", "not an http:// or https:// URL: http://x/<a>"),
  OK ("glance", "token_file", glance_token_file, "/etc/cowherd/token", "/etc/cowherd/token"),
  NO ("glance", "token_file", glance_token_file, "token", ABS "token"),
  OK ("keystone", "auth_url", ks_auth_url, "http://k:5000/v3/", "http://k:5000/v3"),
  NO ("keystone", "auth_url", ks_auth_url, "k:5000/v3",
      "not an http:// or https:// URL: k:5000/v3"),
  OK ("keystone", "username", ks_username, "nova", "nova"),
  NO ("keystone", "username", ks_username, "a\"b", WORD_CHARS),
  NO ("keystone", "username", ks_username, "a\\b", WORD_CHARS),
  NO ("keystone", "username", ks_username, "a\tb", WORD_CHARS),
  NO ("keystone", "username", ks_username, "", "must be 1 to 255 bytes"),
  OK ("keystone", "password_file", ks_password_file, "/etc/cowherd/pw", "/etc/cowherd/pw"),
  NO ("keystone", "password_file", ks_password_file, "pw", ABS "pw"),
  OK ("keystone", "project_name", ks_project_name, "service", "service"),
  NO ("keystone", "project_name", ks_project_name, "", "must be 1 to 255 bytes"),
  OK ("keystone", "user_domain_name", ks_user_domain, "Users", "Users"),
  NO ("keystone", "user_domain_name", ks_user_domain, "\"", WORD_CHARS),
  OK ("keystone", "project_domain_name", ks_project_domain, "Projects", "Projects"),
  NO ("keystone", "project_domain_name", ks_project_domain, "", "must be 1 to 255 bytes"),
  OK ("keystone", "region_name", ks_region, "RegionTwo", "RegionTwo"),
  NO ("keystone", "region_name", ks_region, "a\\", WORD_CHARS),
  OK ("keystone", "interface", ks_interface, "internal", "internal"),
  NO ("keystone", "interface", ks_interface, "", "must be 1 to 255 bytes"),
  OK ("peers", "urls", peers, "sftp://nova@h2/var/lib/nova/instances/_base/, file:///srv/base/",
      "2: sftp://nova@h2/var/lib/nova/instances/_base/ file:///srv/base/"),
  OK ("peers", "urls", peers, "http://a/ https://b/\t,file:///c/",
      "3: http://a/ https://b/ file:///c/"),
  OK ("peers", "urls", peers, "", "0:"),
  OK ("peers", "urls", peers, " , ", "0:"),
  NO ("peers", "urls", peers, "sftp://h/base", PEER_URL "sftp://h/base"),
  NO ("peers", "urls", peers, "file:///a/, gopher://h/", PEER_URL "gopher://h/"),
  NO ("peers", "urls", peers, "file://h/", PEER_URL "file://h/"),
  NO ("peers", "urls", peers, "http://h/'x'/", PEER_URL "http://h/'x'/"),
  NO ("peers", "urls", peers,
      "http://a/ http://b/ http://c/ http://d/ http://e/ http://f/ http://g/ http://h/ http://i/ "
      "http://j/ http://k/ http://l/ http://m/ http://n/ http://o/ http://p/ http://q/",
      "more than 16 peers"),
  OK ("peers", "urls", peers,
      "http://a/ http://b/ http://c/ http://d/ http://e/ http://f/ http://g/ http://h/ http://i/ "
      "http://j/ http://k/ http://l/ http://m/ http://n/ http://o/ http://p/",
      "16: http://a/ http://b/ http://c/ http://d/ http://e/ http://f/ http://g/ http://h/ "
      "http://i/ http://j/ http://k/ http://l/ http://m/ http://n/ http://o/ http://p/"),
  OK ("peers", "ssh_key", peer_ssh_key, "/etc/cowherd/id", "/etc/cowherd/id"),
  NO ("peers", "ssh_key", peer_ssh_key, "~/.ssh/id", ABS "~/.ssh/id"),
  OK ("peers", "extents", peer_extents, "no", "false"),
  NO ("peers", "extents", peer_extents, "sometimes", "not a boolean: sometimes"),
  OK ("peers", "remote_cowherd", peer_remote_cowherd, "/usr/local/bin/cowherd",
      "/usr/local/bin/cowherd"),
  NO ("peers", "remote_cowherd", peer_remote_cowherd, "", "must be 1 to 255 bytes"),
  OK ("fetch", "ca_file", ca_file, "/etc/ssl/ca.pem", "/etc/ssl/ca.pem"),
  NO ("fetch", "ca_file", ca_file, "", ABS),
  OK ("fetch", "insecure", tls_insecure, "yes", "true"),
  NO ("fetch", "insecure", tls_insecure, "2", "not a boolean: 2"),
  OK ("fetch", "connect_timeout", connect_timeout, "1", "1"),
  OK ("fetch", "connect_timeout", connect_timeout, "3600", "3600"),
  NO ("fetch", "connect_timeout", connect_timeout, "0", "not a number from 1 to 3600: 0"),
  NO ("fetch", "connect_timeout", connect_timeout, "3601", "not a number from 1 to 3600: 3601"),
  OK ("fetch", "stall_timeout", stall_timeout, "1", "1"),
  OK ("fetch", "stall_timeout", stall_timeout, "3600", "3600"),
  NO ("fetch", "stall_timeout", stall_timeout, "0", "not a number from 1 to 3600: 0"),
  NO ("fetch", "stall_timeout", stall_timeout, "3601", "not a number from 1 to 3600: 3601"),
  OK ("fetch", "retries", retries, "0", "0"),
  OK ("fetch", "retries", retries, "100", "100"),
  NO ("fetch", "retries", retries, "-1", "not a number from 0 to 100: -1"),
  NO ("fetch", "retries", retries, "101", "not a number from 0 to 100: 101"),
  OK ("fetch", "force_raw_images", force_raw_images, "false", "false"),
  NO ("fetch", "force_raw_images", force_raw_images, "off", "not a boolean: off"),
  OK ("snapshot", "key_file", snapshot_key_file, "/etc/cowherd/snapshot.key",
      "/etc/cowherd/snapshot.key"),
  NO ("snapshot", "key_file", snapshot_key_file, "snapshot.key", ABS "snapshot.key"),
};
#define N_CASES (sizeof cases / sizeof cases[0])

static const struct ch_config_key *
find_row (const char *section, const char *key)
{
  for (size_t i = 0; i < ch_config_n_keys; i++)
    if (!strcmp (ch_config_keys[i].section, section) && !strcmp (ch_config_keys[i].key, key))
      return &ch_config_keys[i];
  return NULL;
}

/* The field of row K as text: a string or "(null)", "true"/"false", a
 * number, or a list as "N: item item". */
static void
field_text (const struct ch_config *cfg, const struct ch_config_key *k, char *buf, size_t len)
{
  const char *p = (const char *) cfg + k->offset;
  const char *s;

  switch (k->type) {
  case CH_CONF_BOOL:
    snprintf (buf, len, "%s", *(const bool *) p ? "true" : "false");
    return;
  case CH_CONF_INT:
    snprintf (buf, len, "%d", *(const int *) p);
    return;
  case CH_CONF_LIST: {
    char *const *items = *(char *const *const *) p;
    size_t n = *(const size_t *) ((const char *) cfg + k->count_offset), used;

    used = (size_t) snprintf (buf, len, "%zu:", n);
    for (size_t i = 0; i < n && used < len; i++)
      used += (size_t) snprintf (buf + used, len - used, " %s", items[i]);
    return;
  }
  case CH_CONF_PATH: case CH_CONF_STRING: case CH_CONF_WORD: case CH_CONF_URL:
    s = *(char *const *) p;
    snprintf (buf, len, "%s", s ? s : "(null)");
    return;
  }
  fail_msg ("[%s] %s: unknown type %d", k->section, k->key, (int) k->type);
}

static bool
is_string_row (const struct ch_config_key *k)
{
  return k->type == CH_CONF_PATH || k->type == CH_CONF_STRING || k->type == CH_CONF_WORD ||
    k->type == CH_CONF_URL;
}

/* Load TEXT; the message of a failure must be exactly "FILE: " ERROR. */
static int
load_expect (const char *text, struct ch_config *cfg, const char *error)
{
  char *path = write_conf (text);
  int r = ch_config_load (path, false, cfg);
  char want[2048];

  if (r < 0 && error) {
    snprintf (want, sizeof want, "%s: %s", path, error);
    if (strcmp (ch_last_error (), want) != 0)
      fail_msg ("error '%s', want '%s'", ch_last_error (), want);
  }
  unlink (path);
  free (path);
  return r;
}

/* Each value lands in its field, and in no other. */
static void
test_each_key (void **state)
{
  struct ch_config def, cfg;

  (void) state;
  assert_int_equal (ch_config_load ("/nonexistent", true, &def), 0);
  for (size_t i = 0; i < N_CASES; i++) {
    const struct key_case *c = &cases[i];
    const struct ch_config_key *row = find_row (c->section, c->key);
    char text[1024], error[1024], got[4096], was[4096];

    if (row == NULL)
      fail_msg ("[%s] %s: not in ch_config_keys", c->section, c->key);
    if (row->offset != c->offset)
      fail_msg ("[%s] %s: the table names another field", c->section, c->key);
    snprintf (text, sizeof text, "[%s]\n%s = %s\n", c->section, c->key, c->value);
    if (c->result == NULL) {
      snprintf (error, sizeof error, "[%s] %s: %s", c->section, c->key, c->error);
      if (load_expect (text, &cfg, error) != -1)
        fail_msg ("[%s] %s = %s: accepted", c->section, c->key, c->value);
      continue;
    }
    if (load_expect (text, &cfg, NULL) != 0)
      fail_msg ("[%s] %s = %s: %s", c->section, c->key, c->value, ch_last_error ());
    field_text (&cfg, row, got, sizeof got);
    if (strcmp (got, c->result) != 0)
      fail_msg ("[%s] %s = %s: '%s', want '%s'", c->section, c->key, c->value, got, c->result);
    for (size_t j = 0; j < ch_config_n_keys; j++) {
      const struct ch_config_key *other = &ch_config_keys[j];

      /* Those two follow instances_path (test_values). */
      if (other == row || (row->offset == F (instances_path) &&
                           (other->offset == F (base_dir) || other->offset == F (lock_dir))))
        continue;
      field_text (&cfg, other, got, sizeof got);
      field_text (&def, other, was, sizeof was);
      if (strcmp (got, was) != 0)
        fail_msg ("[%s] %s = %s changed [%s] %s to '%s'", c->section, c->key, c->value,
                  other->section, other->key, got);
    }
    ch_config_free (&cfg);
  }
  ch_config_free (&def);
}

/* Every row has a value it takes and one it refuses above; no two rows
 * share a key or a field. */
static void
test_table (void **state)
{
  (void) state;
  assert_true (ch_config_n_keys > 0);
  for (size_t i = 0; i < ch_config_n_keys; i++) {
    const struct ch_config_key *k = &ch_config_keys[i];
    bool ok = false, no = false;

    for (size_t j = 0; j < N_CASES; j++)
      if (!strcmp (cases[j].section, k->section) && !strcmp (cases[j].key, k->key)) {
        ok |= cases[j].result != NULL;
        no |= cases[j].result == NULL;
      }
    if (!ok || !no)
      fail_msg ("[%s] %s: no case it %s", k->section, k->key, ok ? "refuses" : "takes");
    if (k->type == CH_CONF_INT && (k->def_num < k->lo || k->def_num > k->hi))
      fail_msg ("[%s] %s: default out of bounds", k->section, k->key);
    for (size_t j = i + 1; j < ch_config_n_keys; j++) {
      const struct ch_config_key *o = &ch_config_keys[j];

      if (!strcmp (k->section, o->section) && !strcmp (k->key, o->key))
        fail_msg ("[%s] %s: two rows", k->section, k->key);
      if (k->offset == o->offset)
        fail_msg ("[%s] %s and [%s] %s: one field", k->section, k->key, o->section, o->key);
      if ((k->type == CH_CONF_LIST && k->count_offset == o->offset) ||
          (o->type == CH_CONF_LIST && o->count_offset == k->offset))
        fail_msg ("[%s] %s and [%s] %s: one field", k->section, k->key, o->section, o->key);
    }
  }
}

/* With every key set, ch_config_free frees every string (valgrind's
 * leak check) and clears the struct. */
static void
test_free_all (void **state)
{
  char text[8192] = "", *cur = text;
  const char *section = "";
  struct ch_config cfg;
  static const struct ch_config zero;

  (void) state;
  for (size_t i = 0; i < ch_config_n_keys; i++) {
    const struct ch_config_key *k = &ch_config_keys[i];
    const struct key_case *c = NULL;

    /* Its first accepted value that sets something. */
    for (size_t j = 0; j < N_CASES && c == NULL; j++)
      if (!strcmp (cases[j].section, k->section) && !strcmp (cases[j].key, k->key) &&
          cases[j].result && strcmp (cases[j].result, "(null)") && strcmp (cases[j].result, "0:"))
        c = &cases[j];
    assert_non_null (c);
    if (strcmp (section, k->section) != 0)
      cur += sprintf (cur, "[%s]\n", k->section);
    section = k->section;
    cur += sprintf (cur, "%s = %s\n", k->key, c->value);
    assert_true (cur < text + sizeof text - 512);
  }
  assert_int_equal (load_expect (text, &cfg, NULL), 0);
  for (size_t i = 0; i < ch_config_n_keys; i++) {
    const struct ch_config_key *k = &ch_config_keys[i];
    const char *p = (const char *) &cfg + k->offset;

    if (is_string_row (k) || k->type == CH_CONF_LIST)
      if (*(void *const *) p == NULL)
        fail_msg ("[%s] %s: not set", k->section, k->key);
  }
  ch_config_free (&cfg);
  assert_memory_equal (&cfg, &zero, sizeof cfg);
}

/* Each default is a value its key accepts, read back as the same. */
static void
test_defaults_valid (void **state)
{
  struct ch_config def, cfg;

  (void) state;
  assert_int_equal (ch_config_load ("/nonexistent", true, &def), 0);
  for (size_t i = 0; i < ch_config_n_keys; i++) {
    const struct ch_config_key *k = &ch_config_keys[i];
    char text[8192], got[4096], was[4096];

    field_text (&def, k, was, sizeof was);
    if (k->type == CH_CONF_LIST || (is_string_row (k) && k->def == NULL))
      continue;
    snprintf (text, sizeof text, "[%s]\n%s = %s\n", k->section, k->key, was);
    if (load_expect (text, &cfg, NULL) != 0)
      fail_msg ("[%s] %s = %s: %s", k->section, k->key, was, ch_last_error ());
    field_text (&cfg, k, got, sizeof got);
    assert_string_equal (got, was);
    ch_config_free (&cfg);
  }
  ch_config_free (&def);
}

static void
text_of (const char *conf, const char *section, const char *key, const char *want)
{
  const struct ch_config_key *k = find_row (section, key);
  struct ch_config cfg;
  char got[4096];

  assert_non_null (k);
  if (load_expect (conf, &cfg, NULL) != 0)
    fail_msg ("%s: %s", conf, ch_last_error ());
  field_text (&cfg, k, got, sizeof got);
  assert_string_equal (got, want);
  ch_config_free (&cfg);
}

/* A key given again: the later line wins; an empty [log] file keeps what
 * was there; a continuation line is the key given again. */
static void
test_repeats (void **state)
{
  struct ch_config cfg;

  (void) state;
  text_of ("[tools]\nqemu_img = /a\nqemu_img = /b\n", "tools", "qemu_img", "/b");
  text_of ("[locks]\ntimeout = 1\n[nova]\n[locks]\ntimeout = 2\n", "locks", "timeout", "2");
  text_of ("[log]\nsyslog = no\nsyslog = yes\n", "log", "syslog", "true");
  text_of ("[peers]\nurls = http://a/, http://b/\nurls = file:///c/\n", "peers", "urls",
           "1: file:///c/");
  text_of ("[peers]\nurls = http://a/\n  http://b/\n", "peers", "urls", "1: http://b/");
  text_of ("[peers]\nurls = http://a/\nurls =\n", "peers", "urls", "0:");
  text_of ("[log]\nfile = /a\nfile =\n", "log", "file", "/a");
  text_of ("[keystone]\ninterface = admin\ninterface = public\n", "keystone", "interface",
           "public");
  /* The first error is the one reported. */
  assert_int_equal (load_expect ("[tools]\nmkfs = a\nmkswap = b\n", &cfg,
                                 "[tools] mkfs: must be an absolute path: a"), -1);
  assert_int_equal (load_expect ("[tools]\nmkfs = /a\nmkfs = b\n", &cfg,
                                 "[tools] mkfs: must be an absolute path: b"), -1);
}

/* Unknown keys and sections; a section with no keys is not looked at. */
static void
test_unknown (void **state)
{
  struct ch_config cfg;

  (void) state;
  assert_int_equal (load_expect ("[nova]\nbogus = 1\n", &cfg, "unknown key [nova] bogus"), -1);
  assert_int_equal (load_expect ("[bogus]\nx = 1\n", &cfg, "unknown key [bogus] x"), -1);
  assert_int_equal (load_expect ("[NOVA]\ninstances_path = /x\n", &cfg,
                                 "unknown key [NOVA] instances_path"), -1);
  assert_int_equal (load_expect ("[nova]\nInstances_Path = /x\n", &cfg,
                                 "unknown key [nova] Instances_Path"), -1);
  assert_int_equal (load_expect ("[tools]\ntimeout = 5\n", &cfg,
                                 "unknown key [tools] timeout"), -1);
  /* Before any section. */
  assert_int_equal (load_expect ("instances_path = /x\n", &cfg,
                                 "unknown key [] instances_path"), -1);
  assert_int_equal (load_expect ("[nova]\nbogus = 1\n[locks]\ntimeout = x\n", &cfg,
                                 "unknown key [nova] bogus"), -1);
  assert_int_equal (load_expect ("[bogus]\n[nova]\n", &cfg, NULL), 0);
  ch_config_free (&cfg);
  assert_int_equal (load_expect ("", &cfg, NULL), 0);
  ch_config_free (&cfg);
  assert_int_equal (load_expect ("[nova\n[locks]\ntimeout = 1\n", &cfg,
                                 "line 1: syntax error"), -1);
  /* A bad value after a syntax error is the one reported. */
  assert_int_equal (load_expect ("[nova\n[locks]\ntimeout = x\n", &cfg,
                                 "[locks] timeout: not a number from 0 to 86400: x"), -1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    /* First: a table with two rows on one field cannot be freed. */
    cmocka_unit_test (test_table),
    cmocka_unit_test (test_defaults),
    cmocka_unit_test (test_values),
    cmocka_unit_test (test_sources),
    cmocka_unit_test (test_errors),
    cmocka_unit_test (test_each_key),
    cmocka_unit_test (test_free_all),
    cmocka_unit_test (test_defaults_valid),
    cmocka_unit_test (test_repeats),
    cmocka_unit_test (test_unknown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
