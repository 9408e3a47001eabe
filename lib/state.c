#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "log.h"
#include "qcow2.h"

#define STATE_SUBDIR "incoming"
#define STATE_MAGIC "cowherd incoming 1\n"
#define STATE_FILE_MAX (CH_STATE_ENTRIES_MAX * 4200)

/* FD's (or, with FD AT_FDCWD, PATH's) birth time into M; 0 if unknown. */
static void
birth (int fd, const char *path, int64_t *sec, uint32_t *nsec)
{
  struct statx sx;

  *sec = 0;
  *nsec = 0;
  if (statx (fd, fd == AT_FDCWD ? path : "", fd == AT_FDCWD ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH,
             STATX_BTIME, &sx) == 0 && (sx.stx_mask & STATX_BTIME)) {
    *sec = sx.stx_btime.tv_sec;
    *nsec = sx.stx_btime.tv_nsec;
  }
}

int
ch_made_add (struct ch_made_list *list, const char *path, const struct stat *st)
{
  struct ch_made m = { .path = (char *) path, .dev = st->st_dev, .ino = st->st_ino,
                       .is_dir = S_ISDIR (st->st_mode) };

  birth (AT_FDCWD, path, &m.btime_sec, &m.btime_nsec);
  return ch_made_append (list, &m);
}

int
ch_made_append (struct ch_made_list *list, const struct ch_made *m)
{
  struct ch_made *v;

  if (list->n >= CH_STATE_ENTRIES_MAX) {
    ch_error ("more than %d files made for one migration", CH_STATE_ENTRIES_MAX);
    return -1;
  }
  if ((v = reallocarray (list->v, list->n + 1, sizeof *v)) == NULL) {
    ch_error ("realloc: %m");
    return -1;
  }
  list->v = v;
  v = &list->v[list->n];
  *v = *m;
  if ((v->path = strdup (m->path)) == NULL) {
    ch_error ("strdup: %m");
    return -1;
  }
  list->n++;
  return 0;
}

void
ch_made_clear (struct ch_made_list *list)
{
  for (size_t i = 0; i < list->n; i++)
    free (list->v[i].path);
  free (list->v);
  list->v = NULL;
  list->n = 0;
}

/* A uuid as libvirt prints it: the file name comes from the XML. */
static int
check_uuid (const char *uuid)
{
  if (uuid == NULL || strlen (uuid) != 36 ||
      strspn (uuid, "0123456789abcdefABCDEF-") != 36) {
    ch_error ("domain XML: no <uuid>, or not one libvirt writes");
    return -1;
  }
  return 0;
}

/* The record directory, made (root's, 0700) when MAKE. */
static int
state_dir (const struct ch_config *cfg, bool make)
{
  CLEANUP_CLOSE int top = -1;
  int fd;

  if (make && mkdir (cfg->state_dir, 0700) < 0 && errno != EEXIST) {
    ch_error ("mkdir %s: %m", cfg->state_dir);
    return -1;
  }
  top = open (cfg->state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (top < 0) {
    if (errno == ENOENT && !make)
      return -2;
    ch_error ("%s: %m", cfg->state_dir);
    return -1;
  }
  if (make && mkdirat (top, STATE_SUBDIR, 0700) < 0 && errno != EEXIST) {
    ch_error ("mkdir %s/%s: %m", cfg->state_dir, STATE_SUBDIR);
    return -1;
  }
  fd = openat (top, STATE_SUBDIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT && !make)
      return -2;
    ch_error ("%s/%s: %m", cfg->state_dir, STATE_SUBDIR);
    return -1;
  }
  return fd;
}

int
ch_state_exists (const struct ch_config *cfg, const char *uuid)
{
  CLEANUP_CLOSE int dfd = -1;
  struct stat st;

  if (check_uuid (uuid) < 0)
    return -1;
  if ((dfd = state_dir (cfg, false)) < 0)
    return dfd == -2 ? 0 : -1;
  if (fstatat (dfd, uuid, &st, AT_SYMLINK_NOFOLLOW) == 0)
    return 1;
  if (errno == ENOENT)
    return 0;
  ch_error ("%s/%s/%s: %m", cfg->state_dir, STATE_SUBDIR, uuid);
  return -1;
}

static int
parse_line (char *line, struct ch_made_list *list)
{
  char kind[4];
  uintmax_t dev, ino, bsec, bnsec;
  int off = 0;
  struct ch_made *v;

  if (sscanf (line, "%3s %ju %ju %ju.%ju %n", kind, &dev, &ino, &bsec, &bnsec, &off) != 5 ||
      off == 0 || (strcmp (kind, "top") && strcmp (kind, "dir")) || line[off] != '/' ||
      bnsec >= 1000000000 || bsec > INT64_MAX)
    return -1;
  if (list->n >= CH_STATE_ENTRIES_MAX ||
      (v = reallocarray (list->v, list->n + 1, sizeof *v)) == NULL)
    return -1;
  list->v = v;
  v = &list->v[list->n];
  if ((v->path = strdup (line + off)) == NULL)
    return -1;
  v->dev = (dev_t) dev;
  v->ino = (ino_t) ino;
  v->btime_sec = (int64_t) bsec;
  v->btime_nsec = (uint32_t) bnsec;
  v->is_dir = strcmp (kind, "dir") == 0;
  list->n++;
  return 0;
}

int
ch_state_load (const struct ch_config *cfg, const char *uuid, struct ch_made_list *list)
{
  CLEANUP_CLOSE int dfd = -1, fd = -1;
  CLEANUP_FREE char *buf = NULL;
  size_t len = 0;
  ssize_t r;
  char *line, *save = NULL;

  list->v = NULL;
  list->n = 0;
  if (check_uuid (uuid) < 0)
    return -1;
  if ((dfd = state_dir (cfg, false)) < 0)
    return dfd == -2 ? 0 : -1;
  fd = openat (dfd, uuid, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return 0;
    ch_error ("%s/%s/%s: %m", cfg->state_dir, STATE_SUBDIR, uuid);
    return -1;
  }
  if ((buf = malloc (STATE_FILE_MAX + 1)) == NULL) {
    ch_error ("malloc: %m");
    return -1;
  }
  while ((r = read (fd, buf + len, STATE_FILE_MAX + 1 - len)) > 0 && len < STATE_FILE_MAX + 1)
    len += (size_t) r;
  if (r < 0 || len > STATE_FILE_MAX || len < strlen (STATE_MAGIC) ||
      memcmp (buf, STATE_MAGIC, strlen (STATE_MAGIC)) != 0 || buf[len - 1] != '\n') {
    ch_error ("%s/%s/%s: not a record cowherd wrote", cfg->state_dir, STATE_SUBDIR, uuid);
    return -1;
  }
  buf[len] = '\0';
  for (line = strtok_r (buf + strlen (STATE_MAGIC), "\n", &save); line;
       line = strtok_r (NULL, "\n", &save))
    if (parse_line (line, list) < 0) {
      ch_made_clear (list);
      ch_error ("%s/%s/%s: malformed line", cfg->state_dir, STATE_SUBDIR, uuid);
      return -1;
    }
  return 0;
}

int
ch_state_save (const struct ch_config *cfg, const char *uuid, const struct ch_made_list *list)
{
  CLEANUP_CLOSE int dfd = -1;
  CLEANUP_FCLOSE FILE *fp = NULL;
  char tmp[64];
  int fd;

  if (check_uuid (uuid) < 0 || (dfd = state_dir (cfg, true)) < 0)
    return -1;
  snprintf (tmp, sizeof tmp, ".%s.%ld", uuid, (long) getpid ());
  unlinkat (dfd, tmp, 0);
  fd = openat (dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || (fp = fdopen (fd, "w")) == NULL) {
    ch_error ("create %s/%s/%s: %m", cfg->state_dir, STATE_SUBDIR, tmp);
    if (fd >= 0)
      close (fd);
    return -1;
  }
  fputs (STATE_MAGIC, fp);
  for (size_t i = 0; i < list->n; i++) {
    const struct ch_made *m = &list->v[i];

    if (strchr (m->path, '\n')) {
      ch_error ("%s: a line break in the path", m->path);
      goto err;
    }
    fprintf (fp, "%s %ju %ju %jd.%09u %s\n", m->is_dir ? "dir" : "top", (uintmax_t) m->dev,
             (uintmax_t) m->ino, (intmax_t) m->btime_sec, m->btime_nsec, m->path);
  }
  if (fflush (fp) != 0 || fsync (fileno (fp)) < 0) {
    ch_error ("write %s/%s/%s: %m", cfg->state_dir, STATE_SUBDIR, tmp);
    goto err;
  }
  if (renameat (dfd, tmp, dfd, uuid) < 0) {
    ch_error ("rename %s/%s/%s: %m", cfg->state_dir, STATE_SUBDIR, uuid);
    goto err;
  }
  return 0;

 err:
  unlinkat (dfd, tmp, 0);
  return -1;
}

int
ch_state_remove (const struct ch_config *cfg, const char *uuid)
{
  CLEANUP_CLOSE int dfd = -1;

  if (check_uuid (uuid) < 0)
    return -1;
  if ((dfd = state_dir (cfg, false)) < 0)
    return dfd == -2 ? 0 : -1;
  if (unlinkat (dfd, uuid, 0) < 0 && errno != ENOENT) {
    ch_error ("remove %s/%s/%s: %m", cfg->state_dir, STATE_SUBDIR, uuid);
    return -1;
  }
  return 0;
}

/* Is M still exactly what cowherd made?  FD is open on it (or -1 and
 * PATH names it). */
static bool
same (const struct ch_made *m, const struct stat *st, int fd)
{
  int64_t sec;
  uint32_t nsec;

  if (st->st_dev != m->dev || st->st_ino != m->ino ||
      !(m->is_dir ? S_ISDIR (st->st_mode) : S_ISREG (st->st_mode)))
    return false;
  if (m->btime_sec == 0 && m->btime_nsec == 0)
    return true;
  birth (fd < 0 ? AT_FDCWD : fd, m->path, &sec, &nsec);
  return sec == m->btime_sec && nsec == m->btime_nsec;
}

/* Removal works in the file's directory, opened without following a
 * symlink: what is checked is what goes. */
static bool
undo_top (const struct ch_made *m, const char *domain, bool data_ok)
{
  CLEANUP_FREE char *dir = strdup (m->path);
  CLEANUP_CLOSE int dfd = -1, fd = -1;
  const char *leaf = strrchr (m->path, '/');
  struct stat st;
  bool has = true;

  if (dir == NULL || leaf == NULL || leaf == m->path) {
    ch_log (LOG_WARNING, "domain %s: %s: kept: not a path cowherd records", domain, m->path);
    return false;
  }
  leaf++;
  dir[leaf - 1 - m->path] = '\0';
  dfd = open (dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd >= 0)
    fd = openat (dfd, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0 && errno == ENOENT)
    return true;
  if (fd < 0 || fstat (fd, &st) < 0 || !same (m, &st, fd)) {
    ch_log (LOG_WARNING, "domain %s: %s: kept: not the file cowherd made for the migration",
            domain, m->path);
    return false;
  }
  if (!data_ok && ch_qcow2_has_data (fd, &has) < 0)
    ch_log (LOG_WARNING, "domain %s: %s: kept: %s", domain, m->path, ch_last_error ());
  if (!data_ok && has) {
    ch_log (LOG_WARNING, "domain %s: %s: kept: it holds data cowherd did not write",
            domain, m->path);
    return false;
  }
  if (unlinkat (dfd, leaf, 0) < 0) {
    ch_log (LOG_WARNING, "domain %s: remove %s: %m", domain, m->path);
    return false;
  }
  fsync (dfd);
  ch_log (LOG_INFO, "domain %s: %s: removed (the incoming migration did not complete)",
          domain, m->path);
  return true;
}

size_t
ch_made_undo (const struct ch_made_list *list, const char *domain, bool data_ok)
{
  size_t kept = 0;

  for (size_t i = list->n; i-- > 0;) {
    const struct ch_made *m = &list->v[i];
    struct stat st;

    if (!m->is_dir) {
      kept += !undo_top (m, domain, data_ok);
      continue;
    }
    if (lstat (m->path, &st) < 0 || !same (m, &st, -1))
      continue;
    if (rmdir (m->path) == 0)
      ch_log (LOG_INFO, "domain %s: %s: removed", domain, m->path);
    else {
      ch_log (LOG_WARNING, "domain %s: %s: kept: %m", domain, m->path);
      kept++;
    }
  }
  return kept;
}
