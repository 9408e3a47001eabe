#include "format.h"

#include <string.h>

const char *
ch_fmt_name (enum ch_fmt fmt)
{
  switch (fmt) {
  case CH_FMT_RAW: return "raw";
  case CH_FMT_QCOW2: return "qcow2";
  case CH_FMT_OTHER: return "other";
  case CH_FMT_UNKNOWN: break;
  }
  return "unknown";
}

enum ch_fmt
ch_fmt_parse (const char *s)
{
  if (s == NULL || *s == '\0')
    return CH_FMT_UNKNOWN;
  if (strcmp (s, "raw") == 0)
    return CH_FMT_RAW;
  if (strcmp (s, "qcow2") == 0)
    return CH_FMT_QCOW2;
  return CH_FMT_OTHER;
}
