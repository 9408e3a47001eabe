/* cowherd: the operator's command. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cowherd-build.h"
#include "error.h"
#include "log.h"

static void
usage (FILE *fp)
{
  fprintf (fp,
           "usage: cowherd [--config FILE] [-v] COMMAND [ARGS]\n"
           "\n"
           "Keep the qcow2 backing chains of libvirt/Nova domains whole.\n"
           "\n"
           "commands:\n"
           "  inspect [--json] FILE|-      show each disk, its chain, what exists, and the plan\n"
           "  ensure [--dry-run] FILE|-    rebuild what the chains lack, as the hook does on prepare\n"
           "  ensure --incoming FILE|-     the same for an incoming live migration: also learn\n"
           "                               each missing disk's chain and create its empty top\n"
           "  fetch IMAGE_ID               download an original image into the cache, verified\n"
           "  fetch --sha1 NAME [--candidate IMAGE_ID]...\n"
           "                               the same, for the cache entry NAME\n"
           "  rebase [--dry-run] DISK NEW_BACKING\n"
           "                               move a qcow2 disk onto another _base entry: header\n"
           "                               only when provably the same content, else in full\n"
           "  annotate [--connect URI] [--dry-run] DOMAIN\n"
           "                               record the disks' chains in the domain's metadata,\n"
           "                               for the destination of a later live migration\n"
           "  snapshot show FILE           a COW-only snapshot's marker, and whether its\n"
           "                               signature holds under [snapshot] key_file\n"
           "  cache ls [--json]            every entry of the image cache: kind, sizes, age,\n"
           "                               source, the domains using it, and what Nova's\n"
           "                               image cache manager will do with it\n"
           "  cache verify [ENTRY]...      re-hash entries against their manifests\n"
           "  cache gc [--dry-run] [--unused-for DURATION [--force]]\n"
           "                               remove what cowherd left and nobody uses; with\n"
           "                               --unused-for, entries no domain uses either\n"
           "  send [--from OFFSET] BASE    a base's manifest and data extents on stdout: what\n"
           "                               a host fetching BASE runs on this one over ssh\n"
           "\n"
           "FILE is a libvirt domain XML (virsh dumpxml DOMAIN); - reads stdin.\n"
           "\n"
           "options:\n"
           "  -c, --config FILE   configuration (default %s)\n"
           "  -v, --verbose       also print log messages on stderr\n"
           "  -h, --help          this help\n"
           "  -V, --version       print the version\n"
           "\n"
           "See cowherd(8) and cowherd.conf(5).\n", COWHERD_CONFIG_PATH);
}

int
main (int argc, char *argv[])
{
  static const struct option opts[] = {
    { "config", required_argument, NULL, 'c' },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { 0 }
  };
  struct cli cli = { 0 };
  int c, r;

  /* libcurl is told not to touch signals, and libssh2 may write to a peer
   * that went away: a broken pipe must be an error, not death. */
  signal (SIGPIPE, SIG_IGN);

  /* Options before the command only; the command parses its own. */
  while ((c = getopt_long (argc, argv, "+c:vhV", opts, NULL)) != -1) {
    switch (c) {
    case 'c': cli.config_path = optarg; break;
    case 'v': cli.verbose = true; break;
    case 'h': usage (stdout); return 0;
    case 'V': printf ("cowherd %s\n", COWHERD_VERSION); return 0;
    default: usage (stderr); return 2;
    }
  }
  if (optind >= argc) {
    usage (stderr);
    return 2;
  }
  argc -= optind;
  argv += optind;
  optind = 0;                  /* restart getopt for the subcommand */

  if (strcmp (argv[0], "inspect") == 0)
    r = cmd_inspect (&cli, argc, argv);
  else if (strcmp (argv[0], "ensure") == 0)
    r = cmd_ensure (&cli, argc, argv);
  else if (strcmp (argv[0], "fetch") == 0)
    r = cmd_fetch (&cli, argc, argv);
  else if (strcmp (argv[0], "rebase") == 0)
    r = cmd_rebase (&cli, argc, argv);
  else if (strcmp (argv[0], "annotate") == 0)
    r = cmd_annotate (&cli, argc, argv);
  else if (strcmp (argv[0], "snapshot") == 0)
    r = cmd_snapshot (&cli, argc, argv);
  else if (strcmp (argv[0], "send") == 0)
    r = cmd_send (&cli, argc, argv);
  else if (strcmp (argv[0], "cache") == 0)
    r = cmd_cache (&cli, argc, argv);
  else {
    fprintf (stderr, "cowherd: unknown command '%s'; see cowherd --help\n", argv[0]);
    return 2;
  }
  if (r == -1)
    fprintf (stderr, "cowherd: %s\n", ch_last_error ());
  ch_log_close ();
  ch_config_free (&cli.cfg);
  return r < 0 ? 1 : r;
}
