/* cowherd: look at the disk: every disk's chain, and the cache entries the
 * planner asks about.  The I/O half of planning. */
#ifndef COWHERD_PROBE_H
#define COWHERD_PROBE_H

#include "chain.h"
#include "config.h"
#include "domain.h"
#include "planner.h"

struct ch_probe {
  size_t n;
  struct ch_chain *chains;
  char **errors;            /* per disk: NULL or why the chain could not be read */
  int base_fd;              /* the cache directory, or -1 if it does not exist */
  const char *base_dir;
  bool can_fetch;           /* image sources are configured */
};

/* Probe every disk of DOM.  A chain that cannot be read is not an error
 * here: it is recorded per disk for the planner to report.  -1 with
 * ch_error only for internal errors. */
int ch_probe_domain (const struct ch_domain *dom, const struct ch_config *cfg,
                     struct ch_probe *out);
/* Fill WORLD from PROBE, for ch_plan_build. */
void ch_probe_world (struct ch_probe *probe, struct ch_world *world);
void ch_probe_clear (struct ch_probe *probe);

/* Build the plan for DOM: probe, then plan.  -1 with ch_error. */
int ch_plan_domain (const struct ch_domain *dom, const struct ch_config *cfg,
                    enum ch_plan_mode mode, struct ch_plan *plan);

#endif
