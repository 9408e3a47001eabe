#include "naming.h"

#include <stdio.h>
#include <string.h>

#include "error.h"

/* Filesystems Nova formats ephemeral disks with, and md5(name)[:7], the tag
 * Nova puts in current ephemeral base names (disk/api.py
 * get_file_extension_for_os_type).  tests/unit/test-naming.c recomputes the
 * hashes. */
static const struct { const char *tag, *fs; } eph_hash_fs[] = {
  { "0706d66", "vfat" },
  { "40d1d2c", "ext4" },
  { "66f137c", "ext3" },
  { "979f413", "ext2" },
  { "310201b", "xfs" },
  { "68e98b8", "ntfs" },
  { "5cf3430", "btrfs" },
};

/* Grizzly to Juno named ephemeral bases by os_type; the default virt_mkfs
 * then was ext3 for "default" and "linux", ntfs for "windows". */
static const struct { const char *tag, *fs; } eph_ostype_fs[] = {
  { "default", "ext3" },
  { "linux", "ext3" },
  { "windows", "ntfs" },
};

bool
ch_is_lower_hex (const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

/* Parse a decimal size with no sign, no leading zero (Nova writes "%d"),
 * 1..MAX.  N is the number of characters to read. */
static bool
parse_size (const char *s, size_t n, uint64_t max, uint64_t *out)
{
  uint64_t v = 0;

  if (n == 0 || n > 10 || (s[0] == '0' && n > 1))
    return false;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (uint64_t) (s[i] - '0');
  }
  if (v > max)
    return false;
  *out = v;
  return true;
}

/* An os_type tag: what Nova would have put in a file name (letters, digits,
 * '-', '.'); no '_' so the fields split unambiguously. */
static bool
is_ostype_tag (const char *s)
{
  size_t n = strlen (s);

  if (n == 0 || n >= sizeof ((struct ch_base_name *) 0)->eph_tag)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '.'))
      return false;
  }
  return true;
}

static void
classify_ephemeral (const char *rest, struct ch_base_name *out)
{
  const char *u1 = strchr (rest, '_');
  uint64_t zero;

  if (u1 == NULL)
    return;
  /* Folsom: ephemeral_0_<GB>_<os_type>.  Nova never made a 0 GB ephemeral
   * base, so a leading "0_" is unambiguous. */
  if (parse_size (rest, (size_t) (u1 - rest), 0, &zero)) {
    const char *gb = u1 + 1, *u2 = strchr (gb, '_');

    if (u2 && parse_size (gb, (size_t) (u2 - gb), CH_NAME_GB_MAX, &out->size_gb) &&
        out->size_gb > 0 && is_ostype_tag (u2 + 1)) {
      out->kind = CH_BASE_EPHEMERAL;
      out->eph_gen = CH_EPH_FOLSOM;
      snprintf (out->eph_tag, sizeof out->eph_tag, "%s", u2 + 1);
    }
    return;
  }
  if (!parse_size (rest, (size_t) (u1 - rest), CH_NAME_GB_MAX, &out->size_gb) ||
      !is_ostype_tag (u1 + 1))
    return;
  out->kind = CH_BASE_EPHEMERAL;
  out->eph_gen = strlen (u1 + 1) == 7 && ch_is_lower_hex (u1 + 1, 7)
    ? CH_EPH_CURRENT : CH_EPH_GRIZZLY;
  snprintf (out->eph_tag, sizeof out->eph_tag, "%s", u1 + 1);
}

void
ch_base_classify (const char *name, struct ch_base_name *out)
{
  size_t n = strlen (name);

  memset (out, 0, sizeof *out);
  if (n == 0 || n > CH_BASE_NAME_MAX)
    return;

  /* Nova's temporary names: whatever they wrap, they are leftovers. */
  if ((n > 5 && strcmp (name + n - 5, ".part") == 0) ||
      (n > 10 && strcmp (name + n - 10, ".converted") == 0)) {
    out->kind = CH_BASE_TEMP;
    return;
  }

  if (n >= CH_SHA1_HEX && ch_is_lower_hex (name, CH_SHA1_HEX)) {
    const char *rest = name + CH_SHA1_HEX;

    memcpy (out->sha1, name, CH_SHA1_HEX);
    if (*rest == '\0')
      out->kind = CH_BASE_ORIGINAL;
    else if (strcmp (rest, "_sm") == 0)
      out->kind = CH_BASE_LEGACY_SM;
    else if (rest[0] == '_' &&
             parse_size (rest + 1, strlen (rest + 1), CH_NAME_GB_MAX, &out->size_gb) &&
             out->size_gb > 0)
      out->kind = CH_BASE_RESIZED;
    if (out->kind == CH_BASE_NONE)
      out->sha1[0] = '\0';
    return;
  }

  if (strncmp (name, "ephemeral_", 10) == 0) {
    classify_ephemeral (name + 10, out);
    return;
  }

  if (strncmp (name, "swap_", 5) == 0 &&
      parse_size (name + 5, n - 5, CH_NAME_MB_MAX, &out->size_mb) &&
      out->size_mb > 0)
    out->kind = CH_BASE_SWAP;
}

int
ch_base_compose (const struct ch_base_name *name, char *buf, size_t len)
{
  int r = -1;

  switch (name->kind) {
  case CH_BASE_ORIGINAL:
    r = snprintf (buf, len, "%s", name->sha1);
    break;
  case CH_BASE_RESIZED:
    r = snprintf (buf, len, "%s_%llu", name->sha1, (unsigned long long) name->size_gb);
    break;
  case CH_BASE_LEGACY_SM:
    r = snprintf (buf, len, "%s_sm", name->sha1);
    break;
  case CH_BASE_EPHEMERAL:
    if (name->eph_gen == CH_EPH_FOLSOM)
      r = snprintf (buf, len, "ephemeral_0_%llu_%s",
                    (unsigned long long) name->size_gb, name->eph_tag);
    else
      r = snprintf (buf, len, "ephemeral_%llu_%s",
                    (unsigned long long) name->size_gb, name->eph_tag);
    break;
  case CH_BASE_SWAP:
    r = snprintf (buf, len, "swap_%llu", (unsigned long long) name->size_mb);
    break;
  case CH_BASE_NONE:
  case CH_BASE_TEMP:
    ch_error ("cannot compose a cache name of kind %s", ch_base_kind_name (name->kind));
    return -1;
  }
  if (r < 0 || (size_t) r >= len) {
    ch_error ("cache name too long");
    return -1;
  }
  return 0;
}

const char *
ch_base_kind_name (enum ch_base_kind kind)
{
  switch (kind) {
  case CH_BASE_ORIGINAL: return "original";
  case CH_BASE_RESIZED: return "resized";
  case CH_BASE_LEGACY_SM: return "legacy-sm";
  case CH_BASE_EPHEMERAL: return "ephemeral";
  case CH_BASE_SWAP: return "swap";
  case CH_BASE_TEMP: return "temporary";
  case CH_BASE_NONE: break;
  }
  return "none";
}

const char *
ch_ephemeral_fs (const struct ch_base_name *name)
{
  if (name->kind != CH_BASE_EPHEMERAL)
    return NULL;
  if (name->eph_gen == CH_EPH_CURRENT) {
    for (size_t i = 0; i < sizeof eph_hash_fs / sizeof eph_hash_fs[0]; i++)
      if (strcmp (name->eph_tag, eph_hash_fs[i].tag) == 0)
        return eph_hash_fs[i].fs;
    return NULL;
  }
  for (size_t i = 0; i < sizeof eph_ostype_fs / sizeof eph_ostype_fs[0]; i++)
    if (strcmp (name->eph_tag, eph_ostype_fs[i].tag) == 0)
      return eph_ostype_fs[i].fs;
  return NULL;
}

const char *
ch_ephemeral_tag (const char *fs)
{
  for (size_t i = 0; fs && i < sizeof eph_hash_fs / sizeof eph_hash_fs[0]; i++)
    if (strcmp (fs, eph_hash_fs[i].fs) == 0)
      return eph_hash_fs[i].tag;
  return NULL;
}
