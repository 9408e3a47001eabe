#include "snaptop.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

bool
ch_snaptop_name (const char *leaf, char out[CH_SNAPTOP_NAME_MAX])
{
  size_t n = strlen (leaf);

  if ((n != CH_SHA1_HEX && !(n == CH_SHA1_HEX + 5 && strcmp (leaf + CH_SHA1_HEX, ".part") == 0))
      || !ch_is_lower_hex (leaf, CH_SHA1_HEX))
    return false;
  memcpy (out, leaf, CH_SHA1_HEX);
  memcpy (out + CH_SHA1_HEX, CH_SNAPTOP_SUFFIX, sizeof CH_SNAPTOP_SUFFIX);
  return true;
}

bool
ch_snaptop_is_top (const char *leaf, char entry[CH_SHA1_HEX + 1])
{
  if (strlen (leaf) != CH_SNAPTOP_NAME_MAX - 1 || !ch_is_lower_hex (leaf, CH_SHA1_HEX) ||
      strcmp (leaf + CH_SHA1_HEX, CH_SNAPTOP_SUFFIX) != 0)
    return false;
  memcpy (entry, leaf, CH_SHA1_HEX);
  entry[CH_SHA1_HEX] = '\0';
  return true;
}

void
ch_snaptop_format (const struct ch_snaptop_record *r, char buf[CH_SNAPTOP_RECORD_MAX])
{
  snprintf (buf, CH_SNAPTOP_RECORD_MAX, "1 %.64s %" PRIu64 " %" PRIu64 " %" PRIu64 " %.5s",
            r->sha256, r->parent_dev, r->parent_ino, r->parent_size, r->fmt);
}

/* A decimal number as ch_snaptop_format writes it: no sign, no leading
 * zero, at most UINT64_MAX. */
static bool
number (const char **p, const char *end, uint64_t *out)
{
  uint64_t v = 0;
  const char *s = *p;

  if (s == end || *s < '0' || *s > '9' || (*s == '0' && s + 1 < end && s[1] >= '0' &&
                                           s[1] <= '9'))
    return false;
  for (; s < end && *s >= '0' && *s <= '9'; s++) {
    if (v > (UINT64_MAX - (uint64_t) (*s - '0')) / 10)
      return false;
    v = v * 10 + (uint64_t) (*s - '0');
  }
  *out = v;
  *p = s;
  return true;
}

bool
ch_snaptop_parse (const char *value, size_t len, struct ch_snaptop_record *r)
{
  const char *p = value, *end = value + len;

  if (len < 67 || len >= CH_SNAPTOP_RECORD_MAX || memcmp (p, "1 ", 2) != 0 ||
      !ch_is_lower_hex (p + 2, 64) || p[66] != ' ')
    return false;
  memcpy (r->sha256, p + 2, 64);
  r->sha256[64] = '\0';
  p += 67;
  if (!(number (&p, end, &r->parent_dev) && p < end && *p++ == ' ' &&
        number (&p, end, &r->parent_ino) && p < end && *p++ == ' ' &&
        number (&p, end, &r->parent_size) && p < end && *p++ == ' '))
    return false;
  if ((size_t) (end - p) == 3 && memcmp (p, "raw", 3) == 0)
    strcpy (r->fmt, "raw");
  else if ((size_t) (end - p) == 5 && memcmp (p, "qcow2", 5) == 0)
    strcpy (r->fmt, "qcow2");
  else
    return false;
  return true;
}
