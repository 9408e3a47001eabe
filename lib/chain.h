/* cowherd: backing chain discovery from the image headers on disk. */
#ifndef COWHERD_CHAIN_H
#define COWHERD_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"

/* Backing levels below the top that cowherd follows; deeper is refused. */
#define CH_CHAIN_MAX_DEPTH 16

struct ch_link {
  char *path;             /* absolute, lexically normalised */
  char *header_name;      /* the name as the parent's header wrote it; NULL for the top */
  enum ch_fmt fmt;        /* stated format (XML or parent's backing_fmt), else probed */
  bool fmt_probed;        /* fmt came from looking at the bytes, not a statement */
  bool exists;            /* lstat found something at path */
  bool is_symlink;        /* path itself is a symlink */
  bool is_regular;        /* regular file (after following a top-level symlink) */
  bool is_block;          /* block device */
  /* Stated qcow2, but shorter than a qcow2 header: a copy still being
   * written (cp to the final name, as Nova's legacy resize does).  Not
   * followed; virtual_size is 0.  The planner decides what it is. */
  bool partial;
  uint64_t virtual_size;  /* when exists and readable: qcow2 header size, raw file size */
  uint64_t file_size;     /* st_size */
  uint64_t allocated;     /* st_blocks * 512 */
};

struct ch_chain {
  struct ch_link links[CH_CHAIN_MAX_DEPTH + 1];  /* links[0] is the top */
  size_t n;
};

/* Walk the chain from TOP (format TOP_FMT, possibly UNKNOWN) down through the
 * qcow2 backing names.  The walk stops after the first link that does not
 * exist (it is recorded with exists = false), at a raw image or one in a
 * format cowherd does not read (recorded, not followed), or at a qcow2 image
 * with no backing file.  Files are opened read-only, O_NONBLOCK, and
 * must be regular files or block devices.
 *
 * Returns 0 (OUT filled, even when links are missing) or -1 with ch_error on
 * a loop, a chain deeper than CH_CHAIN_MAX_DEPTH, an unreadable or malformed
 * header.  On -1, OUT holds the
 * links found so far; always call ch_chain_clear. */
int ch_chain_probe (const char *top, enum ch_fmt top_fmt, struct ch_chain *out);
void ch_chain_clear (struct ch_chain *chain);

#endif
