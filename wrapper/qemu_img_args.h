/* cowherd: qemu-img's command line, read with qemu-img's own grammar.
 *
 * The grammar is that of qemu-img 7.2 (Debian 12): global options
 * "+:hVT:" (--help, --version, --trace) up to the subcommand, then
 * getopt_long with the subcommand's own options:
 *   rebase   ":hf:F:b:upt:T:qU"; --help --object= --image-opts --force-share
 *   convert  ":hf:O:B:CcF:o:l:S:pt:T:qnm:WUr:"; --help --object=
 *            --image-opts --force-share --target-image-opts --salvage
 *            --target-is-zero --bitmaps --skip-broken-bitmaps
 *   info     ":f:hU"; --help --format= --output= --backing-chain --object=
 *            --image-opts --force-share
 * (= marks the long options that take a value.)  glibc's getopt_long does
 * the parsing, so clusters (-uqfqcow2), attached values, --opt=value,
 * unambiguous long prefixes, options after the file names, "--" and
 * POSIXLY_CORRECT behave exactly as they do for qemu-img.  Anything the
 * grammar does not accept is reported as not understood, and the shim
 * passes the call through.
 *
 * For every subcommand parser: the caller sets OUT->cmd_index from
 * ch_qemu_img_command; false when the grammar does not accept the call
 * (the real qemu-img will say why); returned strings point into ARGV,
 * which is not modified. */
#ifndef COWHERD_QEMU_IMG_ARGS_H
#define COWHERD_QEMU_IMG_ARGS_H

#include <stdbool.h>

struct ch_rebase_args {
  int cmd_index;              /* argv index of "rebase" */
  const char *image;
  const char *fmt;            /* -f */
  const char *backing;        /* -b */
  const char *backing_fmt;    /* -F */
  bool unsafe;                /* -u */
  bool help;                  /* -h, --help */
  bool image_opts;            /* --image-opts */
  bool force_share;           /* -U, --force-share */
  int objects;                /* --object */
  int files;                  /* non-option arguments */
};

struct ch_convert_args {
  int cmd_index;              /* argv index of "convert" */
  const char *src_fmt;        /* -f */
  const char *out_fmt;        /* -O */
  const char *cache;          /* -t */
  const char *src_cache;      /* -T */
  const char *out_base;       /* -B: backing file for the output */
  const char *out_base_fmt;   /* -F: its format */
  const char *snapshot;       /* -l (7.2 has no -s) */
  bool compress;              /* -c */
  bool no_create;             /* -n */
  bool force_share;           /* -U, --force-share */
  bool copy_range;            /* -C */
  bool unordered;             /* -W */
  bool salvage;               /* --salvage */
  bool image_opts;            /* --image-opts */
  bool target_image_opts;     /* --target-image-opts */
  bool help;                  /* -h, --help */
  int options;                /* -o, how many */
  int objects;                /* --object */
  int others;                 /* -S -m -r --bitmaps --skip-broken-bitmaps
                                 --target-is-zero: they change what is read
                                 or written, so the call is not Nova's */
  int files;                  /* non-option arguments: sources, then the output */
  const char *src;            /* when files == 2: the one source */
  const char *dst;            /* when files == 2: the output */
};

struct ch_info_args {
  int cmd_index;              /* argv index of "info" */
  const char *filename;       /* when files == 1 */
  const char *fmt;            /* -f, --format */
  const char *output;         /* --output */
  bool backing_chain;         /* --backing-chain */
  bool force_share;           /* -U, --force-share */
  bool image_opts;            /* --image-opts */
  bool help;                  /* -h, --help */
  int objects;                /* --object */
  int files;                  /* non-option arguments */
  int others;                 /* always 0: 7.2's info has no option beyond
                                 the above; kept so every parser reads alike */
};

/* The subcommand ARGV names, or NULL when there is none or the global
 * options are not plain (help, version, an error).  *CMD_INDEX receives
 * its index.  ARGV is not modified. */
const char *ch_qemu_img_command (int argc, char *const *argv, int *cmd_index);

/* Parse a `rebase`, `convert` or `info` call (see above). */
bool ch_qemu_img_rebase_args (int argc, char *const *argv, struct ch_rebase_args *out);
bool ch_qemu_img_convert_args (int argc, char *const *argv, struct ch_convert_args *out);
bool ch_qemu_img_info_args (int argc, char *const *argv, struct ch_info_args *out);

#endif
