"""driver_resize.py: Nova 26's LibvirtDriver on one host, for a resize or
cold migration between two hosts: the compute manager's calls into the
driver on the source (spawn, migrate_disk_and_power_off, confirm,
finish_revert_migration) and on the destination (finish_migration,
destroy on revert), with the instance as the manager has it at each step.
Nova is imported once (it takes seconds); then one request per line of
stdin, "TAG VERB ARGS...", is served at a time:

  setup GLANCE HOST MY_IP   construct the driver (driverhost.setup) as
                            nova-compute HOST whose [DEFAULT] my_ip is MY_IP
                            (Nova's migration.dest_host: the name the source
                            copies to)
  transport T               [libvirt] remote_filesystem_transport = T (ssh
                            or rsync), read again as a restarted
                            nova-compute would
  spawn UUID IMAGE FLAVOR   spawn an instance of IMAGE, not powered on;
                            FLAVOR is R,E,S: root R GB, ephemeral E GB,
                            swap S MB
  on UUID                   power_on
  migrate UUID DEST HOST FLAVOR INFO
                            resize_instance's driver call towards
                            nova-compute HOST, whose my_ip is DEST, new
                            flavor FLAVOR: migrate_disk_and_power_off, its
                            disk_info into the file INFO; then the instance
                            is HOST's, as resize_instance leaves it
  finish UUID IMAGE OLD NEW SRC INFO
                            finish_resize's driver call: the instance moved
                            from nova-compute SRC, flavor OLD before and NEW
                            now, disk_info from INFO: finish_migration,
                            powered on
  revert_dest UUID          revert_resize on the destination: destroy, disks
                            included (the instance path is not shared)
  revert_source UUID        finish_revert_resize on the source:
                            finish_revert_migration, powered on
  confirm UUID              confirm_resize on the source: confirm_migration

Served by driverhost.serve (driver.sh)."""
import logging
import sys

import driverhost  # first: Nova's monkey patching
from nova import objects  # noqa: E402
from nova.compute import task_states, vm_states  # noqa: E402

logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                    format='%(asctime)s %(levelname)s %(name)s %(message)s')

CONF = driverhost.CONF
S = {}          # driver, context
INSTANCES = {}  # uuid -> Instance
MIGRATIONS = {}  # uuid -> Migration


def setup(glance, host, my_ip):
    S['drv'], S['ctx'] = driverhost.setup(glance, host=host)
    CONF.set_override('my_ip', my_ip)


def transport(name):
    from nova.virt.libvirt.volume import remotefs
    CONF.set_override('remote_filesystem_transport', name, group='libvirt')
    S['drv']._remotefs = remotefs.RemoteFilesystem()


def _flavor(spec):
    r, e, s = (int(x) for x in spec.split(','))
    return driverhost.flavor(root_gb=r, ephemeral_gb=e, swap_mb=s)


def _instance(uuid, image, fl):
    return driverhost.instance(image, 'vm-' + uuid[:8], root_gb=fl.root_gb,
                               ephemeral_gb=fl.ephemeral_gb, swap_mb=fl.swap, uuid=uuid)


def _set_flavor(inst, fl):
    # ComputeManager._set_instance_info
    inst.flavor = fl
    inst.root_gb = fl.root_gb
    inst.ephemeral_gb = fl.ephemeral_gb
    inst.memory_mb = fl.memory_mb
    inst.vcpus = fl.vcpus


def spawn(uuid, image, flavor):
    inst = _instance(uuid, image, _flavor(flavor))
    S['drv'].spawn(S['ctx'], inst, inst.image_meta, [], None, {}, network_info=[],
                   power_on=False)
    inst.vm_state = vm_states.STOPPED
    INSTANCES[uuid] = inst


def on(uuid):
    S['drv'].power_on(S['ctx'], INSTANCES[uuid], [])
    INSTANCES[uuid].vm_state = vm_states.ACTIVE


def migrate(uuid, dest, host, flavor, info):
    inst = INSTANCES[uuid]
    new = _flavor(flavor)
    # _prep_resize and resize_instance, before the driver call.
    inst.old_flavor = inst.flavor
    inst.new_flavor = new
    inst.task_state = task_states.RESIZE_MIGRATING
    mig = objects.Migration(instance_uuid=uuid, source_compute=CONF.host, dest_compute=host,
                            dest_host=dest, migration_type='resize', status='migrating')
    disk_info = S['drv'].migrate_disk_and_power_off(S['ctx'], inst, mig.dest_host, new, [])
    with open(info, 'w') as f:
        f.write(disk_info)
    # resize_instance, after it: the instance is the destination's.
    inst.host = inst.node = host
    inst.task_state = task_states.RESIZE_MIGRATED
    MIGRATIONS[uuid] = mig


def finish(uuid, image, old, new, src, info):
    old, new = _flavor(old), _flavor(new)
    inst = _instance(uuid, image, old)
    with open(info) as f:
        disk_info = f.read()
    mig = objects.Migration(instance_uuid=uuid, source_compute=src, dest_compute=CONF.host,
                            dest_host=CONF.my_ip, migration_type='resize', status='migrated')
    # _finish_resize: the new flavor is the instance's, the old one kept.
    inst.old_flavor = old
    inst.new_flavor = new
    _set_flavor(inst, new)
    inst.vm_state = vm_states.ACTIVE
    inst.task_state = task_states.RESIZE_FINISH
    S['drv'].finish_migration(S['ctx'], mig, inst, disk_info, [], inst.image_meta, True, {},
                              None, power_on=True)
    inst.vm_state = vm_states.RESIZED
    inst.task_state = None
    INSTANCES[uuid] = inst


def revert_dest(uuid):
    inst = INSTANCES.pop(uuid)
    inst.task_state = task_states.RESIZE_REVERTING
    S['drv'].destroy(S['ctx'], inst, [], None, destroy_disks=True)


def revert_source(uuid):
    inst = INSTANCES[uuid]
    # finish_revert_resize: the old flavor and this host again.
    _set_flavor(inst, inst.old_flavor)
    inst.host = inst.node = CONF.host
    inst.task_state = task_states.RESIZE_REVERTING
    S['drv'].finish_revert_migration(S['ctx'], inst, [], MIGRATIONS.pop(uuid), None,
                                     power_on=True)
    inst.vm_state = vm_states.ACTIVE
    inst.task_state = None


def confirm(uuid):
    inst = INSTANCES.pop(uuid)
    S['drv'].confirm_migration(S['ctx'], MIGRATIONS.pop(uuid), inst, [])


VERBS = {'setup': setup, 'transport': transport, 'spawn': spawn, 'on': on,
         'migrate': migrate, 'finish': finish,
         'revert_dest': revert_dest, 'revert_source': revert_source, 'confirm': confirm}

driverhost.serve(VERBS)
