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
#include "snaptop.h"
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
  size_t order;                       /* in readdir order, as Nova's os.listdir sees it */
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
  char (*fps)[CH_SHA1_HEX + 1];       /* cache names of the images domains were booted from */
  size_t n_fps;
  char blind[CH_ERROR_MAX];           /* why who uses what is not fully known; "" */
  char **tops;                        /* the domains' disks, already counted */
  size_t n_tops;
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
  free (c->fps);
  for (size_t i = 0; i < c->n_tops; i++)
    free (c->tops[i]);
  free (c->tops);
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

/* Nova's [image_cache] options as oslo.config reads them: each also under
 * its deprecated name and group, which the current one overrides wherever
 * it appears.  Index: 0 remove_unused_base_images, 1 the original age,
 * 2 the resized age, 3 manager_interval. */
struct nova_conf {
  const char *value[4][2];            /* [option][0 current, 1 deprecated]; strdup'd */
};

static const struct {
  const char *group, *key, *old_group, *old_key;
} nova_opts[4] = {
  { "image_cache", "remove_unused_base_images", "DEFAULT", "remove_unused_base_images" },
  { "image_cache", "remove_unused_original_minimum_age_seconds", "DEFAULT",
    "remove_unused_original_minimum_age_seconds" },
  { "image_cache", "remove_unused_resized_minimum_age_seconds", "libvirt",
    "remove_unused_resized_minimum_age_seconds" },
  { "image_cache", "manager_interval", "DEFAULT", "image_cache_manager_interval" },
};

static int
nova_key (void *opaque, const char *section, const char *key, const char *value)
{
  struct nova_conf *nc = opaque;

  for (size_t i = 0; i < 4; i++)
    for (int old = 0; old < 2; old++)
      if (!strcmp (section, old ? nova_opts[i].old_group : nova_opts[i].group) &&
          !strcmp (key, old ? nova_opts[i].old_key : nova_opts[i].key)) {
        free ((char *) nc->value[i][old]);      /* a later line wins, as in oslo */
        if ((nc->value[i][old] = strdup (value)) == NULL)
          return 0;
      }
  return 1;
}

static bool
parse_seconds (const char *v, int64_t *out)
{
  char *end;
  long long n;

  errno = 0;
  n = strtoll (v, &end, 10);
  if (errno || *end || end == v)
    return false;
  *out = n;
  return true;
}

/* Nova's defaults, then its configuration files: nova.conf and, beside
 * it, nova-compute.conf (Debian's nova-compute reads both, the second
 * last).  An explicit PATH must exist. */
static int
read_nova_conf (const char *path, bool explicit, struct cache *c)
{
  struct nova_conf nc = { 0 };
  CLEANUP_FREE char *dir = NULL, *compute = NULL;
  const char *files[2] = { path, NULL };
  int64_t interval = 2400;
  int r = -1;

  c->nova = (struct ch_nova_settings) { .remove_unused = true, .original_age = 86400,
                                        .resized_age = 3600 };
  if (!explicit && (dir = strdup (path)) != NULL && strrchr (dir, '/')) {
    *strrchr (dir, '/') = '\0';
    if (asprintf (&compute, "%s/nova-compute.conf", dir) < 0)
      compute = NULL;
    files[1] = compute;
  }
  for (int k = 0; k < 2 && files[k]; k++) {
    FILE *fp = fopen (files[k], "re");
    int line;

    if (fp == NULL) {
      if (errno == ENOENT && !(explicit && k == 0))
        continue;
      ch_error ("%s: %m", files[k]);
      goto out;
    }
    line = ini_parse_file (fp, nova_key, &nc);
    fclose (fp);
    if (line != 0) {
      ch_error ("%s:%d: cannot be read as an INI file", files[k], line);
      goto out;
    }
    c->nova_conf_read = true;
  }
  for (size_t i = 0; i < 4; i++) {
    const char *v = nc.value[i][0] ? nc.value[i][0] : nc.value[i][1];
    bool ok = true;

    if (v == NULL)
      continue;
    switch (i) {
    case 0: ok = parse_bool (v, &c->nova.remove_unused); break;
    case 1: ok = parse_seconds (v, &c->nova.original_age); break;
    case 2: ok = parse_seconds (v, &c->nova.resized_age); break;
    case 3: ok = parse_seconds (v, &interval); break;
    }
    if (!ok) {
      ch_error ("Nova's %s = %s: not understood", nova_opts[i].key, v);
      goto out;
    }
  }
  /* manager_interval = -1 (or less): Nova's cache manager does not run. */
  if (interval < 0)
    c->nova.remove_unused = false;
  r = 0;
 out:
  for (size_t i = 0; i < 4; i++) {
    free ((char *) nc.value[i][0]);
    free ((char *) nc.value[i][1]);
  }
  return r;
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
  e->order = c->n;
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
  if (r == 0 && errno != 0) {
    ch_error ("%s: %m", cfg->base_dir);
    r = -1;
  }
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

/* Every entry the chain under TOP reaches (from TOP itself when it is an
 * entry), used by USER.  With NOVA_ONE_LEVEL, the entry right under TOP
 * is also used in Nova's sense.  *BELOW gets that entry, if any.  A chain
 * that cannot be read leaves the cache "blind": gc then removes no entry
 * for want of users. */
static int
chain_uses (const struct ch_config *cfg, struct cache *c, const char *top, enum ch_fmt fmt,
            const char *user, bool nova_one_level, struct entry **below)
{
  struct ch_chain ch;
  int r = 0;

  if (below)
    *below = NULL;
  if (ch_chain_probe (top, fmt, &ch) < 0) {
    if (!c->blind[0])
      snprintf (c->blind, sizeof c->blind, "%s: %s", user, ch_last_error ());
    ch_error_clear ();
  }
  else if (ch.n > 0 && !ch.links[ch.n - 1].exists && !c->blind[0])
    snprintf (c->blind, sizeof c->blind, "%s: %s is missing", user, ch.links[ch.n - 1].path);
  for (size_t k = 0; r == 0 && k < ch.n; k++) {
    const char *leaf = ch_path_leaf_in (ch.links[k].path, cfg->base_dir);
    struct entry *e = leaf && !strchr (leaf, '/') ? find (c, leaf) : NULL;

    if (e == NULL)
      continue;
    /* An entry is not its own user. */
    if (k > 0 || strncmp (user, "_base/", 6) != 0 || strcmp (user + 6, e->name) != 0)
      r = add_user (e, user);
    if (k == 1) {
      if (nova_one_level)
        e->nova_used = true;
      if (below)
        *below = e;
    }
  }
  ch_chain_clear (&ch);
  return r;
}

/* One domain: every entry its disks' chains reach; and what Nova counts
 * as used for it (nova/virt/imagecache.py _list_running_instances and
 * libvirt/imagecache.py _list_backing_images): the image it was booted
 * from (recorded for nova_mark_images), its root disk's direct backing,
 * its swap entry and its first ephemeral one (Nova reads ephemerals[0]). */
static int
domain_uses (const struct ch_config *cfg, struct cache *c, const struct ch_domain *dom)
{
  char fp[CH_SHA1_HEX + 1] = "";
  CLEANUP_FREE char *root_by_uuid = NULL, *root_by_name = NULL;
  bool eph_seen = false;

  if (dom->nova.present && dom->nova.root_uuid && dom->nova.root_type &&
      !strcmp (dom->nova.root_type, "image") && ch_image_id_sha1 (dom->nova.root_uuid, fp) == 0) {
    char (*v)[CH_SHA1_HEX + 1] = realloc (c->fps, (c->n_fps + 1) * sizeof *v);

    if (v == NULL) {
      ch_error ("out of memory");
      return -1;
    }
    c->fps = v;
    memcpy (c->fps[c->n_fps++], fp, sizeof fp);
  }
  ch_error_clear ();
  /* Nova's instance directory: <uuid>, or the domain's name for old
   * instances; their root disk is "disk". */
  if (dom->uuid && asprintf (&root_by_uuid, "%s/%s/disk", cfg->instances_path, dom->uuid) < 0)
    root_by_uuid = NULL;
  if (asprintf (&root_by_name, "%s/%s/disk", cfg->instances_path, dom->name) < 0)
    root_by_name = NULL;
  for (size_t i = 0; i < dom->n_disks; i++) {
    const struct ch_disk *d = &dom->disks[i];
    CLEANUP_FREE char *top = NULL;
    struct entry *below;
    bool root;

    if (d->source == NULL || (top = ch_path_normalize (d->source)) == NULL)
      continue;
    root = (root_by_uuid && !strcmp (top, root_by_uuid)) ||
           (root_by_name && !strcmp (top, root_by_name));
    {
      char **v = realloc (c->tops, (c->n_tops + 1) * sizeof *v);

      if (v == NULL || (v[c->n_tops] = strdup (top)) == NULL) {
        if (v)
          c->tops = v;
        ch_error ("out of memory");
        return -1;
      }
      c->tops = v;
      c->n_tops++;
    }
    if (chain_uses (cfg, c, top, d->fmt, dom->name, root, &below) < 0)
      return -1;
    if (below && below->nclass == CH_NOVA_SWAP)
      below->nova_used = true;
    if (below && below->nclass == CH_NOVA_EPHEMERAL && !eph_seen)
      below->nova_used = true;
    if (below && (below->nclass == CH_NOVA_EPHEMERAL || below->bn.kind == CH_BASE_EPHEMERAL))
      eph_seen = true;
  }
  return 0;
}

/* Nova's ImageCacheManager._find_base_file for each image in use, as it
 * runs: the original and <fp>_sm, then <fp>_<digits> among its list of
 * unexplained entries (in os.listdir order), which _mark_in_use shrinks
 * while the loop walks it, so the entry right after each match is not
 * looked at: two resized entries of one image next to each other in the
 * directory leave the second unrefreshed, and Nova ages it. */
static int
nova_mark_images (struct cache *c)
{
  CLEANUP_FREE struct entry **u = calloc (c->n ? c->n : 1, sizeof *u);
  size_t n = 0;

  if (u == NULL) {
    ch_error ("out of memory");
    return -1;
  }
  for (size_t i = 0; i < c->n; i++)
    if (c->v[i].nclass == CH_NOVA_ORIGINAL || c->v[i].nclass == CH_NOVA_RESIZED)
      u[n++] = &c->v[i];
  /* readdir order */
  for (size_t i = 1; i < n; i++)
    for (size_t k = i; k > 0 && u[k - 1]->order > u[k]->order; k--) {
      struct entry *t = u[k];

      u[k] = u[k - 1];
      u[k - 1] = t;
    }
  for (size_t f = 0; f < c->n_fps; f++) {
    const char *fp = c->fps[f];
    size_t len = strlen (fp);

    for (size_t i = 0; i < n;) {
      const char *rest = u[i]->name + len;
      bool exact = strncmp (u[i]->name, fp, len) == 0 && (*rest == '\0' || !strcmp (rest, "_sm"));

      if (exact) {                     /* yielded before the loop: no skip */
        u[i]->nova_used = true;
        memmove (u + i, u + i + 1, (n - i - 1) * sizeof *u);
        n--;
      }
      else
        i++;
    }
    for (size_t i = 0; i < n;) {
      if (ch_nova_image_entry (u[i]->name, fp)) {
        u[i]->nova_used = true;
        memmove (u + i, u + i + 1, (n - i - 1) * sizeof *u);
        n--;
        i++;                           /* the one that moved into i is skipped */
      }
      else
        i++;
    }
  }
  return 0;
}

/* Users that are no domain: the files of every instance directory (a
 * disk Nova made before it defined the domain, a resize's <uuid>_resize)
 * and every entry of the cache (one qcow2 entry over another). */
static int
other_uses (const struct ch_config *cfg, struct cache *c)
{
  DIR *d = opendir (cfg->instances_path);
  struct dirent *de;
  int r = 0;

  for (size_t i = 0; r == 0 && i < c->n; i++)
    if (c->v[i].qcow2) {
      CLEANUP_FREE char *top = ch_path_join (cfg->base_dir, c->v[i].name);
      CLEANUP_FREE char *user = NULL;

      if (top == NULL || asprintf (&user, "_base/%s", c->v[i].name) < 0)
        return -1;
      r = chain_uses (cfg, c, top, CH_FMT_QCOW2, user, false, NULL);
    }
  if (d == NULL)
    return r;
  while (r == 0 && (de = readdir (d)) != NULL) {
    CLEANUP_FREE char *dir = NULL;
    DIR *sub;
    struct dirent *f;

    if (de->d_name[0] == '.' || (dir = ch_path_join (cfg->instances_path, de->d_name)) == NULL ||
        !strcmp (dir, cfg->base_dir) || !strcmp (dir, cfg->lock_dir) ||
        (sub = opendir (dir)) == NULL)
      continue;
    while (r == 0 && (f = readdir (sub)) != NULL) {
      CLEANUP_FREE char *path = NULL, *user = NULL;
      struct stat st;

      if (f->d_name[0] == '.' || strncmp (f->d_name, "disk", 4) != 0 ||
          (path = ch_path_join (dir, f->d_name)) == NULL || lstat (path, &st) < 0 ||
          !S_ISREG (st.st_mode) || asprintf (&user, "%s/%s", de->d_name, f->d_name) < 0)
        continue;
      /* disk.info and disk.config name no image; a domain's disk is counted
       * under the domain's name. */
      if (!strcmp (f->d_name, "disk.info") || !strcmp (f->d_name, "disk.config"))
        continue;
      {
        bool seen = false;

        for (size_t k = 0; k < c->n_tops && !seen; k++)
          seen = !strcmp (c->tops[k], path);
        if (seen)
          continue;
      }
      r = chain_uses (cfg, c, path, CH_FMT_UNKNOWN, user, false, NULL);
    }
    closedir (sub);
  }
  closedir (d);
  return r;
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
  if (r == 0)
    r = nova_mark_images (c);
  if (r == 0)
    r = other_uses (cfg, c);
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
  char entry[CH_SHA1_HEX + 1];

  if (e->snapshot_parent[0])
    return "snapshot";
  if (ch_snaptop_is_top (e->name, entry))
    return "snapshot top";
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
    if (c->blind[0])
      printf ("not every chain could be read (%s): an entry may have users not shown\n",
              c->blind);
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
  json_object_object_add (root, "unreadable_chain",
                          c->blind[0] ? json_object_new_string (c->blind) : NULL);
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
      if (optind < argc) {
        printf ("%s: no manifest, nothing to check it against\n", e->name);
        bad++;
      }
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

/* Remove NAME in DIR_FD (shown as WHERE/NAME), saying WHY; or say it
 * would.  false if it could not be removed. */
static bool
drop (struct gc *g, int dir_fd, const char *where, const char *name, const char *why)
{
  struct stat st;
  uint64_t bytes = fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0
                   ? (uint64_t) st.st_blocks * 512 : 0;

  if (g->dry_run) {
    printf ("would remove %s/%s: %s\n", where, name, why);
    g->removed++;
    g->freed += bytes;
    return true;
  }
  if (unlinkat (dir_fd, name, 0) < 0 && errno != ENOENT) {
    printf ("cannot remove %s/%s: %s\n", where, name, strerror (errno));
    g->failed++;
    return false;
  }
  printf ("removed %s/%s: %s\n", where, name, why);
  g->removed++;
  g->freed += bytes;
  return true;
}

#define LOCK_NO_FILE (-2)           /* no lock file: nobody holds the lock */

/* Nova's lock for entry NAME, if nobody holds it now: the fd; -1 when it
 * is held (or cannot be had: said on stdout).  No lock file is created:
 * where there is none, nobody holds the lock (LOCK_NO_FILE), and gc
 * leaves no new files behind. */
static int
try_lock (struct gc *g, const char *name)
{
  const struct ch_config *cfg = &g->cli->cfg;
  char leaf[CH_BASE_NAME_MAX + 64];
  struct stat st;
  int fd, dfd = open (cfg->lock_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  bool missing;

  snprintf (leaf, sizeof leaf, "%s%s", cfg->lock_prefix, name);
  missing = dfd < 0 || fstatat (dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0;
  if (dfd >= 0)
    close (dfd);
  if (missing)
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
release (int fd)
{
  if (fd >= 0)
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
    int lk;

    if (de->d_name[0] == '.' || !is_manifest (de->d_name) || n - m >= sizeof name)
      continue;
    memcpy (name, de->d_name, n - m);
    name[n - m] = '\0';
    if (entry_exists (c->base_fd, name))
      continue;
    /* A fetch publishes the entry, then its manifest, under the lock. */
    if ((lk = try_lock (g, name)) == -1)
      continue;
    if (!entry_exists (c->base_fd, name))
      drop (g, c->base_fd, base, de->d_name, "a manifest whose entry is gone");
    release (lk);
  }
  closedir (d);
  return 0;
}

/* Snapshot tops (lib/snaptop.h) whose entry is gone and that no disk's
 * chain reaches (a rebase through the top interrupted after its first
 * step leaves a disk over it).  Nothing is removed when who uses what is
 * not fully known. */
static void
gc_tops (struct gc *g, struct cache *c)
{
  const char *base = g->cli->cfg.base_dir;

  for (size_t i = 0; i < c->n; i++) {
    const struct entry *e = &c->v[i];
    char name[CH_SHA1_HEX + 1];
    int lk;

    if (!ch_snaptop_is_top (e->name, name) || entry_exists (c->base_fd, name) ||
        e->n_users > 0 || c->blind[0])
      continue;
    /* The shim keeps a top while it makes the entry whole, under its lock. */
    if ((lk = try_lock (g, name)) == -1)
      continue;
    if (!entry_exists (c->base_fd, name))
      drop (g, c->base_fd, base, e->name, "a snapshot top whose entry is gone, used by no disk");
    release (lk);
  }
}

#define STALE_COPY_SEC 3600

/* A COW-only snapshot's private copy, .<name>.cowherd-<pid>[.new], whose
 * process is gone (killed under Nova's prlimit, say) and which nobody has
 * touched for an hour (a pid seen from another pid namespace or host
 * sharing _base can look dead). */
static bool
stale_copy (int dir_fd, const char *name)
{
  const char *p = name[0] == '.' ? strstr (name, ".cowherd-") : NULL;
  struct stat st;
  char *end;
  long pid;

  if (p == NULL)
    return false;
  errno = 0;
  pid = strtol (p + 9, &end, 10);
  if (errno || pid <= 0 || (*end && strcmp (end, ".new") != 0))
    return false;
  if (kill ((pid_t) pid, 0) == 0 || errno != ESRCH)
    return false;
  return fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG (st.st_mode) &&
         time (NULL) - st.st_mtime >= STALE_COPY_SEC;
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
    int lk;

    if (stale_copy (dirfd (d), de->d_name)) {
      drop (g, dirfd (d), where, de->d_name, "a COW-only snapshot's copy whose process is gone");
      continue;
    }
    if (de->d_name[0] == '.' || n == 0 || n >= sizeof name)
      continue;
    memcpy (name, de->d_name, n);
    name[n] = '\0';
    ch_base_classify (name, &bn);
    if (bn.kind == CH_BASE_NONE || bn.kind == CH_BASE_TEMP)
      continue;                        /* not named after an entry: not ours to judge */
    if ((lk = try_lock (g, name)) == -1)
      continue;                        /* a build is under way */
    drop (g, dirfd (d), where, de->d_name, "left by a build that did not finish");
    release (lk);
  }
  closedir (d);
  return 0;
}

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
  while ((de = readdir (d)) != NULL)
    if (stale_copy (c->base_fd, de->d_name))
      drop (g, c->base_fd, g->cli->cfg.base_dir, de->d_name,
            "a COW-only snapshot's copy whose process is gone");
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
    struct stat st;
    CLEANUP_FREE char *path = NULL;

    for (size_t k = 0; k < c->n_uuids && !known; k++)
      known = strncmp (names[i], c->uuids[k], 36) == 0;
    /* A migration writes its record before libvirt defines the domain:
     * one younger than the window a record licenses a prepare for is
     * left alone. */
    if (!known && asprintf (&path, "%s/incoming/%s", g->cli->cfg.state_dir, names[i]) >= 0 &&
        stat (path, &st) == 0 && time (NULL) - st.st_mtime < CH_STATE_PREPARE_WINDOW_SEC)
      known = true;
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
    int lk;

    if (strncmp (de->d_name, cfg->lock_prefix, plen) != 0 || strchr (name, '/'))
      continue;
    k = ch_nova_classify (name);
    if ((k != CH_NOVA_ORIGINAL && k != CH_NOVA_RESIZED) || entry_exists (c->base_fd, name))
      continue;
    if ((lk = try_lock (g, name)) == -1)
      continue;
    /* Held while it goes, as Nova's cleanup does. */
    if (!entry_exists (c->base_fd, name))
      drop (g, dirfd (d), cfg->lock_dir, de->d_name, "the lock of an entry that is gone");
    release (lk);
  }
  closedir (d);
  return 0;
}

/* Is entry NAME unused, checked again now (under its lock): the whole
 * cache and every domain read anew.  1 unused; 0 used, gone, or not
 * provably unused; -1 with ch_error if they cannot be read. */
static int
still_unused (const struct gc *g, const char *uri, const char *name)
{
  struct cache again = { .base_fd = -1 };
  struct entry *e;
  int r = -1;

  if (scan (&g->cli->cfg, &again) == 0 && domains (&g->cli->cfg, uri, &again) == 0)
    r = again.blind[0] == '\0' && (e = find (&again, name)) != NULL && e->n_users == 0;
  cache_clear (&again);
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
    int lk, unused;

    if (e->n_users || e->bn.kind == CH_BASE_NONE || e->bn.kind == CH_BASE_TEMP ||
        now - e->st.st_mtime < min_age)
      continue;
    if ((lk = try_lock (g, e->name)) == -1) {
      printf ("kept %s: in use (its lock is held)\n", e->name);
      continue;
    }
    /* A domain may have started on it while we looked, and Nova refreshes
     * what it uses: both again, now that nobody else can take it. */
    unused = still_unused (g, uri, e->name);
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
      snprintf (mname, sizeof mname, "%s%s", e->name, CH_MANIFEST_SUFFIX);
      if (drop (g, c->base_fd, g->cli->cfg.base_dir, e->name, why) && !g->dry_run &&
          entry_exists (c->base_fd, mname))
        drop (g, c->base_fd, g->cli->cfg.base_dir, mname, "its entry removed");
    }
    release (lk);
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
    { "force", no_argument, NULL, 'f' },
    { 0 }
  };
  struct cache c = { .base_fd = -1 };
  struct gc g = { .cli = cli };
  bool force = false;
  const char *uri = NULL;
  int64_t unused_for = -1;
  int o, r = -1;

  while ((o = getopt_long (argc, argv, "nu:C:f", opts, NULL)) != -1) {
    switch (o) {
    case 'n': g.dry_run = true; break;
    case 'f': force = true; break;
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
    fprintf (stderr, "usage: cowherd cache gc [--dry-run] [--unused-for DURATION [--force]] "
             "[--connect URI]\n");
    return 2;
  }
  /* Entries go only on hosts Nova does not age, and never younger than
   * Nova's shortest age. */
  if (unused_for >= 0 && unused_for < 3600) {
    fprintf (stderr, "cowherd cache gc: --unused-for must be at least 1h\n");
    return 2;
  }
  if (unused_for >= 0 && !force && access (NOVA_CONF, F_OK) == 0) {
    fprintf (stderr, "cowherd cache gc: %s exists: Nova's cache manager ages this cache; "
             "--unused-for is for hosts without Nova (--force to run it anyway)\n", NOVA_CONF);
    return 2;
  }
  if (cli_load_config (cli) < 0 || scan (&cli->cfg, &c) < 0 ||
      domains (&cli->cfg, uri, &c) < 0)
    goto out;
  g.try_cfg = cli->cfg;
  g.try_cfg.lock_timeout = 0;
  if (gc_locks (&g, &c) < 0 || gc_manifests (&g, &c) < 0 || gc_temp (&g, &c) < 0 ||
      gc_records (&g, &c) < 0)
    goto out;
  gc_snapshot_copies (&g, &c);
  gc_tops (&g, &c);
  if (unused_for >= 0) {
    if (c.blind[0]) {
      printf ("no unused entry removed: who uses what is not fully known (%s)\n", c.blind);
      g.failed++;
    }
    else
      gc_unused (&g, &c, uri, unused_for);
  }
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
