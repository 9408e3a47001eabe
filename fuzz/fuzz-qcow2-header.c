/* libFuzzer target: the qcow2 header parser, and the COW-only snapshot
 * marker reader, on arbitrary bytes.  They must refuse anything malformed
 * cleanly and never read outside the buffer; ASan and UBSan watch for the
 * rest. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "qcow2.h"
#include "snapmark.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct ch_qcow2_info info;

  /* ch_qcow2_read never passes more than this. */
  if (size > CH_QCOW2_HEADER_READ_MAX)
    size = CH_QCOW2_HEADER_READ_MAX;

  ch_error_clear ();
  if (ch_qcow2_parse (data, size, &info) == 0) {
    /* What callers rely on after success. */
    if (info.version != 2 && info.version != 3)
      abort ();
    if (info.cluster_bits < 9 || info.cluster_bits > 21)
      abort ();
    if (info.virtual_size > (uint64_t) INT64_MAX)
      abort ();
    if (info.has_backing &&
        (info.backing[0] == '\0' ||
         strlen (info.backing) > CH_BACKING_NAME_MAX))
      abort ();
    if (!info.has_backing && info.backing[0] != '\0')
      abort ();
    if (strlen (info.backing_fmt) > CH_BACKING_FMT_MAX)
      abort ();
  }
  else if (ch_last_error ()[0] == '\0')
    abort ();                         /* every -1 comes with a message */

  {
    struct ch_snap_marker m;
    uint64_t off;
    int r;

    ch_error_clear ();
    r = ch_snap_parse (data, size, &m, &off);
    if (r == -1 && ch_last_error ()[0] == '\0')
      abort ();
    if (r == 1 && (strlen (m.parent) != 40 || strlen (m.image_id) > CH_SNAP_IMAGE_ID_MAX ||
                   off > size || size - off < CH_SNAP_HMAC_LEN ||
                   m.parent_size > m.parent_vsize))
      abort ();
  }
  return 0;
}
