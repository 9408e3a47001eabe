#include "incoming.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "manifest.h"
#include "error.h"
#include "naming.h"
#include "pathutil.h"
#include "qcow2.h"

#define GiB (1024ULL * 1024ULL * 1024ULL)
#define MiB (1024ULL * 1024ULL)

static void
meta_clear (struct ch_disk_meta *m)
{
  for (size_t j = 0; j < m->n_levels; j++)
    free (m->levels[j].name);
  free (m->levels);
  free (m->error);
  memset (m, 0, sizeof *m);
}

void
ch_incoming_clear (struct ch_incoming *inc)
{
  for (size_t i = 0; i < inc->n; i++) {
    if (inc->specs)
      meta_clear (&inc->specs[i]);
    if (inc->origins)
      free (inc->origins[i]);
    if (inc->unknown)
      free (inc->unknown[i]);
  }
  free (inc->specs);
  free (inc->origins);
  free (inc->unknown);
  free (inc->at_least);
  memset (inc, 0, sizeof *inc);
}

/* A spec of one backing level.  0, or -1 with ch_error (M then holds what
 * was made: meta_clear it). */
static int
one_level (struct ch_disk_meta *m, const char *name, enum ch_fmt fmt, uint64_t size)
{
  if ((m->levels = calloc (1, sizeof *m->levels)) == NULL) {
    ch_error ("calloc: %m");
    return -1;
  }
  m->n_levels = 1;               /* meta_clear frees it from here on */
  if ((m->levels[0].name = strdup (name)) == NULL) {
    ch_error ("strdup: %m");
    return -1;
  }
  m->levels[0].fmt = fmt;
  m->levels[0].size = size;
  return 0;
}

int
ch_incoming_spec_from_header (const uint8_t *buf, size_t len, struct ch_disk_meta *out)
{
  struct ch_qcow2_info qi;

  memset (out, 0, sizeof *out);
  if (!ch_qcow2_is_qcow2 (buf, len)) {
    ch_error ("the source's disk is not qcow2");
    return -1;
  }
  if (ch_qcow2_parse (buf, len, &qi) < 0)
    return -1;
  if (qi.has_data_file) {
    ch_error ("the source's disk names an external data file");
    return -1;
  }
  if (qi.has_backing && ch_str_has_control (qi.backing)) {
    ch_error ("the source's disk names a backing file with control characters");
    return -1;
  }
  out->present = true;
  out->fmt = CH_FMT_QCOW2;
  out->size = qi.virtual_size;
  if (!qi.has_backing)
    return 0;
  if (one_level (out, qi.backing,
                 qi.has_backing_fmt ? ch_fmt_parse (qi.backing_fmt) : CH_FMT_UNKNOWN, 0) < 0) {
    meta_clear (out);
    return -1;
  }
  return 0;
}

/* Copy the XML's metadata for one disk. */
static int
spec_from_meta (const struct ch_disk_meta *src, struct ch_disk_meta *out)
{
  memset (out, 0, sizeof *out);
  if (src->n_levels &&
      (out->levels = calloc (src->n_levels, sizeof *out->levels)) == NULL) {
    ch_error ("calloc: %m");
    return -1;
  }
  for (size_t j = 0; j < src->n_levels; j++) {
    out->levels[j] = src->levels[j];
    if ((out->levels[j].name = strdup (src->levels[j].name)) == NULL) {
      ch_error ("strdup: %m");
      meta_clear (out);
      return -1;
    }
    out->n_levels = j + 1;
  }
  out->present = true;
  out->fmt = src->fmt;
  out->size = src->size;
  return 0;
}

/* (c) Nova's layout: <instance dir>/disk over _base/<sha1(image id)>,
 * disk.eph0 (disk.local before Juno) over ephemeral_<GB>_<tag>, disk.swap
 * over swap_<MB>.  1 with OUT filled, 0 with WHY, -1 with ch_error. */
static int
spec_from_nova (const struct ch_domain *dom, const struct ch_config *cfg, const char *top,
                struct ch_disk_meta *out, bool *at_least, char *why, size_t why_len)
{
  const struct ch_nova *nv = &dom->nova;
  const char *leaf = strrchr (top, '/') + 1;
  char name[CH_BASE_NAME_MAX + 1], sha1[CH_SHA1_HEX + 1];
  CLEANUP_FREE char *path = NULL;
  enum ch_fmt fmt = CH_FMT_RAW;
  uint64_t size, unit;
  int64_t count;

  memset (out, 0, sizeof *out);
  *at_least = false;
  if (!nv->present) {
    snprintf (why, why_len, "no Nova metadata");
    return 0;
  }
  if (strcmp (leaf, "disk") == 0) {
    if (nv->root_type == NULL || strcmp (nv->root_type, "image") != 0 || nv->root_uuid == NULL) {
      snprintf (why, why_len, "Nova metadata names no root image");
      return 0;
    }
    if (ch_image_id_sha1 (nv->root_uuid, sha1) < 0)
      return -1;
    snprintf (name, sizeof name, "%s", sha1);
    /* Nova keeps qcow2 originals as they are unless force_raw_images. */
    fmt = cfg->force_raw_images ? CH_FMT_RAW : CH_FMT_UNKNOWN;
    count = nv->disk_gb > 0 ? nv->disk_gb : 0;
    unit = GiB;
    *at_least = true;            /* Nova never shrinks an image to the flavor */
  }
  else if (strcmp (leaf, "disk.eph0") == 0 || strcmp (leaf, "disk.local") == 0) {
    if (nv->ephemeral_gb <= 0) {
      snprintf (why, why_len, "Nova metadata: the flavor has no ephemeral disk");
      return 0;
    }
    /* The filesystem (so the base's name) depends on the image's os_type,
     * the block device mapping and nova.conf: not in the metadata.  An
     * ephemeral base of that size here may hold another filesystem, and a
     * top over the wrong one shows the guest a broken disk. */
    if (cfg->eph_format == NULL) {
      snprintf (why, why_len, "Nova metadata does not tell the ephemeral disk's filesystem; "
                "set [nova] default_ephemeral_format");
      return 0;
    }
    snprintf (name, sizeof name, "ephemeral_%lld_%s", (long long) nv->ephemeral_gb,
              ch_ephemeral_tag (cfg->eph_format));
    count = nv->ephemeral_gb;
    unit = GiB;
  }
  else if (strcmp (leaf, "disk.swap") == 0) {
    if (nv->swap_mb <= 0) {
      snprintf (why, why_len, "Nova metadata: the flavor has no swap");
      return 0;
    }
    snprintf (name, sizeof name, "swap_%lld", (long long) nv->swap_mb);
    count = nv->swap_mb;
    unit = MiB;
  }
  else {
    snprintf (why, why_len, "Nova metadata says nothing of a disk named '%.64s'", leaf);
    return 0;
  }
  /* The flavor's numbers come from the XML: a size that wraps would make
   * a top of some other size. */
  size = (uint64_t) count * unit;
  if (size / unit != (uint64_t) count || size > INT64_MAX) {
    snprintf (why, why_len, "Nova metadata: the flavor's %s size is out of range", leaf);
    return 0;
  }
  if ((path = ch_path_join (cfg->base_dir, name)) == NULL || one_level (out, path, fmt, 0) < 0) {
    meta_clear (out);
    return -1;
  }
  out->present = true;
  out->fmt = CH_FMT_QCOW2;
  out->size = size;
  return 1;
}

/* SPEC in words, for a refusal. */
static void
describe (const struct ch_disk_meta *m, char *out, size_t len)
{
  if (m->n_levels == 0)
    snprintf (out, len, "%llu bytes, no backing file", (unsigned long long) m->size);
  else
    snprintf (out, len, "%llu bytes over '%.200s' (%s)", (unsigned long long) m->size,
              m->levels[0].name, ch_fmt_name (m->levels[0].fmt));
}

/* Do two accounts of a disk agree on what the top needs: its size and its
 * backing file as the header names it? */
static bool
agree (const struct ch_disk_meta *x, const struct ch_disk_meta *y)
{
  const struct ch_meta_level *a = x->levels, *b = y->levels;

  if (x->size != y->size || (x->n_levels == 0) != (y->n_levels == 0))
    return false;
  return x->n_levels == 0 ||
    (strcmp (a->name, b->name) == 0 &&
     (a->fmt == b->fmt || a->fmt == CH_FMT_UNKNOWN || b->fmt == CH_FMT_UNKNOWN));
}

/* (b): the source's header, from every sftp peer that has a file at the
 * disk's path.  A leftover copy on a host the instance once lived on may
 * answer too, so all answers must agree, and a file there that cannot be
 * read as a top is a disagreement.  1 with OUT and ORIGIN; 0 with WHY when
 * no peer has the file, or on a disagreement (DISAGREE set); -1 with
 * ch_error.  UNASKED is set, with WHY, when some peer could not be asked:
 * it may be the source, so an answer from the others proves nothing. */
static int
spec_from_peers (const struct ch_config *cfg, const char *top, ch_remote_head_fn remote,
                 void *opaque, struct ch_disk_meta *out, char *origin, size_t origin_len,
                 char *why, size_t why_len, bool *disagree, bool *unasked)
{
  CLEANUP_FREE uint8_t *buf = malloc (CH_QCOW2_HEADER_READ_MAX);
  char o[512], w[CH_ERROR_MAX], d1[512], d2[512];
  bool found = false;

  memset (out, 0, sizeof *out);
  *disagree = *unasked = false;
  snprintf (why, why_len, "no sftp peer is configured");
  if (buf == NULL) {
    ch_error ("malloc: %m");
    return -1;
  }
  for (size_t k = 0; k < cfg->n_peers; k++) {
    struct ch_disk_meta m;
    ssize_t n = remote (opaque, k, top, buf, CH_QCOW2_HEADER_READ_MAX, o, sizeof o, w, sizeof w);

    if (n == CH_REMOTE_UNASKED) {
      if (!*unasked)
        snprintf (why, why_len, "%s", w);
      *unasked = true;
      continue;
    }
    if (n < 0) {
      meta_clear (out);
      return -1;
    }
    if (n == 0) {
      if (w[0] && !found && !*unasked)
        snprintf (why, why_len, "%s", w);
      continue;
    }
    if (ch_incoming_spec_from_header (buf, (size_t) n, &m) < 0) {
      snprintf (why, why_len, "%.200s holds a file that is no top cowherd can follow: %s",
                o, ch_last_error ());
      meta_clear (out);
      *disagree = true;
      return 0;
    }
    if (!found) {
      *out = m;
      snprintf (origin, origin_len, "%s", o);
      found = true;
      continue;
    }
    if (!agree (out, &m)) {
      describe (out, d1, sizeof d1);
      describe (&m, d2, sizeof d2);
      snprintf (why, why_len, "the sftp peers disagree on it: %.80s has %.120s, %.80s has %.120s",
                origin, d1, o, d2);
      meta_clear (&m);
      meta_clear (out);
      *disagree = true;
      return 0;
    }
    meta_clear (&m);
  }
  if (found && *unasked) {
    /* WHY already names the peer that could not be asked. */
    size_t l = strlen (why);

    snprintf (why + l, why_len - l, "; %.200s alone cannot tell which host is the source", origin);
  }
  return found;
}

static int
find_one (const struct ch_domain *dom, const struct ch_config *cfg, const struct ch_disk *d,
          const char *top, ch_remote_head_fn remote, void *opaque,
          struct ch_incoming *inc, size_t i)
{
  char why_a[CH_ERROR_MAX] = "no cowherd metadata for it";
  char why_b[CH_ERROR_MAX] = "no sftp peer is configured";
  char why_c[CH_ERROR_MAX] = "";
  char origin[512], d1[512], d2[512];
  struct ch_disk_meta b = { 0 };
  bool have_a = false, disagree = false, unasked = false;
  int r = 0;

  /* Nothing is asked of the peers for a disk cowherd would not create. */
  if (ch_incoming_top_refusal (d, top, dom->uuid, cfg->instances_path, why_c, sizeof why_c))
    return 0;
  /* (a) */
  if (d->meta.present && d->meta.error)
    snprintf (why_a, sizeof why_a, "%s", d->meta.error);
  else if (d->meta.present && d->meta.fmt != d->fmt)
    snprintf (why_a, sizeof why_a, "cowherd metadata says %s, the domain %s",
              ch_fmt_name (d->meta.fmt), ch_fmt_name (d->fmt));
  else if (d->meta.present) {
    if (spec_from_meta (&d->meta, &inc->specs[i]) < 0)
      return -1;
    have_a = true;
  }
  /* (b), also when (a) answered: metadata goes stale when the chain
   * changes on the source (block commit or pull, a rebase, a rebuild) and
   * annotate was not run again; the header is what the source has now. */
  if (remote &&
      (r = spec_from_peers (cfg, top, remote, opaque, &b, origin, sizeof origin,
                            why_b, sizeof why_b, &disagree, &unasked)) < 0)
    return -1;
  if (disagree) {
    meta_clear (&inc->specs[i]);
    return ch_asprintf (&inc->unknown[i], "%s", why_b);
  }
  if (have_a && r > 0) {
    bool same = agree (&inc->specs[i], &b);

    describe (&inc->specs[i], d1, sizeof d1);
    describe (&b, d2, sizeof d2);
    meta_clear (&b);
    if (!same) {
      meta_clear (&inc->specs[i]);
      return ch_asprintf (&inc->unknown[i], "cowherd metadata says %s, the source's header "
                          "(%s) %s: run `cowherd annotate` on the source again", d1, origin, d2);
    }
    /* A peer that could not be asked may be the source: then the one
     * that answered merely agrees, and the metadata stands alone. */
    return ch_asprintf (&inc->origins[i], unasked ? "cowherd metadata, as %s has it"
                        : "cowherd metadata, as the source's header (%s)", origin);
  }
  if (have_a)
    return ch_asprintf (&inc->origins[i], "cowherd metadata");
  if (r > 0 && !unasked) {
    inc->specs[i] = b;
    return ch_asprintf (&inc->origins[i], "the source's header (%s)", origin);
  }
  meta_clear (&b);
  /* (c) */
  r = spec_from_nova (dom, cfg, top, &inc->specs[i], &inc->at_least[i], why_c, sizeof why_c);
  if (r < 0)
    return -1;
  if (r > 0)
    return ch_asprintf (&inc->origins[i], "Nova metadata");
  return ch_asprintf (&inc->unknown[i], "%s; %s; %s", why_a, why_b, why_c);
}

int
ch_incoming_find (const struct ch_domain *dom, const struct ch_config *cfg,
                  ch_remote_head_fn remote, void *opaque, struct ch_incoming *out)
{
  size_t n = dom->n_disks ? dom->n_disks : 1;

  memset (out, 0, sizeof *out);
  out->specs = calloc (n, sizeof *out->specs);
  out->origins = calloc (n, sizeof *out->origins);
  out->unknown = calloc (n, sizeof *out->unknown);
  out->at_least = calloc (n, sizeof *out->at_least);
  out->n = dom->n_disks;
  if (!out->specs || !out->origins || !out->unknown || !out->at_least) {
    ch_error ("calloc: %m");
    goto err;
  }
  for (size_t i = 0; i < dom->n_disks; i++) {
    const struct ch_disk *d = &dom->disks[i];
    CLEANUP_FREE char *top = NULL;
    struct stat st;

    if (d->source == NULL || (top = ch_path_normalize (d->source)) == NULL)
      continue;                  /* the planner reports a bad path */
    if (lstat (top, &st) == 0 || errno != ENOENT)
      continue;                  /* here already (shared storage, Nova made it) */
    if (find_one (dom, cfg, d, top, remote, opaque, out, i) < 0)
      goto err;
  }
  return 0;

 err:
  ch_incoming_clear (out);
  return -1;
}

/* QEMU reads "proto:rest" (a ':' before any '/') as a protocol. */
static bool
has_protocol (const char *name)
{
  return name[strcspn (name, ":/")] == ':';
}

/* Move SUB's links onto the end of C. */
static int
append_links (struct ch_chain *c, struct ch_chain *sub, const char *header_name)
{
  if (c->n + sub->n > CH_CHAIN_MAX_DEPTH + 1) {
    ch_error ("backing chain deeper than %d", CH_CHAIN_MAX_DEPTH);
    return -1;
  }
  if (sub->n && (sub->links[0].header_name = strdup (header_name)) == NULL) {
    ch_error ("strdup: %m");
    return -1;
  }
  for (size_t j = 0; j < sub->n; j++)
    c->links[c->n++] = sub->links[j];
  sub->n = 0;
  return 0;
}

/* Level K of SPEC and those below it exist here as SUB's links: they must
 * be what the source recorded (names as the headers write them, sizes),
 * and a cache entry with a current manifest must hold the recorded
 * content.  0, or -1 with ch_error. */
static int
check_here (const struct ch_disk_meta *spec, size_t k, const struct ch_chain *sub,
            const char *base_dir)
{
  for (size_t j = 0; k + j < spec->n_levels; j++) {
    const struct ch_meta_level *lv = &spec->levels[k + j];
    const struct ch_link *l = j < sub->n ? &sub->links[j] : NULL;
    const char *leaf;
    struct ch_manifest m;
    struct stat st;

    if (l == NULL || !l->exists) {
      ch_error ("the source's chain has '%.200s' at level %zu; this host has %s", lv->name,
                k + j + 1, l ? "a missing file" : "no such level");
      return -1;
    }
    if (j > 0 && (l->header_name == NULL || strcmp (l->header_name, lv->name) != 0)) {
      ch_error ("the source's chain names '%.200s' at level %zu, this host's '%.200s'",
                lv->name, k + j + 1, l->header_name ? l->header_name : "");
      return -1;
    }
    if (lv->size && l->virtual_size != lv->size) {
      ch_error ("%s is %llu bytes here but %llu bytes on the source", l->path,
                (unsigned long long) l->virtual_size, (unsigned long long) lv->size);
      return -1;
    }
    if (lv->sha256[0] == '\0' || (leaf = ch_path_leaf_in (l->path, base_dir)) == NULL)
      continue;
    {
      CLEANUP_CLOSE int bfd = open (base_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

      if (bfd >= 0 && fstatat (bfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          ch_manifest_read_current (bfd, leaf, &st, &m) && m.sha256[0] &&
          strcmp (m.sha256, lv->sha256) != 0) {
        ch_error ("%s holds other content here (sha256 %.16s...) than on the source "
                  "(%.16s...)", l->path, m.sha256, lv->sha256);
        return -1;
      }
    }
  }
  return 0;
}

/* The chain the spec describes, read from this host below the first
 * backing level that exists here.  -1 with ch_error: the chain cannot be
 * used (recorded against the disk). */
static int
spec_chain (const char *top, const struct ch_disk_meta *spec, const char *base_dir,
            struct ch_chain *c)
{
  const char *parent;

  ch_chain_clear (c);
  if ((c->links[0].path = ch_path_normalize (top)) == NULL)
    return -1;
  c->n = 1;
  c->links[0].fmt = spec->fmt;
  c->links[0].virtual_size = spec->size;
  parent = c->links[0].path;

  for (size_t k = 0; k < spec->n_levels; k++) {
    const struct ch_meta_level *lv = &spec->levels[k];
    struct ch_chain sub = { 0 };
    struct ch_link *l;
    struct stat st;
    CLEANUP_FREE char *path = NULL;
    int r;

    if (has_protocol (lv->name) || ch_str_has_control (lv->name)) {
      ch_error ("backing '%.200s' is not a file name", lv->name);
      return -1;
    }
    /* Nova writes absolute names; a relative one may climb out of the
     * instance directory once, into _base, and no further. */
    if (ch_path_has_dotdot (strncmp (lv->name, "../", 3) == 0 ? lv->name + 3 : lv->name)) {
      ch_error ("backing '%.200s' climbs out of the instance directory", lv->name);
      return -1;
    }
    if ((path = ch_path_resolve_backing (parent, lv->name)) == NULL)
      return -1;
    if (lstat (path, &st) < 0 && errno == ENOENT) {
      /* Missing here: the planner decides how to make it. */
      l = &c->links[c->n++];
      l->path = CH_STEAL (path);
      if ((l->header_name = strdup (lv->name)) == NULL) {
        ch_error ("strdup: %m");
        return -1;
      }
      l->fmt = lv->fmt;
      /* The planner makes single-file cache entries. */
      if (k + 1 < spec->n_levels) {
        ch_error ("%s is missing here and its chain on the source has %zu more level(s); "
                  "cowherd rebuilds only single-file cache entries", l->path,
                  spec->n_levels - k - 1);
        return -1;
      }
      return 0;
    }
    /* Here: this host's files decide the rest of the chain; they must
     * agree with what the source recorded. */
    r = ch_chain_probe (path, lv->fmt, &sub);
    if (r == 0)
      r = check_here (spec, k, &sub, base_dir);
    if (r == 0)
      r = append_links (c, &sub, lv->name);
    ch_chain_clear (&sub);
    return r;
  }
  return 0;
}

int
ch_plan_incoming (const struct ch_domain *dom, const struct ch_config *cfg,
                  const struct ch_incoming *inc, struct ch_plan *plan)
{
  struct ch_probe probe;
  struct ch_world world;
  int r;

  if (ch_probe_domain (dom, cfg, &probe) < 0)
    return -1;
  for (size_t i = 0; i < dom->n_disks && i < inc->n; i++) {
    if (!inc->specs[i].present || probe.errors[i])
      continue;
    if (spec_chain (dom->disks[i].source, &inc->specs[i], cfg->base_dir,
                    &probe.chains[i]) < 0 &&
        (probe.errors[i] = strdup (ch_last_error ())) == NULL) {
      ch_error ("strdup: %m");
      ch_probe_clear (&probe);
      return -1;
    }
  }
  ch_probe_world (&probe, &world);
  world.instances_dir = cfg->instances_path;
  world.uuid = dom->uuid;
  world.top_origins = (const char *const *) inc->origins;
  world.top_unknown = (const char *const *) inc->unknown;
  world.top_at_least = inc->at_least;
  r = ch_plan_build (dom, &world, CH_PLAN_INCOMING, plan);
  ch_probe_clear (&probe);
  return r;
}
