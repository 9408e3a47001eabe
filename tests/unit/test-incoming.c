/* cowherd: tests for an incoming migration's chain knowledge: cowherd's
 * metadata (read and written), the source's header, Nova's layout, the
 * plan, and qcow2's "maps data of its own". */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cleanup.h"
#include "config.h"
#include "domain_xml.h"
#include "error.h"
#include "incoming.h"
#include "manifest.h"
#include "naming.h"
#include "qcow2.h"
#include "testutil.h"

#define NS CH_COWHERD_NS
#define IMAGE_ID "9b7f3a42-61c4-4b1e-8d2e-0c6f1f2a3b4c"
#define UUID "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
#define GiB (1024ULL * 1024 * 1024)

static int
setup (void **state)
{
  (void) state;
  return tu_tmpdir_make ("cowherd-incoming");
}

static int
teardown (void **state)
{
  (void) state;
  return tu_tmpdir_remove ();
}

static struct ch_domain *
parse (const char *xml)
{
  struct ch_domain *dom = NULL;

  if (ch_domain_parse (xml, strlen (xml), &dom) < 0)
    fail_msg ("parse: %s", ch_last_error ());
  return dom;
}

/* A domain whose disks live in DIR, with optional METADATA children. */
static char *
domain_xml (const char *dir, const char *metadata, const char *disks)
{
  char *x;

  assert_true (asprintf (&x,
    "<domain type='qemu'><name>inst</name><uuid>1b4e28ba-2fa1-11d2-883f-0016d3cca427</uuid>"
    "<metadata>%s</metadata><devices>%s</devices></domain>",
    metadata, disks) > 0);
  (void) dir;
  return x;
}

static char *
disk_xml (const char *path, const char *dev)
{
  char *x;

  assert_true (asprintf (&x, "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                         "<source file='%s'/><target dev='%s' bus='virtio'/></disk>",
                         path, dev) > 0);
  return x;
}

static void
load_config (struct ch_config *cfg)
{
  assert_int_equal (ch_config_load (NULL, true, cfg), 0);
  free (cfg->instances_path);
  free (cfg->base_dir);
  cfg->instances_path = strdup (tmpdir);
  cfg->base_dir = strdup (tpath ("_base"));
  assert_non_null (cfg->instances_path);
  assert_non_null (cfg->base_dir);
}

/* ---- cowherd's metadata ---- */

static void
test_meta_read (void **state)
{
  CLEANUP_FREE char *d1 = disk_xml ("/i/u/disk", "vda"), *d2 = disk_xml ("/i/u/disk.eph0", "vdb");
  CLEANUP_FREE char *disks = NULL, *xml = NULL;
  struct ch_domain *dom;
  const struct ch_disk_meta *m;

  (void) state;
  assert_true (asprintf (&disks, "%s%s", d1, d2) > 0);
  /* As libvirt stores it: the namespace on <chains> only. */
  xml = domain_xml (NULL,
    "<cowherd:chains xmlns:cowherd='" NS "'>"
    "<disk dev='vda' format='qcow2' size='2147483648'>"
    "<backing name='/i/_base/abc_2' format='raw' size='2147483648'/>"
    "<backing name='x/abc' format='qcow2' size='1073741824' sha256='"
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'/></disk>"
    "<cowherd:disk dev='vdb' format='qcow2' size='1'/>"
    "<disk dev='vdz' format='qcow2' size='5'/>"
    "</cowherd:chains>", disks);
  dom = parse (xml);
  m = &dom->disks[0].meta;
  assert_true (m->present);
  assert_null (m->error);
  assert_int_equal (m->fmt, CH_FMT_QCOW2);
  assert_int_equal (m->size, 2 * GiB);
  assert_int_equal (m->n_levels, 2);
  assert_string_equal (m->levels[0].name, "/i/_base/abc_2");
  assert_int_equal (m->levels[0].fmt, CH_FMT_RAW);
  assert_string_equal (m->levels[0].sha256, "");
  assert_string_equal (m->levels[1].name, "x/abc");
  assert_int_equal (m->levels[1].size, GiB);
  assert_int_equal (strlen (m->levels[1].sha256), 64);
  assert_true (dom->disks[1].meta.present);
  assert_int_equal (dom->disks[1].meta.n_levels, 0);
  ch_domain_free (dom);
}

/* A bad entry is the disk's problem, not the domain's: a plain start of
 * the domain must not fail because of it. */
static void
test_meta_hostile (void **state)
{
  static const struct { const char *disk, *frag; } bad[] = {
    { "<disk dev='vda' format='vmdk' size='1'/>", "not raw or qcow2" },
    { "<disk dev='vda' format='qcow2'/>", "no size" },
    { "<disk dev='vda' format='qcow2' size='-1'/>", "not a size" },
    { "<disk dev='vda' format='qcow2' size='99999999999999999999'/>", "not a size" },
    { "<disk dev='vda' format='qcow2' size='1'><backing format='raw'/></disk>", "no name" },
    { "<disk dev='vda' format='qcow2' size='1'><backing name='a&#10;b' format='raw'/></disk>",
      "control character" },
    { "<disk dev='vda' format='qcow2' size='1'><backing name='a' format='raw' sha256='ABC'/></disk>",
      "sha256" },
  };
  CLEANUP_FREE char *d1 = disk_xml ("/i/u/disk", "vda");

  (void) state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CLEANUP_FREE char *meta = NULL, *xml = NULL;
    struct ch_domain *dom;

    assert_true (asprintf (&meta, "<chains xmlns='" NS "'>%s</chains>", bad[i].disk) > 0);
    xml = domain_xml (NULL, meta, d1);
    dom = parse (xml);
    assert_true (dom->disks[0].meta.present);
    assert_non_null (dom->disks[0].meta.error);
    if (strstr (dom->disks[0].meta.error, bad[i].frag) == NULL)
      fail_msg ("case %zu: '%s' lacks '%s'", i, dom->disks[0].meta.error, bad[i].frag);
    assert_int_equal (dom->disks[0].meta.n_levels, 0);
    ch_domain_free (dom);
  }
  /* 17 levels. */
  {
    char meta[8192] = "<chains xmlns='" NS "'><disk dev='vda' format='qcow2' size='1'>";
    CLEANUP_FREE char *xml = NULL;
    struct ch_domain *dom;

    for (int i = 0; i <= CH_META_LEVELS_MAX; i++)
      strcat (meta, "<backing name='a' format='raw'/>");
    strcat (meta, "</disk></chains>");
    xml = domain_xml (NULL, meta, d1);
    dom = parse (xml);
    assert_non_null (strstr (dom->disks[0].meta.error, "backing levels"));
    ch_domain_free (dom);
  }
}

/* What annotate writes reads back the same. */
static void
test_meta_roundtrip (void **state)
{
  CLEANUP_FREE char *d1 = disk_xml ("/i/u/disk", "vda"), *xml = NULL, *out = NULL;
  CLEANUP_FREE char *meta = NULL, *xml2 = NULL;
  struct ch_domain *dom, *dom2;
  struct ch_meta_level lv[2] = {
    { .name = (char *) "/i/_base/a\"b<c>&'d", .fmt = CH_FMT_RAW, .size = 3 },
    { .name = (char *) "rel", .fmt = CH_FMT_QCOW2, .size = 4 },
  };
  struct ch_disk_meta m = { .present = true, .fmt = CH_FMT_QCOW2, .size = 7,
                            .levels = lv, .n_levels = 2 };

  (void) state;
  memset (lv[1].sha256, 'e', 64);
  xml = domain_xml (NULL, "", d1);
  dom = parse (xml);
  out = ch_meta_to_xml (dom, &m);
  assert_non_null (out);
  assert_null (strstr (out, "xmlns"));   /* libvirt adds the namespace */
  /* Put it into the namespace, as libvirt does. */
  assert_true (asprintf (&meta, "<chains xmlns='" NS "'%s", out + strlen ("<chains")) > 0);
  xml2 = domain_xml (NULL, meta, d1);
  dom2 = parse (xml2);
  assert_true (dom2->disks[0].meta.present);
  assert_null (dom2->disks[0].meta.error);
  assert_int_equal (dom2->disks[0].meta.size, 7);
  assert_int_equal (dom2->disks[0].meta.n_levels, 2);
  assert_string_equal (dom2->disks[0].meta.levels[0].name, lv[0].name);
  assert_int_equal (dom2->disks[0].meta.levels[0].size, 3);
  assert_int_equal (dom2->disks[0].meta.levels[1].fmt, CH_FMT_QCOW2);
  assert_memory_equal (dom2->disks[0].meta.levels[1].sha256, lv[1].sha256, 65);
  ch_domain_free (dom);
  ch_domain_free (dom2);
}

/* ---- the source's header ---- */

static size_t
slurp (const char *path, uint8_t *buf, size_t max)
{
  int fd = open (path, O_RDONLY);
  ssize_t n;

  assert_true (fd >= 0);
  n = pread (fd, buf, max, 0);
  close (fd);
  assert_true (n > 0);
  return (size_t) n;
}

static void
test_spec_from_header (void **state)
{
  static uint8_t buf[CH_QCOW2_HEADER_READ_MAX];
  struct ch_disk_meta m;
  size_t n;

  (void) state;
  qemu_img ("create", "-q", "-f", "raw", tpath ("base"), "64M", NULL);
  qemu_img ("create", "-q", "-f", "qcow2", "-F", "raw", "-b", "base", tpath ("top"), "1G", NULL);
  n = slurp (tpath ("top"), buf, sizeof buf);
  assert_int_equal (ch_incoming_spec_from_header (buf, n, &m), 0);
  assert_true (m.present);
  assert_int_equal (m.fmt, CH_FMT_QCOW2);
  assert_int_equal (m.size, GiB);
  assert_int_equal (m.n_levels, 1);
  assert_string_equal (m.levels[0].name, "base");
  assert_int_equal (m.levels[0].fmt, CH_FMT_RAW);
  free (m.levels[0].name);
  free (m.levels);

  qemu_img ("create", "-q", "-f", "qcow2", tpath ("flat"), "3M", NULL);
  n = slurp (tpath ("flat"), buf, sizeof buf);
  assert_int_equal (ch_incoming_spec_from_header (buf, n, &m), 0);
  assert_int_equal (m.n_levels, 0);
  assert_int_equal (m.size, 3 << 20);

  n = slurp (tpath ("base"), buf, 4096);
  assert_int_equal (ch_incoming_spec_from_header (buf, n, &m), -1);
  assert_error_contains ("not qcow2");

  {
    char opt[256];

    snprintf (opt, sizeof opt, "data_file=%s", tpath ("dataf"));
    qemu_img ("create", "-q", "-f", "qcow2", "-o", opt, tpath ("ext"), "1M", NULL);
  }
  n = slurp (tpath ("ext"), buf, sizeof buf);
  assert_int_equal (ch_incoming_spec_from_header (buf, n, &m), -1);
  assert_error_contains ("data file");
}

static void
test_has_data (void **state)
{
  CLEANUP_CLOSE int fd = -1, fd2 = -1;
  bool has = true;

  (void) state;
  qemu_img ("create", "-q", "-f", "raw", tpath ("base"), "64M", NULL);
  qemu_img ("create", "-q", "-f", "qcow2", "-F", "raw", "-b", tpath ("base"), tpath ("top"),
            "1G", NULL);
  fd = open (tpath ("top"), O_RDONLY);
  assert_int_equal (ch_qcow2_has_data (fd, &has), 0);
  assert_false (has);

  {
    int w = open (tpath ("data.raw"), O_WRONLY | O_CREAT, 0644);
    assert_true (w >= 0);
    assert_int_equal (pwrite (w, "guest", 5, 5 << 20), 5);
    close (w);
  }
  qemu_img ("convert", "-q", "-f", "raw", "-O", "qcow2", tpath ("data.raw"), tpath ("data.qcow2"),
            NULL);
  fd2 = open (tpath ("data.qcow2"), O_RDONLY);
  assert_int_equal (ch_qcow2_has_data (fd2, &has), 0);
  assert_true (has);
}

/* ---- finding chains ---- */

static char *
nova_domain (const char *inst, bool with_meta)
{
  char *x;
  CLEANUP_FREE char *d1 = NULL, *d2 = NULL, *d3 = NULL, *d4 = NULL;
  char p[4][512];

  snprintf (p[0], sizeof p[0], "%s/disk", inst);
  snprintf (p[1], sizeof p[1], "%s/disk.eph0", inst);
  snprintf (p[2], sizeof p[2], "%s/disk.swap", inst);
  snprintf (p[3], sizeof p[3], "%s/disk.config", inst);
  d1 = disk_xml (p[0], "vda");
  d2 = disk_xml (p[1], "vdb");
  d3 = disk_xml (p[2], "vdc");
  d4 = disk_xml (p[3], "vdd");
  assert_true (asprintf (&x,
    "<domain type='qemu'><name>inst</name><uuid>1b4e28ba-2fa1-11d2-883f-0016d3cca427</uuid>"
    "<metadata>%s<nova:instance xmlns:nova='" CH_NOVA_NS_1_1 "'><nova:flavor name='m1'>"
    "<nova:memory>128</nova:memory><nova:disk>2</nova:disk><nova:swap>64</nova:swap>"
    "<nova:ephemeral>1</nova:ephemeral></nova:flavor>"
    "<nova:root type='image' uuid='" IMAGE_ID "'/></nova:instance></metadata>"
    "<devices>%s%s%s%s</devices></domain>",
    with_meta ? "<chains xmlns='" NS "'><disk dev='vda' format='qcow2' size='5368709120'>"
    "<backing name='../_base/legacy_5' format='raw' size='5368709120'/></disk></chains>" : "",
    d1, d2, d3, d4) > 0);
  return x;
}

/* A stand-in for the sftp transport: OPAQUE lists the peers' hosts, each
 * a directory (NULL-terminated); "!" is a host that does not answer. */
static ssize_t
remote_dir (void *opaque, size_t peer, const char *path, uint8_t *buf, size_t max,
            char *origin, size_t origin_len, char *why, size_t why_len)
{
  const char *const *dirs = opaque;
  char p[1024];
  int fd;
  ssize_t n;

  why[0] = '\0';
  for (size_t k = 0; k < peer; k++)
    if (dirs[k] == NULL)
      return 0;
  if (dirs[peer] == NULL)
    return 0;
  if (strcmp (dirs[peer], "!") == 0) {
    snprintf (why, why_len, "sftp://peer%zu%s: connection timed out", peer, path);
    return CH_REMOTE_UNASKED;
  }
  snprintf (p, sizeof p, "%s%s", dirs[peer], path);
  fd = open (p, O_RDONLY);
  if (fd < 0) {
    snprintf (why, why_len, "peer %zu: no such file", peer);
    return 0;
  }
  n = pread (fd, buf, max, 0);
  close (fd);
  snprintf (origin, origin_len, "sftp://peer%zu%s", peer, path);
  return n;
}

/* Two configured peers, as far as ch_incoming_find counts them. */
static void
two_peers (struct ch_config *cfg)
{
  cfg->peers = calloc (2, sizeof *cfg->peers);
  assert_non_null (cfg->peers);
  cfg->peers[0] = strdup ("sftp://a/");
  cfg->peers[1] = strdup ("sftp://b/");
  cfg->n_peers = 2;
}

/* The source host's copy of the instance's root disk, under HOST. */
static void
source_top (const char *host, const char *backing, const char *size)
{
  char d[1024], cmd[1100], top[1100];

  snprintf (d, sizeof d, "%s%s", host, tpath (UUID));
  snprintf (cmd, sizeof cmd, "mkdir -p '%s'", d);
  assert_int_equal (system (cmd), 0);
  snprintf (top, sizeof top, "%s/disk", d);
  unlink (top);
  qemu_img ("create", "-q", "-f", "qcow2", "-u", "-F", "raw", "-b", backing, top, size, NULL);
}

static void
test_find_nova (void **state)
{
  struct ch_config cfg;
  struct ch_incoming inc;
  struct ch_domain *dom;
  CLEANUP_FREE char *xml = NULL;
  char sha1[CH_SHA1_HEX + 1], want[1024];

  (void) state;
  load_config (&cfg);
  xml = nova_domain (tpath (UUID), false);
  dom = parse (xml);
  assert_int_equal (ch_incoming_find (dom, &cfg, NULL, NULL, &inc), 0);
  assert_int_equal (ch_image_id_sha1 (IMAGE_ID, sha1), 0);

  assert_string_equal (inc.origins[0], "Nova metadata");
  snprintf (want, sizeof want, "%s/_base/%s", tmpdir, sha1);
  assert_string_equal (inc.specs[0].levels[0].name, want);
  assert_int_equal (inc.specs[0].levels[0].fmt, CH_FMT_RAW);
  assert_int_equal (inc.specs[0].size, 2 * GiB);
  assert_true (inc.at_least[0]);

  /* Which filesystem the ephemeral disk has is not in the metadata. */
  assert_null (inc.origins[1]);
  assert_non_null (strstr (inc.unknown[1], "set [nova] default_ephemeral_format"));

  snprintf (want, sizeof want, "%s/_base/swap_64", tmpdir);
  assert_string_equal (inc.specs[2].levels[0].name, want);
  assert_int_equal (inc.specs[2].size, 64 << 20);

  /* The config drive is not cowherd's to create: nothing is asked. */
  assert_null (inc.origins[3]);
  assert_null (inc.unknown[3]);
  ch_incoming_clear (&inc);

  /* Nor does the one ephemeral base of that size here tell it: it may
   * be another image's filesystem. */
  assert_int_equal (mkdir (tpath ("_base"), 0755), 0);
  assert_int_equal (close (open (tpath ("_base/ephemeral_1_40d1d2c"), O_CREAT | O_WRONLY, 0644)), 0);
  assert_int_equal (ch_incoming_find (dom, &cfg, NULL, NULL, &inc), 0);
  assert_null (inc.origins[1]);
  assert_non_null (strstr (inc.unknown[1], "set [nova] default_ephemeral_format"));
  ch_incoming_clear (&inc);
  /* nova.conf's choice, configured, does. */
  cfg.eph_format = strdup ("vfat");
  assert_int_equal (ch_incoming_find (dom, &cfg, NULL, NULL, &inc), 0);
  snprintf (want, sizeof want, "%s/_base/ephemeral_1_0706d66", tmpdir);
  assert_string_equal (inc.specs[1].levels[0].name, want);
  assert_int_equal (inc.specs[1].size, GiB);
  assert_false (inc.at_least[1]);
  ch_incoming_clear (&inc);

  /* Flavor sizes that wrap when scaled are no size at all. */
  {
    static const struct { const char *from, *to; size_t disk; } wraps[] = {
      { "<nova:ephemeral>1<", "<nova:ephemeral>17179869185<", 1 },
      { "<nova:swap>64<", "<nova:swap>17592186044417<", 2 },
      { "<nova:disk>2<", "<nova:disk>8589934592<", 0 },
    };

    for (size_t k = 0; k < 3; k++) {
      const char *at = strstr (xml, wraps[k].from);
      CLEANUP_FREE char *x = NULL;
      struct ch_domain *big;

      assert_non_null (at);
      assert_true (asprintf (&x, "%.*s%s%s", (int) (at - xml), xml, wraps[k].to,
                             at + strlen (wraps[k].from)) > 0);
      big = parse (x);
      assert_int_equal (ch_incoming_find (big, &cfg, NULL, NULL, &inc), 0);
      assert_null (inc.origins[wraps[k].disk]);
      assert_non_null (strstr (inc.unknown[wraps[k].disk], "out of range"));
      ch_incoming_clear (&inc);
      ch_domain_free (big);
    }
  }

  /* A top that exists is not an incoming disk's: nothing learnt. */
  assert_int_equal (mkdir (tpath (UUID), 0755), 0);
  qemu_img ("create", "-q", "-f", "qcow2", tpath (UUID "/disk"), "1M", NULL);
  assert_int_equal (ch_incoming_find (dom, &cfg, NULL, NULL, &inc), 0);
  assert_null (inc.origins[0]);
  assert_null (inc.unknown[0]);
  assert_non_null (inc.origins[1]);
  ch_incoming_clear (&inc);
  ch_domain_free (dom);
  ch_config_free (&cfg);
}

/* Disk 0's chain is refused, for a reason that holds WHY and NAME. */
static void
expect_root_unknown (const struct ch_domain *dom, const struct ch_config *cfg,
                     const char **peers, const char *why, const char *name)
{
  struct ch_incoming inc;

  assert_int_equal (ch_incoming_find (dom, cfg, remote_dir, peers, &inc), 0);
  assert_null (inc.origins[0]);
  assert_non_null (strstr (inc.unknown[0], why));
  assert_non_null (strstr (inc.unknown[0], name));
  ch_incoming_clear (&inc);
}

/* Disk 0's chain is learnt, from what ORIGIN names. */
static void
expect_root_origin (const struct ch_domain *dom, const struct ch_config *cfg,
                    const char **peers, const char *origin)
{
  struct ch_incoming inc;

  assert_int_equal (ch_incoming_find (dom, cfg, remote_dir, peers, &inc), 0);
  assert_non_null (strstr (inc.origins[0], origin));
  ch_incoming_clear (&inc);
}

/* (a) before (b) before (c); what the peers say is checked against (a). */
static void
test_find_order (void **state)
{
  struct ch_config cfg;
  struct ch_incoming inc;
  struct ch_domain *dom;
  CLEANUP_FREE char *xml = NULL, *xml2 = NULL;
  char src[512], src2[512];
  const char *none[] = { "/nonexistent", NULL };
  const char *one[] = { src, NULL };
  const char *both[] = { src, src2, NULL };
  const char *down_first[] = { "!", src, NULL };
  const char *down_last[] = { src, "!", NULL };

  (void) state;
  load_config (&cfg);
  two_peers (&cfg);
  xml = nova_domain (tpath (UUID), true);
  dom = parse (xml);
  assert_int_equal (ch_incoming_find (dom, &cfg, remote_dir, none, &inc), 0);
  assert_string_equal (inc.origins[0], "cowherd metadata");
  assert_string_equal (inc.specs[0].levels[0].name, "../_base/legacy_5");
  assert_string_equal (inc.origins[2], "Nova metadata");
  ch_incoming_clear (&inc);

  /* The source's header disagrees with the metadata: stale metadata (the
   * chain changed and annotate was not run again) is refused. */
  snprintf (src, sizeof src, "%s/src", tmpdir);
  snprintf (src2, sizeof src2, "%s/src2", tmpdir);
  source_top (src, "../_base/other_5", "5G");
  expect_root_unknown (dom, &cfg, one, "run `cowherd annotate` on the source again",
                       "'../_base/other_5'");
  source_top (src, "../_base/legacy_5", "6G");
  expect_root_unknown (dom, &cfg, one, "run `cowherd annotate` on the source again",
                       "6442450944 bytes");
  /* Agreeing, the metadata (which knows more) is used. */
  source_top (src, "../_base/legacy_5", "5G");
  assert_int_equal (ch_incoming_find (dom, &cfg, remote_dir, one, &inc), 0);
  assert_non_null (strstr (inc.origins[0], "cowherd metadata, as the source's header (sftp://peer0"));
  assert_int_equal (inc.specs[0].levels[0].size, 5 * GiB);
  ch_incoming_clear (&inc);
  /* A peer that does not answer may be the source: the one that did is
   * no witness then, and the metadata stands alone. */
  expect_root_origin (dom, &cfg, down_last, "cowherd metadata, as sftp://peer0");
  /* ... but a peer that answers against it still refuses it. */
  source_top (src, "../_base/other_5", "5G");
  expect_root_unknown (dom, &cfg, down_first, "run `cowherd annotate` on the source again",
                       "'../_base/other_5'");
  ch_domain_free (dom);

  /* No metadata: the header answers. */
  source_top (src, "/b/orig_3", "3G");
  xml2 = nova_domain (tpath (UUID), false);
  dom = parse (xml2);
  assert_int_equal (ch_incoming_find (dom, &cfg, remote_dir, one, &inc), 0);
  assert_non_null (strstr (inc.origins[0], "the source's header (sftp://peer0"));
  assert_string_equal (inc.specs[0].levels[0].name, "/b/orig_3");
  assert_int_equal (inc.specs[0].size, 3 * GiB);
  assert_false (inc.at_least[0]);
  /* The peer lacks disk.swap: Nova's layout answers. */
  assert_string_equal (inc.origins[2], "Nova metadata");
  ch_incoming_clear (&inc);

  /* The other peer does not answer: the header that came proves nothing,
   * Nova's layout answers, and had it not, the reason says why. */
  for (int k = 0; k < 2; k++) {
    assert_int_equal (ch_incoming_find (dom, &cfg, remote_dir, k ? down_first : down_last,
                                        &inc), 0);
    assert_string_equal (inc.origins[0], "Nova metadata");
    ch_incoming_clear (&inc);
  }
  {
    struct ch_domain *bare = parse (xml2);

    bare->nova.present = false;
    expect_root_unknown (bare, &cfg, down_last, "connection timed out",
                         "sftp://peer0/" /* path follows */ );
    expect_root_unknown (bare, &cfg, down_last, "cannot tell which host is the source", "");
    ch_domain_free (bare);
  }

  /* A second host with a leftover copy of another chain at the same path:
   * which one is the source cannot be told, so neither is trusted. */
  source_top (src2, "/b/orig_4", "4G");
  expect_root_unknown (dom, &cfg, both, "the sftp peers disagree on it", "'/b/orig_4'");
  /* The same chain on both: agreed. */
  source_top (src2, "/b/orig_3", "3G");
  expect_root_origin (dom, &cfg, both, "the source's header (sftp://peer0");

  /* A file there that is no qcow2 may be what the source has: it cannot
   * be told from a leftover, so the other peer's answer is not enough. */
  {
    char p[1100];
    int fd;

    snprintf (p, sizeof p, "%s%s", src, tpath (UUID "/disk"));
    fd = open (p, O_WRONLY | O_TRUNC);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, "junk", 4), 4);
    close (fd);
  }
  expect_root_unknown (dom, &cfg, both, "holds a file that is no top cowherd can follow",
                       "sftp://peer0");
  ch_domain_free (dom);
  ch_config_free (&cfg);
}

/* A header from another host naming its backing file with control
 * characters (a forged log line) is no chain. */
static void
test_header_control_chars (void **state)
{
  struct ch_disk_meta m;
  uint8_t buf[4096];
  int fd;
  ssize_t n;

  (void) state;
  qemu_img ("create", "-q", "-f", "qcow2", "-u", "-F", "raw", "-b", "/b/x\nforged", tpath ("t"),
            "1M", NULL);
  fd = open (tpath ("t"), O_RDONLY);
  assert_true (fd >= 0);
  n = pread (fd, buf, sizeof buf, 0);
  close (fd);
  assert_true (n > 0);
  assert_int_equal (ch_incoming_spec_from_header (buf, (size_t) n, &m), -1);
  assert_non_null (strstr (ch_last_error (), "control characters"));
}

/* ---- the plan ---- */

static void
test_plan_incoming (void **state)
{
  struct ch_config cfg;
  struct ch_incoming inc;
  struct ch_domain *dom;
  struct ch_plan p;
  CLEANUP_FREE char *xml = NULL, *d1 = NULL, *meta = NULL;
  const struct ch_action *f;

  (void) state;
  load_config (&cfg);
  assert_int_equal (mkdir (tpath ("_base"), 0755), 0);
  qemu_img ("create", "-q", "-f", "raw", tpath ("_base/" "0123456789abcdef0123456789abcdef01234567"),
            "64M", NULL);
  d1 = disk_xml (tpath (UUID "/disk"), "vda");
  assert_true (asprintf (&meta, "<chains xmlns='" NS "'><disk dev='vda' format='qcow2' "
                         "size='1073741824'><backing name='%s' format='raw' size='67108864'/>"
                         "</disk></chains>",
                         tpath ("_base/" "0123456789abcdef0123456789abcdef01234567")) > 0);
  xml = domain_xml (NULL, meta, d1);
  dom = parse (xml);
  assert_int_equal (ch_incoming_find (dom, &cfg, NULL, NULL, &inc), 0);
  assert_int_equal (ch_plan_incoming (dom, &cfg, &inc, &p), 0);
  assert_false (p.failed);
  assert_int_equal (p.n, 2);
  assert_int_equal (p.v[0].kind, CH_ACT_CREATE_TOP);
  assert_string_equal (p.v[0].path, tpath (UUID "/disk"));
  assert_int_equal (p.v[0].size, GiB);
  assert_int_equal (p.v[0].fmt, CH_FMT_RAW);
  assert_int_equal (p.v[1].kind, CH_ACT_MARK_IN_USE);
  ch_plan_clear (&p);
  ch_incoming_clear (&inc);

  /* The source's base has another size than this host's. */
  ch_domain_free (dom);
  free (xml);
  free (meta);
  assert_true (asprintf (&meta, "<chains xmlns='" NS "'><disk dev='vda' format='qcow2' "
                         "size='1073741824'><backing name='%s' format='raw' size='5'/>"
                         "</disk></chains>",
                         tpath ("_base/" "0123456789abcdef0123456789abcdef01234567")) > 0);
  xml = domain_xml (NULL, meta, d1);
  dom = parse (xml);
  assert_int_equal (ch_incoming_find (dom, &cfg, NULL, NULL, &inc), 0);
  assert_int_equal (ch_plan_incoming (dom, &cfg, &inc, &p), 0);
  assert_true (p.failed);
  f = ch_plan_first_failure (&p);
  assert_non_null (strstr (f->reason, "67108864 bytes here but 5 bytes on the source"));
  ch_plan_clear (&p);
  ch_incoming_clear (&inc);
  ch_domain_free (dom);

  /* A missing original and no source; a top outside the instances. */
  free (xml);
  free (d1);
  d1 = disk_xml ("/elsewhere/disk", "vda");
  xml = nova_domain (tpath (UUID), false);
  dom = parse (xml);
  assert_int_equal (ch_incoming_find (dom, &cfg, NULL, NULL, &inc), 0);
  assert_int_equal (ch_plan_incoming (dom, &cfg, &inc, &p), 0);
  assert_true (p.failed);
  f = ch_plan_first_failure (&p);
  assert_string_equal (f->disk, "vda");
  assert_non_null (strstr (f->reason, "original image missing; no image source"));
  ch_plan_clear (&p);
  ch_incoming_clear (&inc);
  ch_domain_free (dom);

  free (xml);
  xml = domain_xml (NULL, "", d1);
  dom = parse (xml);
  {
    struct ch_disk_meta *m = &dom->disks[0].meta;

    m->present = true;
    m->fmt = CH_FMT_QCOW2;
    m->size = GiB;
  }
  assert_int_equal (ch_incoming_find (dom, &cfg, NULL, NULL, &inc), 0);
  assert_int_equal (ch_plan_incoming (dom, &cfg, &inc, &p), 0);
  assert_true (p.failed);
  assert_non_null (strstr (ch_plan_first_failure (&p)->reason, "only where Nova keeps them"));
  ch_plan_clear (&p);
  ch_incoming_clear (&inc);
  ch_domain_free (dom);

  /* A chain from elsewhere naming a file outside the cache: a top over it
   * would show the guest that file. */
  free (xml);
  free (d1);
  free (meta);
  d1 = disk_xml (tpath (UUID "/disk"), "vda");
  assert_true (asprintf (&meta, "<chains xmlns='" NS "'><disk dev='vda' format='qcow2' "
                         "size='1073741824'><backing name='/etc/passwd' format='raw'/>"
                         "</disk></chains>") > 0);
  xml = domain_xml (NULL, meta, d1);
  dom = parse (xml);
  assert_int_equal (ch_incoming_find (dom, &cfg, NULL, NULL, &inc), 0);
  assert_int_equal (ch_plan_incoming (dom, &cfg, &inc, &p), 0);
  assert_true (p.failed);
  assert_non_null (strstr (ch_plan_first_failure (&p)->reason,
                           "/etc/passwd is not an entry of the image cache"));
  ch_plan_clear (&p);
  ch_incoming_clear (&inc);
  ch_domain_free (dom);
  ch_config_free (&cfg);
}

/* The first failure of planning XML's incoming disks, malloc'd; NULL if
 * the plan has none. */
static char *
plan_failure (const struct ch_config *cfg, const char *xml)
{
  struct ch_domain *dom = parse (xml);
  struct ch_incoming inc;
  struct ch_plan p;
  const struct ch_action *f;
  char *r;

  assert_int_equal (ch_incoming_find (dom, cfg, NULL, NULL, &inc), 0);
  assert_int_equal (ch_plan_incoming (dom, cfg, &inc, &p), 0);
  f = ch_plan_first_failure (&p);
  r = f ? strdup (f->reason) : NULL;
  ch_plan_clear (&p);
  ch_incoming_clear (&inc);
  ch_domain_free (dom);
  return r;
}

/* One qcow2 disk at TOP (driver TYPE) with cowherd metadata LEVELS. */
static char *
meta_domain (const char *top, const char *type, const char *levels)
{
  char *x;

  assert_true (asprintf (&x,
    "<domain type='qemu'><name>inst</name><uuid>" UUID "</uuid><metadata>"
    "<chains xmlns='" NS "'><disk dev='vda' format='%s' size='1073741824'>%s</disk></chains>"
    "</metadata><devices><disk type='file' device='disk'><driver name='qemu' type='%s'/>"
    "<source file='%s'/><target dev='vda' bus='virtio'/></disk></devices></domain>",
    type, levels, type, top) > 0);
  return x;
}

static void
expect_refused (const struct ch_config *cfg, const char *top, const char *type,
                const char *levels, const char *why)
{
  CLEANUP_FREE char *xml = meta_domain (top, type, levels);
  CLEANUP_FREE char *r = plan_failure (cfg, xml);

  if (r == NULL || strstr (r, why) == NULL)
    fail_msg ("%s over %s: '%s', wanted '%s'", top, levels, r ? r : "(planned)", why);
}

static void
test_plan_refusals (void **state)
{
  struct ch_config cfg;
  char lv[1024], sha[65];
  const char *base = "0123456789abcdef0123456789abcdef01234567";

  (void) state;
  load_config (&cfg);
  assert_int_equal (mkdir (tpath ("_base"), 0755), 0);
  qemu_img ("create", "-q", "-f", "raw", tpath ("_base/0123456789abcdef0123456789abcdef01234567"),
            "64M", NULL);
  snprintf (lv, sizeof lv, "<backing name='%s' format='raw' size='67108864'/>",
            tpath ("_base/0123456789abcdef0123456789abcdef01234567"));
  {
    CLEANUP_FREE char *xml = meta_domain (tpath (UUID "/disk"), "qcow2", lv);
    CLEANUP_FREE char *r = plan_failure (&cfg, xml);

    assert_null (r);                         /* the contrast: this one is made */
  }
  /* Only where Nova keeps an instance's disks. */
  expect_refused (&cfg, tpath ("00000000-0000-0000-0000-000000000000/disk"), "qcow2", lv,
                  "only where Nova keeps them");
  expect_refused (&cfg, tpath (UUID "/data"), "qcow2", lv, "only where Nova keeps them");
  expect_refused (&cfg, tpath (UUID "/disk.eph"), "qcow2", lv, "only where Nova keeps them");
  expect_refused (&cfg, tpath (UUID "/x/disk"), "qcow2", lv, "only where Nova keeps them");
  expect_refused (&cfg, tpath ("_base/disk"), "qcow2", lv, "only where Nova keeps them");
  expect_refused (&cfg, tpath (UUID "/disk"), "raw", lv, "does not open it as qcow2");
  /* Names that climb, or a chain deeper than the cache keeps. */
  expect_refused (&cfg, tpath (UUID "/disk"), "qcow2",
                  "<backing name='../../etc/x' format='raw'/>", "climbs out");
  expect_refused (&cfg, tpath (UUID "/disk"), "qcow2",
                  "<backing name='../_base/a_1' format='qcow2'/><backing name='a' format='raw'/>",
                  "1 more level(s)");
  snprintf (lv, sizeof lv, "<backing name='%s' format='raw'/><backing name='a' format='raw'/>",
            tpath ("_base/0123456789abcdef0123456789abcdef01234567"));
  expect_refused (&cfg, tpath (UUID "/disk"), "qcow2", lv, "this host has no such level");

  /* A cache entry whose current manifest says other content. */
  {
    struct ch_manifest m = { .size = 64 << 20 };
    CLEANUP_FREE char *json = NULL;
    struct stat st;
    FILE *f;

    snprintf (m.name, sizeof m.name, "%s", base);
    memset (m.sha256, 'a', 64);
    snprintf (m.source, sizeof m.source, "file:///x");
    assert_int_equal (stat (tpath ("_base/0123456789abcdef0123456789abcdef01234567"), &st), 0);
    json = ch_manifest_format (&m);
    assert_non_null (json);
    usleep (20000);                          /* newer than the file's ctime */
    f = fopen (tpath ("_base/0123456789abcdef0123456789abcdef01234567" CH_MANIFEST_SUFFIX), "w");
    assert_non_null (f);
    fputs (json, f);
    fclose (f);
  }
  memset (sha, 'b', 64);
  sha[64] = '\0';
  snprintf (lv, sizeof lv, "<backing name='%s' format='raw' sha256='%s'/>",
            tpath ("_base/0123456789abcdef0123456789abcdef01234567"), sha);
  expect_refused (&cfg, tpath (UUID "/disk"), "qcow2", lv, "holds other content here");
  memset (sha, 'a', 64);
  snprintf (lv, sizeof lv, "<backing name='%s' format='raw' sha256='%s'/>",
            tpath ("_base/0123456789abcdef0123456789abcdef01234567"), sha);
  {
    CLEANUP_FREE char *xml = meta_domain (tpath (UUID "/disk"), "qcow2", lv);
    CLEANUP_FREE char *r = plan_failure (&cfg, xml);

    assert_null (r);
  }
  ch_config_free (&cfg);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown (f, setup, teardown)
    T (test_meta_read),
    T (test_meta_hostile),
    T (test_meta_roundtrip),
    T (test_spec_from_header),
    T (test_has_data),
    T (test_find_nova),
    T (test_find_order),
    T (test_header_control_chars),
    T (test_plan_incoming),
    T (test_plan_refusals),
#undef T
  };

  return tu_run_group_tests (tests, NULL, NULL);
}
