/* Unit tests for fetch/keystone.c: the image endpoint in Keystone's token
 * response.  The documents are real answers of Debian's keystone 22 to
 * POST /v3/auth/tokens (captured from the integration test's setup), and
 * variants of them with one part changed; no server is involved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "keystone.h"
#include "testutil.h"

/* A project-scoped token for user cowherd: the identity service and Glance
 * in RegionOne, public "http://127.0.0.1:9292", internal ".../v2/". */
static const char ONE_REGION[] =
  "{\"token\": {\"methods\": [\"password\"], \"user\": {\"domain\": {\"id\": \"default"
  "\", \"name\": \"Default\"}, \"id\": \"4996b8e4412d46d2bb91ad6f68b82649\", \"name"
  "\": \"cowherd\", \"password_expires_at\": null}, \"audit_ids\": [\"UkttDTYqTWG"
  "3aXTr_kxF-A\"], \"expires_at\": \"2026-11-22T05:50:56.000000Z\", \"issued_at"
  "\": \"2026-11-22T04:50:56.000000Z\", \"project\": {\"domain\": {\"id\": \"defaul"
  "t\", \"name\": \"Default\"}, \"id\": \"f192fa3eab644837a49659f558b8e8b5\", \"nam"
  "e\": \"service\"}, \"is_domain\": false, \"roles\": [{\"id\": \"c6b9b50650c94090"
  "8c685ee31b8a6f77\", \"name\": \"member\"}, {\"id\": \"6913e400574f485bbdb3bb9d"
  "73a55cd6\", \"name\": \"reader\"}], \"catalog\": [{\"endpoints\": [{\"id\": \"3181"
  "77684f4b477bbc93bf305a0a619e\", \"interface\": \"public\", \"region_id\": \"Re"
  "gionOne\", \"url\": \"http://127.0.0.1:52633/v3\", \"region\": \"RegionOne\"}, "
  "{\"id\": \"6fef30cc8f394c50a77852c247b96101\", \"interface\": \"internal\", \"r"
  "egion_id\": \"RegionOne\", \"url\": \"http://127.0.0.1:52633/v3\", \"region\": "
  "\"RegionOne\"}, {\"id\": \"e2a877f3d5bd463eb76ee18f734a69cf\", \"interface\": "
  "\"admin\", \"region_id\": \"RegionOne\", \"url\": \"http://127.0.0.1:52633/v3\","
  " \"region\": \"RegionOne\"}], \"id\": \"684deb195d664dc0b37f00af33a7f60c\", \"t"
  "ype\": \"identity\", \"name\": \"keystone\"}, {\"endpoints\": [{\"id\": \"9b9ea0e7"
  "bc894c3095870318ffd26bd8\", \"interface\": \"public\", \"region_id\": \"Region"
  "One\", \"url\": \"http://127.0.0.1:9292\", \"region\": \"RegionOne\"}, {\"id\": \""
  "9a0aca5596524da797a3f230cbc90803\", \"interface\": \"internal\", \"region_id"
  "\": \"RegionOne\", \"url\": \"http://127.0.0.1:9292/v2/\", \"region\": \"RegionO"
  "ne\"}], \"id\": \"c48f47848726481a842db73cafa166e8\", \"type\": \"image\", \"nam"
  "e\": \"glance\"}]}}";

/* The same after a public image endpoint in RegionTwo was added. */
static const char TWO_REGIONS[] =
  "{\"token\": {\"methods\": [\"password\"], \"user\": {\"domain\": {\"id\": \"default"
  "\", \"name\": \"Default\"}, \"id\": \"a571f4f9541346c5914234c212675968\", \"name"
  "\": \"cowherd\", \"password_expires_at\": null}, \"audit_ids\": [\"UoSG5qWLTdu"
  "SydjxyEJIwQ\"], \"expires_at\": \"2026-11-22T05:58:02.000000Z\", \"issued_at"
  "\": \"2026-11-22T04:58:02.000000Z\", \"project\": {\"domain\": {\"id\": \"defaul"
  "t\", \"name\": \"Default\"}, \"id\": \"429a5fc5c8db47ceb609f1771800a61c\", \"nam"
  "e\": \"service\"}, \"is_domain\": false, \"roles\": [{\"id\": \"5fd96a70f88741ac"
  "8747f5f286f86a1f\", \"name\": \"member\"}, {\"id\": \"29fd20078bad40ebabb46794"
  "e4fe684d\", \"name\": \"reader\"}], \"catalog\": [{\"endpoints\": [{\"id\": \"d73e"
  "5ea56d544dab923fe9950de54c37\", \"interface\": \"public\", \"region_id\": \"Re"
  "gionOne\", \"url\": \"http://127.0.0.1:43027/v3\", \"region\": \"RegionOne\"}, "
  "{\"id\": \"ce3a0968224441ffbf64fe463c8ade49\", \"interface\": \"internal\", \"r"
  "egion_id\": \"RegionOne\", \"url\": \"http://127.0.0.1:43027/v3\", \"region\": "
  "\"RegionOne\"}, {\"id\": \"27508327efda47118b025aa4599da28b\", \"interface\": "
  "\"admin\", \"region_id\": \"RegionOne\", \"url\": \"http://127.0.0.1:43027/v3\","
  " \"region\": \"RegionOne\"}], \"id\": \"1603070552b745a0b6d6b6ce6e21f175\", \"t"
  "ype\": \"identity\", \"name\": \"keystone\"}, {\"endpoints\": [{\"id\": \"cbeadf7a"
  "04f94201a564e9a68f24b106\", \"interface\": \"public\", \"region_id\": \"Region"
  "One\", \"url\": \"http://127.0.0.1:9292\", \"region\": \"RegionOne\"}, {\"id\": \""
  "78fbdb5f51904601b35d67cb47bcf124\", \"interface\": \"internal\", \"region_id"
  "\": \"RegionOne\", \"url\": \"http://127.0.0.1:9292/v2/\", \"region\": \"RegionO"
  "ne\"}, {\"id\": \"d8cbfc894e3b4b5eac2cafa9771a97f2\", \"interface\": \"public\""
  ", \"region_id\": \"RegionTwo\", \"url\": \"https://glance.region-two.example:"
  "9292/\", \"region\": \"RegionTwo\"}], \"id\": \"c9fac08d0e2d45b2b792194c68c9cb"
  "23\", \"type\": \"image\", \"name\": \"glance\"}]}}";

/* The admin's token before any service but Keystone's was registered. */
static const char NO_IMAGE[] =
  "{\"token\": {\"methods\": [\"password\"], \"user\": {\"domain\": {\"id\": \"default"
  "\", \"name\": \"Default\"}, \"id\": \"04734b529a584f55aa92fa454b2c3d11\", \"name"
  "\": \"admin\", \"password_expires_at\": null}, \"audit_ids\": [\"otmqH_yaRBKio"
  "O0o6NzY7Q\"], \"expires_at\": \"2026-11-22T05:46:21.000000Z\", \"issued_at\":"
  " \"2026-11-22T04:46:21.000000Z\", \"project\": {\"domain\": {\"id\": \"default\""
  ", \"name\": \"Default\"}, \"id\": \"29103017cd25416ca29982b3a9cf8a97\", \"name\""
  ": \"admin\"}, \"is_domain\": false, \"roles\": [{\"id\": \"af04477f748d4bfe935d"
  "1ad30963a528\", \"name\": \"admin\"}, {\"id\": \"88d96e2cf91847d7b475c1baa5b5f"
  "658\", \"name\": \"reader\"}, {\"id\": \"c86cf7c1e1b04d51a88f14fe7dece471\", \"n"
  "ame\": \"member\"}], \"catalog\": [{\"endpoints\": [{\"id\": \"c1afcd62c7db4e32b"
  "493102e34726422\", \"interface\": \"public\", \"region_id\": \"RegionOne\", \"ur"
  "l\": \"http://127.0.0.1:35999/v3\", \"region\": \"RegionOne\"}, {\"id\": \"bb1d0"
  "d6cfaea4587b505d85126eb8c4c\", \"interface\": \"internal\", \"region_id\": \"R"
  "egionOne\", \"url\": \"http://127.0.0.1:35999/v3\", \"region\": \"RegionOne\"},"
  " {\"id\": \"11f0639dd06740faada67c949c6f227b\", \"interface\": \"admin\", \"reg"
  "ion_id\": \"RegionOne\", \"url\": \"http://127.0.0.1:35999/v3\", \"region\": \"R"
  "egionOne\"}], \"id\": \"d2a3d341f5954ddcad5059c0c5d41985\", \"type\": \"identi"
  "ty\", \"name\": \"keystone\"}]}}";

/* The image endpoint for INTERFACE and REGION in BODY must be WANT. */
static void
found (const char *body, const char *interface, const char *region, const char *want)
{
  char *url = NULL;

  ch_error_clear ();
  if (ch_keystone_image_endpoint (body, interface, region, &url) != 0)
    fail_msg ("%s/%s: %s", interface, region ? region : "-", ch_last_error ());
  assert_non_null (url);
  assert_string_equal (url, want);
  free (url);
}

/* BODY must be refused with an error containing FRAG, and no URL. */
static void
refused (const char *body, const char *interface, const char *region, const char *frag)
{
  char *url = (char *) "unset";

  ch_error_clear ();
  if (ch_keystone_image_endpoint (body, interface, region, &url) != -1)
    fail_msg ("accepted (%s): %.200s", url, body);
  assert_null (url);
  assert_error_contains (frag);
  assert_null (strchr (ch_last_error (), '\n'));
}

/* BASE with its one occurrence of FROM replaced by TO (malloc'd). */
static char *
variant (const char *base, const char *from, const char *to)
{
  const char *at = strstr (base, from);
  char *s;

  if (at == NULL || strstr (at + 1, from) != NULL)
    fail_msg ("\"%s\" is not in the document exactly once", from);
  s = malloc (strlen (base) - strlen (from) + strlen (to) + 1);
  assert_non_null (s);
  memcpy (s, base, (size_t) (at - base));
  strcpy (s + (at - base), to);
  strcat (s, at + strlen (from));
  return s;
}

/* The one image endpoint URL of ONE_REGION's public interface replaced by
 * URL; the endpoint found for public must be WANT (NULL: refused). */
static void
public_url (const char *url, const char *want)
{
  char to[2048];
  char *body;

  snprintf (to, sizeof to, "\"url\": \"%s\"", url);
  body = variant (ONE_REGION, "\"url\": \"http://127.0.0.1:9292\"", to);
  if (want)
    found (body, "public", NULL, want);
  else
    refused (body, "public", NULL, "not an http:// or https:// URL");
  free (body);
}

static void
test_interfaces (void **state)
{
  (void) state;
  found (ONE_REGION, "public", NULL, "http://127.0.0.1:9292");
  found (ONE_REGION, NULL, NULL, "http://127.0.0.1:9292");          /* default */
  found (ONE_REGION, "publicURL", NULL, "http://127.0.0.1:9292");
  /* "http://127.0.0.1:9292/v2/": cowherd adds /v2/images/... itself. */
  found (ONE_REGION, "internal", NULL, "http://127.0.0.1:9292");
  found (ONE_REGION, "internalURL", "RegionOne", "http://127.0.0.1:9292");
  refused (ONE_REGION, "admin", NULL,
           "no image endpoint for interface admin (it has: public in RegionOne, "
           "internal in RegionOne)");
  refused (ONE_REGION, "bogus", NULL, "[keystone] interface = bogus");
  refused (ONE_REGION, "Public", NULL, "not public, internal or admin");
  refused (ONE_REGION, "publicurl", NULL, "not public, internal or admin");
}

static void
test_regions (void **state)
{
  (void) state;
  found (ONE_REGION, "public", "RegionOne", "http://127.0.0.1:9292");
  refused (ONE_REGION, "public", "RegionTwo",
           "no image endpoint for interface public in region RegionTwo");
  refused (TWO_REGIONS, "public", NULL,
           "different image endpoints for interface public (regions RegionOne, RegionTwo): "
           "set [keystone] region_name");
  found (TWO_REGIONS, "public", "RegionOne", "http://127.0.0.1:9292");
  found (TWO_REGIONS, "public", "RegionTwo", "https://glance.region-two.example:9292");
  found (TWO_REGIONS, "internal", NULL, "http://127.0.0.1:9292");
}

/* One URL listed in two regions is not ambiguous; "region" alone (the
 * older name of region_id) is enough to match. */
static void
test_same_url_two_regions (void **state)
{
  char *body;

  (void) state;
  body = variant (TWO_REGIONS, "\"https://glance.region-two.example:9292/\"",
                  "\"http://127.0.0.1:9292/\"");
  found (body, "public", NULL, "http://127.0.0.1:9292");
  free (body);
  body = variant (TWO_REGIONS, "\"region_id\": \"RegionTwo\", ", "");
  found (body, "public", "RegionTwo", "https://glance.region-two.example:9292");
  free (body);
  body = variant (TWO_REGIONS, "\"region_id\": \"RegionTwo\", ", "\"region_id\": null, ");
  found (body, "public", "RegionTwo", "https://glance.region-two.example:9292");
  free (body);
}

static void
test_no_image_service (void **state)
{
  char *body;

  (void) state;
  refused (NO_IMAGE, "public", NULL, "the Keystone catalog has no image service");
  body = variant (ONE_REGION, "\"type\": \"image\"", "\"type\": \"volumev3\"");
  refused (body, "public", NULL, "no image service");
  free (body);
}

static void
test_urls (void **state)
{
  (void) state;
  public_url ("http://127.0.0.1:9292/v2", "http://127.0.0.1:9292");
  public_url ("http://127.0.0.1:9292/v2//", "http://127.0.0.1:9292");
  public_url ("http://127.0.0.1:9292//", "http://127.0.0.1:9292");
  public_url ("https://cloud.example/image", "https://cloud.example/image");
  public_url ("https://cloud.example/image/v2/", "https://cloud.example/image");
  public_url ("http://cloud.example/v2x", "http://cloud.example/v2x");
  public_url ("http://cloud.example/v2.1", "http://cloud.example/v2.1");
  public_url ("http://v2", "http://v2");
  public_url ("ftp://127.0.0.1:9292", NULL);
  public_url ("file:///etc/passwd", NULL);
  public_url ("127.0.0.1:9292", NULL);
  public_url ("", NULL);
  public_url ("http://127.0.0.1:9292/ x", NULL);
  public_url ("http://127.0.0.1:9292/\\\"x", NULL);
  public_url ("http://127.0.0.1:9292/\\u0001", NULL);
  public_url ("http://127.0.0.1:9292/\\nx", NULL);
  {
    char *body = variant (ONE_REGION, "\"url\": \"http://127.0.0.1:9292\"", "\"url\": \"http:///v2\"");

    refused (body, "public", NULL, "http:///v2");
    free (body);
  }
  {
    char longurl[1100];

    memset (longurl, 'a', sizeof longurl);
    memcpy (longurl, "http://", 7);
    longurl[CH_KEYSTONE_URL_MAX] = '\0';
    public_url (longurl, longurl);
    longurl[CH_KEYSTONE_URL_MAX] = 'a';
    longurl[CH_KEYSTONE_URL_MAX + 1] = '\0';
    public_url (longurl, NULL);
  }
}

/* Wrong types and missing parts, each refused with a message naming it. */
static void
test_malformed (void **state)
{
  static const struct {
    const char *from, *to, *frag;
  } cases[] = {
    { "{\"token\": {", "{\"tokens\": {", "no \"token\" object" },
    { "\"catalog\": [", "\"catalogue\": [", "has no service catalog" },
    { "\"catalog\": [", "\"catalog\": {\"x\": [", "not a JSON object" },
    { "\"type\": \"image\"", "\"type\": [\"image\"]", "catalog entry 1: \"type\" is not a string" },
    { "\"type\": \"image\"", "\"type\": null", "catalog entry 1 has no \"type\"" },
    { "\"type\": \"identity\"", "\"type\": 7", "catalog entry 0: \"type\" is not a string" },
    { "\"type\": \"image\"", "\"type\": \"im\\u0000age\"", "\"type\" is not a string" },
    { "\"url\": \"http://127.0.0.1:9292\"", "\"url\": 9292",
      "catalog entry 1 (image), endpoint 0: \"url\" is not a string" },
    { "\"url\": \"http://127.0.0.1:9292\"", "\"url\": null", "no \"interface\" or no \"url\"" },
    { "\"interface\": \"public\", \"region_id\": \"RegionOne\", \"url\": \"http://127.0.0.1:9292\"",
      "\"region_id\": \"RegionOne\", \"url\": \"http://127.0.0.1:9292\"",
      "no \"interface\" or no \"url\"" },
    { "\"interface\": \"internal\", \"region_id\": \"RegionOne\", \"url\": \"http://127.0.0.1:9292/v2/\"",
      "\"interface\": {}, \"region_id\": \"RegionOne\", \"url\": \"http://127.0.0.1:9292/v2/\"",
      "endpoint 1: \"interface\" is not a string" },
    { "\"region_id\": \"RegionOne\", \"url\": \"http://127.0.0.1:9292/v2/\"",
      "\"region_id\": 1, \"url\": \"http://127.0.0.1:9292/v2/\"", "\"region_id\" is not a string" },
  };

  (void) state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *body = variant (ONE_REGION, cases[i].from, cases[i].to);

    refused (body, "public", NULL, cases[i].frag);
    free (body);
  }
  {
    /* The image service's endpoints, not an array; not an object. */
    char *body = variant (ONE_REGION, "[{\"id\": \"9b9ea0e7bc894c3095870318ffd26bd8\"",
                          "{\"x\": [{\"id\": \"9b9ea0e7bc894c3095870318ffd26bd8\"");
    refused (body, "public", NULL, "not a JSON object");
    free (body);
    /* A second "endpoints", after the real one: json-c keeps the last. */
    body = variant (ONE_REGION, "\"type\": \"image\"", "\"endpoints\": 3, \"type\": \"image\"");
    refused (body, "public", NULL, "catalog entry 1: no \"endpoints\" array");
    free (body);
    body = variant (ONE_REGION, "{\"endpoints\": [{\"id\": \"9b9ea0e7",
                    "{\"endpoints\": [7, {\"id\": \"9b9ea0e7");
    refused (body, "public", NULL, "catalog entry 1 (image), endpoint 0 is not an object");
    free (body);
    body = variant (ONE_REGION, "{\"endpoints\": [{\"id\": \"9b9ea0e7",
                    "\"glance\", {\"endpoints\": [{\"id\": \"9b9ea0e7");
    refused (body, "public", NULL, "catalog entry 1 is not an object");
    free (body);
  }
}

static void
test_not_json (void **state)
{
  char *body;
  size_t n = strlen (ONE_REGION);

  (void) state;
  refused ("", "public", NULL, "not a JSON object");
  refused ("[]", "public", NULL, "not a JSON object");
  refused ("null", "public", NULL, "not a JSON object");
  refused ("<html>502 Bad Gateway</html>", "public", NULL, "not a JSON object");
  /* Cut short, and with something after the object. */
  body = strndup (ONE_REGION, n - 2);
  refused (body, "public", NULL, "not a JSON object");
  free (body);
  body = variant (ONE_REGION, "}]}}", "}]}} {}");
  refused (body, "public", NULL, "not a JSON object");
  free (body);
  body = variant (ONE_REGION, "}]}}", "}]}}\r\n ");
  found (body, "public", NULL, "http://127.0.0.1:9292");
  free (body);
}

/* Bounded: nesting, and the number of services and endpoints. */
static void
test_bounds (void **state)
{
  size_t n = 40, len;
  char *body, *many, *p;

  (void) state;
  body = malloc (2 * n + 1);
  assert_non_null (body);
  memset (body, '[', n);
  memset (body + n, ']', n);
  body[2 * n] = '\0';
  refused (body, "public", NULL, "not a JSON object");
  free (body);

  /* CH_KEYSTONE_CATALOG_MAX services are fine, one more is not. */
  for (int extra = 0; extra <= 1; extra++) {
    static const char svc[] = "{\"type\": \"x\", \"endpoints\": []}, ";
    size_t count = CH_KEYSTONE_CATALOG_MAX - 2 + (size_t) extra;   /* + the 2 real ones */

    len = count * (sizeof svc - 1) + 1;
    many = malloc (len + 16);
    assert_non_null (many);
    p = many;
    p += sprintf (p, "\"catalog\": [");
    for (size_t i = 0; i < count; i++)
      p += sprintf (p, "%s", svc);
    body = variant (ONE_REGION, "\"catalog\": [", many);
    if (extra)
      refused (body, "public", NULL, "more than 1000 entries in \"catalog\"");
    else
      found (body, "public", NULL, "http://127.0.0.1:9292");
    free (body);
    free (many);
  }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_interfaces),
    cmocka_unit_test (test_regions),
    cmocka_unit_test (test_same_url_two_regions),
    cmocka_unit_test (test_no_image_service),
    cmocka_unit_test (test_urls),
    cmocka_unit_test (test_malformed),
    cmocka_unit_test (test_not_json),
    cmocka_unit_test (test_bounds),
  };

  return tu_run_group_tests (tests, NULL, NULL);
}
