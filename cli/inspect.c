/* cowherd inspect: each disk, its chain, which links exist, and the plan. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "error.h"
#include "naming.h"
#include "pathutil.h"
#include "planner.h"
#include "probe.h"

static const char *
entry_kind (const char *path, const char *base_dir)
{
  const char *leaf = ch_path_leaf_in (path, base_dir);
  struct ch_base_name bn;

  if (leaf == NULL)
    return NULL;
  ch_base_classify (leaf, &bn);
  return ch_base_kind_name (bn.kind);
}

/* A symlink whose target is missing: there is nothing to read there. */
static bool
dangling (const struct ch_link *l)
{
  return l->is_symlink && !l->is_regular && !l->is_block;
}

static void
human_size (uint64_t b, char *buf, size_t len)
{
  static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
  double v = (double) b;
  size_t u = 0;

  while (v >= 1024 && u < 5) {
    v /= 1024;
    u++;
  }
  snprintf (buf, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

static void
print_text (const struct ch_domain *dom, const struct ch_probe *pr, const struct ch_plan *plan)
{
  char sz[32], sha1[CH_SHA1_HEX + 1];

  printf ("domain %s%s%s\n", dom->name, dom->uuid ? " uuid " : "", dom->uuid ? dom->uuid : "");
  if (dom->nova.present) {
    const struct ch_nova *n = &dom->nova;

    printf ("nova %s: instance %s", n->ns_version == 10 ? "1.0" : "1.1",
            n->name ? n->name : "?");
    if (n->root_uuid && ch_image_id_sha1 (n->root_uuid, sha1) == 0)
      printf (", %s %s (cache name %s)", n->root_type ? n->root_type : "root",
              n->root_uuid, sha1);
    printf ("\n  flavor %s: disk %" PRId64 " GB, ephemeral %" PRId64 " GB, swap %" PRId64 " MB\n",
            n->flavor_name ? n->flavor_name : "?", n->disk_gb, n->ephemeral_gb, n->swap_mb);
  }
  for (size_t i = 0; i < dom->n_disks; i++) {
    const struct ch_disk *d = &dom->disks[i];
    const struct ch_chain *c = &pr->chains[i];

    printf ("disk %s (%s, %s%s%s)\n", d->target, d->device, ch_fmt_name (d->fmt),
            d->readonly ? ", readonly" : "", d->shareable ? ", shareable" : "");
    if (d->source == NULL) {
      printf ("  no source\n");
      continue;
    }
    for (size_t j = 0; j < c->n; j++) {
      const struct ch_link *l = &c->links[j];
      const char *kind = entry_kind (l->path, pr->base_dir);

      human_size (l->virtual_size, sz, sizeof sz);
      printf ("  %zu %s\n    %s%s, %s", j, l->path, ch_fmt_name (l->fmt),
              l->fmt_probed ? " (probed)" : "",
              !l->exists ? "MISSING" : dangling (l) ? "MISSING (dangling symlink)"
              : l->is_symlink ? "present (symlink)" : "present");
      if (l->exists && !dangling (l))
        printf (", virtual size %s", sz);
      if (kind)
        printf (", cache entry: %s", kind);
      printf ("\n");
    }
    if (pr->errors[i])
      printf ("  error: %s\n", pr->errors[i]);
  }
  printf ("plan:%s\n", plan->n ? "" : " nothing to do");
  for (size_t i = 0; i < plan->n; i++) {
    const struct ch_action *a = &plan->v[i];

    human_size (a->size, sz, sizeof sz);
    switch (a->kind) {
    case CH_ACT_FETCH:
      printf ("  fetch %s from the image sources%s%s, for %s\n", a->path,
              a->src_name ? ", trying image " : "", a->src_name ? a->src_name : "", a->disk);
      break;
    case CH_ACT_COPY_EXTEND:
      printf ("  copy-extend %s from %s to %s (%s), for %s\n", a->path, a->src_name, sz,
              ch_fmt_name (a->fmt), a->disk);
      break;
    case CH_ACT_CREATE_EPHEMERAL:
      printf ("  create-ephemeral %s: raw %s, %s labelled ephemeral0, for %s\n", a->path, sz,
              a->fs, a->disk);
      break;
    case CH_ACT_CREATE_SWAP:
      printf ("  create-swap %s: raw %s, mkswap, for %s\n", a->path, sz, a->disk);
      break;
    case CH_ACT_CREATE_TOP:
      printf ("  create-top %s: qcow2 %s%s over %s (%s), chain from %s, for %s\n", a->path,
              a->at_least ? "at least " : "", a->size ? sz : "its backing's size",
              a->src_name ? a->src_name : "nothing", ch_fmt_name (a->fmt), a->origin, a->disk);
      break;
    case CH_ACT_MARK_IN_USE:
      printf ("  mark-in-use %s\n", a->path);
      break;
    case CH_ACT_FAIL:
      printf ("  CANNOT disk %s: %s%s%s\n", a->disk, a->path ? a->path : "",
              a->path ? ": " : "", a->reason);
      break;
    }
  }
}

static json_object *
jstr (const char *s)
{
  return s ? json_object_new_string (s) : NULL;
}

static json_object *
to_json (const struct ch_domain *dom, const struct ch_probe *pr, const struct ch_plan *plan)
{
  json_object *root = json_object_new_object (), *disks = json_object_new_array ();
  json_object *acts = json_object_new_array ();
  char sha1[CH_SHA1_HEX + 1];

  json_object_object_add (root, "domain", jstr (dom->name));
  json_object_object_add (root, "uuid", jstr (dom->uuid));
  if (dom->nova.present) {
    const struct ch_nova *n = &dom->nova;
    json_object *nj = json_object_new_object ();

    json_object_object_add (nj, "namespace", jstr (n->ns_version == 10 ? "1.0" : "1.1"));
    json_object_object_add (nj, "name", jstr (n->name));
    json_object_object_add (nj, "flavor", jstr (n->flavor_name));
    json_object_object_add (nj, "root_type", jstr (n->root_type));
    json_object_object_add (nj, "image_id", jstr (n->root_uuid));
    if (n->root_uuid && ch_image_id_sha1 (n->root_uuid, sha1) == 0)
      json_object_object_add (nj, "image_cache_name", jstr (sha1));
    json_object_object_add (nj, "disk_gb", json_object_new_int64 (n->disk_gb));
    json_object_object_add (nj, "ephemeral_gb", json_object_new_int64 (n->ephemeral_gb));
    json_object_object_add (nj, "swap_mb", json_object_new_int64 (n->swap_mb));
    json_object_object_add (root, "nova", nj);
  }
  for (size_t i = 0; i < dom->n_disks; i++) {
    const struct ch_disk *d = &dom->disks[i];
    json_object *dj = json_object_new_object (), *chain = json_object_new_array ();

    json_object_object_add (dj, "target", jstr (d->target));
    json_object_object_add (dj, "device", jstr (d->device));
    json_object_object_add (dj, "source", jstr (d->source));
    json_object_object_add (dj, "format", jstr (ch_fmt_name (d->fmt)));
    json_object_object_add (dj, "readonly", json_object_new_boolean (d->readonly));
    json_object_object_add (dj, "shareable", json_object_new_boolean (d->shareable));
    for (size_t j = 0; j < pr->chains[i].n; j++) {
      const struct ch_link *l = &pr->chains[i].links[j];
      json_object *lj = json_object_new_object ();

      json_object_object_add (lj, "path", jstr (l->path));
      json_object_object_add (lj, "format", jstr (ch_fmt_name (l->fmt)));
      json_object_object_add (lj, "format_probed", json_object_new_boolean (l->fmt_probed));
      json_object_object_add (lj, "exists", json_object_new_boolean (l->exists && !dangling (l)));
      json_object_object_add (lj, "symlink", json_object_new_boolean (l->is_symlink));
      if (l->exists && !dangling (l)) {
        json_object_object_add (lj, "virtual_size", json_object_new_int64 ((int64_t) l->virtual_size));
        json_object_object_add (lj, "allocated", json_object_new_int64 ((int64_t) l->allocated));
      }
      json_object_object_add (lj, "cache_entry", jstr (entry_kind (l->path, pr->base_dir)));
      json_object_array_add (chain, lj);
    }
    json_object_object_add (dj, "chain", chain);
    json_object_object_add (dj, "error", jstr (pr->errors[i]));
    json_object_array_add (disks, dj);
  }
  json_object_object_add (root, "disks", disks);
  for (size_t i = 0; i < plan->n; i++) {
    const struct ch_action *a = &plan->v[i];
    json_object *aj = json_object_new_object ();

    json_object_object_add (aj, "action", jstr (ch_action_kind_name (a->kind)));
    json_object_object_add (aj, "disk", jstr (a->disk));
    json_object_object_add (aj, "path", jstr (a->path));
    if (a->src_name)
      json_object_object_add (aj, a->kind == CH_ACT_FETCH ? "image_id" : "source",
                              jstr (a->src_name));
    if (a->kind != CH_ACT_MARK_IN_USE && a->kind != CH_ACT_FAIL && a->kind != CH_ACT_FETCH) {
      json_object_object_add (aj, "size", json_object_new_int64 ((int64_t) a->size));
      json_object_object_add (aj, "format", jstr (ch_fmt_name (a->fmt)));
    }
    if (a->fs)
      json_object_object_add (aj, "filesystem", jstr (a->fs));
    if (a->reason)
      json_object_object_add (aj, "reason", jstr (a->reason));
    json_object_array_add (acts, aj);
  }
  json_object_object_add (root, "plan", acts);
  json_object_object_add (root, "ok", json_object_new_boolean (!plan->failed));
  return root;
}

int
cmd_inspect (struct cli *cli, int argc, char *argv[])
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "config", required_argument, NULL, 'c' },
    { "verbose", no_argument, NULL, 'v' },
    { 0 }
  };
  CLEANUP_DOMAIN struct ch_domain *dom = NULL;
  struct ch_probe probe;
  struct ch_world world;
  struct ch_plan plan;
  bool json = false;
  int c, r;

  while ((c = getopt_long (argc, argv, "jc:v", opts, NULL)) != -1) {
    switch (c) {
    case 'j': json = true; break;
    case 'c': cli->config_path = optarg; break;
    case 'v': cli->verbose = true; break;
    default: return 2;
    }
  }
  if (optind != argc - 1) {
    fprintf (stderr, "usage: cowherd inspect [--json] FILE|-\n");
    return 2;
  }
  if (cli_load_config (cli) < 0 || cli_read_domain (argv[optind], &dom) < 0 ||
      ch_probe_domain (dom, &cli->cfg, &probe) < 0)
    return -1;
  ch_probe_world (&probe, &world);
  if (ch_plan_build (dom, &world, CH_PLAN_ENSURE, &plan) < 0) {
    ch_probe_clear (&probe);
    return -1;
  }
  if (json) {
    json_object *j = to_json (dom, &probe, &plan);

    printf ("%s\n", json_object_to_json_string_ext (j, JSON_C_TO_STRING_PRETTY |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put (j);
  }
  else
    print_text (dom, &probe, &plan);
  r = plan.failed ? 1 : 0;
  ch_plan_clear (&plan);
  ch_probe_clear (&probe);
  return r;
}
