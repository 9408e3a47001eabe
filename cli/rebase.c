/* cowherd rebase: move a disk onto another backing file, the cheap way
 * when that is provably exact (the same proof as the qemu-img shim's). */
#include <getopt.h>
#include <unistd.h>
#include <stdio.h>
#include <syslog.h>

#include "cli.h"
#include "error.h"
#include "log.h"
#include "rebase_proof.h"
#include "runcmd.h"

int
cmd_rebase (struct cli *cli, int argc, char *argv[])
{
  static const struct option opts[] = {
    { "dry-run", no_argument, NULL, 'n' },
    { 0 }
  };
  bool dry_run = false, proven;
  const char *disk, *backing;
  char why[512];
  int c, r, locks[2];

  while ((c = getopt_long (argc, argv, "n", opts, NULL)) != -1) {
    switch (c) {
    case 'n': dry_run = true; break;
    default: return 2;
    }
  }
  if (optind != argc - 2) {
    fprintf (stderr, "usage: cowherd rebase [--dry-run] DISK NEW_BACKING\n");
    return 2;
  }
  disk = argv[optind];
  backing = argv[optind + 1];
  if (cli_load_config (cli) < 0)
    return -1;
  /* Disks are qcow2 over raw cache entries, as Nova makes them. */
  proven = ch_rebase_proven (&cli->cfg, &(struct ch_rebase_case) {
      .image = disk, .image_fmt = "qcow2", .new_backing = backing, .new_fmt = "raw" },
    locks, why, sizeof why);
  printf ("%s: %s: %s\n", disk, proven ? "header only (-u)" : "full rebase", why);
  if (dry_run)
    r = 0;
  else {
    ch_log (LOG_INFO, "rebase %s onto %s: %s: %s", disk, backing,
            proven ? "header only (-u), proven equivalent" : "full rebase", why);
    r = ch_run ((char *const[]) { cli->cfg.qemu_img, (char *) "rebase",
                                  (char *) (proven ? "-u" : "-q"), (char *) "-f",
                                  (char *) "qcow2", (char *) "-F", (char *) "raw",
                                  (char *) "-b", (char *) backing, (char *) "--",
                                  (char *) disk, NULL });
    if (r < 0)
      ch_error_prefix ("rebase %s onto %s", disk, backing);
  }
  /* Nova's locks on the entries, held through the rebase. */
  for (int i = 0; i < 2; i++)
    if (locks[i] >= 0)
      close (locks[i]);
  return r;
}
