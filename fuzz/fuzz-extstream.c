/* libFuzzer target: the extent stream a peer sends (lib/extstream.h), fed
 * in pieces whose sizes come from the input.  Whatever the parser passes
 * on must hold what the receiver relies on: records in order, inside the
 * file, after the resume offset; an end only at the size; nothing after. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "extstream.h"

struct seen {
  uint64_t size, pos;
  int manifests, sizes, ends;
};

static int
on_manifest (void *o, const char *json, size_t len)
{
  struct seen *s = o;

  if (json && (len == 0 || len > 4096 || strlen (json) > len))
    abort ();
  s->manifests++;
  return json ? 0 : 0;
}

static int
on_size (void *o, uint64_t size)
{
  struct seen *s = o;

  if (s->manifests != 1 || s->sizes++ || size > (1ULL << 40))
    abort ();
  s->size = size;
  s->pos = 100;                        /* the resume offset below */
  return 0;
}

static int
on_data (void *o, uint64_t off, const uint8_t *p, size_t n)
{
  struct seen *s = o;

  (void) p;
  if (s->sizes != 1 || n == 0 || off < s->pos || off > s->size || n > s->size - off)
    abort ();
  s->pos = off + n;
  return 0;
}

static int
on_end (void *o)
{
  struct seen *s = o;

  if (s->ends++ || s->sizes != 1)
    abort ();
  return 0;
}

static const struct ch_xs_ops ops = { on_manifest, on_size, on_data, on_end };

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct ch_xs_rx rx = { .from = 100, .size_max = 1ULL << 40, .manifest_max = 4096 };
  struct seen s = { 0 };
  size_t step;
  int r = 0;

  if (size < 1)
    return 0;
  step = data[0] % 32 + 1;
  data++;
  size--;
  ch_error_clear ();
  while (size > 0 && r == 0) {
    size_t n = size < step ? size : step;

    r = ch_xs_feed (&rx, data, n, &ops, &s);
    data += n;
    size -= n;
  }
  if (r < 0 && ch_last_error ()[0] == '\0')
    abort ();                          /* a refusal says why */
  if (r == 1 && !rx.ended)
    abort ();
  ch_xs_rx_free (&rx);
  return 0;
}
