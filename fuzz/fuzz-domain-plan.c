/* libFuzzer: domain XML -> planner, over a world derived from the input.
 * The XML is parsed as the hook would; each disk's chain is made from its
 * <backingStore> elements (so paths, names and formats are the fuzzer's),
 * and the cache answers from a few bytes of the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "domain_xml.h"
#include "pathutil.h"
#include "planner.h"

static uint8_t cache_bits;

static int
lookup (void *opaque, const char *leaf, struct ch_entry *out)
{
  size_t h = strlen (leaf);

  (void) opaque;
  memset (out, 0, sizeof *out);
  out->exists = (cache_bits >> (h % 8)) & 1;
  out->is_regular = out->exists && !(cache_bits & 0x80);
  out->is_symlink = out->exists && !out->is_regular;
  out->fmt = (cache_bits & 0x40) ? CH_FMT_QCOW2 : CH_FMT_RAW;
  out->virtual_size = (uint64_t) cache_bits << 24;
  return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct ch_domain *dom = NULL;
  struct ch_chain *chains;
  struct ch_world w = { .base_dir = "/var/lib/nova/instances/_base",
                        .instances_dir = "/var/lib/nova/instances", .lookup = lookup };
  struct ch_plan plan;
  const char **origins;
  struct ch_disk_meta *metas;
  char *meta_xml;
  bool incoming;

  if (size < 1)
    return 0;
  cache_bits = data[0];
  if (ch_domain_parse ((const char *) data + 1, size - 1, &dom) < 0)
    return 0;
  chains = calloc (dom->n_disks + 1, sizeof *chains);
  origins = calloc (dom->n_disks + 1, sizeof *origins);
  metas = calloc (dom->n_disks + 1, sizeof *metas);
  /* Bit 6: an incoming migration, whose missing tops come from cowherd's
   * metadata (the synthetic chain below stands for what the probe makes). */
  incoming = cache_bits & 0x40;
  for (size_t i = 0; i < dom->n_disks; i++) {
    const struct ch_disk *d = &dom->disks[i];
    struct ch_chain *c = &chains[i];

    metas[i] = d->meta;
    if (d->source == NULL || (c->links[0].path = ch_path_normalize (d->source)) == NULL)
      continue;
    c->links[0].exists = c->links[0].is_regular = !(cache_bits & 1);
    c->links[0].fmt = d->fmt;
    c->n = 1;
    if (incoming && !c->links[0].exists && d->meta.present && !d->meta.error) {
      origins[i] = "fuzz";
      c->links[0].fmt = d->meta.fmt;
      c->links[0].virtual_size = d->meta.size;
      for (size_t j = 0; j < d->meta.n_levels && c->n <= CH_CHAIN_MAX_DEPTH; j++) {
        struct ch_link *l = &c->links[c->n];

        if ((l->path = ch_path_resolve_backing (c->links[c->n - 1].path,
                                                d->meta.levels[j].name)) == NULL)
          break;
        l->header_name = strdup (d->meta.levels[j].name);
        l->fmt = d->meta.levels[j].fmt;
        l->exists = l->is_regular = j + 1 < d->meta.n_levels;
        c->n++;
      }
      continue;
    }
    for (size_t j = 0; j < d->n_backing && c->n <= CH_CHAIN_MAX_DEPTH; j++) {
      struct ch_link *l = &c->links[c->n];

      if (d->backing[j].path == NULL ||
          (l->path = ch_path_normalize (d->backing[j].path)) == NULL)
        break;
      l->header_name = strdup (d->backing[j].path);
      l->fmt = d->backing[j].fmt;
      /* The last link is the missing one; the rest exist. */
      l->exists = l->is_regular = j + 1 < d->n_backing;
      c->n++;
    }
  }
  w.chains = chains;
  w.top_origins = origins;
  if (ch_plan_build (dom, &w, incoming ? CH_PLAN_INCOMING
                     : (cache_bits & 0x20) ? CH_PLAN_MARK : CH_PLAN_ENSURE, &plan) == 0)
    ch_plan_clear (&plan);
  /* What annotate would write for these disks. */
  meta_xml = ch_meta_to_xml (dom, metas);
  free (meta_xml);
  free (metas);
  free (origins);
  for (size_t i = 0; i < dom->n_disks; i++)
    ch_chain_clear (&chains[i]);
  free (chains);
  ch_domain_free (dom);
  return 0;
}
