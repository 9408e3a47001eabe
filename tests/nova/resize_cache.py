"""resize_cache.py GLANCE_URL: Nova 26's own Qcow2 image backend making
instance disks, as the libvirt driver's _create_and_inject_local_root and
_create_images_and_backing (hard reboot, pre_live_migration) call it:

    imagebackend.Qcow2(path=DISK).cache(
        fetch_func=libvirt_utils.fetch_image, context=ctx,
        filename=SHA1, image_id=IMAGE_ID, size=SIZE)

Nova is imported once (it takes seconds) and then serves one request per
line of stdin, "DISK SHA1 IMAGE_ID SIZE FORCE_RAW" (force_raw_images 1 or
0), one at a time, answering "done DISK" or "error DISK: TYPE: first line
of the message".  It prints "ready PID" first, so a test can stop and
continue this process by pid."""
import os
import sys

import novahost

ctx = novahost.setup(glance_url=sys.argv[1])

from nova.virt.libvirt import imagebackend  # noqa: E402  (after novahost's setup)
from nova.virt.libvirt import utils as libvirt_utils  # noqa: E402

CONF = novahost.CONF

print('ready %d' % os.getpid(), flush=True)
for line in sys.stdin:
    disk, sha1, image_id, size, force_raw = line.split()
    CONF.set_override('force_raw_images', force_raw == '1')
    try:
        imagebackend.Qcow2(path=disk).cache(
            fetch_func=libvirt_utils.fetch_image, context=ctx,
            filename=sha1, image_id=image_id, size=int(size))
    except Exception as e:
        msg = (str(e).strip().splitlines() or [''])[0]
        for detail in str(e).splitlines()[1:]:
            if detail.startswith('Stderr:'):
                msg += ' ' + detail.strip()
        print('error %s: %s: %s' % (disk, type(e).__name__, msg), flush=True)
        continue
    print('done %s' % disk, flush=True)
