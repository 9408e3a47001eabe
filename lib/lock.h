/* cowherd: Nova's image cache locks.
 *
 * Nova (oslo.concurrency -> fasteners) serialises work on a cache entry with
 * an exclusive fcntl record lock over the whole of
 * $instances_path/locks/nova-<entry>.  cowherd takes the very same lock, as
 * an open-file-description lock (F_OFD_SETLK), which conflicts with classic
 * POSIX record locks, so cowherd and nova-compute exclude each other. */
#ifndef COWHERD_LOCK_H
#define COWHERD_LOCK_H

struct ch_config;

/* Lock cache entry NAME, waiting at most cfg->lock_timeout seconds.  Returns
 * the fd holding the lock (close it, or ch_unlock, to release), or -1 with
 * ch_error ("timed out after N s waiting for lock PATH").  *WAITED_MS, if not
 * NULL, gets how long it waited. */
int ch_lock_entry (const struct ch_config *cfg, const char *name, double *waited_ms);
void ch_unlock (int fd);

#endif
