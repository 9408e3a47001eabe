/* Unit tests: configuration parsing. */
#include <setjmp.h>
#include <stdarg.h>
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

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_defaults),
    cmocka_unit_test (test_values),
    cmocka_unit_test (test_sources),
    cmocka_unit_test (test_errors),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
