"""pre_live_migration.py: Nova 26's own libvirt driver code for the two ends
of a live block migration's disk preparation.

  pre_live_migration.py disk-info DOMAIN_XML
      On the source: the disk_info the source sends the destination, from
      LibvirtDriver._get_instance_disk_info_from_config over the domain's
      XML parsed as Guest.get_config() parses it; printed as JSON.

  pre_live_migration.py create GLANCE_URL IMAGE_ID UUID DISK_INFO_JSON
      On the destination: LibvirtDriver._create_images_and_backing(context,
      instance, instance_dir, disk_info, fallback_from_host=None), what
      pre_live_migration runs there, for instance UUID booted from IMAGE_ID
      (flavor m1.tiny: 1 GB root, no ephemeral, no swap).

The driver is a real LibvirtDriver(VirtAPI(), read_only=True): its
constructor sets up the image backend, the image API and the rest without
connecting to libvirt (Host connects on first use, and neither method here
uses it), so no object.__new__ is needed.  The image API is the real one,
reaching glance-api through [glance] api_servers."""
import json
import sys

import novahost

mode = sys.argv[1]
if mode == 'disk-info':
    ctx = novahost.setup()
elif mode == 'create':
    ctx = novahost.setup(glance_url=sys.argv[2])
else:
    novahost.fail('unknown mode %r' % mode)

from nova import objects  # noqa: E402  (after novahost's setup)
from nova.virt.libvirt import config as vconfig  # noqa: E402
from nova.virt.libvirt import driver  # noqa: E402
from nova.virt.libvirt import utils as libvirt_utils  # noqa: E402
from nova.virt import virtapi  # noqa: E402

drv = driver.LibvirtDriver(virtapi.VirtAPI(), read_only=True)

if mode == 'disk-info':
    guest_config = vconfig.LibvirtConfigGuest()
    with open(sys.argv[2]) as f:
        guest_config.parse_str(f.read())
    print(json.dumps(drv._get_instance_disk_info_from_config(guest_config, None)))
    sys.exit(0)

image_id, uuid, disk_info_file = sys.argv[3:6]
with open(disk_info_file) as f:
    disk_info = json.load(f)
# An Instance built in memory, with every field these methods read set:
# unset fields would be lazy-loaded from the database, which there is not.
instance = objects.Instance(
    uuid=uuid, image_ref=image_id, host='source-host', os_type=None,
    vm_state='active', task_state='migrating', kernel_id='', ramdisk_id='',
    trusted_certs=None, migration_context=None,
    flavor=objects.Flavor(name='m1.tiny', root_gb=1, ephemeral_gb=0, swap=0,
                          memory_mb=64, vcpus=1))
instance_dir = libvirt_utils.get_instance_path_at_destination(instance, None)
drv._create_images_and_backing(ctx, instance, instance_dir, disk_info,
                               fallback_from_host=None)
print('_create_images_and_backing returned', flush=True)
