/* cowherd-hook: the libvirt qemu hook.
 *
 * libvirt runs it as  qemu.d/cowherd DOMAIN OP SUBOP EXTRA  with the domain
 * XML on stdin.  prepare and restore rebuild what the disks' backing chains
 * lack, before libvirt opens them; started, reconnect and attach mark the
 * cache entries in use.  migrate (on the destination of a live migration)
 * also creates the top overlays the migration will fill, and records them,
 * so the prepare that follows does the same and stopped/release take them
 * away if the migration fails.  Every other op returns at once.  stdout
 * stays empty (for migrate and restore it would replace the domain XML).
 * It never calls libvirt: the daemon is waiting on this process. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cleanup.h"
#include "config.h"
#include "cowherd-build.h"
#include "domain_xml.h"
#include "error.h"
#include "executor.h"
#include "io.h"
#include "log.h"
#include "planner.h"
#include "probe.h"
#include "runcmd.h"
#include "state.h"

enum hook_kind { HOOK_IGNORE, HOOK_ENSURE, HOOK_MARK, HOOK_INCOMING, HOOK_STOPPED };

static enum hook_kind
classify (const char *op)
{
  if (!strcmp (op, "prepare") || !strcmp (op, "restore"))
    return HOOK_ENSURE;
  if (!strcmp (op, "started") || !strcmp (op, "reconnect") || !strcmp (op, "attach"))
    return HOOK_MARK;
  if (!strcmp (op, "migrate"))
    return HOOK_INCOMING;
  if (!strcmp (op, "stopped") || !strcmp (op, "release"))
    return HOOK_STOPPED;
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

/* An incoming migration: `cowherd ensure --incoming` learns the chains
 * (which may take libcurl and libcrypto, which the hook does not load),
 * makes them and the tops, and records what it made.  The XML goes to it
 * on a memfd. */
static int
incoming (const struct ch_config *cfg, const char *name, const char *xml, size_t len)
{
  CLEANUP_CLOSE int fd = memfd_create ("cowherd-domain-xml", MFD_CLOEXEC);
  char *const argv[] = { cfg->fetcher, (char *) "ensure", (char *) "--incoming",
                         (char *) CH_RUN_FD_PATH, NULL };
  char line[CH_ERROR_MAX + 256], why[sizeof line + 64];
  int status;

  if (fd < 0 || ch_write_full (fd, xml, len, -1) < 0 || lseek (fd, 0, SEEK_SET) < 0) {
    ch_error ("memfd: %m");
    return report (name, ch_last_error ());
  }
  status = ch_run_status (argv, &fd, 1, -1, line, sizeof line);
  if (status == 0)
    return 0;
  if (status < 0)
    return report (name, ch_last_error ());
  /* 1: the chains cannot be made, and its one line on stderr, already
   * "cowherd: domain NAME: ...", says why: the user's line as it is. */
  if (status == 1 && line[0]) {
    fprintf (stderr, "%s\n", line);
    ch_log (LOG_ERR, "%s", line);
    return 1;
  }
  snprintf (why, sizeof why, "%s ensure --incoming exited with status %d: %s", cfg->fetcher,
            status, line);
  return report (name, why);
}

/* Where libvirt's qemu driver keeps a running domain's status XML; it is
 * still there when stopped runs. */
#define LIBVIRT_STATUS_DIR "/run/libvirt/qemu"

/* The status XML of domain NAME, opened; -1 with ch_error (errno kept). */
static int
open_status (const char *name)
{
  CLEANUP_FREE char *path = NULL;
  int fd, e;

  if (strchr (name, '/') || name[0] == '.') {
    ch_error ("domain name '%.64s' is not a file name", name);
    errno = EINVAL;
    return -1;
  }
  if (ch_asprintf (&path, "%s/%s.xml", LIBVIRT_STATUS_DIR, name) < 0)
    return -1;
  if ((fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)) < 0) {
    e = errno;
    ch_error ("%s: %m", path);
    errno = e;
  }
  return fd;
}

/* 1 if the domain never ran here: it stops while still waiting for its
 * incoming migration (failed, cancelled); 0 if it ran here; -1 unknown. */
static int
incoming_unfinished (const char *name)
{
  CLEANUP_CLOSE int fd = open_status (name);

  return fd < 0 ? -1 : ch_status_incoming_unfinished (fd);
}

/* The record of DOM's incoming migration into MADE: 1, or 0 if there is
 * none.  A record that cannot be read is moved aside (and counts as
 * none): it must not steer this run or block the next. */
static int
load_record (const struct ch_config *cfg, const struct ch_domain *dom,
             struct ch_made_list *made)
{
  int r;

  made->v = NULL;
  made->n = 0;
  if (dom->uuid == NULL || (r = ch_state_exists (cfg, dom->uuid)) == 0)
    return 0;
  if (r > 0 && ch_state_load (cfg, dom->uuid, made) == 0)
    return 1;
  ch_log (LOG_WARNING, "domain %s: %s: set aside", dom->name, ch_last_error ());
  if (r > 0 && ch_state_set_aside (cfg, dom->uuid) < 0)
    ch_log (LOG_WARNING, "domain %s: %s", dom->name, ch_last_error ());
  return 0;
}

/* Take away what MADE records (DATA_OK: also tops the guest's data
 * reached) and forget the record. */
static void
undo_record (const struct ch_config *cfg, const struct ch_domain *dom,
             struct ch_made_list *made, bool data_ok)
{
  size_t kept = ch_made_undo (made, dom->name, data_ok);

  if (kept)
    ch_log (LOG_WARNING, "domain %s: %zu file(s) the incoming migration made were kept",
            dom->name, kept);
  ch_made_clear (made);
  if (ch_state_remove (cfg, dom->uuid) < 0)
    ch_log (LOG_WARNING, "domain %s: %s", dom->name, ch_last_error ());
}

/* The domain stopped here.  If it was migrating in and never ran here, the
 * tops made for it hold nothing but the part of the source's top layer
 * that arrived: take them away.  If it ran here they are its disks: keep
 * them.  If libvirt's status cannot tell, take only tops that map no data
 * of their own. */
static void
stopped (const struct ch_config *cfg, const struct ch_domain *dom)
{
  struct ch_made_list made;
  int unfinished;

  if (load_record (cfg, dom, &made) == 0)
    return;
  unfinished = incoming_unfinished (dom->name);
  if (unfinished == 0) {
    ch_log (LOG_INFO, "domain %s: it ran here: the incoming migration completed; "
            "its disks stay", dom->name);
    ch_made_clear (&made);
  }
  else if (unfinished < 0)
    ch_log (LOG_WARNING, "domain %s: libvirt's status unknown (%s): taking away only "
            "the tops that hold no data", dom->name, ch_last_error ());
  undo_record (cfg, dom, &made, unfinished > 0);
}

/* A record that is still here when a migration begins, or when a domain
 * starts outside its migration's window, was left by a migration libvirt
 * gave up on before it started QEMU: libvirt then runs no stopped.  No
 * guest ever ran on what it lists, so its tops go if they hold no data.
 * A record prepare has already seen belongs to a domain that started
 * here: it is forgotten, its files are the domain's.  While the domain
 * runs here (libvirt's status exists) the record stays for stopped. */
static void
leftover (const struct ch_config *cfg, const struct ch_domain *dom,
          struct ch_made_list *made)
{
  CLEANUP_CLOSE int fd = open_status (dom->name);

  if (fd >= 0 || errno != ENOENT) {
    ch_made_clear (made);
    return;
  }
  if (made->age_sec >= 0)
    ch_log (LOG_WARNING, "domain %s: an earlier incoming migration left its record "
            "(written %lld s ago%s)", dom->name, (long long) made->age_sec,
            made->prepared ? ", the domain started" : "");
  else
    ch_log (LOG_WARNING, "domain %s: an incoming migration left a record this boot "
            "did not write", dom->name);
  if (made->prepared)
    ch_made_clear (made);
  undo_record (cfg, dom, made, false);
}

/* Is this prepare part of an incoming migration?  Only migrate leaves a
 * record, and only the first prepare within the window uses it: a plain
 * start never makes a top. */
static bool
prepare_is_incoming (const struct ch_config *cfg, const struct ch_domain *dom)
{
  struct ch_made_list made;

  if (load_record (cfg, dom, &made) == 0)
    return false;
  if (ch_state_licenses_prepare (&made)) {
    ch_made_clear (&made);
    return true;
  }
  leftover (cfg, dom, &made);
  return false;
}

/* After the migration's prepare: the next prepare is a plain start. */
static int
mark_prepared (const struct ch_config *cfg, const struct ch_domain *dom)
{
  struct ch_made_list made;
  int r = -1;

  if (ch_state_load (cfg, dom->uuid, &made) == 0) {
    made.prepared = true;
    r = ch_state_save (cfg, dom->uuid, &made);
  }
  ch_made_clear (&made);
  return r;
}

static int
run (const char *name, const char *op, enum hook_kind kind)
{
  struct ch_config cfg;
  CLEANUP_DOMAIN struct ch_domain *dom = NULL;
  CLEANUP_FREE char *xml = NULL;
  size_t xml_len;
  struct ch_plan plan;
  const struct ch_action *f;
  struct ch_exec_opts opts = { .domain = name, .lock_marks = kind == HOOK_ENSURE };
  double t0 = ch_now_ms ();
  char line[CH_ERROR_MAX + 256];
  int r;

  if (ch_config_load (COWHERD_CONFIG_PATH, true, &cfg) < 0)
    return report (name, ch_last_error ());
  ch_log_init ("cowherd-hook", &cfg);

  if (ch_domain_read_raw (STDIN_FILENO, &xml, &xml_len) < 0 ||
      ch_domain_parse (xml, xml_len, &dom) < 0) {
    r = report (name, ch_last_error ());
    goto out;
  }
  if (kind == HOOK_STOPPED) {
    stopped (&cfg, dom);
    r = 0;
    goto out;
  }
  if (kind == HOOK_INCOMING) {
    struct ch_made_list made;

    if (load_record (&cfg, dom, &made))
      leftover (&cfg, dom, &made);
  }
  /* The prepare of an incoming migration may see the disks at other
   * paths, if another hook rewrote the XML: make those tops too. */
  else if (kind == HOOK_ENSURE && !strcmp (op, "prepare") && prepare_is_incoming (&cfg, dom))
    kind = HOOK_INCOMING;
  if (kind == HOOK_INCOMING) {
    r = incoming (&cfg, name, xml, xml_len);
    if (r == 0 && strcmp (op, "prepare") == 0 && mark_prepared (&cfg, dom) < 0)
      r = report (name, ch_last_error ());
    if (r == 0)
      ch_log (LOG_INFO, "domain %s: %s: incoming chains whole after %.0f ms", name, op,
              ch_now_ms () - t0);
    goto out;
  }
  if (ch_plan_domain (dom, &cfg, kind == HOOK_ENSURE ? CH_PLAN_ENSURE : CH_PLAN_MARK,
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
    return 0;                  /* start, shutdown, ...: nothing to do */
  r = run (argv[1], argv[2], kind);
  /* Marking is a courtesy to Nova's GC: never fail a running domain for it;
   * libvirt ignores stopped/release's status anyway. */
  return kind == HOOK_MARK || kind == HOOK_STOPPED ? 0 : r;
}
