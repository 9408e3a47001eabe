/* cowherd ensure: do by hand what the hook does on prepare. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "error.h"
#include "executor.h"
#include "log.h"
#include "planner.h"
#include "probe.h"

int
cmd_ensure (struct cli *cli, int argc, char *argv[])
{
  static const struct option opts[] = {
    { "dry-run", no_argument, NULL, 'n' },
    { "config", required_argument, NULL, 'c' },
    { "verbose", no_argument, NULL, 'v' },
    { 0 }
  };
  CLEANUP_DOMAIN struct ch_domain *dom = NULL;
  struct ch_plan plan;
  bool dry_run = false;
  int c, r = 0;

  while ((c = getopt_long (argc, argv, "nc:v", opts, NULL)) != -1) {
    switch (c) {
    case 'n': dry_run = true; break;
    case 'c': cli->config_path = optarg; break;
    case 'v': cli->verbose = true; break;
    default: return 2;
    }
  }
  if (optind != argc - 1) {
    fprintf (stderr, "usage: cowherd ensure [--dry-run] FILE|-\n");
    return 2;
  }
  if (cli_load_config (cli) < 0 || cli_read_domain (argv[optind], &dom) < 0 ||
      ch_plan_domain (dom, &cli->cfg, CH_PLAN_ENSURE, &plan) < 0)
    return -1;

  for (size_t i = 0; i < plan.n; i++) {
    const struct ch_action *a = &plan.v[i];

    if (a->kind == CH_ACT_FAIL)
      fprintf (stderr, "cowherd: domain %s: disk %s: %s%s%s\n", dom->name, a->disk,
               a->path ? a->path : "", a->path ? ": " : "", a->reason);
    else if (dry_run && a->kind != CH_ACT_MARK_IN_USE)
      printf ("would %s %s\n", ch_action_kind_name (a->kind), a->path);
  }
  if (plan.failed)
    r = 1;
  else if (!dry_run) {
    struct ch_exec_opts eo = { .domain = dom->name, .lock_marks = true };

    ch_log_set_stderr (true);
    if (ch_execute (&plan, &cli->cfg, &eo) < 0) {
      ch_error_prefix ("domain %s", dom->name);
      r = -1;
    }
  }
  ch_plan_clear (&plan);
  return r;
}
