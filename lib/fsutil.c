#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"

int
ch_own_like (int fd, int dir_fd, const char *what)
{
  struct stat d, f;

  if (fstat (dir_fd, &d) < 0 || fstat (fd, &f) < 0) {
    ch_error ("fstat %s: %m", what);
    return -1;
  }
  if ((f.st_uid == d.st_uid && f.st_gid == d.st_gid) || geteuid () != 0)
    return 0;
  if (fchown (fd, d.st_uid, d.st_gid) < 0) {
    ch_error ("chown %s: %m", what);
    return -1;
  }
  return 0;
}

static int
open_nofollow (const char *path)
{
  return open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

int
ch_open_dir (const char *path, bool create)
{
  CLEANUP_FREE char *parent = NULL;
  CLEANUP_CLOSE int pfd = -1;
  char *slash;
  int fd;

  fd = open_nofollow (path);
  if (fd >= 0)
    return fd;
  if (errno == ELOOP || errno == ENOTDIR) {
    ch_error ("%s: is a symlink or not a directory; configure the real directory", path);
    return -1;
  }
  if (errno != ENOENT) {
    ch_error ("%s: %m", path);
    return -1;
  }
  if (!create)
    return -1;                   /* errno is ENOENT */

  if (mkdir (path, 0755) < 0 && errno != EEXIST) {
    ch_error ("mkdir %s: %m", path);
    return -1;
  }
  fd = open_nofollow (path);
  if (fd < 0) {
    ch_error ("%s: %m", path);
    return -1;
  }
  /* Like Nova would have made it: owned as the directory above. */
  parent = strdup (path);
  if (parent == NULL) {
    ch_error ("strdup: %m");
    close (fd);
    return -1;
  }
  slash = strrchr (parent, '/');
  if (slash && slash != parent)
    *slash = '\0';
  pfd = open (parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (pfd < 0 || ch_own_like (fd, pfd, path) < 0) {
    if (pfd < 0)
      ch_error ("%s: %m", parent);
    close (fd);
    return -1;
  }
  return fd;
}

int
ch_open_private_dir (int dir_fd, const char *dir_path, const char *name)
{
  struct stat st;
  int fd;

  if (mkdirat (dir_fd, name, 0700) < 0 && errno != EEXIST) {
    ch_error ("mkdir %s/%s: %m", dir_path, name);
    return -1;
  }
  fd = openat (dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    ch_error ("%s/%s: %m", dir_path, name);
    return -1;
  }
  if (fstat (fd, &st) < 0 || st.st_uid != geteuid () || (st.st_mode & 077) != 0) {
    ch_error ("%s/%s: not a private directory of this user; refusing to build in it",
              dir_path, name);
    close (fd);
    return -1;
  }
  return fd;
}

int
ch_publish (int fd, int tmp_dir_fd, const char *tmp, int dir_fd, const char *dir_path,
            const char *name)
{
  if (ch_own_like (fd, dir_fd, name) < 0)
    return -1;
  if (fchmod (fd, 0644) < 0) {
    ch_error ("chmod %s: %m", tmp);
    return -1;
  }
  if (fsync (fd) < 0) {
    ch_error ("fsync %s: %m", tmp);
    return -1;
  }
  if (renameat2 (tmp_dir_fd, tmp, dir_fd, name, RENAME_NOREPLACE) < 0 &&
      (errno != EINVAL || renameat (tmp_dir_fd, tmp, dir_fd, name) < 0)) {
    int e = errno;

    ch_error ("rename into %s/%s: %m", dir_path, name);
    errno = e;                 /* EEXIST: someone else published NAME meanwhile */
    return -1;
  }
  if (fsync (dir_fd) < 0) {
    ch_error ("fsync %s: %m", dir_path);
    return -1;
  }
  return 0;
}
