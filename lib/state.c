#include "state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "io.h"
#include "log.h"
#include "pathutil.h"
#include "qcow2.h"

#define STATE_SUBDIR "incoming"
#define STATE_MAGIC "cowherd incoming 4"
/* The previous format, still read: no boot line. */
#define STATE_MAGIC_V3 "cowherd incoming 3"
#define STAGE_MIGRATE "stage migrate"
#define STAGE_PREPARE "stage prepare"
#define STATE_FILE_MAX (CH_STATE_ENTRIES_MAX * 4200)
#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

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
  list->prepared = false;
  list->boot_id[0] = '\0';
  list->boot_sec = 0;
  list->age_sec = 0;
}

int
ch_boot_clock_now (struct ch_boot_clock *now)
{
  CLEANUP_CLOSE int fd = open (BOOT_ID_PATH, O_RDONLY | O_CLOEXEC);
  struct timespec ts;
  char buf[CH_BOOT_ID_LEN + 2];
  ssize_t r;

  if (fd < 0 || (r = ch_read_full (fd, buf, sizeof buf, -1)) < 0) {
    ch_error ("%s: %m", BOOT_ID_PATH);
    return -1;
  }
  if (r != CH_BOOT_ID_LEN + 1 || buf[CH_BOOT_ID_LEN] != '\n' ||
      strspn (buf, "0123456789abcdef-") != CH_BOOT_ID_LEN) {
    ch_error ("%s: not a boot id", BOOT_ID_PATH);
    return -1;
  }
  memcpy (now->id, buf, CH_BOOT_ID_LEN);
  now->id[CH_BOOT_ID_LEN] = '\0';
  if (clock_gettime (CLOCK_BOOTTIME, &ts) < 0) {
    ch_error ("clock_gettime: %m");
    return -1;
  }
  now->sec = ts.tv_sec;
  return 0;
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

/* A record steers what root removes: its directory must be ours alone. */
static int
private_dir (int fd, const char *path, const char *sub)
{
  struct stat st;

  if (fstat (fd, &st) < 0) {
    ch_error ("%s%s: %m", path, sub);
    return -1;
  }
  if (st.st_uid != geteuid () || (st.st_mode & 022)) {
    ch_error ("%s%s: not a private directory (owner %ld, mode %03o)", path, sub,
              (long) st.st_uid, (unsigned) (st.st_mode & 0777));
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
  if (private_dir (top, cfg->state_dir, "") < 0)
    return -1;
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
  if (private_dir (fd, cfg->state_dir, "/" STATE_SUBDIR) < 0) {
    close (fd);
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

/* Digits up to END (consumed), at most MAX. */
static bool
number (char **p, char end, uintmax_t max, uintmax_t *out)
{
  char *e;

  if (**p < '0' || **p > '9')
    return false;
  errno = 0;
  *out = strtoumax (*p, &e, 10);
  if (errno || *e != end || *out > max)
    return false;
  *p = e + 1;
  return true;
}

/* "top|dir DEV INO SEC.NSEC PATH", PATH inside instances_path. */
static int
parse_line (char *line, const char *instances, struct ch_made_list *list)
{
  uintmax_t dev, ino, bsec, bnsec;
  char *p;
  CLEANUP_FREE char *norm = NULL;
  struct ch_made *v;
  size_t ilen = strlen (instances);

  if (strncmp (line, "top ", 4) && strncmp (line, "dir ", 4))
    return -1;
  p = line + 4;
  if (!number (&p, ' ', UINTMAX_MAX, &dev) || !number (&p, ' ', UINTMAX_MAX, &ino) ||
      !number (&p, '.', INT64_MAX, &bsec) || !number (&p, ' ', 999999999, &bnsec) ||
      (norm = ch_path_normalize (p)) == NULL || strcmp (norm, p) != 0 ||
      strncmp (p, instances, ilen) != 0 || p[ilen] != '/' || p[ilen + 1] == '\0')
    return -1;
  if (list->n >= CH_STATE_ENTRIES_MAX ||
      (v = reallocarray (list->v, list->n + 1, sizeof *v)) == NULL)
    return -1;
  list->v = v;
  v = &list->v[list->n];
  v->path = CH_STEAL (norm);
  v->dev = (dev_t) dev;
  v->ino = (ino_t) ino;
  v->btime_sec = (int64_t) bsec;
  v->btime_nsec = (uint32_t) bnsec;
  v->is_dir = line[0] == 'd';
  list->n++;
  return 0;
}

/* Each field of BUF, a record that ends in a line break: the header
 * lines, then one line per file.  -1: not a record; -2: a bad file line. */
static int
parse_fields (char *buf, const char *instances, const struct ch_boot_clock *now,
              struct ch_made_list *list)
{
  char *rest = buf, *line;
  uintmax_t since;
  bool v4;

  line = strsep (&rest, "\n");
  if (strcmp (line, STATE_MAGIC) == 0)
    v4 = true;
  else if (strcmp (line, STATE_MAGIC_V3) == 0)
    v4 = false;
  else
    return -1;
  if ((line = strsep (&rest, "\n")) == NULL)
    return -1;
  if (strcmp (line, STAGE_PREPARE) == 0)
    list->prepared = true;
  else if (strcmp (line, STAGE_MIGRATE) != 0)
    return -1;
  /* v3 named no boot: its start cannot be placed in this one. */
  if (v4) {
    if ((line = strsep (&rest, "\n")) == NULL || strncmp (line, "boot ", 5) != 0 ||
        strlen (line + 5) != CH_BOOT_ID_LEN ||
        strspn (line + 5, "0123456789abcdef-") != CH_BOOT_ID_LEN)
      return -1;
    memcpy (list->boot_id, line + 5, CH_BOOT_ID_LEN + 1);
  }
  if ((line = strsep (&rest, "\n")) == NULL || strncmp (line, "since ", 6) != 0 ||
      (line += 6, !number (&line, '\0', INT64_MAX, &since)) || since == 0)
    return -1;
  list->boot_sec = (int64_t) since;
  /* Another boot's (a state_dir that survived a reboot), or a start later
   * than now: nothing says how long ago that was.  Such a record never
   * opens the prepare window; it is a leftover. */
  list->age_sec = v4 && strcmp (list->boot_id, now->id) == 0 && list->boot_sec <= now->sec
    ? now->sec - list->boot_sec : -1;
  /* The text ends in a line break: the last piece is empty. */
  while ((line = strsep (&rest, "\n")) != NULL && rest != NULL)
    if (parse_line (line, instances, list) < 0)
      return -2;
  return 0;
}

bool
ch_state_licenses_prepare (const struct ch_made_list *list)
{
  return !list->prepared && list->age_sec >= 0 && list->age_sec <= CH_STATE_PREPARE_WINDOW_SEC;
}

int
ch_state_parse (const char *buf, size_t len, const char *instances,
                const struct ch_boot_clock *now, struct ch_made_list *list)
{
  CLEANUP_FREE char *copy = NULL;
  int r;

  *list = (struct ch_made_list) { 0 };
  if (len > STATE_FILE_MAX || len == 0 || buf[len - 1] != '\n' ||
      memchr (buf, '\0', len) != NULL) {
    ch_error ("not a record cowherd wrote");
    return -1;
  }
  if ((copy = strndup (buf, len)) == NULL) {
    ch_error ("strndup: %m");
    return -1;
  }
  if ((r = parse_fields (copy, instances, now, list)) < 0) {
    ch_made_clear (list);
    ch_error (r == -2 ? "malformed line" : "not a record cowherd wrote");
    return -1;
  }
  return 0;
}

int
ch_state_load (const struct ch_config *cfg, const char *uuid, struct ch_made_list *list)
{
  CLEANUP_CLOSE int dfd = -1, fd = -1;
  CLEANUP_FREE char *buf = NULL;
  size_t len = 0;
  struct ch_boot_clock now;

  *list = (struct ch_made_list) { 0 };
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
  if (ch_read_all (fd, STATE_FILE_MAX, &buf, &len) < 0) {
    if (errno == EFBIG)
      ch_error ("%s/%s/%s: not a record cowherd wrote (too large)", cfg->state_dir,
                STATE_SUBDIR, uuid);
    else
      ch_error ("%s/%s/%s: %m", cfg->state_dir, STATE_SUBDIR, uuid);
    return -1;
  }
  if (ch_boot_clock_now (&now) < 0)
    return -1;
  if (ch_state_parse (buf, len, cfg->instances_path, &now, list) < 0) {
    ch_error_prefix ("%s/%s/%s", cfg->state_dir, STATE_SUBDIR, uuid);
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
  struct ch_boot_clock start;

  if (list->boot_sec < 0) {
    ch_error ("an incoming migration cannot have begun before this boot");
    return -1;
  }
  if (check_uuid (uuid) < 0 || ch_boot_clock_now (&start) < 0 ||
      (dfd = state_dir (cfg, true)) < 0)
    return -1;
  /* A record of another boot keeps its boot: saving it again must not
   * make it look fresh. */
  if (list->boot_sec > 0) {
    start.sec = list->boot_sec;
    if (list->boot_id[0] != '\0')
      memcpy (start.id, list->boot_id, sizeof start.id);
  }
  snprintf (tmp, sizeof tmp, ".%s.%ld", uuid, (long) getpid ());
  unlinkat (dfd, tmp, 0);
  fd = openat (dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || (fp = fdopen (fd, "w")) == NULL) {
    ch_error ("create %s/%s/%s: %m", cfg->state_dir, STATE_SUBDIR, tmp);
    if (fd >= 0)
      close (fd);
    return -1;
  }
  fprintf (fp, STATE_MAGIC "\n%s\nboot %s\n",
           list->prepared ? STAGE_PREPARE : STAGE_MIGRATE, start.id);
  /* 0 would read as "now" again: a boot's first second counts as 1. */
  fprintf (fp, "since %jd\n", (intmax_t) (start.sec > 0 ? start.sec : 1));
  for (size_t i = 0; i < list->n; i++) {
    const struct ch_made *m = &list->v[i];

    if (strchr (m->path, '\n')) {
      ch_error ("%s: a line break in the path", m->path);
      goto err;
    }
    fprintf (fp, "%s %ju %ju %jd.%09u %s\n", m->is_dir ? "dir" : "top", (uintmax_t) m->dev,
             (uintmax_t) m->ino, (intmax_t) m->btime_sec, m->btime_nsec, m->path);
  }
  /* A write that failed midway (ENOSPC on the tmpfs) leaves the stream's
   * error flag: a short record must not replace the old one. */
  if (ferror (fp) || fflush (fp) != 0 || fsync (fileno (fp)) < 0) {
    ch_error ("write %s/%s/%s: %m", cfg->state_dir, STATE_SUBDIR, tmp);
    goto err;
  }
  if (renameat (dfd, tmp, dfd, uuid) < 0) {
    ch_error ("rename %s/%s/%s: %m", cfg->state_dir, STATE_SUBDIR, uuid);
    goto err;
  }
  if (fsync (dfd) < 0) {
    ch_error ("fsync %s/%s: %m", cfg->state_dir, STATE_SUBDIR);
    return -1;
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

int
ch_state_set_aside (const struct ch_config *cfg, const char *uuid)
{
  CLEANUP_CLOSE int dfd = -1;
  char bad[64];

  if (check_uuid (uuid) < 0)
    return -1;
  if ((dfd = state_dir (cfg, false)) < 0)
    return dfd == -2 ? 0 : -1;
  snprintf (bad, sizeof bad, "%s.bad", uuid);
  if (renameat (dfd, uuid, dfd, bad) < 0 && errno != ENOENT) {
    ch_error ("rename %s/%s/%s: %m", cfg->state_dir, STATE_SUBDIR, uuid);
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

/* Open M's directory without following a symlink, and M in it (a
 * directory too, for a directory): what is checked is what goes.  -1 with
 * errno when M's path cannot be opened, else LEAF set. */
static int
open_made (const struct ch_made *m, int *dfd, const char **leaf)
{
  CLEANUP_FREE char *dir = strdup (m->path);
  const char *slash = strrchr (m->path, '/');

  *dfd = -1;
  if (dir == NULL)
    return -1;
  if (slash == NULL || slash == m->path) {
    errno = EINVAL;
    return -1;
  }
  *leaf = slash + 1;
  dir[slash - m->path] = '\0';
  if ((*dfd = open (dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
    return -1;
  return openat (*dfd, *leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
                 (m->is_dir ? O_DIRECTORY : 0));
}

/* Unlink LEAF of DFD if it is still the file ST describes.  The checks
 * ran on an open fd; the name could have been given to another file since
 * (the directory is Nova's): move the name aside first, and put back what
 * turns out to be another file.  0; -1 with errno, or -2 when what was
 * moved aside could not be put back (ASIDE names it). */
static int
unlink_same (int dfd, const char *leaf, const struct stat *st, char *aside, size_t len)
{
  struct stat now;

  snprintf (aside, len, ".cowherd-undo.%ld", (long) getpid ());
  if (renameat2 (dfd, leaf, dfd, aside, RENAME_NOREPLACE) < 0)
    return -1;
  if (fstatat (dfd, aside, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
      now.st_dev == st->st_dev && now.st_ino == st->st_ino)
    return unlinkat (dfd, aside, 0);
  if (renameat2 (dfd, aside, dfd, leaf, RENAME_NOREPLACE) < 0)
    return -2;
  errno = ESTALE;
  return -1;
}

static bool
undo_one (const struct ch_made *m, const char *domain, bool data_ok)
{
  CLEANUP_CLOSE int dfd = -1, fd = -1;
  const char *leaf = NULL;
  struct stat st;
  bool has = true;
  char aside[64];
  int r;

  fd = open_made (m, &dfd, &leaf);
  if (fd < 0 && errno == ENOENT)
    return true;
  if (fd < 0 || fstat (fd, &st) < 0 || !same (m, &st, fd)) {
    ch_log (LOG_WARNING, "domain %s: %s: kept: not the %s cowherd made for the migration",
            domain, m->path, m->is_dir ? "directory" : "file");
    return false;
  }
  if (!m->is_dir && !data_ok && ch_qcow2_has_data (fd, &has) < 0)
    ch_log (LOG_WARNING, "domain %s: %s: kept: %s", domain, m->path, ch_last_error ());
  if (!m->is_dir && !data_ok && has) {
    ch_log (LOG_WARNING, "domain %s: %s: kept: it holds data cowherd did not write",
            domain, m->path);
    return false;
  }
  /* A directory goes only when empty: the kernel checks that. */
  r = m->is_dir ? unlinkat (dfd, leaf, AT_REMOVEDIR)
    : unlink_same (dfd, leaf, &st, aside, sizeof aside);
  if (r == -2) {
    ch_log (LOG_ERR, "domain %s: %s: replaced while being removed; the other file "
            "is now %s in that directory: %m", domain, m->path, aside);
    return false;
  }
  if (r < 0) {
    ch_log (LOG_WARNING, "domain %s: %s: kept: %s", domain, m->path,
            errno == ESTALE ? "replaced while being removed" : strerror (errno));
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

  for (size_t i = list->n; i-- > 0;)
    kept += !undo_one (&list->v[i], domain, data_ok);
  return kept;
}

int
ch_state_list (const struct ch_config *cfg, char ***uuids, size_t *n)
{
  CLEANUP_CLOSE int dfd = -1;
  DIR *d;
  struct dirent *de;
  char **v = NULL;
  size_t k = 0;

  *uuids = NULL;
  *n = 0;
  if ((dfd = state_dir (cfg, false)) < 0)
    return dfd == -2 ? 0 : -1;
  if ((d = fdopendir (dfd)) == NULL) {
    ch_error ("%s/%s: %m", cfg->state_dir, STATE_SUBDIR);
    return -1;
  }
  dfd = -1;                            /* closedir closes it */
  while ((de = readdir (d)) != NULL) {
    char uuid[64];
    size_t len = strlen (de->d_name);

    /* <uuid> and the <uuid>.bad of a record set aside. */
    if (len >= sizeof uuid)
      continue;
    memcpy (uuid, de->d_name, len + 1);
    if (len > 4 && strcmp (uuid + len - 4, ".bad") == 0)
      uuid[len - 4] = '\0';
    ch_error_clear ();
    if (check_uuid (uuid) < 0) {
      ch_error_clear ();
      continue;
    }
    if (k % 16 == 0) {
      char **nv = realloc (v, (k + 16) * sizeof *v);

      if (nv == NULL)
        goto oom;
      v = nv;
    }
    if ((v[k] = strdup (de->d_name)) == NULL)
      goto oom;
    k++;
  }
  closedir (d);
  *uuids = v;
  *n = k;
  return 0;
 oom:
  closedir (d);
  for (size_t i = 0; i < k; i++)
    free (v[i]);
  free (v);
  ch_error ("out of memory");
  return -1;
}

int
ch_state_remove_file (const struct ch_config *cfg, const char *name)
{
  CLEANUP_CLOSE int dfd = -1;

  if (strchr (name, '/') || name[0] == '.') {
    ch_error ("%s: not a record's name", name);
    return -1;
  }
  if ((dfd = state_dir (cfg, false)) < 0)
    return dfd == -2 ? 0 : -1;
  if (unlinkat (dfd, name, 0) < 0 && errno != ENOENT) {
    ch_error ("remove %s/%s/%s: %m", cfg->state_dir, STATE_SUBDIR, name);
    return -1;
  }
  return 0;
}
