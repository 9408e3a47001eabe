#include "pathutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"

char *
ch_path_normalize (const char *path)
{
  size_t len = strlen (path);
  char *out;
  size_t o = 0;

  if (path[0] != '/') {
    ch_error ("path is not absolute: %.200s", path);
    return NULL;
  }
  if (len > CH_PATH_MAX) {
    ch_error ("path longer than %d bytes", CH_PATH_MAX);
    return NULL;
  }
  out = malloc (len + 2);
  if (out == NULL) {
    ch_error ("malloc: %m");
    return NULL;
  }
  out[o++] = '/';
  for (const char *p = path; *p; ) {
    const char *c;
    size_t n;

    while (*p == '/')
      p++;
    c = p;
    while (*p && *p != '/')
      p++;
    n = (size_t) (p - c);
    if (n == 0 || (n == 1 && c[0] == '.'))
      continue;
    if (n == 2 && c[0] == '.' && c[1] == '.') {
      /* Drop the last component; ".." at the root stays at the root. */
      if (o > 1) {
        o--;                          /* the trailing '/' */
        while (o > 1 && out[o - 1] != '/')
          o--;
      }
      continue;
    }
    memcpy (out + o, c, n);
    o += n;
    out[o++] = '/';
  }
  if (o > 1)
    o--;                              /* no trailing '/' */
  out[o] = '\0';
  return out;
}

char *
ch_path_join (const char *dir, const char *name)
{
  char *r;

  if (strlen (dir) + strlen (name) + 2 > CH_PATH_MAX) {
    ch_error ("path longer than %d bytes", CH_PATH_MAX);
    return NULL;
  }
  if (asprintf (&r, "%s%s%s", dir,
                dir[0] && dir[strlen (dir) - 1] == '/' ? "" : "/", name) < 0) {
    ch_error ("asprintf: %m");
    return NULL;
  }
  return r;
}

char *
ch_path_resolve_backing (const char *image, const char *backing)
{
  CLEANUP_FREE char *dir = NULL, *joined = NULL;
  const char *slash;

  if (backing[0] == '/')
    return ch_path_normalize (backing);
  slash = strrchr (image, '/');
  if (image[0] != '/' || slash == NULL) {
    ch_error ("image path is not absolute: %.200s", image);
    return NULL;
  }
  dir = strndup (image, (size_t) (slash - image) + 1);
  if (dir == NULL) {
    ch_error ("strndup: %m");
    return NULL;
  }
  joined = ch_path_join (dir, backing);
  if (joined == NULL)
    return NULL;
  return ch_path_normalize (joined);
}

bool
ch_path_has_dotdot (const char *name)
{
  for (const char *p = name; *p; ) {
    const char *c = p;

    while (*p && *p != '/')
      p++;
    if (p - c == 2 && c[0] == '.' && c[1] == '.')
      return true;
    while (*p == '/')
      p++;
  }
  return false;
}

bool
ch_str_has_control (const char *s)
{
  for (; *s; s++)
    if ((unsigned char) *s < 0x20 || *s == 0x7f)
      return true;
  return false;
}

const char *
ch_path_leaf_in (const char *path, const char *dir)
{
  size_t dl = strlen (dir);
  const char *leaf;

  if (dl == 1 && dir[0] == '/')
    dl = 0;                           /* the root: "/" + leaf */
  if (strncmp (path, dir, dl) != 0 || path[dl] != '/')
    return NULL;
  leaf = path + dl + 1;
  if (*leaf == '\0' || strchr (leaf, '/') != NULL ||
      strcmp (leaf, ".") == 0 || strcmp (leaf, "..") == 0)
    return NULL;
  return leaf;
}
