/* libFuzzer target: the record on an entry made whole from a COW-only
 * snapshot (an extended attribute anyone owning the file can write) and
 * the top's names (lib/snaptop.c), on arbitrary bytes.  Whatever the
 * parser accepts writes back as exactly those bytes; a name it derives is
 * a top's name for that entry. */
#include <stdlib.h>
#include <string.h>

#include "snaptop.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct ch_snaptop_record r;
  char buf[CH_SNAPTOP_RECORD_MAX], top[CH_SNAPTOP_NAME_MAX], entry[CH_SHA1_HEX + 1];
  char *s;

  if (ch_snaptop_parse ((const char *) data, size, &r)) {
    ch_snaptop_format (&r, buf);
    if (strlen (buf) != size || memcmp (buf, data, size) != 0)
      abort ();
    if (strcmp (r.fmt, "raw") != 0 && strcmp (r.fmt, "qcow2") != 0)
      abort ();
  }
  if ((s = malloc (size + 1)) == NULL)
    return 0;
  memcpy (s, data, size);
  s[size] = '\0';
  if (ch_snaptop_name (s, top) &&
      (!ch_snaptop_is_top (top, entry) || strncmp (entry, s, CH_SHA1_HEX) != 0))
    abort ();
  if (ch_snaptop_is_top (s, entry) &&
      (!ch_snaptop_name (entry, top) || strcmp (top, s) != 0))
    abort ();
  free (s);
  return 0;
}
