/* cowherd ensure: do by hand what the hook does on prepare; with
 * --incoming, what it does for an incoming live migration (the hook runs
 * this: learning a chain may need libcurl and libcrypto, which the hook
 * does not load). */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "error.h"
#include "executor.h"
#include "incoming.h"
#include "log.h"
#include "peer.h"
#include "planner.h"
#include "probe.h"
#include "state.h"

static int
on_created (void *opaque, const char *path, const struct stat *st)
{
  struct ch_made_list *made = opaque;

  if (ch_made_add (made, path, st) < 0) {
    ch_error_prefix ("%s: cannot be recorded", path);
    return -1;
  }
  return 0;
}

/* Record what this run made beside what an earlier hook run for the same
 * migration made (migrate begin, then prepare). */
static int
record (const struct ch_config *cfg, const char *uuid, const struct ch_made_list *made)
{
  struct ch_made_list all;
  int r = 0;

  if (ch_state_load (cfg, uuid, &all) < 0)
    return -1;
  /* A run of ensure --incoming is a migration's migrate or its first
   * prepare: the window is counted from now, for the prepare to come. */
  all.prepared = false;
  all.boot_sec = 0;
  for (size_t i = 0; i < made->n && r == 0; i++)
    r = ch_made_append (&all, &made->v[i]);
  if (r == 0)
    r = ch_state_save (cfg, uuid, &all);
  ch_made_clear (&all);
  return r;
}

/* INC outlives the plan: the plan borrows its origins. */
static int
plan (struct cli *cli, const struct ch_domain *dom, bool incoming, struct ch_incoming *inc,
      struct ch_plan *p)
{
  if (!incoming)
    return ch_plan_domain (dom, &cli->cfg, CH_PLAN_ENSURE, p);
  if (ch_state_exists (&cli->cfg, dom->uuid) < 0)   /* checks the uuid */
    return -1;
  if (ch_incoming_find (dom, &cli->cfg, cli->cfg.n_peers ? ch_peer_read_head : NULL,
                        &cli->cfg, inc) < 0)
    return -1;
  return ch_plan_incoming (dom, &cli->cfg, inc, p);
}

int
cmd_ensure (struct cli *cli, int argc, char *argv[])
{
  static const struct option opts[] = {
    { "dry-run", no_argument, NULL, 'n' },
    { "incoming", no_argument, NULL, 'i' },
    { "config", required_argument, NULL, 'c' },
    { "verbose", no_argument, NULL, 'v' },
    { 0 }
  };
  CLEANUP_DOMAIN struct ch_domain *dom = NULL;
  struct ch_made_list made = { 0 };
  struct ch_incoming inc = { 0 };
  struct ch_plan p;
  bool dry_run = false, incoming = false;
  int c, r = 0;

  while ((c = getopt_long (argc, argv, "nic:v", opts, NULL)) != -1) {
    switch (c) {
    case 'n': dry_run = true; break;
    case 'i': incoming = true; break;
    case 'c': cli->config_path = optarg; break;
    case 'v': cli->verbose = true; break;
    default: return 2;
    }
  }
  if (optind != argc - 1) {
    fprintf (stderr, "usage: cowherd ensure [--dry-run] [--incoming] FILE|-\n");
    return 2;
  }
  if (cli_load_config (cli) < 0 || cli_read_domain (argv[optind], &dom) < 0)
    return -1;
  if (plan (cli, dom, incoming, &inc, &p) < 0) {
    /* Exit 1 with one line naming the domain: the hook passes it on. */
    ch_error_prefix ("domain %s", dom->name);
    ch_incoming_clear (&inc);
    return -1;
  }

  for (size_t i = 0; i < p.n; i++) {
    const struct ch_action *a = &p.v[i];

    if (a->kind == CH_ACT_FAIL) {
      fprintf (stderr, "cowherd: domain %s: disk %s: %s%s%s\n", dom->name, a->disk,
               a->path ? a->path : "", a->path ? ": " : "", a->reason);
      /* The hook passes on one line: the first reason is the one. */
      if (incoming)
        break;
    }
    else if (dry_run && a->kind != CH_ACT_MARK_IN_USE)
      printf ("would %s %s\n", ch_action_kind_name (a->kind), a->path);
  }
  if (p.failed)
    r = 1;
  else if (!dry_run) {
    struct ch_exec_opts eo = { .domain = dom->name, .lock_marks = true,
                               .created = on_created, .opaque = &made };

    /* By hand, show the work; for the hook, stderr carries one line. */
    ch_log_set_stderr (cli->verbose || !incoming);
    if (ch_execute (&p, &cli->cfg, &eo) < 0) {
      ch_error_prefix ("domain %s", dom->name);
      r = -1;
    }
    /* A failed migration takes away what it made at once; libvirt may
     * never call stopped/release for a domain it did not start.  Only a
     * run that succeeded leaves a record: it makes the next prepare of
     * this uuid an incoming one. */
    if (r < 0)
      ch_made_undo (&made, dom->name, true);
    else if (incoming && record (&cli->cfg, dom->uuid, &made) < 0) {
      ch_made_undo (&made, dom->name, true);
      ch_error_prefix ("domain %s: recording the incoming migration", dom->name);
      r = -1;
    }
  }
  ch_made_clear (&made);
  ch_plan_clear (&p);
  ch_incoming_clear (&inc);
  return r;
}
