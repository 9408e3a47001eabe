/* cowherd: lexical path helpers.  They never touch the filesystem; the
 * callers that act on files use openat(2) with O_NOFOLLOW on a directory fd. */
#ifndef COWHERD_PATHUTIL_H
#define COWHERD_PATHUTIL_H

#include <stdbool.h>

#define CH_PATH_MAX 4096

/* Lexically normalise an absolute path: collapse "//", drop ".", apply "..".
 * Returns a malloc'd string, or NULL (ch_error) if PATH is not absolute or is
 * longer than CH_PATH_MAX. */
char *ch_path_normalize (const char *path);

/* Resolve a backing file name written in IMAGE's header the way QEMU does:
 * absolute names stand, relative ones are relative to IMAGE's directory.
 * The result is normalised.  NULL (ch_error) on error. */
char *ch_path_resolve_backing (const char *image, const char *backing);

/* True if NAME has a ".." path component. */
bool ch_path_has_dotdot (const char *name);

/* True if S has a control character (C0 or DEL): a name from another
 * host or the XML that would forge a log line or an argument. */
bool ch_str_has_control (const char *s);

/* If normalised PATH is exactly DIR "/" LEAF with LEAF a single component,
 * return a pointer to LEAF inside PATH; else NULL.  DIR must be normalised. */
const char *ch_path_leaf_in (const char *path, const char *dir);

/* malloc'd DIR "/" NAME.  NULL (ch_error) when too long. */
char *ch_path_join (const char *dir, const char *name);

#endif
