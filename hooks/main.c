/* cowherd-hook: the libvirt qemu hook.
 *
 * libvirt runs it as  qemu.d/cowherd DOMAIN OP SUBOP EXTRA  with the domain
 * XML on stdin.  prepare and restore rebuild what the disks' backing chains
 * lack, before libvirt opens them; started, reconnect and attach mark the
 * cache entries in use; every other op returns at once.  stdout stays empty
 * (for restore it would replace the domain XML).  It never calls libvirt:
 * the daemon is waiting on this process. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "cowherd-build.h"
#include "domain.h"
#include "error.h"
#include "executor.h"
#include "log.h"
#include "planner.h"
#include "probe.h"

enum hook_kind { HOOK_IGNORE, HOOK_ENSURE, HOOK_MARK };

static enum hook_kind
classify (const char *op)
{
  if (!strcmp (op, "prepare") || !strcmp (op, "restore"))
    return HOOK_ENSURE;
  if (!strcmp (op, "started") || !strcmp (op, "reconnect") || !strcmp (op, "attach"))
    return HOOK_MARK;
  return HOOK_IGNORE;
}

/* One line on stderr, which libvirt puts into the error the user sees. */
static int
report (const char *domain, const char *what)
{
  fprintf (stderr, "cowherd: domain %s: %s\n", domain, what);
  ch_log (LOG_ERR, "domain %s: %s", domain, what);
  return 1;
}

static int
run (const char *name, const char *op, enum hook_kind kind)
{
  struct ch_config cfg;
  CLEANUP_DOMAIN struct ch_domain *dom = NULL;
  struct ch_plan plan;
  const struct ch_action *f;
  struct ch_exec_opts opts = { .domain = name, .lock_marks = kind == HOOK_ENSURE };
  double t0 = ch_now_ms ();
  char line[CH_ERROR_MAX + 256];
  int r;

  if (ch_config_load (COWHERD_CONFIG_PATH, true, &cfg) < 0)
    return report (name, ch_last_error ());
  ch_log_init ("cowherd-hook", &cfg);

  if (ch_domain_read_fd (STDIN_FILENO, &dom) < 0 ||
      ch_plan_domain (dom, &cfg, kind == HOOK_ENSURE ? CH_PLAN_ENSURE : CH_PLAN_MARK,
                      &plan) < 0) {
    r = report (name, ch_last_error ());
    goto out;
  }
  f = ch_plan_first_failure (&plan);
  if (f) {
    if (f->path)
      snprintf (line, sizeof line, "disk %s: %s: %s", f->disk, f->path, f->reason);
    else
      snprintf (line, sizeof line, "disk %s: %s", f->disk, f->reason);
    r = report (name, line);
  }
  else if (ch_execute (&plan, &cfg, &opts) < 0)
    r = report (name, ch_last_error ());
  else {
    r = 0;
    /* Marking alone is routine: log only when something was rebuilt, so a
     * VM start costs no syslog traffic. */
    if (plan.n && plan.v[0].kind != CH_ACT_MARK_IN_USE)
      ch_log (LOG_INFO, "domain %s: %s: chains whole after %.0f ms", name, op,
              ch_now_ms () - t0);
  }
  ch_plan_clear (&plan);
 out:
  ch_log_close ();
  ch_config_free (&cfg);
  return r;
}

int
main (int argc, char *argv[])
{
  enum hook_kind kind;
  int r;

  if (argc < 3) {
    fprintf (stderr, "usage: %s DOMAIN OP SUBOP EXTRA < domain.xml\n"
             "cowherd %s libvirt qemu hook; see cowherd(8).\n", argv[0], COWHERD_VERSION);
    return 2;
  }
  kind = classify (argv[2]);
  if (kind == HOOK_IGNORE)
    return 0;                  /* stopped, release, start, ...: nothing to do */
  r = run (argv[1], argv[2], kind);
  /* Marking is a courtesy to Nova's GC: never fail a running domain for it. */
  return kind == HOOK_MARK ? 0 : r;
}
