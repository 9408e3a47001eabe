"""fetch_to_raw.py GLANCE_URL IMAGE_ID TARGET FORCE_RAW: Nova's own
nova.virt.images.fetch_to_raw of IMAGE_ID into TARGET, as the image
backend runs it for a missing cache entry (force_raw_images = FORCE_RAW,
1 or 0)."""
import sys

import novahost

glance_url, image_id, target, force_raw = sys.argv[1:5]
ctx = novahost.setup(glance_url=glance_url, force_raw_images=force_raw == '1')

from nova.virt import images  # noqa: E402  (after novahost's setup)

images.fetch_to_raw(ctx, image_id, target)
