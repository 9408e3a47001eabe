#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "fsutil.h"
#include "pathutil.h"
#include "qcow2.h"

int
ch_probe_domain (const struct ch_domain *dom, const struct ch_config *cfg,
                 struct ch_probe *out)
{
  memset (out, 0, sizeof *out);
  out->base_fd = -1;
  out->base_dir = cfg->base_dir;
  out->can_fetch = ch_config_has_sources (cfg);
  out->chains = calloc (dom->n_disks ? dom->n_disks : 1, sizeof *out->chains);
  out->errors = calloc (dom->n_disks ? dom->n_disks : 1, sizeof *out->errors);
  if (out->chains == NULL || out->errors == NULL) {
    ch_error ("calloc: %m");
    ch_probe_clear (out);
    return -1;
  }
  out->n = dom->n_disks;
  out->base_fd = ch_open_dir (cfg->base_dir, false);
  if (out->base_fd < 0 && errno != ENOENT) {
    ch_probe_clear (out);
    return -1;
  }

  for (size_t i = 0; i < dom->n_disks; i++) {
    const struct ch_disk *d = &dom->disks[i];
    CLEANUP_FREE char *top = NULL;

    if (d->source == NULL)
      continue;
    /* libvirt wants absolute source paths; so does cowherd. */
    if ((top = ch_path_normalize (d->source)) == NULL ||
        ch_chain_probe (top, d->fmt, &out->chains[i]) < 0) {
      out->errors[i] = strdup (ch_last_error ());
      if (out->errors[i] == NULL) {
        ch_error ("strdup: %m");
        ch_probe_clear (out);
        return -1;
      }
    }
  }
  return 0;
}

/* The planner's view of one cache entry: lstat, never follow, and read the
 * header only of a regular file. */
static int
lookup (void *opaque, const char *leaf, struct ch_entry *e)
{
  struct ch_probe *p = opaque;
  struct stat st;
  CLEANUP_CLOSE int fd = -1;

  memset (e, 0, sizeof *e);
  if (p->base_fd < 0)
    return 0;
  if (fstatat (p->base_fd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT)
      return 0;
    ch_error ("%s/%s: %m", p->base_dir, leaf);
    return -1;
  }
  e->exists = true;
  e->is_symlink = S_ISLNK (st.st_mode);
  e->is_regular = S_ISREG (st.st_mode);
  if (!e->is_regular)
    return 0;
  fd = openat (p->base_fd, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    ch_error ("%s/%s: %m", p->base_dir, leaf);
    return -1;
  }
  if (ch_probe_format (fd, &e->fmt) < 0) {
    ch_error_prefix ("%s/%s", p->base_dir, leaf);
    return -1;
  }
  if (e->fmt == CH_FMT_QCOW2) {
    struct ch_qcow2_info qi;

    if (ch_qcow2_read (fd, &qi) < 0) {
      ch_error_prefix ("%s/%s", p->base_dir, leaf);
      return -1;
    }
    e->virtual_size = qi.virtual_size;
    e->has_backing = qi.has_backing || qi.has_data_file;
  }
  else
    e->virtual_size = (uint64_t) st.st_size;
  return 0;
}

void
ch_probe_world (struct ch_probe *p, struct ch_world *w)
{
  memset (w, 0, sizeof *w);
  w->base_dir = p->base_dir;
  w->can_fetch = p->can_fetch;
  w->chains = p->chains;
  w->chain_errors = (const char *const *) p->errors;
  w->lookup = lookup;
  w->opaque = p;
}

void
ch_probe_clear (struct ch_probe *p)
{
  for (size_t i = 0; i < p->n; i++) {
    if (p->chains)
      ch_chain_clear (&p->chains[i]);
    if (p->errors)
      free (p->errors[i]);
  }
  free (p->chains);
  free (p->errors);
  if (p->base_fd >= 0)
    close (p->base_fd);
  memset (p, 0, sizeof *p);
  p->base_fd = -1;
}

int
ch_plan_domain (const struct ch_domain *dom, const struct ch_config *cfg,
                enum ch_plan_mode mode, struct ch_plan *plan)
{
  struct ch_probe probe;
  struct ch_world world;
  int r;

  if (ch_probe_domain (dom, cfg, &probe) < 0)
    return -1;
  ch_probe_world (&probe, &world);
  r = ch_plan_build (dom, &world, mode, plan);
  ch_probe_clear (&probe);
  return r;
}
