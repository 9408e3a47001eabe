#include "chain.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <linux/fs.h>

#include "cleanup.h"
#include "error.h"
#include "pathutil.h"
#include "qcow2.h"

/* Identity of every file opened so far, for loop detection. */
struct seen {
  dev_t dev[CH_CHAIN_MAX_DEPTH + 1];
  ino_t ino[CH_CHAIN_MAX_DEPTH + 1];
  size_t n;
};

/* What probing one link found out about the next one. */
struct next {
  char *name;               /* backing name from the header, or NULL: stop */
  enum ch_fmt fmt;
};

/* QEMU reads "proto:rest" (a ':' before any '/') as a protocol such as
 * nbd: or json:, not as a file name; cowherd cannot manage those. */
static bool
has_protocol (const char *name)
{
  size_t n = strcspn (name, ":/");

  return name[n] == ':';
}

static int
check_seen (struct seen *seen, const struct stat *st, const char *path)
{
  for (size_t i = 0; i < seen->n; i++) {
    if (seen->dev[i] == st->st_dev && seen->ino[i] == st->st_ino) {
      ch_error ("backing chain loop at %s", path);
      return -1;
    }
  }
  if (seen->n >= CH_CHAIN_MAX_DEPTH + 1) {  /* cannot happen: depth bound */
    ch_error ("%s: too many links", path);
    return -1;
  }
  seen->dev[seen->n] = st->st_dev;
  seen->ino[seen->n] = st->st_ino;
  seen->n++;
  return 0;
}

/* Size of a regular file or a block device open on FD. */
static int
raw_size (int fd, const struct ch_link *l, const struct stat *st,
          uint64_t *size)
{
  if (l->is_block) {
    if (ioctl (fd, BLKGETSIZE64, size) == -1) {
      ch_error ("%s: BLKGETSIZE64: %m", l->path);
      return -1;
    }
    return 0;
  }
  *size = (uint64_t) st->st_size;
  return 0;
}

/* Look at the format, the size and (for qcow2) the backing name of the
 * image open on FD.  STATED is the format stated for it, if any. */
static int
read_format (int fd, struct ch_link *l, enum ch_fmt stated,
             const struct stat *st, struct next *next)
{
  struct ch_qcow2_info info;
  enum ch_fmt bytes;

  if (stated == CH_FMT_UNKNOWN || stated == CH_FMT_QCOW2) {
    if (ch_probe_format (fd, &bytes) == -1) {
      ch_error_prefix ("%s", l->path);
      return -1;
    }
    if (stated == CH_FMT_QCOW2 && bytes != CH_FMT_QCOW2) {
      if (st->st_size < CH_QCOW2_HEADER_MIN) {     /* still being written? */
        l->fmt = CH_FMT_QCOW2;
        l->partial = true;
        return 0;
      }
      ch_error ("%s: stated format is qcow2 but the image is not qcow2",
                l->path);
      return -1;
    }
    l->fmt_probed = stated == CH_FMT_UNKNOWN;
    l->fmt = bytes;
  }
  else
    l->fmt = stated;

  switch (l->fmt) {
  case CH_FMT_RAW:
    return raw_size (fd, l, st, &l->virtual_size);
  case CH_FMT_OTHER:
  case CH_FMT_UNKNOWN:
    return 0;                           /* recorded, not followed */
  case CH_FMT_QCOW2:
    break;
  }

  if (ch_qcow2_read (fd, &info) == -1) {
    ch_error_prefix ("%s", l->path);
    return -1;
  }
  l->virtual_size = info.virtual_size;
  /* An external data file is a second file the header points at; Nova
   * refuses such images and so does cowherd. */
  if (info.has_data_file) {
    ch_error ("%s: external data files are not supported", l->path);
    return -1;
  }
  if (!info.has_backing)
    return 0;
  if (has_protocol (info.backing)) {
    ch_error ("%s: backing file \"%s\" is a protocol, not a file name; "
              "not supported", l->path, info.backing);
    return -1;
  }
  next->name = strdup (info.backing);
  if (next->name == NULL) {
    ch_error ("strdup: %m");
    return -1;
  }
  next->fmt = info.has_backing_fmt ? ch_fmt_parse (info.backing_fmt)
                                   : CH_FMT_UNKNOWN;
  return 0;
}

/* lstat L->path and, for a symlink, what it points to.  *ST gets the
 * (followed) stat; *STOP is set when there is nothing to read. */
static int
look_at (struct ch_link *l, struct stat *st, bool *stop)
{
  if (lstat (l->path, st) == -1) {
    if (errno == ENOENT || errno == ENOTDIR) {
      *stop = true;                     /* missing: recorded, not an error */
      return 0;
    }
    ch_error ("%s: lstat: %m", l->path);
    return -1;
  }
  l->exists = true;
  l->is_symlink = S_ISLNK (st->st_mode);
  if (l->is_symlink && stat (l->path, st) == -1) {
    if (errno == ENOENT || errno == ENOTDIR) {
      /* Dangling: nothing to read, but is_symlink stays set so that
       * nobody creates the image through the link. */
      *stop = true;
      return 0;
    }
    ch_error ("%s: stat: %m", l->path);
    return -1;
  }
  return 0;
}

static int
check_type (const struct stat *st, const char *path)
{
  if (!S_ISREG (st->st_mode) && !S_ISBLK (st->st_mode)) {
    ch_error ("%s: not a regular file or block device", path);
    return -1;
  }
  return 0;
}

/* Fill in link L (path already set).  *NEXT is filled when the walk goes
 * on below L. */
static int
probe_link (struct ch_link *l, enum ch_fmt stated, struct seen *seen,
            struct next *next)
{
  CLEANUP_CLOSE int fd = -1;
  struct stat st;
  bool stop = false;

  /* A missing link keeps the format its parent stated: the planner
   * checks what it would create against it. */
  l->fmt = stated;
  if (look_at (l, &st, &stop) == -1)
    return -1;
  if (stop)
    return 0;
  /* Refuse FIFOs, sockets and character devices before open(2) can have
   * any effect on them; fstat below catches a swap in between. */
  if (check_type (&st, l->path) == -1)
    return -1;

  fd = open (l->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd == -1) {
    ch_error ("%s: open: %m", l->path);
    return -1;
  }
  if (fstat (fd, &st) == -1) {
    ch_error ("%s: fstat: %m", l->path);
    return -1;
  }
  if (check_type (&st, l->path) == -1)
    return -1;
  l->is_regular = S_ISREG (st.st_mode);
  l->is_block = S_ISBLK (st.st_mode);
  l->file_size = (uint64_t) st.st_size;
  l->allocated = (uint64_t) st.st_blocks * 512;

  if (check_seen (seen, &st, l->path) == -1)
    return -1;
  return read_format (fd, l, stated, &st, next);
}

int
ch_chain_probe (const char *top, enum ch_fmt top_fmt, struct ch_chain *out)
{
  struct seen seen = { .n = 0 };
  CLEANUP_FREE char *path = NULL, *name = NULL;
  enum ch_fmt stated = top_fmt;

  memset (out, 0, sizeof *out);
  path = ch_path_normalize (top);
  if (path == NULL)
    return -1;

  for (;;) {
    struct ch_link *l = &out->links[out->n++];
    struct next next = { .name = NULL, .fmt = CH_FMT_UNKNOWN };

    l->path = CH_STEAL (path);
    l->header_name = CH_STEAL (name);
    if (probe_link (l, stated, &seen, &next) == -1)
      return -1;
    if (next.name == NULL)
      return 0;
    name = next.name;

    if (out->n > CH_CHAIN_MAX_DEPTH) {
      ch_error ("%s: backing chain deeper than %d", l->path,
                CH_CHAIN_MAX_DEPTH);
      return -1;
    }
    path = ch_path_resolve_backing (l->path, name);
    if (path == NULL) {
      ch_error_prefix ("%s", l->path);
      return -1;
    }
    stated = next.fmt;
  }
}

void
ch_chain_clear (struct ch_chain *chain)
{
  for (size_t i = 0; i < chain->n; i++) {
    free (chain->links[i].path);
    free (chain->links[i].header_name);
  }
  memset (chain, 0, sizeof *chain);
}
