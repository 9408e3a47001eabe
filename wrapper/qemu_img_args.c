#include "qemu_img_args.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* qemu-img's own codes for options without a letter. */
enum { OPT_OBJECT = 256, OPT_IMAGE_OPTS = 270 };

/* getopt_long permutes its array; it gets a copy of the pointers so the
 * real qemu-img later sees ARGV exactly as it came. */
static char **
copy_argv (int argc, char *const *argv)
{
  char **c = calloc ((size_t) argc + 1, sizeof *c);

  if (c)
    memcpy (c, argv, (size_t) argc * sizeof *c);
  return c;
}

const char *
ch_qemu_img_command (int argc, char *const *argv, int *cmd_index)
{
  static const struct option longs[] = {
    { "help", no_argument, 0, 'h' },
    { "version", no_argument, 0, 'V' },
    { "trace", required_argument, 0, 'T' },
    { 0, 0, 0, 0 },
  };
  char **a = copy_argv (argc, argv);
  const char *cmd = NULL;
  int c;
  bool plain = true;

  if (a == NULL)
    return NULL;
  opterr = 0;
  optind = 0;                           /* glibc: start afresh */
  while ((c = getopt_long (argc, a, "+:hVT:", longs, NULL)) != -1)
    if (c != 'T')
      plain = false;                    /* help, version, or an error */
  /* "+": no permutation, so a[optind] is argv[optind]. */
  if (plain && optind < argc) {
    cmd = argv[optind];
    *cmd_index = optind;
  }
  free (a);
  return cmd;
}

bool
ch_qemu_img_rebase_args (int argc, char *const *argv, struct ch_rebase_args *out)
{
  static const struct option longs[] = {
    { "help", no_argument, 0, 'h' },
    { "object", required_argument, 0, OPT_OBJECT },
    { "image-opts", no_argument, 0, OPT_IMAGE_OPTS },
    { "force-share", no_argument, 0, 'U' },
    { 0, 0, 0, 0 },
  };
  int ci = out->cmd_index, n = argc - ci, c;
  char **a;
  bool ok = true;

  memset (out, 0, sizeof *out);
  out->cmd_index = ci;
  if (ci <= 0 || n < 1 || (a = copy_argv (n, argv + ci)) == NULL)
    return false;
  /* qemu-img hands the subcommand argv from its name on. */
  opterr = 0;
  optind = 0;
  while (ok && (c = getopt_long (n, a, ":hf:F:b:upt:T:qU", longs, NULL)) != -1) {
    switch (c) {
    case 'h': out->help = true; break;
    case 'f': out->fmt = optarg; break;
    case 'F': out->backing_fmt = optarg; break;
    case 'b': out->backing = optarg; break;
    case 'u': out->unsafe = true; break;
    case 'U': out->force_share = true; break;
    case OPT_OBJECT: out->objects++; break;
    case OPT_IMAGE_OPTS: out->image_opts = true; break;
    case 'p': case 'q': case 't': case 'T': break;
    default: ok = false; break;         /* ':' or '?' */
    }
  }
  if (ok) {
    out->files = n - optind;
    if (out->files == 1)
      out->image = a[optind];
  }
  free (a);
  return ok;
}
