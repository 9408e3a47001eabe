/* cowherd send: what a peer runs, over ssh, for a host fetching one of
 * its bases (fetch/peerssh.h): the base's manifest and data extents on
 * stdout (lib/extstream.h).  Read-only; it reads no configuration. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "error.h"
#include "extstream.h"
#include "io.h"
#include "manifest.h"

/* PATH's manifest, PATH.cowherd.json, if it is one for PATH's file name:
 * malloc'd, its length in *LEN; NULL when there is none. */
static char *
manifest_of (const char *path, size_t *len)
{
  CLEANUP_FREE char *mpath = NULL;
  CLEANUP_CLOSE int fd = -1;
  char *buf = NULL;
  const char *leaf = strrchr (path, '/') ? strrchr (path, '/') + 1 : path;
  struct ch_manifest m;

  if (asprintf (&mpath, "%s%s", path, CH_MANIFEST_SUFFIX) < 0) {
    mpath = NULL;
    return NULL;
  }
  fd = open (mpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0 || ch_read_all (fd, CH_MANIFEST_MAX, &buf, len) < 0)
    return NULL;
  /* Only a manifest that parses and names this file: anything else the
   * receiver would refuse anyway. */
  if (ch_manifest_parse (buf, *len, &m) < 0 || strcmp (m.name, leaf) != 0) {
    free (buf);
    return NULL;
  }
  return buf;
}

int
cmd_send (struct cli *cli, int argc, char *argv[])
{
  static const struct option opts[] = {
    { "from", required_argument, NULL, 'f' },
    { 0 }
  };
  CLEANUP_FREE char *manifest = NULL;
  CLEANUP_CLOSE int fd = -1;
  struct stat st;
  uint64_t from = 0;
  size_t len = 0;
  char *end;
  int c;

  (void) cli;
  while ((c = getopt_long (argc, argv, "f:", opts, NULL)) != -1) {
    switch (c) {
    case 'f':
      errno = 0;
      from = strtoull (optarg, &end, 10);
      if (errno || *end || optarg[0] == '-' || optarg[0] == '\0') {
        fprintf (stderr, "cowherd send: --from %s is not a byte offset\n", optarg);
        return 2;
      }
      break;
    default: return 2;
    }
  }
  if (optind != argc - 1) {
    fprintf (stderr, "usage: cowherd send [--from OFFSET] FILE\n");
    return 2;
  }
  fd = open (argv[optind], O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd >= 0 && (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))) {
    close (fd);
    fd = -1;
  }
  /* No such base (or no manifest for it): the stream says so. */
  if (fd >= 0)
    manifest = manifest_of (argv[optind], &len);
  if (ch_xs_send (fd, manifest, len, from, STDOUT_FILENO) < 0) {
    ch_error_prefix ("%s", argv[optind]);
    return -1;
  }
  return 0;
}
