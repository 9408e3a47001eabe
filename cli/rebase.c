/* cowherd rebase: move a disk onto another backing file, the cheap way
 * when that is provably exact (the same proof as the qemu-img shim's). */
#include <getopt.h>
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
  int c;

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
  proven = ch_rebase_proven (cli->cfg.base_dir, &(struct ch_rebase_case) {
      .image = disk, .image_fmt = "qcow2", .new_backing = backing, .new_fmt = "raw" },
    why, sizeof why);
  printf ("%s: %s: %s\n", disk, proven ? "header only (-u)" : "full rebase", why);
  if (dry_run)
    return 0;
  ch_log (LOG_INFO, "rebase %s onto %s: %s: %s", disk, backing,
          proven ? "header only (-u), proven equivalent" : "full rebase", why);
  if (ch_run ((char *const[]) { cli->cfg.qemu_img, (char *) "rebase",
                                (char *) (proven ? "-u" : "-q"), (char *) "-f",
                                (char *) "qcow2", (char *) "-F", (char *) "raw",
                                (char *) "-b", (char *) backing, (char *) disk, NULL }) < 0) {
    ch_error_prefix ("rebase %s onto %s", disk, backing);
    return -1;
  }
  return 0;
}
