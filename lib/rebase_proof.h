/* cowherd: when is an unsafe rebase exact?
 *
 * `qemu-img rebase -b NEW` (safe mode) reads every cluster the top does not
 * hold from both the old and the new backing file and writes the
 * differences into the top.  When the new backing file reads the same as
 * the old one over the whole range the top can see, there are no
 * differences, and `rebase -u` (rewrite the header only) gives the same
 * image.  This module decides that, cheaply, for Nova's cache:
 *
 *  - both backing files are raw entries directly in _base (no symlinks),
 *    named for the same original: <sha1> or <sha1>_<GB>;
 *  - the original <sha1> is there to say how long the copied prefix is;
 *    beyond it, both files hold zeros (holes, or allocated zeros: only the
 *    allocated extents are read), and the new file is not smaller;
 *  - or: both have cowherd manifests, unchanged since they were written
 *    (the file's ctime is older), of the same size and sha256.
 *
 * The image is opened by the name as given (qemu-img's open), and each
 * backing file must be the very inode qemu-img's own resolution reaches.
 * Nova's locks on both entries are taken (without waiting) and held
 * through the rebase, so the image cache manager cannot remove or replace
 * them in between.
 *
 * Anything else, or any doubt, is "not proven" with the reason.
 *
 * What is trusted, not read: that the first bytes of <sha1>_<GB> are the
 * original's, as Nova's cache (and cowherd's executor) make it, a complete
 * copy before any extension.  A copy still in progress is shorter than the
 * original and is refused. */
#ifndef COWHERD_REBASE_PROOF_H
#define COWHERD_REBASE_PROOF_H

#include <stdbool.h>
#include <stddef.h>

#include "qcow2.h"

struct ch_rebase_case {
  const char *image;          /* the top image, as given (may be relative) */
  const char *image_fmt;      /* -f, or NULL (then probed like qemu-img does) */
  const char *new_backing;    /* -b, as given (relative to the image's dir) */
  const char *new_fmt;        /* -F, or NULL */
};

struct ch_config;

/* True when `rebase -u` of C gives the same image as the safe rebase.
 * WHY (LEN bytes) receives the proof or the reason it was not proven.
 * When true, LOCK_FDS hold Nova's locks on the two entries (-1 where
 * none): keep them open until the rebase has finished, then close them. */
bool ch_rebase_proven (const struct ch_config *cfg, const struct ch_rebase_case *c,
                       int lock_fds[2], char *why, size_t len);

/* The way through a snapshot top (ch_rebase_via_top). */
struct ch_rebase_top {
  char *top;                  /* the top, <sha1>.cowherd-top in _base */
  char *backing;              /* the image's backing file, as its header names it */
  char backing_fmt[CH_BACKING_FMT_MAX + 1];  /* and its format */
};

void ch_rebase_top_free (struct ch_rebase_top *t);

/* True when C can be rebased through the top of the COW-only snapshot its
 * current backing file was made whole from (snaptop.h): `rebase -u` onto
 * T->top, then C's own safe rebase, which then compares only the clusters
 * the top holds, gives the image C's safe rebase gives.  T->backing and
 * T->backing_fmt say how to point the image back (the same content) if
 * that rebase fails.  SHA256_FD hashes the top (libcrypto stays out of
 * this module).  WHY and LOCK_FDS as for ch_rebase_proven; T is freed
 * with ch_rebase_top_free. */
bool ch_rebase_via_top (const struct ch_config *cfg, const struct ch_rebase_case *c,
                        int (*sha256_fd) (int fd, char hex[65]), int lock_fds[2],
                        struct ch_rebase_top *t, char *why, size_t len);

#endif
