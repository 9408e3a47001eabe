/* libFuzzer target: the record of an incoming migration (state.c's
 * parser) on arbitrary bytes, against a fixed clock.  Whatever it accepts
 * must hold what the hook relies on: paths inside the instances
 * directory, bounded lists, an age only for a start in this boot. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "state.h"

#define INSTANCES "/var/lib/nova/instances"

/* P names a file below INSTANCES, with no empty, "." or ".." component. */
static bool
inside (const char *p)
{
  if (strncmp (p, INSTANCES "/", sizeof INSTANCES) != 0)
    return false;
  for (p += sizeof INSTANCES - 1; *p; ) {
    size_t n = strcspn (++p, "/");

    if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
      return false;
    p += n;
  }
  return true;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const struct ch_boot_clock now = {
    .id = "6a1f0b6e-3c1d-4f43-9a57-0e5bd1a6c2f1", .sec = 5000,
  };
  struct ch_made_list list;

  ch_error_clear ();
  if (ch_state_parse ((const char *) data, size, INSTANCES, &now, &list) == 0) {
    if (list.n > CH_STATE_ENTRIES_MAX || (list.n > 0 && list.v == NULL))
      abort ();
    if (list.boot_sec <= 0 || list.age_sec < -1 || list.age_sec > now.sec)
      abort ();
    if (list.age_sec >= 0 && strcmp (list.boot_id, now.id) != 0)
      abort ();
    for (size_t i = 0; i < list.n; i++)
      if (!inside (list.v[i].path) || list.v[i].btime_nsec > 999999999)
        abort ();
    (void) ch_state_licenses_prepare (&list);
  }
  else if (ch_last_error ()[0] == '\0' || list.n != 0 || list.v != NULL)
    abort ();                         /* a refusal says why and leaves LIST empty */
  ch_made_clear (&list);
  return 0;
}
