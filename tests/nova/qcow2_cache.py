"""qcow2_cache.py GLANCE_URL IMAGE_ID DISK SIZE READY GO: Nova 26's own
Qcow2(path=DISK).cache() of a root disk over the image's _base entry, as
the libvirt driver's spawn calls it (fetch_func
nova.virt.libvirt.utils.fetch_image, filename the sha1 of IMAGE_ID).
Once Nova is imported and configured it writes its pid to READY and waits
(bounded) for the file GO to exist, so a test can line it up with others;
oslo.concurrency's lock messages are logged (DEBUG) to stderr."""
import logging
import os
import sys
import time

import novahost

glance_url, image_id, disk, size, ready, go = sys.argv[1:7]
ctx = novahost.setup(glance_url=glance_url)
logging.basicConfig(stream=sys.stderr, level=logging.DEBUG,
                    format='%(asctime)s %(levelname)s %(name)s %(message)s')

from nova.virt.libvirt import imagebackend  # noqa: E402  (after novahost's setup)
from nova.virt.libvirt import imagecache  # noqa: E402
from nova.virt.libvirt import utils as libvirt_utils  # noqa: E402

with open(ready + '.tmp', 'w') as f:
    f.write('%d\n' % os.getpid())
os.rename(ready + '.tmp', ready)
deadline = time.monotonic() + 120
while not os.path.exists(go):
    if time.monotonic() > deadline:
        novahost.fail('%s did not appear within 120 s' % go)
    time.sleep(0.05)

imagebackend.Qcow2(path=disk).cache(
    fetch_func=libvirt_utils.fetch_image, context=ctx,
    filename=imagecache.get_cache_fname(image_id),
    image_id=image_id, size=int(size))
