#include "qemu_img_args.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* Codes for the options without a letter; any values above 255 do. */
enum {
  OPT_OBJECT = 256,
  OPT_IMAGE_OPTS,
  OPT_OUTPUT,
  OPT_BACKING_CHAIN,
  OPT_TARGET_IMAGE_OPTS,
  OPT_SALVAGE,
  OPT_TARGET_IS_ZERO,
  OPT_BITMAPS,
  OPT_SKIP_BROKEN_BITMAPS,
};

/* The long options every subcommand here has. */
#define COMMON_LONGS                                    \
  { "help", no_argument, 0, 'h' },                      \
  { "object", required_argument, 0, OPT_OBJECT },       \
  { "image-opts", no_argument, 0, OPT_IMAGE_OPTS },     \
  { "force-share", no_argument, 0, 'U' }

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

/* getopt keeps state between calls.  optind = 0 makes glibc start afresh,
 * POSIXLY_CORRECT read again; opterr = 0 because qemu-img, not the shim,
 * tells the user what is wrong. */
static void
getopt_reset (void)
{
  opterr = 0;
  optind = 0;
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
  getopt_reset ();
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

typedef void opt_fn (void *out, int c, const char *arg);

/* Parse the subcommand at ARGV[CI] as qemu-img does: it hands the
 * subcommand ARGV from the subcommand's name on.  Each option goes to
 * ON_OPT; the first NF file names to FILE[].  The number of file names,
 * or -1 when the grammar refuses the call (or memory runs out). */
static int
parse_subcommand (int argc, char *const *argv, int ci, const char *shorts,
                  const struct option *longs, opt_fn *on_opt, void *out,
                  const char **file, int nf)
{
  int n = argc - ci, c, files = -1;
  char **a;

  if (ci <= 0 || n < 1 || (a = copy_argv (n, argv + ci)) == NULL)
    return -1;
  getopt_reset ();
  while ((c = getopt_long (n, a, shorts, longs, NULL)) != -1) {
    if (c == ':' || c == '?')           /* missing value, unknown option */
      goto out;
    on_opt (out, c, optarg);
  }
  /* The permuted copy ends with the file names, in their order. */
  files = n - optind;
  for (int i = 0; i < files && i < nf; i++)
    file[i] = a[optind + i];
out:
  free (a);
  return files;
}

static void
rebase_opt (void *p, int c, const char *arg)
{
  struct ch_rebase_args *r = p;

  switch (c) {
  case 'h': r->help = true; break;
  case 'f': r->fmt = arg; break;
  case 'F': r->backing_fmt = arg; break;
  case 'b': r->backing = arg; break;
  case 'u': r->unsafe = true; break;
  case 'U': r->force_share = true; break;
  case OPT_OBJECT: r->objects++; break;
  case OPT_IMAGE_OPTS: r->image_opts = true; break;
  default: break;                       /* -p -q -t -T */
  }
}

bool
ch_qemu_img_rebase_args (int argc, char *const *argv, struct ch_rebase_args *out)
{
  static const struct option longs[] = { COMMON_LONGS, { 0, 0, 0, 0 } };
  const char *file[1];
  int ci = out->cmd_index, files;

  memset (out, 0, sizeof *out);
  out->cmd_index = ci;
  files = parse_subcommand (argc, argv, ci, ":hf:F:b:upt:T:qU", longs,
                            rebase_opt, out, file, 1);
  if (files < 0)
    return false;
  out->files = files;
  if (files == 1)
    out->image = file[0];
  return true;
}

static void
convert_opt (void *p, int c, const char *arg)
{
  struct ch_convert_args *r = p;

  switch (c) {
  case 'h': r->help = true; break;
  case 'f': r->src_fmt = arg; break;
  case 'O': r->out_fmt = arg; break;
  case 't': r->cache = arg; break;
  case 'T': r->src_cache = arg; break;
  case 'B': r->out_base = arg; break;
  case 'F': r->out_base_fmt = arg; break;
  case 'l': r->snapshot = arg; break;
  case 'c': r->compress = true; break;
  case 'n': r->no_create = true; break;
  case 'U': r->force_share = true; break;
  case 'C': r->copy_range = true; break;
  case 'W': r->unordered = true; break;
  case 'o': r->options++; break;
  case OPT_OBJECT: r->objects++; break;
  case OPT_IMAGE_OPTS: r->image_opts = true; break;
  case OPT_TARGET_IMAGE_OPTS: r->target_image_opts = true; break;
  case OPT_SALVAGE: r->salvage = true; break;
  case 'p': case 'q': break;            /* only what is printed */
  default: r->others++; break;          /* -S -m -r and the rest */
  }
}

bool
ch_qemu_img_convert_args (int argc, char *const *argv, struct ch_convert_args *out)
{
  static const struct option longs[] = {
    COMMON_LONGS,
    { "target-image-opts", no_argument, 0, OPT_TARGET_IMAGE_OPTS },
    { "salvage", no_argument, 0, OPT_SALVAGE },
    { "target-is-zero", no_argument, 0, OPT_TARGET_IS_ZERO },
    { "bitmaps", no_argument, 0, OPT_BITMAPS },
    { "skip-broken-bitmaps", no_argument, 0, OPT_SKIP_BROKEN_BITMAPS },
    { 0, 0, 0, 0 },
  };
  const char *file[2];
  int ci = out->cmd_index, files;

  memset (out, 0, sizeof *out);
  out->cmd_index = ci;
  files = parse_subcommand (argc, argv, ci, ":hf:O:B:CcF:o:l:S:pt:T:qnm:WUr:",
                            longs, convert_opt, out, file, 2);
  if (files < 0)
    return false;
  out->files = files;
  if (files == 2) {
    out->src = file[0];
    out->dst = file[1];
  }
  return true;
}

static void
info_opt (void *p, int c, const char *arg)
{
  struct ch_info_args *r = p;

  switch (c) {
  case 'h': r->help = true; break;
  case 'f': r->fmt = arg; break;
  case 'U': r->force_share = true; break;
  case OPT_OUTPUT: r->output = arg; break;
  case OPT_BACKING_CHAIN: r->backing_chain = true; break;
  case OPT_OBJECT: r->objects++; break;
  case OPT_IMAGE_OPTS: r->image_opts = true; break;
  default: r->others++; break;          /* none in 7.2 */
  }
}

bool
ch_qemu_img_info_args (int argc, char *const *argv, struct ch_info_args *out)
{
  static const struct option longs[] = {
    COMMON_LONGS,
    { "format", required_argument, 0, 'f' },
    { "output", required_argument, 0, OPT_OUTPUT },
    { "backing-chain", no_argument, 0, OPT_BACKING_CHAIN },
    { 0, 0, 0, 0 },
  };
  const char *file[1];
  int ci = out->cmd_index, files;

  memset (out, 0, sizeof *out);
  out->cmd_index = ci;
  files = parse_subcommand (argc, argv, ci, ":f:hU", longs, info_opt, out, file, 1);
  if (files < 0)
    return false;
  out->files = files;
  if (files == 1)
    out->filename = file[0];
  return true;
}
