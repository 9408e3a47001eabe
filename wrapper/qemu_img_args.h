/* cowherd: qemu-img's command line, read with qemu-img's own grammar.
 *
 * The grammar is that of qemu-img 7.2 (Debian 12): global options
 * "+:hVT:" (--help, --version, --trace) up to the subcommand, then for
 * `rebase` getopt_long with ":hf:F:b:upt:T:qU" and --help, --object,
 * --image-opts, --force-share.  glibc's getopt_long does the parsing, so
 * clusters (-uqfqcow2), attached values, --opt=value, unambiguous long
 * prefixes, options after the file name, "--" and POSIXLY_CORRECT behave
 * exactly as they do for qemu-img.  Anything the grammar does not accept
 * is reported as not understood, and the shim passes the call through. */
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

/* The subcommand ARGV names, or NULL when there is none or the global
 * options are not plain (help, version, an error).  *CMD_INDEX receives
 * its index.  ARGV is not modified. */
const char *ch_qemu_img_command (int argc, char *const *argv, int *cmd_index);

/* Parse a `rebase` call.  false when the grammar does not accept it (the
 * real qemu-img will say why).  Returned strings point into ARGV, which is
 * not modified. */
bool ch_qemu_img_rebase_args (int argc, char *const *argv, struct ch_rebase_args *out);

#endif
