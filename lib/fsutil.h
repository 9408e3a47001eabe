/* cowherd: opening the directories cowherd writes in.  Nova's directories
 * belong to the nova user, and cowherd runs as root: it must not follow a
 * symlink nova could plant, and what it creates must stay usable by nova. */
#ifndef COWHERD_FSUTIL_H
#define COWHERD_FSUTIL_H

#include <stdbool.h>
#include <sys/types.h>

/* Open directory PATH without following a symlink in its last component.
 * When CREATE and it is missing, make it (0755) owned like its parent
 * directory.  Returns the fd, -1 with errno ENOENT (not created, no error
 * reported), or -1 with ch_error. */
int ch_open_dir (const char *path, bool create);

/* Give FD the owner and group of directory DIR_FD, so that what root makes
 * in nova's directories stays nova's to lock, replace and remove. */
int ch_own_like (int fd, int dir_fd, const char *what);

/* Open (making it if needed, 0700) directory NAME inside DIR_FD: a place
 * private to this user where files are built before they are published in
 * DIR_FD.  One that exists but is not ours alone is refused: a file being
 * built there could be swapped for a symlink.  DIR_PATH is for messages. */
int ch_open_private_dir (int dir_fd, const char *dir_path, const char *name);

/* Where cowherd builds _base entries before publishing them: a private
 * directory inside _base (same filesystem, so the rename is atomic). */
#define CH_TEMP_DIR ".cowherd-tmp"

/* Publish FD, built as TMP in directory TMP_DIR_FD, as NAME in directory
 * DIR_FD (DIR_PATH, for messages): owned like DIR_FD and mode 0644 (as
 * Nova leaves its bases, readable by a peer's web server), its data
 * durable, renamed in without replacing anything, and the rename durable.
 * Where the filesystem has no RENAME_NOREPLACE, the caller's lock on NAME
 * (held, with NAME checked absent under it) stands in for it.  0, or -1
 * with ch_error; TMP is then still there for the caller to remove, and
 * errno is EEXIST when NAME appeared meanwhile. */
int ch_publish (int fd, int tmp_dir_fd, const char *tmp, int dir_fd, const char *dir_path,
                const char *name);

#endif
