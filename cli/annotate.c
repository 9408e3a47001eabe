/* cowherd annotate: record every disk's backing chain in the domain's own
 * XML (cowherd's metadata namespace), live and persistent, so that the
 * destination of any later live migration knows the chain it must build
 * before the top layer arrives.  Run on the host the domain runs on. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


#include "chain.h"
#include "cleanup.h"
#include "cli.h"
#include "domain_xml.h"
#include "error.h"
#include "fsutil.h"
#include "log.h"
#include "manifest.h"
#include "pathutil.h"
#include "virt.h"

static void
meta_free (struct ch_disk_meta *m, size_t n)
{
  for (size_t i = 0; m && i < n; i++) {
    for (size_t j = 0; j < m[i].n_levels; j++)
      free (m[i].levels[j].name);
    free (m[i].levels);
  }
  free (m);
}

static int
lv_error (const char *what)
{
  ch_error ("%s: %s", what, virt_error ());
  return -1;
}

/* A cache entry's sha256, from its manifest when that is current. */
static void
level_hash (int base_fd, const char *base_dir, const struct ch_link *l, char out[65])
{
  const char *leaf = ch_path_leaf_in (l->path, base_dir);
  struct ch_manifest m;
  struct stat st;

  out[0] = '\0';
  if (leaf == NULL || base_fd < 0 || fstatat (base_fd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
      !S_ISREG (st.st_mode))
    return;
  if (ch_manifest_read_current (base_fd, leaf, &st, &m))
    memcpy (out, m.sha256, 65);
}

/* The chain of disk D as this host's image headers say. */
static int
disk_meta (const struct cli *cli, int base_fd, const struct ch_disk *d, struct ch_disk_meta *m)
{
  struct ch_chain c;
  CLEANUP_FREE char *top = NULL;
  int r = -1;

  if ((top = ch_path_normalize (d->source)) == NULL)
    return -1;
  if (ch_chain_probe (top, d->fmt, &c) < 0)
    goto out;
  if (!c.links[0].exists) {
    ch_error ("%s: no such file", top);
    goto out;
  }
  for (size_t i = 1; i < c.n; i++)
    if (!c.links[i].exists) {
      ch_error ("%s: its backing file %s is missing", top, c.links[i].path);
      goto out;
    }
  m->present = true;
  m->fmt = c.links[0].fmt;
  m->size = c.links[0].virtual_size;
  if (c.n > 1 && (m->levels = calloc (c.n - 1, sizeof *m->levels)) == NULL) {
    ch_error ("calloc: %m");
    goto out;
  }
  for (size_t i = 1; i < c.n; i++) {
    struct ch_meta_level *l = &m->levels[i - 1];

    if ((l->name = strdup (c.links[i].header_name)) == NULL) {
      ch_error ("strdup: %m");
      goto out;
    }
    m->n_levels = i;
    l->fmt = c.links[i].fmt;
    l->size = c.links[i].virtual_size;
    level_hash (base_fd, cli->cfg.base_dir, &c.links[i], l->sha256);
  }
  r = 0;
 out:
  if (r < 0)
    ch_error_prefix ("disk %s", d->target);
  ch_chain_clear (&c);
  return r;
}

int
cmd_annotate (struct cli *cli, int argc, char *argv[])
{
  static const struct option opts[] = {
    { "connect", required_argument, NULL, 'C' },
    { "dry-run", no_argument, NULL, 'n' },
    { 0 }
  };
  CLEANUP_VIRT_CONN virConnectPtr conn = NULL;
  CLEANUP_VIRT_DOM virDomainPtr vd = NULL;
  CLEANUP_DOMAIN struct ch_domain *dom = NULL;
  CLEANUP_FREE char *xml = NULL, *meta_xml = NULL;
  CLEANUP_CLOSE int base_fd = -1;
  struct ch_disk_meta *metas = NULL;
  const char *uri = NULL;
  bool dry_run = false;
  unsigned int flags = 0;
  int c, active, persistent, r = -1;

  while ((c = getopt_long (argc, argv, "C:n", opts, NULL)) != -1) {
    switch (c) {
    case 'C': uri = optarg; break;
    case 'n': dry_run = true; break;
    default: return 2;
    }
  }
  if (optind != argc - 1) {
    fprintf (stderr, "usage: cowherd annotate [--connect URI] [--dry-run] DOMAIN\n");
    return 2;
  }
  if (cli_load_config (cli) < 0 || virt_load () < 0)
    return -1;
  if ((conn = virt.connect_open (uri)) == NULL)
    return lv_error (uri ? uri : "connecting to libvirt");
  if ((vd = virt.lookup_by_name (conn, argv[optind])) == NULL &&
      (vd = virt.lookup_by_uuid (conn, argv[optind])) == NULL)
    return lv_error (argv[optind]);
  if ((active = virt.is_active (vd)) < 0 || (persistent = virt.is_persistent (vd)) < 0 ||
      (xml = virt.get_xml (vd, 0)) == NULL)
    return lv_error (argv[optind]);
  if (ch_domain_parse (xml, strlen (xml), &dom) < 0)
    return -1;

  base_fd = ch_open_dir (cli->cfg.base_dir, false);
  if ((metas = calloc (dom->n_disks ? dom->n_disks : 1, sizeof *metas)) == NULL) {
    ch_error ("calloc: %m");
    return -1;
  }
  for (size_t i = 0; i < dom->n_disks; i++) {
    const struct ch_disk *d = &dom->disks[i];

    /* Read-only and shared disks are not migrated with the storage. */
    if (d->source == NULL || d->readonly || d->shareable)
      continue;
    if (disk_meta (cli, base_fd, d, &metas[i]) < 0)
      goto out;
  }
  if ((meta_xml = ch_meta_to_xml (dom, metas)) == NULL)
    goto out;
  if (dry_run) {
    printf ("%s\n", meta_xml);
    r = 0;
    goto out;
  }
  flags = (active ? VIR_DOMAIN_AFFECT_LIVE : 0) | (persistent ? VIR_DOMAIN_AFFECT_CONFIG : 0);
  if (virt.set_metadata (vd, VIR_DOMAIN_METADATA_ELEMENT, meta_xml, CH_COWHERD_NS_KEY,
                            CH_COWHERD_NS, flags) < 0) {
    lv_error (argv[optind]);
    goto out;
  }
  for (size_t i = 0; i < dom->n_disks; i++)
    if (metas[i].present)
      printf ("%s: disk %s: %zu backing level%s recorded\n", dom->name,
              dom->disks[i].target, metas[i].n_levels, metas[i].n_levels == 1 ? "" : "s");
  ch_log (LOG_INFO, "domain %s: annotated (%s%s%s)", dom->name, active ? "live" : "",
          active && persistent ? ", " : "", persistent ? "persistent" : "");
  r = 0;
 out:
  meta_free (metas, dom->n_disks);
  return r;
}
