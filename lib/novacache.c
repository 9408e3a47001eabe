#include "novacache.h"

#include <string.h>

#include "naming.h"

static bool
all_digits (const char *s)
{
  if (*s == '\0')
    return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9')
      return false;
  return true;
}

enum ch_nova_class
ch_nova_classify (const char *name)
{
  size_t n = strlen (name);
  const char *us;

  /* Nova tests lengths, not hex: a 40-character name is an original. */
  if (n == CH_SHA1_HEX)
    return CH_NOVA_ORIGINAL;
  if (n > CH_SHA1_HEX + 2 && name[CH_SHA1_HEX] == '_')
    return CH_NOVA_RESIZED;
  if (strncmp (name, "swap_", 5) == 0 && all_digits (name + 5))
    return CH_NOVA_SWAP;
  /* ephemeral_<digits>_<exactly 7 characters, no '_'> */
  if (strncmp (name, "ephemeral_", 10) == 0 && (us = strchr (name + 10, '_')) != NULL &&
      us > name + 10 && strlen (us + 1) == 7 && strchr (us + 1, '_') == NULL) {
    char gb[32];
    size_t len = (size_t) (us - (name + 10));

    if (len < sizeof gb) {
      memcpy (gb, name + 10, len);
      gb[len] = '\0';
      if (all_digits (gb))
        return CH_NOVA_EPHEMERAL;
    }
  }
  return CH_NOVA_IGNORED;
}

enum ch_nova_verdict
ch_nova_verdict (enum ch_nova_class c, bool used, int64_t age,
                 const struct ch_nova_settings *s, int64_t *in)
{
  int64_t max;

  *in = 0;
  if (c == CH_NOVA_IGNORED)
    return CH_NOVA_NEVER;
  if (used)
    return CH_NOVA_IN_USE;
  if (!s->remove_unused)
    return CH_NOVA_NEVER;
  max = c == CH_NOVA_RESIZED ? s->resized_age : s->original_age;
  *in = age >= max ? 0 : max - age;
  return CH_NOVA_REMOVE;
}

bool
ch_nova_image_entry (const char *name, const char *fp)
{
  size_t n = strlen (fp);

  if (strncmp (name, fp, n) != 0)
    return false;
  if (name[n] == '\0' || strcmp (name + n, "_sm") == 0)
    return true;
  /* Only names Nova scanned as resized (longer than 42) are matched. */
  return name[n] == '_' && all_digits (name + n + 1) && strlen (name) > CH_SHA1_HEX + 2;
}
