/* fetch/glance.c: which image of a Glance list filtered by image_id_sha1
 * is the original. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "glance.h"
#include "testutil.h"

#define ORIG "7f0c1f8e-2d3b-4c5a-9e6f-1a2b3c4d5e6f"   /* sha1 of its id: NAME */
#define NAME "935a5a0c3bd841ff07a3d0f3817e3a9d6acc2b6f"
#define SNAP1 "11111111-2222-4333-8444-555555555555"
#define SNAP2 "22222222-2222-4333-8444-555555555555"
#define OTHER "33333333-2222-4333-8444-555555555555"

#define IMG(id, extra) "{\"id\": \"" id "\", \"status\": \"active\", \"image_id_sha1\": \"" NAME "\"" extra "}"
#define SNAPSHOT ", \"image_type\": \"snapshot\""
#define BACKUP ", \"image_type\": \"backup\", \"instance_uuid\": \"" SNAP2 "\""
#define OLD_SNAPSHOT ", \"instance_uuid\": \"" SNAP2 "\""

static int
pick (const char *body, char id[CH_IMAGE_ID_MAX + 1])
{
  ch_error_clear ();
  id[0] = '\0';
  return ch_glance_parse_list (body, strlen (body), NAME, id);
}

static void
test_original_among_snapshots (void **state)
{
  char id[CH_IMAGE_ID_MAX + 1];

  (void) state;
  /* Nova's snapshots inherit the property; the original's id hashes to
   * the name, wherever it is in the list. */
  assert_int_equal (pick ("{\"images\": [" IMG (SNAP1, SNAPSHOT) ", " IMG (SNAP2, SNAPSHOT) ", "
                          IMG (ORIG, "") "]}", id), 0);
  assert_string_equal (id, ORIG);
  /* Even beside another image that claims the name. */
  assert_int_equal (pick ("{\"images\": [" IMG (OTHER, "") ", " IMG (ORIG, "") "]}", id), 0);
  assert_string_equal (id, ORIG);
}

static void
test_replacement (void **state)
{
  char id[CH_IMAGE_ID_MAX + 1];

  (void) state;
  /* The original gone, one image that stands for it (the operator's
   * scheme), snapshots beside it. */
  assert_int_equal (pick ("{\"images\": [" IMG (SNAP1, SNAPSHOT) ", " IMG (OTHER, "") "]}", id), 0);
  assert_string_equal (id, OTHER);
}

static void
test_refused (void **state)
{
  char id[CH_IMAGE_ID_MAX + 1];

  (void) state;
  assert_int_equal (pick ("{\"images\": [" IMG (SNAP1, SNAPSHOT) ", " IMG (SNAP2, SNAPSHOT) "]}",
                          id), -1);
  assert_non_null (strstr (ch_last_error (), "but 2 Nova snapshots or backups of it"));
  /* A backup (or anything of an instance's) is no stand-in for the
   * original either. */
  assert_int_equal (pick ("{\"images\": [" IMG (SNAP1, SNAPSHOT) ", " IMG (OTHER, BACKUP) "]}",
                          id), -1);
  assert_int_equal (pick ("{\"images\": [" IMG (OTHER, OLD_SNAPSHOT) "]}", id), -1);
  assert_int_equal (pick ("{\"images\": [" IMG (SNAP1, "") ", " IMG (OTHER, "") "]}", id), -1);
  assert_non_null (strstr (ch_last_error (), "refusing to guess"));
  assert_int_equal (pick ("{\"images\": []}", id), -1);
  /* Not active: not the image. */
  assert_int_equal (pick ("{\"images\": [{\"id\": \"" ORIG "\", \"status\": \"queued\"}]}", id),
                    -1);
  assert_int_equal (pick ("{\"images\": {}}", id), -1);
  assert_int_equal (pick ("[]", id), -1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_original_among_snapshots),
    cmocka_unit_test (test_replacement),
    cmocka_unit_test (test_refused),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
