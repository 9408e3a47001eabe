#include "planner.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"
#include "naming.h"
#include "pathutil.h"

#define GiB (1024ULL * 1024ULL * 1024ULL)
#define MiB (1024ULL * 1024ULL)

static struct ch_action *
add (struct ch_plan *p, enum ch_action_kind kind, const char *disk)
{
  struct ch_action *a;

  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 8;
    struct ch_action *v = reallocarray (p->v, cap, sizeof *v);

    if (v == NULL) {
      ch_error ("realloc: %m");
      return NULL;
    }
    p->v = v;
    p->cap = cap;
  }
  a = &p->v[p->n++];
  memset (a, 0, sizeof *a);
  a->kind = kind;
  a->disk = disk;
  if (kind == CH_ACT_FAIL)
    p->failed = true;
  return a;
}

/* Is there already an action for cache entry NAME: one that creates it
 * (CREATION), or one that marks it in use? */
static bool
planned (const struct ch_plan *p, const char *name, bool creation)
{
  for (size_t i = 0; i < p->n; i++) {
    const struct ch_action *a = &p->v[i];
    bool is_creation = a->kind == CH_ACT_FETCH || a->kind == CH_ACT_COPY_EXTEND ||
      a->kind == CH_ACT_CREATE_EPHEMERAL || a->kind == CH_ACT_CREATE_SWAP;

    if (a->name && strcmp (a->name, name) == 0 &&
        (creation ? is_creation : a->kind == CH_ACT_MARK_IN_USE))
      return true;
  }
  return false;
}

static int
fail (struct ch_plan *p, const char *disk, const char *path, const char *fmt, ...)
  __attribute__((format (printf, 4, 5)));
static int
fail (struct ch_plan *p, const char *disk, const char *path, const char *fmt, ...)
{
  struct ch_action *a = add (p, CH_ACT_FAIL, disk);
  va_list ap;
  int r;

  if (a == NULL)
    return -1;
  if (path && (a->path = strdup (path)) == NULL) {
    ch_error ("strdup: %m");
    return -1;
  }
  va_start (ap, fmt);
  r = vasprintf (&a->reason, fmt, ap);
  va_end (ap);
  if (r < 0) {
    a->reason = NULL;
    ch_error ("vasprintf: %m");
    return -1;
  }
  return 0;
}

static int
mark (struct ch_plan *p, const struct ch_world *w, const char *disk, const char *leaf)
{
  struct ch_action *a;

  if (planned (p, leaf, false))
    return 0;
  if ((a = add (p, CH_ACT_MARK_IN_USE, disk)) == NULL ||
      ch_asprintf (&a->name, "%s", leaf) < 0 ||
      ch_asprintf (&a->path, "%s/%s", w->base_dir, leaf) < 0)
    return -1;
  return 0;
}

static struct ch_action *
creation (struct ch_plan *p, const struct ch_world *w, enum ch_action_kind kind,
          const char *disk, const char *leaf, uint64_t size)
{
  struct ch_action *a = add (p, kind, disk);

  if (a == NULL || ch_asprintf (&a->name, "%s", leaf) < 0 ||
      ch_asprintf (&a->path, "%s/%s", w->base_dir, leaf) < 0)
    return NULL;
  a->size = size;
  a->fmt = CH_FMT_RAW;
  return a;
}

/* Original NAME is missing and sources are configured: fetch it.  IMAGE_ID
 * is the domain's image id from Nova's metadata, a candidate the fetcher
 * checks against NAME. */
static int
plan_fetch (struct ch_plan *p, const struct ch_world *w, const char *disk,
            const char *name, const char *image_id)
{
  struct ch_action *a;

  if (planned (p, name, true))
    return 0;
  if ((a = add (p, CH_ACT_FETCH, disk)) == NULL || ch_asprintf (&a->name, "%s", name) < 0 ||
      ch_asprintf (&a->path, "%s/%s", w->base_dir, name) < 0 ||
      (image_id && ch_asprintf (&a->src_name, "%s", image_id) < 0))
    return -1;
  a->fmt = CH_FMT_UNKNOWN;
  return 0;
}

/* <sha1>_<GB> is missing: copy the original and extend it, as Nova's
 * Qcow2 backend does for a disk larger than its image. */
static int
plan_resized (struct ch_plan *p, const struct ch_world *w, const char *disk,
              const struct ch_link *l, const char *leaf, const struct ch_base_name *bn,
              const char *image_id)
{
  struct ch_entry src;
  struct ch_action *a;
  CLEANUP_FREE char *src_path = NULL;
  uint64_t size = bn->size_gb * GiB;

  if (ch_asprintf (&src_path, "%s/%s", w->base_dir, bn->sha1) < 0)
    return -1;
  if (w->lookup (w->opaque, bn->sha1, &src) < 0)
    return -1;
  if (!src.exists) {
    if (!w->can_fetch)
      return fail (p, disk, src_path,
                   "original image missing (needed to rebuild %s/%s); "
                   "no image source is configured", w->base_dir, leaf);
    /* Fetch it, then copy it: its format is known once it is here. */
    if (plan_fetch (p, w, disk, bn->sha1, image_id) < 0 ||
        (a = creation (p, w, CH_ACT_COPY_EXTEND, disk, leaf, size)) == NULL ||
        ch_asprintf (&a->src_name, "%s", bn->sha1) < 0)
      return -1;
    a->fmt = CH_FMT_UNKNOWN;
    return 0;
  }
  if (src.is_symlink || !src.is_regular)
    return fail (p, disk, src_path,
                 "original image is a symlink or not a regular file; "
                 "cowherd does not copy from it");
  /* Nova refuses an image whose header names another file; copying one
   * would hand the guest whatever file that names. */
  if (src.has_backing)
    return fail (p, disk, src_path,
                 "original image names a backing or data file; Nova refuses such "
                 "images and so does cowherd");
  if (src.fmt != CH_FMT_RAW && src.fmt != CH_FMT_QCOW2)
    return fail (p, disk, src_path, "original image is in a format cowherd does not copy");
  if (l->fmt != CH_FMT_UNKNOWN && !l->fmt_probed && l->fmt != src.fmt)
    return fail (p, disk, l->path,
                 "the disk expects a %s backing file but the original is %s",
                 ch_fmt_name (l->fmt), ch_fmt_name (src.fmt));
  if (src.virtual_size > size)
    return fail (p, disk, l->path,
                 "original image (%llu bytes) is larger than %llu GiB",
                 (unsigned long long) src.virtual_size,
                 (unsigned long long) bn->size_gb);
  if ((a = creation (p, w, CH_ACT_COPY_EXTEND, disk, leaf, size)) == NULL ||
      ch_asprintf (&a->src_name, "%s", bn->sha1) < 0)
    return -1;
  a->fmt = src.fmt;
  return 0;
}

/* A backing link that does not exist: decide whether and how to rebuild it. */
/* Bytes the entry named BN will have; 0 for kinds cowherd does not make. */
static uint64_t
entry_size (const struct ch_base_name *bn)
{
  switch (bn->kind) {
  case CH_BASE_RESIZED:
  case CH_BASE_EPHEMERAL:
    return bn->size_gb * GiB;
  case CH_BASE_SWAP:
    return bn->size_mb * MiB;
  default:
    return 0;
  }
}

static int
plan_missing (struct ch_plan *p, const struct ch_world *w, const char *disk,
              const struct ch_link *parent, const struct ch_link *l, const char *image_id)
{
  const char *leaf = ch_path_leaf_in (l->path, w->base_dir);
  struct ch_base_name bn;
  const char *fs;

  if (leaf == NULL)
    return fail (p, disk, l->path,
                 "backing file missing, and it is not an entry of the image cache %s",
                 w->base_dir);
  if (l->header_name && ch_path_has_dotdot (l->header_name))
    return fail (p, disk, l->path,
                 "backing file missing; its name contains '..', so cowherd will not create it");
  if (l->is_symlink)
    return fail (p, disk, l->path,
                 "backing file is a dangling symlink; cowherd does not create through symlinks");
  if (l->fmt != CH_FMT_UNKNOWN && l->fmt != CH_FMT_RAW && l->fmt != CH_FMT_QCOW2)
    return fail (p, disk, l->path, "backing file missing, in a format cowherd does not create");

  ch_base_classify (leaf, &bn);
  if (planned (p, leaf, true))
    return 0;
  /* Nova makes a base as large as the disk over it (a disk only grows):
   * a name claiming more is not Nova's, and would make cowherd write a
   * file as large as the name says. */
  if (entry_size (&bn) > parent->virtual_size)
    return fail (p, disk, l->path,
                 "its name says %llu bytes but the disk over it is only %llu bytes",
                 (unsigned long long) entry_size (&bn),
                 (unsigned long long) parent->virtual_size);
  switch (bn.kind) {
  case CH_BASE_RESIZED:
    return plan_resized (p, w, disk, l, leaf, &bn, image_id);
  case CH_BASE_ORIGINAL:
    if (w->can_fetch)
      return plan_fetch (p, w, disk, leaf, image_id);
    return fail (p, disk, l->path, "original image missing; no image source is configured");
  case CH_BASE_LEGACY_SM:
    return fail (p, disk, l->path,
                 "legacy _sm base missing; Nova stopped making these and cowherd never does");
  case CH_BASE_EPHEMERAL:
    if (l->fmt == CH_FMT_QCOW2)
      return fail (p, disk, l->path, "ephemeral bases are raw, but the disk expects qcow2");
    fs = ch_ephemeral_fs (&bn);
    if (fs == NULL)
      return fail (p, disk, l->path,
                   "ephemeral base missing and its tag '%s' names no filesystem cowherd knows",
                   bn.eph_tag);
    {
      struct ch_action *a = creation (p, w, CH_ACT_CREATE_EPHEMERAL, disk, leaf,
                                      bn.size_gb * GiB);
      if (a == NULL)
        return -1;
      a->fs = fs;
    }
    return 0;
  case CH_BASE_SWAP:
    if (l->fmt == CH_FMT_QCOW2)
      return fail (p, disk, l->path, "swap bases are raw, but the disk expects qcow2");
    return creation (p, w, CH_ACT_CREATE_SWAP, disk, leaf, bn.size_mb * MiB) ? 0 : -1;
  case CH_BASE_TEMP:
  case CH_BASE_NONE:
    break;
  }
  return fail (p, disk, l->path,
               "backing file missing, and its name is not one of Nova's cache names");
}

/* A <sha1>_<GB> short of GB GiB (raw: its size; qcow2: its header's
 * virtual size, none while cp has not written the header) is a copy Nova
 * is still making (it copies to the final name, then extends): plan the
 * rebuild, which waits for Nova's copy to finish rather than let libvirt
 * open half of it, and builds it if Nova gives up. */
static bool
resized_incomplete (const char *leaf, const struct ch_link *l)
{
  struct ch_base_name bn;

  if (leaf == NULL)
    return false;
  ch_base_classify (leaf, &bn);
  if (bn.kind != CH_BASE_RESIZED)
    return false;
  if (l->fmt == CH_FMT_RAW)
    return l->file_size != bn.size_gb * GiB;
  return l->fmt == CH_FMT_QCOW2 && (l->partial || l->virtual_size != bn.size_gb * GiB);
}

static int
plan_resized_once (struct ch_plan *p, const struct ch_world *w, const char *disk,
                   const struct ch_link *l, const char *leaf, const char *image_id)
{
  struct ch_base_name bn;

  if (planned (p, leaf, true))
    return 0;
  ch_base_classify (leaf, &bn);
  return plan_resized (p, w, disk, l, leaf, &bn, image_id);
}

/* Nova's names for an instance's disks (the config drive is read-only). */
static bool
nova_disk_name (const char *leaf)
{
  if (!strcmp (leaf, "disk") || !strcmp (leaf, "disk.local") || !strcmp (leaf, "disk.swap"))
    return true;
  if (strncmp (leaf, "disk.eph", 8) != 0 || leaf[8] == '\0' || strlen (leaf) > 11)
    return false;
  return strspn (leaf + 8, "0123456789") == strlen (leaf + 8);
}

const char *
ch_incoming_top_refusal (const struct ch_disk *d, const char *top, const char *uuid,
                         const char *instances_dir, char *why, size_t len)
{
  const char *leaf = strrchr (top, '/');
  size_t ilen = instances_dir ? strlen (instances_dir) : 0;

  if (d->readonly || d->shareable) {
    snprintf (why, len, "it is read-only or shareable, so the migration does not copy it "
              "and cowherd does not create it");
    return why;
  }
  if (ch_str_has_control (top)) {
    snprintf (why, len, "its path has control characters");
    return why;
  }
  if (d->fmt != CH_FMT_QCOW2) {
    snprintf (why, len, "the domain does not open it as qcow2; cowherd creates only "
              "qcow2 overlays");
    return why;
  }
  if (instances_dir == NULL || uuid == NULL || leaf == NULL ||
      strncmp (top, instances_dir, ilen) != 0 || top[ilen] != '/' ||
      strncmp (top + ilen + 1, uuid, strlen (uuid)) != 0 ||
      top + ilen + 1 + strlen (uuid) != leaf || !nova_disk_name (leaf + 1)) {
    snprintf (why, len, "cowherd creates incoming disks only where Nova keeps them: "
              "%s/%s/ disk, disk.local, disk.eph<N> or disk.swap",
              instances_dir ? instances_dir : "?", uuid ? uuid : "<uuid>");
    return why;
  }
  return NULL;
}

/* An incoming migration's disk whose top is not here yet: an empty overlay
 * over the chain the source has, which the migration then fills. */
static int
plan_top (struct ch_plan *p, const struct ch_world *w, const struct ch_disk *d,
          const struct ch_chain *c, const char *origin, const char *unknown, bool at_least)
{
  const struct ch_link *top = &c->links[0];
  struct ch_action *a;
  char why[512];

  if (ch_incoming_top_refusal (d, top->path, w->uuid, w->instances_dir, why, sizeof why))
    return fail (p, d->target, top->path, "disk image missing; %s", why);
  if (origin == NULL)
    return fail (p, d->target, top->path, "disk image missing and its backing chain is unknown: %s",
                 unknown ? unknown : "no source of chain knowledge");
  /* The chain comes from another host: a backing name pointing anywhere
   * but the cache would hand the guest whatever file it names. */
  if (c->n > 1 && ch_path_leaf_in (c->links[1].path, w->base_dir) == NULL)
    return fail (p, d->target, top->path,
                 "disk image missing, and its backing file %s is not an entry of the "
                 "image cache %s; cowherd creates tops only over cache entries",
                 c->links[1].path, w->base_dir);
  if ((a = add (p, CH_ACT_CREATE_TOP, d->target)) == NULL ||
      ch_asprintf (&a->path, "%s", top->path) < 0)
    return -1;
  if (c->n > 1) {
    if (ch_asprintf (&a->src_name, "%s", c->links[1].header_name) < 0)
      return -1;
    a->fmt = c->links[1].fmt;
  }
  a->size = top->virtual_size;
  a->at_least = at_least;
  a->origin = origin;
  return 0;
}

static int
plan_disk (struct ch_plan *p, const struct ch_world *w, enum ch_plan_mode mode,
           const struct ch_disk *d, size_t index, const char *image_id)
{
  const struct ch_chain *c = &w->chains[index];
  const char *err = w->chain_errors ? w->chain_errors[index] : NULL;
  bool ensure = mode == CH_PLAN_ENSURE || mode == CH_PLAN_INCOMING;

  if (ensure && err)
    return fail (p, d->target, NULL, "%s", err);
  if (c->n == 0)
    return 0;
  if (mode == CH_PLAN_INCOMING && !c->links[0].exists) {
    if (plan_top (p, w, d, c, w->top_origins ? w->top_origins[index] : NULL,
                  w->top_unknown ? w->top_unknown[index] : NULL,
                  w->top_at_least && w->top_at_least[index]) < 0)
      return -1;
  }
  else if (ensure && !c->links[0].exists)
    return fail (p, d->target, c->links[0].path,
                 "disk image missing; cowherd never creates a top image on "
                 "prepare (it would give the guest a blank disk)");

  for (size_t i = 0; i < c->n; i++) {
    const struct ch_link *l = &c->links[i];
    const char *leaf = ch_path_leaf_in (l->path, w->base_dir);

    if (i == 0 && !l->exists)
      continue;                  /* the top cowherd creates (above) */
    if (!l->exists || (l->is_symlink && !l->is_regular && !l->is_block)) {
      if (ensure && i > 0 &&
          plan_missing (p, w, d->target, &c->links[i - 1], l, image_id) < 0)
        return -1;
      break;
    }
    /* Only a resized entry still being copied may be a qcow2 without its
     * header yet. */
    if (l->partial && !(i > 0 && l->is_regular && !l->is_symlink &&
                        resized_incomplete (leaf, l))) {
      if (ensure && fail (p, d->target, l->path,
                          "stated format is qcow2 but the image is not qcow2") < 0)
        return -1;
      break;
    }
    /* Only real files in the cache are marked; a symlink's own mtime is not
     * what Nova's GC reads, and cowherd writes through no symlink. */
    if (!leaf || !l->is_regular || l->is_symlink)
      continue;
    if (ensure && i > 0 && resized_incomplete (leaf, l) &&
        plan_resized_once (p, w, d->target, l, leaf, image_id) < 0)
      return -1;
    if (mark (p, w, d->target, leaf) < 0)
      return -1;
  }
  return 0;
}

/* Fetches first (copies need them), then creations, in disk order; then
 * the marks; then the failures. */
static int
rank (enum ch_action_kind k)
{
  switch (k) {
  case CH_ACT_FETCH:
    return 0;
  case CH_ACT_COPY_EXTEND:
  case CH_ACT_CREATE_EPHEMERAL:
  case CH_ACT_CREATE_SWAP:
    return 1;
  case CH_ACT_CREATE_TOP:
    return 2;
  case CH_ACT_MARK_IN_USE:
    return 3;
  case CH_ACT_FAIL:
    break;
  }
  return 4;
}

static void
stable_order (struct ch_plan *p)
{
  /* Insertion sort: plans are short and the order within a rank matters. */
  for (size_t i = 1; i < p->n; i++) {
    struct ch_action a = p->v[i];
    size_t j = i;

    while (j > 0 && rank (p->v[j - 1].kind) > rank (a.kind)) {
      p->v[j] = p->v[j - 1];
      j--;
    }
    p->v[j] = a;
  }
}

int
ch_plan_build (const struct ch_domain *dom, const struct ch_world *w,
               enum ch_plan_mode mode, struct ch_plan *out)
{
  memset (out, 0, sizeof *out);
  for (size_t i = 0; i < dom->n_disks; i++) {
    const struct ch_disk *d = &dom->disks[i];

    if (d->source == NULL)
      continue;
    if (plan_disk (out, w, mode, d, i, dom->nova.present ? dom->nova.root_uuid : NULL) < 0)
      goto err;
  }
  /* The original a resized base is copied from was just used: mark it. */
  for (size_t i = 0, n = out->n; i < n; i++)
    if (out->v[i].kind == CH_ACT_COPY_EXTEND &&
        mark (out, w, out->v[i].disk, out->v[i].src_name) < 0)
      goto err;
  stable_order (out);
  return 0;

 err:
  ch_plan_clear (out);
  return -1;
}

void
ch_plan_clear (struct ch_plan *p)
{
  for (size_t i = 0; i < p->n; i++) {
    free (p->v[i].name);
    free (p->v[i].path);
    free (p->v[i].src_name);
    free (p->v[i].reason);
  }
  free (p->v);
  memset (p, 0, sizeof *p);
}

const char *
ch_action_kind_name (enum ch_action_kind k)
{
  switch (k) {
  case CH_ACT_FETCH: return "fetch";
  case CH_ACT_COPY_EXTEND: return "copy-extend";
  case CH_ACT_CREATE_EPHEMERAL: return "create-ephemeral";
  case CH_ACT_CREATE_SWAP: return "create-swap";
  case CH_ACT_CREATE_TOP: return "create-top";
  case CH_ACT_MARK_IN_USE: return "mark-in-use";
  case CH_ACT_FAIL: break;
  }
  return "fail";
}

const struct ch_action *
ch_plan_first_failure (const struct ch_plan *p)
{
  for (size_t i = 0; i < p->n; i++)
    if (p->v[i].kind == CH_ACT_FAIL)
      return &p->v[i];
  return NULL;
}
