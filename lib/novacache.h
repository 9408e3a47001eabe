/* cowherd: what Nova's image cache manager will do with an entry of
 * _base, by Nova 26's rules (nova/virt/libvirt/imagecache.py,
 * ImageCacheManager.update, as nova-compute's periodic task runs it):
 *
 *  - It looks only at names of its own shapes: 40 characters (an
 *    original), more than 42 with '_' at 40 (<sha1>_<GB> from 10 GB up,
 *    <sha1>_sm), swap_<digits>, ephemeral_<digits>_<7 characters>.
 *    Anything else, <sha1>_1 to <sha1>_9 included, it never touches.
 *  - Used: an original or resized entry of an image an instance on the
 *    host was booted from (<sha1 of its image id>, _sm, _<digits>), and the
 *    direct backing file of each instance's `disk` (one level only);
 *    swap and ephemeral entries its instances' block devices name.  A used
 *    entry's mtime is refreshed.
 *  - Unused: removed once its mtime is older than
 *    remove_unused_resized_minimum_age_seconds (resized) or
 *    remove_unused_original_minimum_age_seconds (the others), if
 *    remove_unused_base_images. */
#ifndef COWHERD_NOVACACHE_H
#define COWHERD_NOVACACHE_H

#include <stdbool.h>
#include <stdint.h>

enum ch_nova_class {
  CH_NOVA_IGNORED,            /* not a name Nova's pass looks at */
  CH_NOVA_ORIGINAL,
  CH_NOVA_RESIZED,            /* and _sm */
  CH_NOVA_SWAP,
  CH_NOVA_EPHEMERAL,
};

enum ch_nova_class ch_nova_classify (const char *name);

struct ch_nova_settings {
  bool remove_unused;         /* [image_cache] remove_unused_base_images = True */
  int64_t original_age;       /* remove_unused_original_minimum_age_seconds = 86400 */
  int64_t resized_age;        /* remove_unused_resized_minimum_age_seconds = 3600 */
};

enum ch_nova_verdict {
  CH_NOVA_NEVER,              /* never removed (not its name, or removal off) */
  CH_NOVA_IN_USE,             /* kept, its mtime refreshed */
  CH_NOVA_REMOVE,             /* removed at the first pass after *IN seconds */
};

/* The verdict for an entry of class C, used or not in Nova's sense, whose
 * mtime is AGE seconds old.  With CH_NOVA_REMOVE, *IN is the seconds left
 * (0 when it is old enough already). */
enum ch_nova_verdict ch_nova_verdict (enum ch_nova_class c, bool used, int64_t age,
                                      const struct ch_nova_settings *s, int64_t *in);

/* Is original or resized entry NAME one Nova counts as used because an
 * instance was booted from the image whose cache name (sha1 of its id) is
 * FINGERPRINT: the original, <fp>_sm, or <fp>_<digits> (longer than 42)? */
bool ch_nova_image_entry (const char *name, const char *fingerprint);

#endif
