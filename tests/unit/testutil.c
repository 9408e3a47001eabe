#include "testutil.h"

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "runcmd.h"

char tmpdir[64];
static int skipped;

void
tu_skip (const char *fmt, ...)
{
  char why[512];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (why, sizeof why, fmt, ap);
  va_end (ap);
  fprintf (stderr, "*** SKIP: %s ***\n", why);
  skipped++;
  skip ();
  abort ();           /* skip () does not return */
}

void
tu_require (const char *path, const char *package)
{
  if (access (path, X_OK) < 0) {
    fprintf (stderr, "*** SKIP: %s missing (install %s) ***\n", path, package);
    exit (77);
  }
}

int
tu_exit_status (int failed)
{
  return failed > 0 ? 1 : skipped > 0 ? 77 : 0;
}

static int
rm_one (const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st; (void) flag; (void) ftw;
  return remove (p);
}

int
tu_tmpdir_make (const char *prefix)
{
  snprintf (tmpdir, sizeof tmpdir, "/tmp/%s.XXXXXX", prefix);
  return mkdtemp (tmpdir) ? 0 : -1;
}

int
tu_tmpdir_remove (void)
{
  return nftw (tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
tpath (const char *name)
{
  static char ring[8][256];
  static size_t next;
  char *p = ring[next++ % 8];

  assert_true ((size_t) snprintf (p, sizeof ring[0], "%s/%s", tmpdir, name)
               < sizeof ring[0]);
  return p;
}

void
put32 (uint8_t *p, uint32_t v)
{
  p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

void
put64 (uint8_t *p, uint64_t v)
{
  put32 (p, v >> 32);
  put32 (p + 4, (uint32_t) v);
}

void
assert_error_contains (const char *frag)
{
  if (strstr (ch_last_error (), frag) == NULL)
    fail_msg ("error \"%s\" does not contain \"%s\"", ch_last_error (), frag);
}

void
qemu_img (const char *arg, ...)
{
  char *argv[32];
  size_t n = 0;
  va_list ap;

  if (access (QEMU_IMG, X_OK) < 0)
    tu_skip (QEMU_IMG " missing (install qemu-utils)");
  argv[n++] = (char *) QEMU_IMG;
  va_start (ap, arg);
  for (const char *a = arg; a != NULL; a = va_arg (ap, const char *)) {
    assert_true (n < 31);
    argv[n++] = (char *) a;
  }
  va_end (ap);
  argv[n] = NULL;
  if (ch_run (argv) < 0)
    fail_msg ("%s", ch_last_error ());
}
