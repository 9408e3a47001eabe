/* cowherd: sparse-preserving file copy. */
#ifndef COWHERD_COPY_H
#define COWHERD_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copy all of SRC_FD into the empty DST_FD so that holes stay holes: a FICLONE
 * reflink where the filesystem shares extents, else a SEEK_DATA/SEEK_HOLE walk
 * that copies only data extents with copy_file_range (read/write when that is
 * not possible).  DST ends up with SRC's size.  *REFLINKED says which way.
 * -1 with ch_error. */
int ch_copy_sparse (int src_fd, int dst_fd, bool *reflinked);

/* Does FD (PATH, for messages) hold only zeros from byte FROM to its end?
 * Holes are skipped; allocated extents are read (a copy-and-extend may
 * have written zeros).  When not, or when it cannot tell, false with the
 * reason in WHY (LEN bytes). */
bool ch_zeros_from (int fd, const char *path, uint64_t from, char *why, size_t len);

#endif
