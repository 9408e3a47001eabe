"""imagecache_update.py DB INSTANCE...: one pass of Nova 26's own image
cache manager over $NOVA_INSTANCES/_base, as nova-compute's periodic task
runs it (LibvirtDriver.manage_image_cache):

    nova.virt.libvirt.imagecache.ImageCacheManager().update(ctx, instances)

with Nova's defaults: remove_unused_base_images on, originals removed once
unused for remove_unused_original_minimum_age_seconds (86400), resized
entries for remove_unused_resized_minimum_age_seconds (3600).

update() learns which swap_<MB> and ephemeral_<GB>_<tag> entries are in
use from the database (BlockDeviceMappingList.bdms_by_instance_uuid).  It
gets a real database, not a stub: the sqlite file DB, its schema made from
Nova's own nova.db.main.models, one row per block device mapping written by
Nova's objects.BlockDeviceMapping.create(), as the API writes them at boot
for a flavor with ephemeral and swap.  The instances are objects.Instance
built in memory, with the fields update() reads, as the compute manager
passes them.

Each INSTANCE is "ID:UUID:IMAGE_ID:EPH_GB:SWAP_MB" (0: none).  Prints what
the manager decided, one line per list ("active ...", "removable ...")."""
import sys

import novahost

ctx = novahost.setup()
db_path = sys.argv[1]
novahost.CONF.set_override('connection', 'sqlite:///' + db_path, group='database')

import nova.privsep.fs  # noqa: E402,F401  (nova.virt.imagecache uses it unimported)
from nova.compute import vm_states  # noqa: E402
from nova.db.main import api as db_api  # noqa: E402
from nova.db.main import models  # noqa: E402
from nova import objects  # noqa: E402
from nova.virt.libvirt import imagecache  # noqa: E402

models.BASE.metadata.create_all(db_api.get_engine())

instances = []
for spec in sys.argv[2:]:
    iid, uuid, image_id, eph_gb, swap_mb = spec.split(':')
    instances.append(objects.Instance(
        context=ctx, id=int(iid), uuid=uuid, host=novahost.CONF.host,
        image_ref=image_id, kernel_id=None, ramdisk_id=None, os_type=None,
        task_state=None, vm_state=vm_states.ACTIVE))
    bdms = [dict(source_type='image', destination_type='local', image_id=image_id,
                 boot_index=0, device_name='/dev/vda')]
    if int(eph_gb):
        bdms.append(dict(source_type='blank', destination_type='local', guest_format=None,
                         volume_size=int(eph_gb), boot_index=-1, device_name='/dev/vdb'))
    if int(swap_mb):
        bdms.append(dict(source_type='blank', destination_type='local', guest_format='swap',
                         volume_size=int(swap_mb), boot_index=-1, device_name='/dev/vdc'))
    for bdm in bdms:
        objects.BlockDeviceMapping(ctx, instance_uuid=uuid, device_type='disk',
                                   disk_bus='virtio', delete_on_termination=True,
                                   **bdm).create()

manager = imagecache.ImageCacheManager()
manager.update(ctx, instances)


def names(paths):
    return ' '.join(sorted(p.rsplit('/', 1)[-1] for p in paths)) or '-'


print('active', names(manager.active_base_files))
print('removable', names(manager.removable_base_files))
print('originals', names(manager.originals))
print('swap-found', names(manager.back_swap_images), 'swap-used', names(manager.used_swap_images))
print('ephemeral-found', names(manager.back_ephemeral_images),
      'ephemeral-used', names(manager.used_ephemeral_images))
