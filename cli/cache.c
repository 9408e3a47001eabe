/* cowherd cache: what is in _base, who uses it, where it came from, and
 * what Nova's image cache manager will do with it.
 *
 *   cache ls [--json] [--connect URI] [--nova-conf FILE]
 *   cache verify [ENTRY...]
 *   cache gc [--dry-run] [--unused-for DURATION] [--connect URI]
 *
 * "Used by" is every domain libvirt knows (running or not) whose disks'
 * chains reach the entry at any depth, from the image headers on disk.
 * Nova's verdict follows lib/novacache.h, with "used" in Nova's sense
 * (the image a domain was booted from, a root disk's direct backing, the
 * swap and ephemeral entries its disks stand on), and Nova's settings
 * from its nova.conf. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <ini.h>
#include <json-c/json.h>

#include "chain.h"
#include "cleanup.h"
#include "cli.h"
#include "digest.h"
#include "domain.h"
#include "domain_xml.h"
#include "error.h"
#include "fsutil.h"
#include "lock.h"
#include "json.h"
#include "manifest.h"
#include "naming.h"
#include "novacache.h"
#include "pathutil.h"
#include "qcow2.h"
#include "snapmark.h"
#include "state.h"
#include "virt.h"

#define NOVA_CONF "/etc/nova/nova.conf"
#define ENTRIES_MAX 100000
#define USERS_MAX 64

struct entry {
  char *name;
  struct ch_base_name bn;
  enum ch_nova_class nclass;
  struct stat st;
  uint64_t vsize;
  bool qcow2;
  bool has_manifest;
  struct ch_manifest m;
  char snapshot_parent[CH_SHA1_HEX + 1];  /* made whole from a COW-only snapshot over it */
  char *users[USERS_MAX];             /* domain names (cowherd's view: any depth) */
  size_t n_users;
  bool nova_used;                     /* used in Nova's sense */
  enum ch_nova_verdict verdict;
  int64_t remove_in;
};

struct cache {
  struct entry *v;
  size_t n;
  char **uuids;                       /* of every domain libvirt knows */
  size_t n_uuids;
  int base_fd;
  struct ch_nova_settings nova;
  bool nova_conf_read;
};

static void
cache_clear (struct cache *c)
{
  for (size_t i = 0; i < c->n; i++) {
    free (c->v[i].name);
    for (size_t k = 0; k < c->v[i].n_users; k++)
      free (c->v[i].users[k]);
  }
  free (c->v);
  for (size_t i = 0; i < c->n_uuids; i++)
    free (c->uuids[i]);
  free (c->uuids);
  if (c->base_fd >= 0)
    close (c->base_fd);
}

/* ---- Nova's settings ------------------------------------------------------ */

static bool
parse_bool (const char *v, bool *out)
{
  if (!strcasecmp (v, "true") || !strcasecmp (v, "yes") || !strcmp (v, "1") ||
      !strcasecmp (v, "on"))
    *out = true;
  else if (!strcasecmp (v, "false") || !strcasecmp (v, "no") || !strcmp (v, "0") ||
           !strcasecmp (v, "off"))
    *out = false;
  else
    return false;
  return true;
}

/* [image_cache] as oslo.config reads it; the pre-Stein names in [DEFAULT]
 * too (Nova still takes them, deprecated). */
static int
nova_key (void *opaque, const char *section, const char *key, const char *value)
{
  struct ch_nova_settings *s = opaque;
  bool ours = !strcmp (section, "image_cache") || !strcmp (section, "DEFAULT");
  char *end;
  long long n;

  if (!ours)
    return 1;
  if (!strcmp (key, "remove_unused_base_images"))
    return parse_bool (value, &s->remove_unused) ? 1 : 0;
  if (!strcmp (key, "remove_unused_original_minimum_age_seconds") ||
      !strcmp (key, "remove_unused_resized_minimum_age_seconds")) {
    errno = 0;
    n = strtoll (value, &end, 10);
    if (errno || *end || n < 0)
      return 0;
    if (strstr (key, "original"))
      s->original_age = n;
    else
      s->resized_age = n;
  }
  return 1;
}

/* Nova's defaults, then its configuration file if there is one. */
static int
read_nova_conf (const char *path, bool explicit, struct cache *c)
{
  FILE *fp;
  int line;

  c->nova = (struct ch_nova_settings) { .remove_unused = true, .original_age = 86400,
                                        .resized_age = 3600 };
  if ((fp = fopen (path, "re")) == NULL) {
    if (errno == ENOENT && !explicit)
      return 0;
    ch_error ("%s: %m", path);
    return -1;
  }
  line = ini_parse_file (fp, nova_key, &c->nova);
  fclose (fp);
  if (line != 0) {
    ch_error ("%s:%d: cannot read Nova's image cache settings", path, line);
    return -1;
  }
  c->nova_conf_read = true;
  return 0;
}

/* ---- the entries ------------------------------------------------------------ */

static bool
is_manifest (const char *name)
{
  size_t n = strlen (name), m = strlen (CH_MANIFEST_SUFFIX);

  return n > m && strcmp (name + n - m, CH_MANIFEST_SUFFIX) == 0;
}

static int
add_entry (struct cache *c, const char *name)
{
  CLEANUP_CLOSE int fd = -1;
  struct entry *e;
  struct ch_qcow2_info qi;

  if (c->n == ENTRIES_MAX) {
    ch_error ("more than %d entries", ENTRIES_MAX);
    return -1;
  }
  if (c->n % 64 == 0) {
    struct entry *v = realloc (c->v, (c->n + 64) * sizeof *v);

    if (v == NULL) {
      ch_error ("out of memory");
      return -1;
    }
    c->v = v;
  }
  e = &c->v[c->n];
  memset (e, 0, sizeof *e);
  fd = openat (c->base_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0 || fstat (fd, &e->st) < 0 || !S_ISREG (e->st.st_mode))
    return 0;                          /* gone meanwhile, or not a file */
  if ((e->name = strdup (name)) == NULL) {
    ch_error ("out of memory");
    return -1;
  }
  ch_base_classify (name, &e->bn);
  e->nclass = ch_nova_classify (name);
  e->vsize = (uint64_t) e->st.st_size;
  if (ch_qcow2_read (fd, &qi) == 0) {
    e->qcow2 = true;
    e->vsize = qi.virtual_size;
  }
  ch_error_clear ();
  e->has_manifest = ch_manifest_read (c->base_fd, name, &e->m);
  {
    char v[CH_SHA1_HEX + 1];
    ssize_t n = fgetxattr (fd, CH_SNAP_XATTR, v, CH_SHA1_HEX);

    if (n == CH_SHA1_HEX && ch_is_lower_hex (v, CH_SHA1_HEX)) {
      memcpy (e->snapshot_parent, v, CH_SHA1_HEX);
      e->snapshot_parent[CH_SHA1_HEX] = '\0';
    }
  }
  c->n++;
  return 0;
}

static int
by_name (const void *a, const void *b)
{
  return strcmp (((const struct entry *) a)->name, ((const struct entry *) b)->name);
}

static int
scan (const struct ch_config *cfg, struct cache *c)
{
  DIR *d;
  struct dirent *de;
  int dfd, r = 0;

  if ((c->base_fd = ch_open_dir (cfg->base_dir, false)) < 0) {
    ch_error ("%s: %m", cfg->base_dir);
    return -1;
  }
  if ((dfd = dup (c->base_fd)) < 0 || (d = fdopendir (dfd)) == NULL) {
    if (dfd >= 0)
      close (dfd);
    ch_error ("%s: %m", cfg->base_dir);
    return -1;
  }
  rewinddir (d);                       /* a dup shares the offset of earlier reads */
  while (r == 0 && (errno = 0, de = readdir (d)) != NULL)
    if (de->d_name[0] != '.' && !is_manifest (de->d_name))
      r = add_entry (c, de->d_name);
  closedir (d);
  if (r == 0 && c->n > 1)
    qsort (c->v, c->n, sizeof *c->v, by_name);
  return r;
}

static struct entry *
find (struct cache *c, const char *name)
{
  struct entry key = { .name = (char *) name };

  return c->n ? bsearch (&key, c->v, c->n, sizeof *c->v, by_name) : NULL;
}

/* ---- who uses what ------------------------------------------------------------- */

static int
add_user (struct entry *e, const char *dom)
{
  for (size_t k = 0; k < e->n_users; k++)
    if (!strcmp (e->users[k], dom))
      return 0;
  if (e->n_users == USERS_MAX)
    return 0;                          /* shown as "64 or more" */
  if ((e->users[e->n_users] = strdup (dom)) == NULL) {
    ch_error ("out of memory");
    return -1;
  }
  e->n_users++;
  return 0;
}

/* One domain: every entry its disks' chains reach; and what Nova counts
 * as used for it. */
static int
domain_uses (const struct ch_config *cfg, struct cache *c, const struct ch_domain *dom)
{
  char fp[CH_SHA1_HEX + 1] = "";
  CLEANUP_FREE char *root_by_uuid = NULL, *root_by_name = NULL;

  if (dom->nova.present && dom->nova.root_uuid && dom->nova.root_type &&
      !strcmp (dom->nova.root_type, "image") && ch_image_id_sha1 (dom->nova.root_uuid, fp) < 0)
    fp[0] = '\0';
  /* Nova's instance directory: <uuid>, or the domain's name for old
   * instances; their root disk is "disk". */
  if (dom->uuid && asprintf (&root_by_uuid, "%s/%s/disk", cfg->instances_path, dom->uuid) < 0)
    root_by_uuid = NULL;
  if (asprintf (&root_by_name, "%s/%s/disk", cfg->instances_path, dom->name) < 0)
    root_by_name = NULL;
  for (size_t i = 0; i < c->n; i++)
    if (fp[0] && (c->v[i].nclass == CH_NOVA_ORIGINAL || c->v[i].nclass == CH_NOVA_RESIZED) &&
        ch_nova_image_entry (c->v[i].name, fp))
      c->v[i].nova_used = true;
  for (size_t i = 0; i < dom->n_disks; i++) {
    const struct ch_disk *d = &dom->disks[i];
    struct ch_chain ch;
    CLEANUP_FREE char *top = NULL;

    if (d->source == NULL || (top = ch_path_normalize (d->source)) == NULL)
      continue;
    if (ch_chain_probe (top, d->fmt, &ch) < 0)
      ch_error_clear ();               /* what was found still counts */
    for (size_t k = 1; k < ch.n; k++) {
      const char *leaf = ch_path_leaf_in (ch.links[k].path, cfg->base_dir);
      struct entry *e = leaf && !strchr (leaf, '/') ? find (c, leaf) : NULL;

      if (e == NULL)
        continue;
      if (add_user (e, dom->name) < 0) {
        ch_chain_clear (&ch);
        return -1;
      }
      /* Nova: one level, the instance's own disk (root), or the swap and
       * ephemeral entries its block devices name. */
      if (k == 1 && ((root_by_uuid && !strcmp (top, root_by_uuid)) ||
                     (root_by_name && !strcmp (top, root_by_name)) ||
                     e->nclass == CH_NOVA_SWAP || e->nclass == CH_NOVA_EPHEMERAL))
        e->nova_used = true;
    }
    ch_chain_clear (&ch);
  }
  return 0;
}

static int
domains (const struct ch_config *cfg, const char *uri, struct cache *c)
{
  CLEANUP_VIRT_CONN virConnectPtr conn = NULL;
  virDomainPtr *doms = NULL;
  int n, r = 0;

  if (virt_load () < 0)
    return -1;
  if ((conn = virt.connect_open (uri)) == NULL) {
    ch_error ("%s: %s", uri ? uri : "connecting to libvirt", virt_error ());
    return -1;
  }
  /* Every domain, running or not: a stopped guest's chain is kept too. */
  if ((n = virt.list_all (conn, &doms, 0)) < 0) {
    ch_error ("listing domains: %s", virt_error ());
    return -1;
  }
  for (int i = 0; i < n; i++) {
    CLEANUP_FREE char *xml = NULL;
    CLEANUP_DOMAIN struct ch_domain *dom = NULL;

    if (r == 0 && (xml = virt.get_xml (doms[i], 0)) == NULL) {
      ch_error ("%s: %s", virt.get_name (doms[i]), virt_error ());
      r = -1;
    }
    if (r == 0 && ch_domain_parse (xml, strlen (xml), &dom) < 0)
      r = -1;
    if (r == 0)
      r = domain_uses (cfg, c, dom);
    if (r == 0 && dom->uuid) {
      char **v = realloc (c->uuids, (c->n_uuids + 1) * sizeof *v);

      if (v == NULL || (v[c->n_uuids] = strdup (dom->uuid)) == NULL) {
        if (v)
          c->uuids = v;
        ch_error ("out of memory");
        r = -1;
      }
      else {
        c->uuids = v;
        c->n_uuids++;
      }
    }
    virt.domain_free (doms[i]);
  }
  free (doms);
  return r;
}

static void
judge (struct cache *c)
{
  time_t now = time (NULL);

  for (size_t i = 0; i < c->n; i++) {
    struct entry *e = &c->v[i];

    e->verdict = ch_nova_verdict (e->nclass, e->nova_used, (int64_t) (now - e->st.st_mtime),
                                  &c->nova, &e->remove_in);
  }
}

/* ---- output ---------------------------------------------------------------------- */

static const char *
kind_of (const struct entry *e)
{
  if (e->snapshot_parent[0])
    return "snapshot";
  switch (e->bn.kind) {
  case CH_BASE_ORIGINAL: return "original";
  case CH_BASE_RESIZED: return "resized";
  case CH_BASE_LEGACY_SM: return "legacy _sm";
  case CH_BASE_EPHEMERAL: return "ephemeral";
  case CH_BASE_SWAP: return "swap";
  case CH_BASE_TEMP: return "partial";
  case CH_BASE_NONE: break;
  }
  return "unknown";
}

static void
human_size (uint64_t b, char *out, size_t len)
{
  static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
  double v = (double) b;
  size_t i = 0;

  while (v >= 1024 && i + 1 < sizeof u / sizeof u[0]) {
    v /= 1024;
    i++;
  }
  if (i == 0)
    snprintf (out, len, "%" PRIu64 " B", b);
  else
    snprintf (out, len, "%.1f %s", v, u[i]);
}

static void
human_age (int64_t s, char *out, size_t len)
{
  if (s < 0)
    s = 0;
  if (s < 120)
    snprintf (out, len, "%" PRId64 "s", s);
  else if (s < 7200)
    snprintf (out, len, "%" PRId64 "m", s / 60);
  else if (s < 172800)
    snprintf (out, len, "%" PRId64 "h", s / 3600);
  else
    snprintf (out, len, "%" PRId64 "d", s / 86400);
}

static void
verdict_text (const struct entry *e, char *out, size_t len)
{
  char in[32];

  switch (e->verdict) {
  case CH_NOVA_NEVER:
    snprintf (out, len, "never touched");
    return;
  case CH_NOVA_IN_USE:
    snprintf (out, len, "in use");
    return;
  case CH_NOVA_REMOVE:
    if (e->remove_in == 0) {
      snprintf (out, len, "removed at its next pass%s", e->n_users ? " (USED HERE)" : "");
      return;
    }
    human_age (e->remove_in, in, sizeof in);
    snprintf (out, len, "removed in %s%s", in, e->n_users ? " (USED HERE)" : "");
    return;
  }
}

static const char *
digest_of (const struct entry *e, const char **algo)
{
  const char *hex;

  if (!e->has_manifest) {
    *algo = "";
    return "";
  }
  ch_manifest_digest (&e->m, algo, &hex);
  return hex;
}

static uint64_t
allocated (const struct entry *e)
{
  return (uint64_t) e->st.st_blocks * 512;
}

static void
print_table (const struct cache *c)
{
  time_t now = time (NULL);
  uint64_t total = 0, reclaim = 0;
  size_t w = 4;

  for (size_t i = 0; i < c->n; i++)
    if (strlen (c->v[i].name) > w)
      w = strlen (c->v[i].name);
  printf ("%-*s  %-10s  %10s  %10s  %5s  %-24s  %s\n", (int) w, "NAME", "KIND", "VIRTUAL",
          "ALLOCATED", "AGE", "USED BY", "NOVA'S CACHE MANAGER");
  for (size_t i = 0; i < c->n; i++) {
    const struct entry *e = &c->v[i];
    char vs[32], as[32], age[32], users[256] = "-", nova[96];
    size_t off = 0;

    human_size (e->vsize, vs, sizeof vs);
    human_size (allocated (e), as, sizeof as);
    human_age ((int64_t) (now - e->st.st_mtime), age, sizeof age);
    for (size_t k = 0; k < e->n_users && off < sizeof users - 1; k++)
      off += (size_t) snprintf (users + off, sizeof users - off, "%s%s", k ? "," : "",
                                e->users[k]);
    verdict_text (e, nova, sizeof nova);
    printf ("%-*s  %-10s  %10s  %10s  %5s  %-24s  %s\n", (int) w, e->name, kind_of (e), vs, as,
            age, users, nova);
    if (e->snapshot_parent[0])
      printf ("%-*s  made whole from a COW-only snapshot over %s\n", (int) w, "",
              e->snapshot_parent);
    if (e->has_manifest) {
      const char *algo, *hex = digest_of (e, &algo);

      printf ("%-*s  from %s%s%s%s, %s %.16s...\n", (int) w, "",
              e->m.source[0] ? e->m.source : "(source not recorded)",
              e->m.image_id[0] ? " (image " : "", e->m.image_id, e->m.image_id[0] ? ")" : "",
              algo, hex);
    }
    total += allocated (e);
    if (e->n_users == 0)
      reclaim += allocated (e);
  }
  {
    char t[32], r[32];

    human_size (total, t, sizeof t);
    human_size (reclaim, r, sizeof r);
    printf ("%zu entries, %s allocated, %s used by no domain%s\n", c->n, t, r,
            c->nova_conf_read ? "" : " (Nova's settings: its defaults)");
  }
}

static int
print_json (const struct cache *c)
{
  CLEANUP_JSON json_object *root = json_object_new_object ();
  json_object *arr = json_object_new_array ();
  time_t now = time (NULL);
  uint64_t total = 0, reclaim = 0;

  if (root == NULL || arr == NULL) {
    ch_error ("out of memory");
    return -1;
  }
  json_object_object_add (root, "entries", arr);
  for (size_t i = 0; i < c->n; i++) {
    const struct entry *e = &c->v[i];
    json_object *o = json_object_new_object (), *u = json_object_new_array ();
    const char *algo, *hex = digest_of (e, &algo);
    static const char *const verdicts[] = { "never", "in-use", "remove" };

    for (size_t k = 0; k < e->n_users; k++)
      json_object_array_add (u, json_object_new_string (e->users[k]));
    json_object_object_add (o, "name", json_object_new_string (e->name));
    json_object_object_add (o, "kind", json_object_new_string (kind_of (e)));
    json_object_object_add (o, "format", json_object_new_string (e->qcow2 ? "qcow2" : "raw"));
    json_object_object_add (o, "virtual_size", json_object_new_int64 ((int64_t) e->vsize));
    json_object_object_add (o, "size", json_object_new_int64 ((int64_t) e->st.st_size));
    json_object_object_add (o, "allocated", json_object_new_int64 ((int64_t) allocated (e)));
    json_object_object_add (o, "age_seconds",
                            json_object_new_int64 ((int64_t) (now - e->st.st_mtime)));
    json_object_object_add (o, "source", e->has_manifest && e->m.source[0]
                            ? json_object_new_string (e->m.source) : NULL);
    json_object_object_add (o, "image_id", e->has_manifest && e->m.image_id[0]
                            ? json_object_new_string (e->m.image_id) : NULL);
    json_object_object_add (o, "digest_algo", hex[0] ? json_object_new_string (algo) : NULL);
    json_object_object_add (o, "digest", hex[0] ? json_object_new_string (hex) : NULL);
    json_object_object_add (o, "snapshot_parent", e->snapshot_parent[0]
                            ? json_object_new_string (e->snapshot_parent) : NULL);
    json_object_object_add (o, "used_by", u);
    json_object_object_add (o, "nova", json_object_new_string (verdicts[e->verdict]));
    json_object_object_add (o, "nova_removes_in", e->verdict == CH_NOVA_REMOVE
                            ? json_object_new_int64 (e->remove_in) : NULL);
    json_object_array_add (arr, o);
    total += allocated (e);
    if (e->n_users == 0)
      reclaim += allocated (e);
  }
  json_object_object_add (root, "allocated", json_object_new_int64 ((int64_t) total));
  json_object_object_add (root, "unused_allocated", json_object_new_int64 ((int64_t) reclaim));
  json_object_object_add (root, "nova_settings_from_defaults",
                          json_object_new_boolean (!c->nova_conf_read));
  puts (json_object_to_json_string_ext (root, JSON_C_TO_STRING_PRETTY |
                                        JSON_C_TO_STRING_NOSLASHESCAPE));
  return 0;
}

static int
ls (struct cli *cli, int argc, char *argv[])
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "connect", required_argument, NULL, 'C' },
    { "nova-conf", required_argument, NULL, 'N' },
    { 0 }
  };
  struct cache c = { .base_fd = -1 };
  const char *uri = NULL, *nova_conf = NOVA_CONF;
  bool json = false, explicit = false;
  int o, r = -1;

  while ((o = getopt_long (argc, argv, "jC:N:", opts, NULL)) != -1) {
    switch (o) {
    case 'j': json = true; break;
    case 'C': uri = optarg; break;
    case 'N': nova_conf = optarg; explicit = true; break;
    default: return 2;
    }
  }
  if (optind != argc) {
    fprintf (stderr, "usage: cowherd cache ls [--json] [--connect URI] [--nova-conf FILE]\n");
    return 2;
  }
  if (cli_load_config (cli) == 0 && read_nova_conf (nova_conf, explicit, &c) == 0 &&
      scan (&cli->cfg, &c) == 0 && domains (&cli->cfg, uri, &c) == 0) {
    judge (&c);
    if (json)
      r = print_json (&c);
    else {
      print_table (&c);
      r = 0;
    }
  }
  cache_clear (&c);
  return r;
}

/* ---- verify -------------------------------------------------------------------------- */

static int
verify (struct cli *cli, int argc, char *argv[])
{
  struct cache c = { .base_fd = -1 };
  int bad = 0, checked = 0, r = -1;

  if (optind > argc)
    return 2;
  if (cli_load_config (cli) < 0 || scan (&cli->cfg, &c) < 0)
    goto out;
  for (int k = optind; k < argc; k++)
    if (find (&c, argv[k]) == NULL) {
      ch_error ("%s/%s: no such entry", cli->cfg.base_dir, argv[k]);
      goto out;
    }
  for (size_t i = 0; i < c.n; i++) {
    struct entry *e = &c.v[i];
    CLEANUP_CLOSE int fd = -1;
    const char *algo, *want;
    char got[129];
    bool named = optind == argc;

    for (int k = optind; k < argc && !named; k++)
      named = !strcmp (argv[k], e->name);
    if (!named)
      continue;
    if (!e->has_manifest) {
      if (optind < argc)
        printf ("%s: no manifest, nothing to check against\n", e->name);
      continue;
    }
    ch_manifest_digest (&e->m, &algo, &want);
    fd = openat (c.base_fd, e->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 || ch_digest_fd (fd, algo, got) < 0) {
      printf ("%s: cannot read: %s\n", e->name, fd < 0 ? strerror (errno) : ch_last_error ());
      bad++;
      continue;
    }
    checked++;
    if ((uint64_t) e->st.st_size != e->m.size || strcmp (got, want) != 0) {
      printf ("%s: MISMATCH: %" PRIu64 " bytes, %s %.16s...; its manifest says %" PRIu64
              " bytes, %.16s...\n", e->name, (uint64_t) e->st.st_size, algo, got, e->m.size,
              want);
      bad++;
    }
    else
      printf ("%s: ok (%s)\n", e->name, algo);
  }
  printf ("%d checked, %d bad\n", checked, bad);
  r = bad ? 1 : 0;
 out:
  cache_clear (&c);
  return r;
}

/* ---- gc ------------------------------------------------------------------------------ */

struct gc {
  const struct cli *cli;
  struct ch_config try_cfg;            /* the configuration, locks not waited for */
  bool dry_run;
  int removed, failed;
  uint64_t freed;
};

/* Remove NAME in DIR_FD (shown as WHERE/NAME), saying WHY; or say it would. */
static void
drop (struct gc *g, int dir_fd, const char *where, const char *name, const char *why)
{
  struct stat st;
  uint64_t bytes = fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0
                   ? (uint64_t) st.st_blocks * 512 : 0;

  if (g->dry_run) {
    printf ("would remove %s/%s: %s\n", where, name, why);
    g->removed++;
    g->freed += bytes;
    return;
  }
  if (unlinkat (dir_fd, name, 0) < 0 && errno != ENOENT) {
    printf ("cannot remove %s/%s: %s\n", where, name, strerror (errno));
    g->failed++;
    return;
  }
  printf ("removed %s/%s: %s\n", where, name, why);
  g->removed++;
  g->freed += bytes;
}

#define LOCK_NO_FILE (-2)           /* no lock file: nobody holds the lock */

/* Nova's lock for entry NAME, if nobody holds it now: the fd; -1 when it
 * is held (or cannot be had: said on stdout).  A lock file gc had to
 * create is removed again by release(), so gc leaves none behind; with
 * --dry-run none is created (LOCK_NO_FILE: nobody can hold it). */
static int
try_lock (struct gc *g, const char *name, bool *created)
{
  const struct ch_config *cfg = &g->cli->cfg;
  char leaf[CH_BASE_NAME_MAX + 64];
  struct stat st;
  int fd, dfd = open (cfg->lock_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  snprintf (leaf, sizeof leaf, "%s%s", cfg->lock_prefix, name);
  *created = dfd < 0 || fstatat (dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0;
  if (dfd >= 0)
    close (dfd);
  if (*created && g->dry_run)
    return LOCK_NO_FILE;
  if ((fd = ch_lock_entry (&g->try_cfg, name, NULL)) < 0) {
    if (ch_error_kind () != CH_ERR_TIMED_OUT) {
      printf ("skipped %s: %s\n", name, ch_last_error ());
      g->failed++;
    }
    ch_error_clear ();
  }
  return fd;
}

static void
release (struct gc *g, const char *name, int fd, bool created)
{
  char path[CH_PATH_MAX];

  if (fd < 0)
    return;
  if (created) {
    snprintf (path, sizeof path, "%s/%s%s", g->cli->cfg.lock_dir, g->cli->cfg.lock_prefix,
              name);
    unlink (path);                     /* still held: nobody took it meanwhile */
  }
  ch_unlock (fd);
}

static bool
entry_exists (int base_fd, const char *name)
{
  struct stat st;

  return fstatat (base_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Manifests whose entry is gone (Nova's cache manager removed it). */
static int
gc_manifests (struct gc *g, struct cache *c)
{
  const char *base = g->cli->cfg.base_dir;
  DIR *d;
  struct dirent *de;
  int dfd = dup (c->base_fd);

  if (dfd < 0 || (d = fdopendir (dfd)) == NULL) {
    if (dfd >= 0)
      close (dfd);
    ch_error ("%s: %m", base);
    return -1;
  }
  rewinddir (d);                       /* a dup shares the offset of earlier reads */
  while ((de = readdir (d)) != NULL) {
    char name[CH_BASE_NAME_MAX + 1];
    size_t n = strlen (de->d_name), m = strlen (CH_MANIFEST_SUFFIX);
    bool created;
    int lk;

    if (de->d_name[0] == '.' || !is_manifest (de->d_name) || n - m >= sizeof name)
      continue;
    memcpy (name, de->d_name, n - m);
    name[n - m] = '\0';
    if (entry_exists (c->base_fd, name))
      continue;
    /* A fetch publishes the entry, then its manifest, under the lock. */
    if ((lk = try_lock (g, name, &created)) == -1)
      continue;
    if (!entry_exists (c->base_fd, name))
      drop (g, c->base_fd, base, de->d_name, "a manifest whose entry is gone");
    release (g, name, lk, created);
  }
  closedir (d);
  return 0;
}

/* What builds left in _base/.cowherd-tmp (a process killed midway): each
 * file is named after its entry, whose lock the build holds. */
static int
gc_temp (struct gc *g, struct cache *c)
{
  CLEANUP_FREE char *where = ch_path_join (g->cli->cfg.base_dir, CH_TEMP_DIR);
  int tfd = openat (c->base_fd, CH_TEMP_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  DIR *d;
  struct dirent *de;

  if (tfd < 0)
    return errno == ENOENT ? 0 : (ch_error ("%s: %m", where), -1);
  if ((d = fdopendir (tfd)) == NULL) {
    close (tfd);
    ch_error ("%s: %m", where);
    return -1;
  }
  while ((de = readdir (d)) != NULL) {
    char name[CH_BASE_NAME_MAX + 1];
    size_t n = strcspn (de->d_name, ".");
    struct ch_base_name bn;
    bool created;
    int lk;

    if (de->d_name[0] == '.' || n == 0 || n >= sizeof name)
      continue;
    memcpy (name, de->d_name, n);
    name[n] = '\0';
    ch_base_classify (name, &bn);
    if (bn.kind == CH_BASE_NONE || bn.kind == CH_BASE_TEMP)
      continue;                        /* not named after an entry: not ours to judge */
    if ((lk = try_lock (g, name, &created)) == -1)
      continue;                        /* a build is under way */
    drop (g, dirfd (d), where, de->d_name, "left by a build that did not finish");
    release (g, name, lk, created);
  }
  closedir (d);
  return 0;
}

/* A COW-only snapshot's private copies in _base, .<name>.cowherd-<pid>[.new],
 * of a process that is gone (killed under Nova's prlimit, say). */
static void
gc_snapshot_copies (struct gc *g, struct cache *c)
{
  DIR *d;
  struct dirent *de;
  int dfd = dup (c->base_fd);

  if (dfd < 0 || (d = fdopendir (dfd)) == NULL) {
    if (dfd >= 0)
      close (dfd);
    return;
  }
  rewinddir (d);                       /* a dup shares the offset of earlier reads */
  while ((de = readdir (d)) != NULL) {
    const char *p = de->d_name[0] == '.' ? strstr (de->d_name, ".cowherd-") : NULL;
    char *end;
    long pid;

    if (p == NULL)
      continue;
    errno = 0;
    pid = strtol (p + 9, &end, 10);
    if (errno || pid <= 0 || (*end && strcmp (end, ".new") != 0))
      continue;
    if (kill ((pid_t) pid, 0) == 0 || errno == EPERM)
      continue;                        /* still running */
    drop (g, c->base_fd, g->cli->cfg.base_dir, de->d_name,
          "a COW-only snapshot's copy whose process is gone");
  }
  closedir (d);
}

/* Incoming-migration records of domains libvirt no longer knows. */
static int
gc_records (struct gc *g, struct cache *c)
{
  char **names;
  size_t n;

  if (ch_state_list (&g->cli->cfg, &names, &n) < 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    bool known = false;

    for (size_t k = 0; k < c->n_uuids && !known; k++)
      known = strncmp (names[i], c->uuids[k], 36) == 0;
    if (!known) {
      if (g->dry_run) {
        printf ("would remove the record %s/incoming/%s: no such domain\n",
                g->cli->cfg.state_dir, names[i]);
        g->removed++;
      }
      else if (ch_state_remove_file (&g->cli->cfg, names[i]) < 0) {
        printf ("cannot remove the record %s: %s\n", names[i], ch_last_error ());
        g->failed++;
      }
      else {
        printf ("removed the record %s/incoming/%s: no such domain\n",
                g->cli->cfg.state_dir, names[i]);
        g->removed++;
      }
    }
    free (names[i]);
  }
  free (names);
  return 0;
}

/* Lock files of entries that are gone, where Nova's own cleanup removes
 * them too: originals and resized entries (not swap or ephemeral). */
static int
gc_locks (struct gc *g, struct cache *c)
{
  const struct ch_config *cfg = &g->cli->cfg;
  size_t plen = strlen (cfg->lock_prefix);
  int lfd = open (cfg->lock_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  DIR *d;
  struct dirent *de;

  if (lfd < 0)
    return errno == ENOENT ? 0 : (ch_error ("%s: %m", cfg->lock_dir), -1);
  if ((d = fdopendir (lfd)) == NULL) {
    close (lfd);
    ch_error ("%s: %m", cfg->lock_dir);
    return -1;
  }
  while ((de = readdir (d)) != NULL) {
    const char *name = de->d_name + plen;
    enum ch_nova_class k;
    bool created;
    int lk;

    if (strncmp (de->d_name, cfg->lock_prefix, plen) != 0 || strchr (name, '/'))
      continue;
    k = ch_nova_classify (name);
    if ((k != CH_NOVA_ORIGINAL && k != CH_NOVA_RESIZED) || entry_exists (c->base_fd, name))
      continue;
    if ((lk = try_lock (g, name, &created)) == -1)
      continue;
    if (!entry_exists (c->base_fd, name))
      drop (g, dirfd (d), cfg->lock_dir, de->d_name, "the lock of an entry that is gone");
    release (g, name, lk, created);
  }
  closedir (d);
  return 0;
}

/* Is entry NAME unused by every domain, checked again now (under its
 * lock)?  -1 with ch_error if the domains cannot be read. */
static int
still_unused (const struct gc *g, const char *uri, int base_fd, const char *name)
{
  struct cache one = { .base_fd = -1 };
  int r;

  one.v = calloc (1, sizeof *one.v);
  if (one.v == NULL) {
    ch_error ("out of memory");
    return -1;
  }
  one.base_fd = dup (base_fd);
  if (one.base_fd < 0 || add_entry (&one, name) < 0) {
    cache_clear (&one);
    return -1;
  }
  r = one.n == 0 ? 1 : domains (&g->cli->cfg, uri, &one) < 0 ? -1 : one.v[0].n_users == 0;
  cache_clear (&one);
  return r;
}

/* --unused-for: entries no domain uses at any depth and not touched for
 * MIN_AGE seconds, each under its Nova lock with both checked again. */
static void
gc_unused (struct gc *g, struct cache *c, const char *uri, int64_t min_age)
{
  time_t now = time (NULL);

  for (size_t i = 0; i < c->n; i++) {
    struct entry *e = &c->v[i];
    struct stat st;
    char why[96], age[32], mname[CH_BASE_NAME_MAX + sizeof CH_MANIFEST_SUFFIX];
    bool created;
    int lk, unused;

    if (e->n_users || e->bn.kind == CH_BASE_NONE || e->bn.kind == CH_BASE_TEMP ||
        now - e->st.st_mtime < min_age)
      continue;
    if ((lk = try_lock (g, e->name, &created)) == -1) {
      printf ("kept %s: in use (its lock is held)\n", e->name);
      continue;
    }
    /* A domain may have started on it while we looked, and Nova refreshes
     * what it uses: both again, now that nobody else can take it. */
    unused = still_unused (g, uri, c->base_fd, e->name);
    if (unused < 0) {
      printf ("kept %s: %s\n", e->name, ch_last_error ());
      g->failed++;
    }
    else if (!unused || fstatat (c->base_fd, e->name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
             now - st.st_mtime < min_age)
      printf ("kept %s: used again\n", e->name);
    else {
      human_age ((int64_t) (now - st.st_mtime), age, sizeof age);
      snprintf (why, sizeof why, "used by no domain, untouched for %s", age);
      drop (g, c->base_fd, g->cli->cfg.base_dir, e->name, why);
      snprintf (mname, sizeof mname, "%s%s", e->name, CH_MANIFEST_SUFFIX);
      if (!g->dry_run && entry_exists (c->base_fd, mname))
        drop (g, c->base_fd, g->cli->cfg.base_dir, mname, "its entry removed");
    }
    release (g, e->name, lk, created);
  }
}

/* "90", "90s", "15m", "12h", "7d": seconds, or -1. */
static int64_t
duration (const char *s)
{
  char *end;
  long long n;
  int64_t mul = 1;

  errno = 0;
  n = strtoll (s, &end, 10);
  if (errno || n < 0 || end == s)
    return -1;
  if (*end == 'm')
    mul = 60;
  else if (*end == 'h')
    mul = 3600;
  else if (*end == 'd')
    mul = 86400;
  else if (*end != 's' && *end != '\0')
    return -1;
  if (*end && end[1])
    return -1;
  if (n > INT64_MAX / mul)
    return -1;
  return (int64_t) n * mul;
}

static int
gc (struct cli *cli, int argc, char *argv[])
{
  static const struct option opts[] = {
    { "dry-run", no_argument, NULL, 'n' },
    { "unused-for", required_argument, NULL, 'u' },
    { "connect", required_argument, NULL, 'C' },
    { 0 }
  };
  struct cache c = { .base_fd = -1 };
  struct gc g = { .cli = cli };
  const char *uri = NULL;
  int64_t unused_for = -1;
  int o, r = -1;

  while ((o = getopt_long (argc, argv, "nu:C:", opts, NULL)) != -1) {
    switch (o) {
    case 'n': g.dry_run = true; break;
    case 'u':
      if ((unused_for = duration (optarg)) < 0) {
        fprintf (stderr, "cowherd cache gc: --unused-for %s: not a duration (90s, 15m, 12h, 7d)\n",
                 optarg);
        return 2;
      }
      break;
    case 'C': uri = optarg; break;
    default: return 2;
    }
  }
  if (optind != argc) {
    fprintf (stderr, "usage: cowherd cache gc [--dry-run] [--unused-for DURATION] [--connect URI]\n");
    return 2;
  }
  if (cli_load_config (cli) < 0 || scan (&cli->cfg, &c) < 0 ||
      domains (&cli->cfg, uri, &c) < 0)
    goto out;
  g.try_cfg = cli->cfg;
  g.try_cfg.lock_timeout = 0;
  if (gc_manifests (&g, &c) < 0 || gc_temp (&g, &c) < 0 || gc_records (&g, &c) < 0 ||
      gc_locks (&g, &c) < 0)
    goto out;
  gc_snapshot_copies (&g, &c);
  if (unused_for >= 0)
    gc_unused (&g, &c, uri, unused_for);
  {
    char f[32];

    human_size (g.freed, f, sizeof f);
    printf ("%d %s, %s freed%s\n", g.removed, g.dry_run ? "to remove" : "removed", f,
            g.failed ? "; some could not be removed" : "");
  }
  r = g.failed ? 1 : 0;
 out:
  cache_clear (&c);
  return r;
}

int
cmd_cache (struct cli *cli, int argc, char *argv[])
{
  const char *sub = argc > 1 ? argv[1] : "";

  argc--;
  argv++;
  optind = 0;
  if (strcmp (sub, "ls") == 0)
    return ls (cli, argc, argv);
  if (strcmp (sub, "verify") == 0) {
    optind = 1;
    return verify (cli, argc, argv);
  }
  if (strcmp (sub, "gc") == 0)
    return gc (cli, argc, argv);
  fprintf (stderr, "usage: cowherd cache ls|verify|gc ...; see cowherd(8)\n");
  return 2;
}
