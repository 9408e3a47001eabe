#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "config.h"
#include "error.h"
#include "fsutil.h"
#include "log.h"
#include "pathutil.h"

static int
open_lock_file (const struct ch_config *cfg, const char *name, char *path, size_t len)
{
  CLEANUP_CLOSE int dir_fd = -1;
  char leaf[CH_PATH_MAX];
  int fd, n;

  n = snprintf (path, len, "%s/%s%s", cfg->lock_dir, cfg->lock_prefix, name);
  if (n < 0 || (size_t) n >= len ||
      (size_t) snprintf (leaf, sizeof leaf, "%s%s", cfg->lock_prefix, name) >= sizeof leaf) {
    ch_error ("lock path too long for %.100s", name);
    return -1;
  }
  dir_fd = ch_open_dir (cfg->lock_dir, true);
  if (dir_fd < 0)
    return -1;
  /* oslo.concurrency opens the lock file for writing, so one that root
   * creates must be handed to the owner of the locks directory. */
  fd = openat (dir_fd, leaf, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
  if (fd >= 0) {
    if (ch_own_like (fd, dir_fd, path) < 0) {
      close (fd);
      return -1;
    }
    return fd;
  }
  if (errno == EEXIST)
    fd = openat (dir_fd, leaf, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    ch_error ("open %s: %m", path);
  return fd;
}

int
ch_lock_entry (const struct ch_config *cfg, const char *name, double *waited_ms)
{
  char path[CH_PATH_MAX];
  CLEANUP_CLOSE int fd = -1;
  struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
  double start = ch_now_ms (), deadline = start + cfg->lock_timeout * 1e3;
  long delay_us = 2000;
  bool logged = false;

  fd = open_lock_file (cfg, name, path, sizeof path);
  if (fd < 0)
    return -1;
  /* Poll rather than F_OFD_SETLKW: the wait must be bounded, and a signal
   * timer would disturb the children the hook runs. */
  for (;;) {
    if (fcntl (fd, F_OFD_SETLK, &fl) == 0)
      break;
    if (errno != EAGAIN && errno != EACCES && errno != EINTR) {
      ch_error ("lock %s: %m", path);
      return -1;
    }
    if (ch_now_ms () >= deadline) {
      ch_error_as (CH_ERR_TIMED_OUT, "timed out after %d s waiting for lock %s",
                   cfg->lock_timeout, path);
      return -1;
    }
    if (!logged) {
      ch_log (LOG_INFO, "waiting for lock %s", path);
      logged = true;
    }
    usleep ((useconds_t) delay_us);
    if (delay_us < 100000)
      delay_us *= 2;
  }
  if (waited_ms)
    *waited_ms = ch_now_ms () - start;
  return CH_STEAL_FD (fd);
}

void
ch_unlock (int fd)
{
  if (fd >= 0)
    close (fd);                  /* closing the description drops an OFD lock */
}
