/* cowherd: whole reads and writes, retried across EINTR and short counts,
 * so no caller writes that loop again. */
#ifndef COWHERD_IO_H
#define COWHERD_IO_H

#include <stddef.h>
#include <sys/types.h>

/* Read COUNT bytes from FD (at OFF with pread when OFF >= 0), fewer only
 * at end of file.  The number read, or -1 with errno (nothing reported). */
ssize_t ch_read_full (int fd, void *buf, size_t count, off_t off);

/* Write all COUNT bytes of BUF to FD (at OFF with pwrite when OFF >= 0).
 * 0, or -1 with errno (nothing reported). */
int ch_write_full (int fd, const void *buf, size_t count, off_t off);

/* All of FD up to end of file, into a malloc'd buffer with a NUL after
 * the data (not counted in *LEN).  More than MAX bytes is refused: -1
 * with errno EFBIG; other failures -1 with errno.  Nothing reported. */
int ch_read_all (int fd, size_t max, char **out, size_t *len);

#endif
