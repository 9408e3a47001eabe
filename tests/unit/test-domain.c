/* cowherd: tests for xml/domain.c, the domain XML reader. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libxml/xmlerror.h>
#include <libxml/globals.h>

#include "cleanup.h"
#include "domain_xml.h"
#include "error.h"

#define NOVA_DIR "/var/lib/nova/instances/8a3c1e4f-6b2d-4c5e-9f10-2b3a4c5d6e7f"
#define BASE_DIR "/var/lib/nova/instances/_base"

/* ---- Helpers. ---- */

static char *
load_fixture (const char *name, size_t *len)
{
  CLEANUP_FREE char *path = NULL;
  CLEANUP_FCLOSE FILE *f = NULL;
  char *buf;
  long n;

  assert_true (asprintf (&path, "%s/%s", FIXTURES_DIR, name) > 0);
  f = fopen (path, "rb");
  if (f == NULL)
    fail_msg ("%s: %s", path, strerror (errno));
  assert_int_equal (fseek (f, 0, SEEK_END), 0);
  n = ftell (f);
  assert_true (n >= 0);
  rewind (f);
  buf = malloc ((size_t) n + 1);
  assert_non_null (buf);
  assert_int_equal (fread (buf, 1, (size_t) n, f), (size_t) n);
  buf[n] = '\0';
  *len = (size_t) n;
  return buf;
}

static struct ch_domain *
parse_ok (const char *buf, size_t len)
{
  struct ch_domain *dom = NULL;

  ch_error_clear ();
  if (ch_domain_parse (buf, len, &dom) != 0)
    fail_msg ("unexpected parse failure: %s", ch_last_error ());
  assert_non_null (dom);
  return dom;
}

static struct ch_domain *
parse_fixture (const char *name)
{
  CLEANUP_FREE char *buf = NULL;
  size_t len;

  buf = load_fixture (name, &len);
  return parse_ok (buf, len);
}

/* The parse fails, with one line of error containing NEEDLE. */
static void
check_fail (const char *buf, size_t len, const char *needle)
{
  struct ch_domain *dom = (struct ch_domain *) &dom;   /* not NULL */
  const char *msg;

  ch_error_clear ();
  assert_int_equal (ch_domain_parse (buf, len, &dom), -1);
  assert_null (dom);
  msg = ch_last_error ();
  if (strstr (msg, needle) == NULL)
    fail_msg ("error \"%s\" does not contain \"%s\"", msg, needle);
  assert_null (strchr (msg, '\n'));
}

static void
check_fail_str (const char *xml, const char *needle)
{
  check_fail (xml, strlen (xml), needle);
}

static void
check_fail_fixture (const char *name, const char *needle)
{
  CLEANUP_FREE char *buf = NULL;
  size_t len;

  buf = load_fixture (name, &len);
  check_fail (buf, len, needle);
}

static double
now_s (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* ---- Good documents. ---- */

static void
test_nova_1_1 (void **state)
{
  struct ch_domain *dom = parse_fixture ("domain-nova-1.1.xml");
  const struct ch_disk *d;

  (void) state;
  assert_string_equal (dom->name, "instance-0000002a");
  assert_string_equal (dom->uuid, "8a3c1e4f-6b2d-4c5e-9f10-2b3a4c5d6e7f");

  /* vda, vdb, vdc and the config drive; the block disk is skipped. */
  assert_int_equal (dom->n_disks, 4);
  d = &dom->disks[0];
  assert_string_equal (d->target, "vda");
  assert_string_equal (d->device, "disk");
  assert_string_equal (d->source, NOVA_DIR "/disk");
  assert_int_equal (d->fmt, CH_FMT_QCOW2);
  assert_false (d->readonly);
  assert_false (d->shareable);
  assert_int_equal (d->n_backing, 1);
  assert_string_equal (d->backing[0].path,
                       BASE_DIR "/7e5d2c5ec7b1d6bca1c1f3bbd0a8a3ffe2b1f9f0");
  assert_int_equal (d->backing[0].fmt, CH_FMT_RAW);

  d = &dom->disks[1];
  assert_string_equal (d->target, "vdb");
  assert_string_equal (d->source, NOVA_DIR "/disk.eph0");
  assert_int_equal (d->fmt, CH_FMT_QCOW2);
  assert_int_equal (d->n_backing, 1);
  assert_string_equal (d->backing[0].path, BASE_DIR "/ephemeral_1_0706d66");

  d = &dom->disks[2];
  assert_string_equal (d->target, "vdc");
  assert_string_equal (d->source, NOVA_DIR "/disk.swap");
  assert_int_equal (d->n_backing, 1);
  assert_string_equal (d->backing[0].path, BASE_DIR "/swap_512");

  d = &dom->disks[3];
  assert_string_equal (d->target, "sda");
  assert_string_equal (d->device, "cdrom");
  assert_string_equal (d->source, NOVA_DIR "/disk.config");
  assert_int_equal (d->fmt, CH_FMT_RAW);
  assert_true (d->readonly);
  assert_false (d->shareable);
  assert_int_equal (d->n_backing, 0);   /* <backingStore/>: no backing */
  assert_null (d->backing);

  assert_true (dom->nova.present);
  assert_int_equal (dom->nova.ns_version, 11);
  assert_string_equal (dom->nova.name, "vm1");
  assert_string_equal (dom->nova.flavor_name, "m1.small");
  assert_string_equal (dom->nova.root_type, "image");
  assert_string_equal (dom->nova.root_uuid,
                       "155d900f-4e14-4e4c-a73d-069cbf4541e6");
  assert_int_equal (dom->nova.memory_mb, 2048);
  assert_int_equal (dom->nova.disk_gb, 20);
  assert_int_equal (dom->nova.swap_mb, 512);
  assert_int_equal (dom->nova.ephemeral_gb, 1);
  ch_domain_free (dom);
}

static void
test_nova_1_0 (void **state)
{
  struct ch_domain *dom = parse_fixture ("domain-nova-1.0.xml");

  (void) state;
  assert_string_equal (dom->name, "instance-00000001");
  assert_int_equal (dom->n_disks, 1);
  assert_string_equal (dom->disks[0].target, "vda");
  assert_string_equal (dom->disks[0].source,
    "/var/lib/nova/instances/0f0e0d0c-0b0a-4909-8807-060504030201/disk");
  assert_int_equal (dom->disks[0].n_backing, 0);
  assert_true (dom->nova.present);
  assert_int_equal (dom->nova.ns_version, 10);
  assert_string_equal (dom->nova.name, "old-vm");
  assert_string_equal (dom->nova.flavor_name, "m1.tiny");
  assert_int_equal (dom->nova.memory_mb, 512);
  assert_int_equal (dom->nova.disk_gb, 1);
  assert_int_equal (dom->nova.swap_mb, 0);
  assert_int_equal (dom->nova.ephemeral_gb, 0);
  assert_string_equal (dom->nova.root_uuid,
                       "2b6c4f1e-0a9d-4c3b-8e7f-6a5b4c3d2e1f");
  ch_domain_free (dom);
}

static void
test_no_metadata (void **state)
{
  struct ch_domain *dom = parse_fixture ("domain-no-metadata.xml");

  (void) state;
  assert_string_equal (dom->name, "plain");
  assert_null (dom->uuid);
  /* network and volume disks are skipped. */
  assert_int_equal (dom->n_disks, 2);
  assert_string_equal (dom->disks[0].target, "vda");
  assert_string_equal (dom->disks[0].source, "/srv/images/plain.qcow2");
  assert_true (dom->disks[0].shareable);
  assert_false (dom->disks[0].readonly);
  assert_string_equal (dom->disks[1].target, "hdc");
  assert_string_equal (dom->disks[1].device, "cdrom");
  assert_null (dom->disks[1].source);   /* empty cdrom */
  assert_true (dom->disks[1].readonly);
  assert_false (dom->nova.present);
  assert_null (dom->nova.name);
  assert_null (dom->nova.root_uuid);
  assert_int_equal (dom->nova.memory_mb, -1);
  assert_int_equal (dom->nova.disk_gb, -1);
  assert_int_equal (dom->nova.swap_mb, -1);
  assert_int_equal (dom->nova.ephemeral_gb, -1);
  ch_domain_free (dom);
}

static void
test_backing_chain (void **state)
{
  struct ch_domain *dom = parse_fixture ("domain-backing-chain.xml");
  const struct ch_disk *d;

  (void) state;
  assert_int_equal (dom->n_disks, 1);
  d = &dom->disks[0];
  assert_string_equal (d->source,
    "/var/lib/nova/instances/11111111-2222-4333-8444-555555555555/disk");
  assert_int_equal (d->n_backing, 2);
  assert_string_equal (d->backing[0].path,
    "/var/lib/nova/instances/11111111-2222-4333-8444-555555555555/disk.snap");
  assert_int_equal (d->backing[0].fmt, CH_FMT_QCOW2);
  assert_string_equal (d->backing[1].path,
    BASE_DIR "/0123456789abcdef0123456789abcdef01234567");
  assert_int_equal (d->backing[1].fmt, CH_FMT_RAW);
  assert_int_equal (dom->nova.disk_gb, 40);
  assert_int_equal (dom->nova.swap_mb, 0);
  ch_domain_free (dom);
}

static void
test_odd_but_valid (void **state)
{
  struct ch_domain *dom = parse_fixture ("domain-odd.xml");

  (void) state;
  /* CDATA and text around a comment are one name. */
  assert_string_equal (dom->name, "odd-<vm>");
  assert_string_equal (dom->uuid, "00000000-0000-4000-8000-000000000000");
  assert_int_equal (dom->n_disks, 2);
  assert_string_equal (dom->disks[0].target, "vda");
  assert_string_equal (dom->disks[0].device, "disk");
  assert_int_equal (dom->disks[0].fmt, CH_FMT_QCOW2);
  /* Predefined entities and character references are not "entities". */
  assert_string_equal (dom->disks[0].source,
    "/var/lib/nova/instances/caf\xc3\xa9/a&b <x> d\xc3\xa9j\xc3\xa0 \"q\"");
  /* A <disk> with no type is a file disk, as in libvirt. */
  assert_string_equal (dom->disks[1].target, "vdb");
  assert_string_equal (dom->disks[1].device, "disk");
  assert_string_equal (dom->disks[1].source,
                       "/srv/\xc3\xbcn\xc3\xaf""c\xc3\xb8""d\xc3\xa9"
                       "/disk2.img");
  assert_int_equal (dom->disks[1].fmt, CH_FMT_UNKNOWN);
  assert_true (dom->disks[1].readonly);
  assert_true (dom->disks[1].shareable);
  /* Matched by namespace URI under another prefix; decoys ignored. */
  assert_true (dom->nova.present);
  assert_int_equal (dom->nova.ns_version, 11);
  assert_string_equal (dom->nova.name, "odd <&> vm");
  assert_string_equal (dom->nova.flavor_name, "m1.odd");
  assert_string_equal (dom->nova.root_type, "image");
  assert_string_equal (dom->nova.root_uuid,
                       "155d900f-4e14-4e4c-a73d-069cbf4541e6");
  assert_int_equal (dom->nova.memory_mb, 2048);
  assert_int_equal (dom->nova.disk_gb, 20);
  assert_int_equal (dom->nova.swap_mb, -1);
  assert_int_equal (dom->nova.ephemeral_gb, 0);
  ch_domain_free (dom);
}

static void
test_minimal_and_partial_nova (void **state)
{
  struct ch_domain *dom;
  const char *xml;

  (void) state;
  dom = parse_ok ("<domain><name>m</name></domain>", 31);
  assert_string_equal (dom->name, "m");
  assert_int_equal (dom->n_disks, 0);
  assert_null (dom->disks);
  assert_false (dom->nova.present);
  ch_domain_free (dom);

  /* nova:instance with nothing in it: present, everything unknown. */
  xml = "<domain><name>m</name><metadata><i:instance xmlns:i='"
        CH_NOVA_NS_1_1 "'/></metadata></domain>";
  dom = parse_ok (xml, strlen (xml));
  assert_true (dom->nova.present);
  assert_null (dom->nova.name);
  assert_null (dom->nova.flavor_name);
  assert_null (dom->nova.root_type);
  assert_int_equal (dom->nova.memory_mb, -1);
  assert_int_equal (dom->nova.disk_gb, -1);
  ch_domain_free (dom);

  /* Default namespace, and a metadata block with only foreign elements. */
  xml = "<domain><name>m</name><metadata><instance xmlns='" CH_NOVA_NS_1_0
        "'><name>n</name><flavor name='f'><disk>7</disk></flavor></instance>"
        "</metadata></domain>";
  dom = parse_ok (xml, strlen (xml));
  assert_int_equal (dom->nova.ns_version, 10);
  assert_string_equal (dom->nova.name, "n");
  assert_int_equal (dom->nova.disk_gb, 7);
  ch_domain_free (dom);

  xml = "<domain><name>m</name><metadata><x:instance xmlns:x='urn:x'>"
        "<x:name>n</x:name></x:instance></metadata></domain>";
  dom = parse_ok (xml, strlen (xml));
  assert_false (dom->nova.present);
  ch_domain_free (dom);

  /* Largest int64 fits. */
  xml = "<domain><name>m</name><metadata><n:instance xmlns:n='" CH_NOVA_NS_1_1
        "'><n:flavor><n:memory>9223372036854775807</n:memory></n:flavor>"
        "</n:instance></metadata></domain>";
  dom = parse_ok (xml, strlen (xml));
  assert_int_equal (dom->nova.memory_mb, INT64_MAX);
  ch_domain_free (dom);
}

/* The encoding declaration cannot make UTF-8 bytes mean Latin-1. */
static void
test_encoding_declaration_ignored (void **state)
{
  const char *xml = "<?xml version='1.0' encoding='ISO-8859-1'?>"
    "<domain><name>caf\xc3\xa9</name></domain>";
  struct ch_domain *dom;

  (void) state;
  dom = parse_ok (xml, strlen (xml));
  assert_string_equal (dom->name, "caf\xc3\xa9");
  ch_domain_free (dom);
}

static void
test_backing_depth (void **state)
{
  CLEANUP_FREE char *xml = NULL;
  struct ch_domain *dom;
  size_t cap = 64 * 1024, o = 0;

  (void) state;
  xml = malloc (cap);
  assert_non_null (xml);
  for (int depth = 64; depth <= 65; depth++) {
    o = (size_t) snprintf (xml, cap,
      "<domain><name>deep</name><devices><disk type='file'>"
      "<source file='/top'/><target dev='vda'/>");
    for (int i = 0; i < depth; i++)
      o += (size_t) snprintf (xml + o, cap - o,
        "<backingStore type='file'><format type='qcow2'/>"
        "<source file='/b%d'/>", i);
    o += (size_t) snprintf (xml + o, cap - o, "<backingStore/>");
    for (int i = 0; i < depth; i++)
      o += (size_t) snprintf (xml + o, cap - o, "</backingStore>");
    o += (size_t) snprintf (xml + o, cap - o, "</disk></devices></domain>");
    assert_true (o < cap);
    if (depth == 64) {
      dom = parse_ok (xml, o);
      assert_int_equal (dom->disks[0].n_backing, 64);
      assert_string_equal (dom->disks[0].backing[63].path, "/b63");
      ch_domain_free (dom);
    }
    else
      check_fail (xml, o, "chain deeper than 64");
  }
}

/* A non-file level keeps its place in the chain with a NULL path. */
static void
test_backing_non_file (void **state)
{
  const char *xml = "<domain><name>b</name><devices><disk type='file'>"
    "<source file='/top'/><target dev='vda'/>"
    "<backingStore type='block'><format type='qcow2'/><source dev='/dev/x'/>"
    "<backingStore type='file'><format type='vmdk'/><source file='/f'/>"
    "<backingStore/></backingStore></backingStore></disk></devices></domain>";
  struct ch_domain *dom;

  (void) state;
  dom = parse_ok (xml, strlen (xml));
  assert_int_equal (dom->disks[0].n_backing, 2);
  assert_null (dom->disks[0].backing[0].path);
  assert_int_equal (dom->disks[0].backing[0].fmt, CH_FMT_QCOW2);
  assert_string_equal (dom->disks[0].backing[1].path, "/f");
  assert_int_equal (dom->disks[0].backing[1].fmt, CH_FMT_OTHER);
  ch_domain_free (dom);
}

static void
test_disk_count (void **state)
{
  CLEANUP_FREE char *xml = NULL;
  struct ch_domain *dom;
  size_t cap = 256 * 1024;

  (void) state;
  xml = malloc (cap);
  assert_non_null (xml);
  for (int n = CH_DOMAIN_DISKS_MAX; n <= CH_DOMAIN_DISKS_MAX + 1; n++) {
    size_t o = (size_t) snprintf (xml, cap, "<domain><name>d</name><devices>");

    for (int i = 0; i < n; i++)
      o += (size_t) snprintf (xml + o, cap - o,
        "<disk type='file'><source file='/d%d'/><target dev='sd%d'/></disk>",
        i, i);
    o += (size_t) snprintf (xml + o, cap - o, "</devices></domain>");
    assert_true (o < cap);
    if (n == CH_DOMAIN_DISKS_MAX) {
      dom = parse_ok (xml, o);
      assert_int_equal (dom->n_disks, CH_DOMAIN_DISKS_MAX);
      assert_string_equal (dom->disks[CH_DOMAIN_DISKS_MAX - 1].source, "/d255");
      ch_domain_free (dom);
    }
    else
      check_fail (xml, o, "more than 256 disks");
  }
}

/* ---- Hostile and broken documents. ---- */

static void
test_internal_dtd (void **state)
{
  (void) state;
  check_fail_fixture ("domain-dtd-entities.xml",
                      "domain XML: DTDs and entities are not accepted");
  check_fail_fixture ("domain-xxe.xml",
                      "domain XML: DTDs and entities are not accepted");
  check_fail_str ("<!DOCTYPE domain><domain><name>x</name></domain>",
                  "DTDs and entities are not accepted");
}

static void
test_undeclared_entity (void **state)
{
  (void) state;
  check_fail_fixture ("domain-entity-undeclared.xml",
                      "domain XML: DTDs and entities are not accepted");
  check_fail_str ("<domain a='&x;'><name>x</name></domain>",
                  "DTDs and entities are not accepted");
}

static void
test_external_dtd (void **state)
{
  double t0 = now_s ();

  (void) state;
  /* 192.0.2.1 is TEST-NET-1: a fetch would hang, not succeed. */
  check_fail_fixture ("domain-dtd-external.xml",
                      "domain XML: DTDs and entities are not accepted");
  assert_true (now_s () - t0 < 2.0);
  check_fail_str ("<!DOCTYPE domain PUBLIC '-//x//y' 'file:///etc/passwd'>"
                  "<domain><name>x</name></domain>",
                  "DTDs and entities are not accepted");
}

static void
test_billion_laughs (void **state)
{
  double t0 = now_s ();

  (void) state;
  check_fail_fixture ("domain-billion-laughs.xml",
                      "domain XML: DTDs and entities are not accepted");
  assert_true (now_s () - t0 < 1.0);
}

static void
test_not_utf8 (void **state)
{
  static const char utf16[] = "\xff\xfe<\0d\0o\0m\0a\0i\0n\0/\0>\0";

  (void) state;
  check_fail_fixture ("domain-not-utf8.xml",
                      "domain XML: line 2: not valid UTF-8 (byte 0xe9");
  /* Overlong '/', a surrogate, past U+10FFFF, truncated sequence. */
  check_fail_str ("<domain><name>\xc0\xaf</name></domain>", "not valid UTF-8");
  check_fail_str ("<domain><name>\xed\xa0\x80</name></domain>",
                  "not valid UTF-8");
  check_fail_str ("<domain><name>\xf4\x90\x80\x80</name></domain>",
                  "not valid UTF-8");
  check_fail_str ("<domain><name>x</name></domain>\xe2\x82", "not valid UTF-8");
  check_fail (utf16, sizeof utf16 - 1, "not valid UTF-8");
  check_fail ("<domain>\0</domain>", 18, "NUL byte");
}

static void
test_root_element (void **state)
{
  (void) state;
  check_fail_fixture ("domain-root-foo.xml",
                      "domain XML: root element is <foo>, not <domain>");
  check_fail_str ("<domain xmlns='urn:x'><name>x</name></domain>",
                  "root element <domain> is in namespace 'urn:x'");
}

static void
test_missing_name (void **state)
{
  (void) state;
  check_fail_fixture ("domain-no-name.xml", "domain XML: no <name>");
  check_fail_str ("<domain><name></name></domain>", "domain XML: no <name>");
  /* A <name> in another namespace is not the domain's name. */
  check_fail_str ("<domain><x:name xmlns:x='urn:x'>a</x:name></domain>",
                  "domain XML: no <name>");
}

static void
test_disk_without_target (void **state)
{
  (void) state;
  check_fail_fixture ("domain-disk-no-target.xml", "domain XML: "
                      "devices/disk[3]: file disk has no target/@dev");
}

static void
test_malformed (void **state)
{
  (void) state;
  check_fail_fixture ("domain-malformed.xml", "domain XML: line 5: ");
  check_fail_str ("<domain><name>x</name>", "domain XML: line 1: ");
  check_fail_str ("<domain><name>x</name></domain><domain/>",
                  "domain XML: line 1: Extra content at the end");
  check_fail_str ("<domain><n:name>x</n:name></domain>",
                  "Namespace prefix n on name is not defined");
  check_fail ("", 0, "domain XML: empty input");
  check_fail_str ("   ", "domain XML: line 1: ");
}

static void
test_long_attribute (void **state)
{
  CLEANUP_FREE char *xml = NULL, *path = NULL;
  struct ch_domain *dom;

  (void) state;
  path = malloc (5001);
  assert_non_null (path);
  memset (path, 'a', 5000);
  path[0] = '/';
  path[5000] = '\0';
  assert_true (asprintf (&xml, "<domain><name>x</name><devices>"
                         "<disk type='file'><source file='%s'/>"
                         "<target dev='vda'/></disk></devices></domain>",
                         path) > 0);
  check_fail_str (xml, "domain XML: devices/disk[1]/source/@file: "
                  "value longer than 4096 bytes (5000)");
  free (xml);
  xml = NULL;

  /* 4096 is still fine. */
  path[4096] = '\0';
  assert_true (asprintf (&xml, "<domain><name>x</name><devices>"
                         "<disk type='file'><source file='%s'/>"
                         "<target dev='vda'/></disk></devices></domain>",
                         path) > 0);
  dom = parse_ok (xml, strlen (xml));
  assert_int_equal (strlen (dom->disks[0].source), 4096);
  ch_domain_free (dom);
  free (xml);
  xml = NULL;

  path[4096] = 'a';
  assert_true (asprintf (&xml, "<domain><name>%s</name></domain>", path) > 0);
  check_fail_str (xml, "domain XML: name: value longer than 4096 bytes");
  free (xml);
  xml = NULL;

  /* Deep in a chain, after other disks and levels were stored. */
  assert_true (asprintf (&xml, "<domain><name>x</name><devices>"
                         "<disk type='file'><source file='/a'/>"
                         "<target dev='vda'/></disk>"
                         "<disk type='file'><source file='/b'/>"
                         "<target dev='vdb'/><backingStore type='file'>"
                         "<source file='/c'/><backingStore type='file'>"
                         "<format type='%s'/></backingStore></backingStore>"
                         "</disk></devices></domain>", path) > 0);
  check_fail_str (xml, "domain XML: devices/disk[2]/backingStore[level 2]/"
                  "format/@type: value longer than 4096 bytes");
}

static void
check_nova_disk (const char *value, const char *needle)
{
  CLEANUP_FREE char *xml = NULL;

  assert_true (asprintf (&xml, "<domain><name>x</name><metadata>"
                         "<nova:instance xmlns:nova='%s'><nova:flavor name='f'>"
                         "<nova:memory>1</nova:memory><nova:disk>%s</nova:disk>"
                         "</nova:flavor></nova:instance></metadata></domain>",
                         CH_NOVA_NS_1_1, value) > 0);
  check_fail_str (xml, needle);
}

static void
test_nova_numbers (void **state)
{
  (void) state;
  check_nova_disk ("12abc", "domain XML: nova:flavor/nova:disk: "
                   "not a number: '12abc'");
  check_nova_disk ("-1", "domain XML: nova:flavor/nova:disk: "
                   "not a number: '-1'");
  check_nova_disk ("99999999999999999999999",
                   "domain XML: nova:flavor/nova:disk: "
                   "number too large: '99999999999999999999999'");
  check_nova_disk ("9223372036854775808", "number too large");
  check_nova_disk ("", "nova:flavor/nova:disk: not a number: ''");
  check_nova_disk ("+1", "not a number: '+1'");
  check_nova_disk ("0x10", "not a number: '0x10'");
  check_nova_disk ("1 2", "not a number: '1 2'");
  check_nova_disk ("1.5", "not a number: '1.5'");
}

/* libxml2 prints nothing and leaves the caller's error handler alone. */
static int foreign_errors;

static void
foreign_handler (void *data, xmlErrorPtr err)
{
  (void) data;
  (void) err;
  foreign_errors++;
}

static void
test_no_global_state (void **state)
{
  int saved, tmp;
  char tmpl[] = "/tmp/test-domain-stderr.XXXXXX";
  struct stat st;

  (void) state;
  tmp = mkstemp (tmpl);
  assert_true (tmp >= 0);
  unlink (tmpl);
  fflush (stderr);
  saved = dup (2);
  assert_true (saved >= 0);
  assert_int_equal (dup2 (tmp, 2), 2);

  xmlSetStructuredErrorFunc (&foreign_errors, foreign_handler);
  check_fail_fixture ("domain-malformed.xml", "line 5");
  check_fail_fixture ("domain-billion-laughs.xml", "not accepted");
  check_fail_str ("<domain><n:name>x</n:name></domain>", "Namespace");
  check_fail_str ("<?xml version='1.0' encoding='no-such-enc'?><domain/>",
                  "no <name>");
  assert_ptr_equal (xmlStructuredError, foreign_handler);
  assert_ptr_equal (xmlStructuredErrorContext, &foreign_errors);
  assert_int_equal (foreign_errors, 0);
  xmlSetStructuredErrorFunc (NULL, NULL);

  fflush (stderr);
  assert_int_equal (dup2 (saved, 2), 2);
  close (saved);
  assert_int_equal (fstat (tmp, &st), 0);
  close (tmp);
  assert_int_equal (st.st_size, 0);
}

static void
test_parse_too_big (void **state)
{
  CLEANUP_FREE char *buf = NULL;

  (void) state;
  buf = malloc (CH_DOMAIN_XML_MAX + 1);
  assert_non_null (buf);
  memset (buf, ' ', CH_DOMAIN_XML_MAX + 1);
  check_fail (buf, CH_DOMAIN_XML_MAX + 1, "domain XML larger than 2 MiB");
}

/* ---- ch_domain_read_fd. ---- */

/* Write BUF to FD in CHUNK-sized writes after DELAY; in a child process. */
static void
writer (int fd, const char *buf, size_t len, size_t chunk, useconds_t delay)
{
  size_t off = 0;

  if (delay)
    usleep (delay);
  while (off < len) {
    size_t n = len - off < chunk ? len - off : chunk;
    ssize_t r = write (fd, buf + off, n);

    if (r < 0) {
      if (errno == EINTR)
        continue;
      break;                  /* EPIPE once the reader gives up */
    }
    off += (size_t) r;
  }
}

/* Feed BUF through a pipe to ch_domain_read_fd.  The writer is a child
 * process, not a thread: interval timers and signals stay in the reader. */
static int
read_via_pipe (const char *buf, size_t len, size_t chunk, useconds_t delay,
               struct ch_domain **dom)
{
  int fds[2], r, status;
  pid_t pid;

  assert_int_equal (pipe (fds), 0);
  fflush (NULL);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0) {
    close (fds[0]);
    writer (fds[1], buf, len, chunk, delay);
    _exit (0);
  }
  close (fds[1]);
  ch_error_clear ();
  r = ch_domain_read_fd (fds[0], dom);
  close (fds[0]);
  while (waitpid (pid, &status, 0) < 0)
    assert_int_equal (errno, EINTR);
  assert_true (WIFEXITED (status));
  assert_int_equal (WEXITSTATUS (status), 0);
  return r;
}

static void
test_read_fd (void **state)
{
  CLEANUP_FREE char *buf = NULL;
  struct ch_domain *dom = NULL;
  size_t len;

  (void) state;
  buf = load_fixture ("domain-nova-1.1.xml", &len);
  /* Short writes of 7 bytes: the reader must keep going to EOF. */
  if (read_via_pipe (buf, len, 7, 0, &dom) != 0)
    fail_msg ("%s", ch_last_error ());
  assert_string_equal (dom->name, "instance-0000002a");
  assert_int_equal (dom->n_disks, 4);
  ch_domain_free (dom);
}

static void
test_read_fd_too_big (void **state)
{
  const size_t len = 10 * 1024 * 1024;
  CLEANUP_FREE char *buf = NULL;
  struct ch_domain *dom = (struct ch_domain *) &dom;
  static const char head[] = "<domain><name>big</name><description>";

  (void) state;
  buf = malloc (len);
  assert_non_null (buf);
  memset (buf, 'A', len);
  memcpy (buf, head, sizeof head - 1);
  assert_int_equal (read_via_pipe (buf, len, 65536, 0, &dom), -1);
  assert_null (dom);
  assert_string_equal (ch_last_error (), "domain XML larger than 2 MiB");
}

/* Exactly the cap is accepted; one byte more is not. */
static void
test_read_fd_boundary (void **state)
{
  const size_t max = CH_DOMAIN_XML_MAX;
  static const char head[] = "<domain><name>edge</name><!--";
  static const char tail[] = "--></domain>";
  CLEANUP_FREE char *buf = NULL;
  struct ch_domain *dom = NULL;

  (void) state;
  buf = malloc (max + 1);
  assert_non_null (buf);
  memset (buf, 'x', max + 1);
  memcpy (buf, head, sizeof head - 1);
  memcpy (buf + max - (sizeof tail - 1), tail, sizeof tail - 1);
  if (read_via_pipe (buf, max, 65536, 0, &dom) != 0)
    fail_msg ("%s", ch_last_error ());
  assert_string_equal (dom->name, "edge");
  ch_domain_free (dom);

  memcpy (buf + max + 1 - (sizeof tail - 1), tail, sizeof tail - 1);
  assert_int_equal (read_via_pipe (buf, max + 1, 65536, 0, &dom), -1);
  assert_string_equal (ch_last_error (), "domain XML larger than 2 MiB");
}

static volatile sig_atomic_t alarms;

static void
on_alarm (int sig)
{
  (void) sig;
  alarms++;
}

/* A signal without SA_RESTART interrupts read(2); that is not an error. */
static void
test_read_fd_eintr (void **state)
{
  CLEANUP_FREE char *buf = NULL;
  struct ch_domain *dom = NULL;
  struct sigaction sa = { .sa_handler = on_alarm }, old_sa;
  struct itimerval it = { { 0, 2000 }, { 0, 2000 } };
  struct itimerval stop = { { 0, 0 }, { 0, 0 } };
  size_t len;
  int r;

  (void) state;
  buf = load_fixture ("domain-nova-1.1.xml", &len);
  sigemptyset (&sa.sa_mask);
  assert_int_equal (sigaction (SIGALRM, &sa, &old_sa), 0);
  alarms = 0;
  assert_int_equal (setitimer (ITIMER_REAL, &it, NULL), 0);
  r = read_via_pipe (buf, len, len, 100 * 1000, &dom);
  assert_int_equal (setitimer (ITIMER_REAL, &stop, NULL), 0);
  /* A tick may still be pending (valgrind delivers signals late): ignoring
   * the signal discards it before the default action comes back. */
  sa.sa_handler = SIG_IGN;
  assert_int_equal (sigaction (SIGALRM, &sa, NULL), 0);
  assert_int_equal (sigaction (SIGALRM, &old_sa, NULL), 0);
  if (r != 0)
    fail_msg ("%s", ch_last_error ());
  assert_true (alarms > 0);
  assert_string_equal (dom->name, "instance-0000002a");
  ch_domain_free (dom);
}

static void
test_read_fd_bad_fd (void **state)
{
  struct ch_domain *dom = NULL;

  (void) state;
  ch_error_clear ();
  assert_int_equal (ch_domain_read_fd (-1, &dom), -1);
  assert_null (dom);
  assert_non_null (strstr (ch_last_error (), "domain XML: read: "));
}

static void
test_free_null (void **state)
{
  (void) state;
  ch_domain_free (NULL);
}

/* libvirt's status XML at `stopped`: only a domain still waiting for its
 * incoming migration never ran here; post-copy cannot be told. */
static int
status_of (const char *xml)
{
  int fd = memfd_create ("status", MFD_CLOEXEC), r;

  assert_true (fd >= 0);
  assert_int_equal (write (fd, xml, strlen (xml)), (ssize_t) strlen (xml));
  assert_int_equal (lseek (fd, 0, SEEK_SET), 0);
  r = ch_status_incoming_unfinished (fd);
  close (fd);
  return r;
}

static void
test_status_incoming (void **state)
{
  (void) state;
  assert_int_equal (status_of ("<domstatus state='paused' reason='migration' pid='1'>"
                               "<job type='none' async='migration in' phase='prepare' "
                               "flags='0x42'/><domain/></domstatus>"), 1);
  assert_int_equal (status_of ("<domstatus state='running' reason='migrated' pid='1'>"
                               "<domain/></domstatus>"), 0);
  assert_int_equal (status_of ("<domstatus state='paused' reason='migration' pid='1'>"
                               "<domain/></domstatus>"), 0);
  assert_int_equal (status_of ("<domstatus state='paused' reason='migration' pid='1'>"
                               "<job type='none' async='migration in' phase='finish3' "
                               "flags='0x8042'/><domain/></domstatus>"), -1);
  assert_non_null (strstr (ch_last_error (), "post-copy"));
  assert_int_equal (status_of ("<domstatus state='paused' reason='migration'>"
                               "<job async='migration in' flags='0x4x'/></domstatus>"), -1);
  assert_non_null (strstr (ch_last_error (), "job flags are not a number: '0x4x'"));
  assert_int_equal (status_of ("<domain/>"), -1);
  assert_int_equal (status_of ("<domstatus"), -1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_nova_1_1),
    cmocka_unit_test (test_nova_1_0),
    cmocka_unit_test (test_no_metadata),
    cmocka_unit_test (test_backing_chain),
    cmocka_unit_test (test_odd_but_valid),
    cmocka_unit_test (test_minimal_and_partial_nova),
    cmocka_unit_test (test_encoding_declaration_ignored),
    cmocka_unit_test (test_backing_depth),
    cmocka_unit_test (test_backing_non_file),
    cmocka_unit_test (test_disk_count),
    cmocka_unit_test (test_internal_dtd),
    cmocka_unit_test (test_undeclared_entity),
    cmocka_unit_test (test_external_dtd),
    cmocka_unit_test (test_billion_laughs),
    cmocka_unit_test (test_not_utf8),
    cmocka_unit_test (test_root_element),
    cmocka_unit_test (test_missing_name),
    cmocka_unit_test (test_disk_without_target),
    cmocka_unit_test (test_malformed),
    cmocka_unit_test (test_long_attribute),
    cmocka_unit_test (test_nova_numbers),
    cmocka_unit_test (test_no_global_state),
    cmocka_unit_test (test_parse_too_big),
    cmocka_unit_test (test_read_fd),
    cmocka_unit_test (test_read_fd_too_big),
    cmocka_unit_test (test_read_fd_boundary),
    cmocka_unit_test (test_read_fd_eintr),
    cmocka_unit_test (test_read_fd_bad_fd),
    cmocka_unit_test (test_free_null),
    cmocka_unit_test (test_status_incoming),
  };

  /* The writer must see EPIPE, not die of SIGPIPE. */
  signal (SIGPIPE, SIG_IGN);
  return cmocka_run_group_tests (tests, NULL, NULL);
}
