/* cowherd: disk image formats cowherd knows by name. */
#ifndef COWHERD_FORMAT_H
#define COWHERD_FORMAT_H

enum ch_fmt {
  CH_FMT_UNKNOWN = 0,   /* not stated anywhere */
  CH_FMT_RAW,
  CH_FMT_QCOW2,
  CH_FMT_OTHER,         /* stated, but not one cowherd reads (vmdk, ...) */
};

/* "raw", "qcow2", "other", "unknown". */
const char *ch_fmt_name (enum ch_fmt fmt);
/* NULL or "" -> UNKNOWN; "raw", "qcow2"; anything else -> OTHER. */
enum ch_fmt ch_fmt_parse (const char *s);

#endif
