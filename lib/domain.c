#include "domain.h"

#include <errno.h>
#include <stdlib.h>

#include "error.h"
#include "io.h"

void
ch_domain_free (struct ch_domain *dom)
{
  if (dom == NULL)
    return;
  free (dom->name);
  free (dom->uuid);
  for (size_t i = 0; i < dom->n_disks; i++) {
    struct ch_disk *d = &dom->disks[i];

    free (d->target);
    free (d->device);
    free (d->source);
    for (size_t j = 0; j < d->n_backing; j++)
      free (d->backing[j].path);
    free (d->backing);
    free (d->meta.error);
    for (size_t j = 0; j < d->meta.n_levels; j++)
      free (d->meta.levels[j].name);
    free (d->meta.levels);
  }
  free (dom->disks);
  free (dom->nova.name);
  free (dom->nova.flavor_name);
  free (dom->nova.root_type);
  free (dom->nova.root_uuid);
  free (dom);
}

int
ch_domain_read_raw (int fd, char **out, size_t *len)
{
  if (ch_read_all (fd, CH_DOMAIN_XML_MAX, out, len) == 0)
    return 0;
  if (errno == EFBIG)
    ch_error ("domain XML larger than %d MiB", CH_DOMAIN_XML_MAX >> 20);
  else
    ch_error ("domain XML: read: %m");
  return -1;
}
