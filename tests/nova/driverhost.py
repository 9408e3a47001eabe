"""Nova 26's whole LibvirtDriver on this host, as nova-compute runs it,
with no other OpenStack service than a real glance-api: the test's
libvirtd (qemu:///system in the test's namespace), the qemu-img first in
PATH, Nova's own image cache and locks under NOVA_INSTANCES.  The only
stand-ins are driverstubs.py's.

    import driverhost
    drv, ctx = driverhost.setup(glance_url)
    inst = driverhost.instance(image_id, name='vm1', root_gb=1)
    drv.spawn(ctx, inst, inst.image_meta, [], None, {}, network_info=[])
"""

import os

import serve as serve_module  # first: its pid, before Nova's slow import (driver.sh)
import novahost  # noqa: E402  (Nova's eventlet monkey patching first, as nova-compute)

import nova.conf  # noqa: E402
from nova import context as nova_context  # noqa: E402
from nova import objects  # noqa: E402
from nova import utils as nova_utils  # noqa: E402
from nova.compute import power_state, vm_states  # noqa: E402
from nova.network import model as network_model  # noqa: E402
from oslo_utils import uuidutils  # noqa: E402

CONF = nova.conf.CONF
GIB = 1 << 30


def setup(glance_url, snapshots_directory=None, force_raw_images=True, host='cowherd-test'):
    """Configure and construct the driver; return (driver, context).  The
    context carries a token, as a request from Nova's API does."""
    ctx = novahost.setup(glance_url=glance_url, force_raw_images=force_raw_images)
    import driverstubs
    driverstubs.install()
    # What nova-compute's service start registers before init_host.
    import nova.conf.devices
    import nova.conf.neutron
    nova.conf.neutron.register_dynamic_opts(CONF)
    nova.conf.devices.register_dynamic_opts(CONF)
    CONF.set_override('host', host)
    CONF.set_override('virt_type', 'qemu', group='libvirt')
    CONF.set_override('connection_uri', 'qemu:///system', group='libvirt')
    CONF.set_override('images_type', 'qcow2', group='libvirt')
    CONF.set_override('snapshots_directory',
                      snapshots_directory or os.path.join(CONF.instances_path, 'snapshots'),
                      group='libvirt')
    # No console servers: a guest's graphics would need a listen address.
    CONF.set_override('enabled', False, group='vnc')
    CONF.set_override('enabled', False, group='spice')
    # Instances get no config drive and no injected files.
    CONF.set_override('force_config_drive', False)
    from nova.virt.libvirt import driver
    import driverstubs as stubs
    drv = driver.LibvirtDriver(stubs.VirtAPI(), read_only=False)
    drv.init_host(host)
    return drv, ctx


def no_token(ctx):
    """A context as nova-compute's own periodic and start-up work has it
    (nova.context.get_admin_context(): no auth token), e.g. for
    resume_state_on_host_boot after a host reboot."""
    return nova_context.get_admin_context()


def flavor(root_gb=1, ephemeral_gb=0, swap_mb=0, memory_mb=64, name='m1.cowherd'):
    return objects.Flavor(id=1, flavorid='1', name=name, memory_mb=memory_mb, vcpus=1,
                          root_gb=root_gb, ephemeral_gb=ephemeral_gb, swap=swap_mb,
                          rxtx_factor=1.0, vcpu_weight=None, disabled=False,
                          is_public=True, extra_specs={}, description=None)


def image_meta(image_id, disk_format='raw', size=0, name=None):
    """An image record as Glance gives it, without properties (only the
    fields spawn reads)."""
    return {'id': image_id, 'name': name or image_id, 'disk_format': disk_format,
            'container_format': 'bare', 'size': size, 'min_disk': 0, 'min_ram': 0,
            'status': 'active', 'properties': {}}


def instance(image_id, name, root_gb=1, ephemeral_gb=0, swap_mb=0, uuid=None,
             image=None, db_id=1):
    """An Instance as the compute manager has it when it calls spawn:
    booted from IMAGE_ID, whose record in Glance is IMAGE (default: one
    without properties), its system metadata made from it as Nova's API
    makes it (ComputeAPI._populate_instance_for_create: every property
    becomes image_<key>), in vm_state BUILDING.  DB_ID gives the libvirt
    domain name, instance-<DB_ID in hex>."""
    fl = flavor(root_gb=root_gb, ephemeral_gb=ephemeral_gb, swap_mb=swap_mb)
    meta = image or image_meta(image_id)
    sysmeta = nova_utils.get_system_metadata_from_image(meta, fl)
    sysmeta['image_base_image_ref'] = image_id
    inst = objects.Instance(
        id=db_id, uuid=uuid or uuidutils.generate_uuid(), display_name=name, hostname=name,
        host=CONF.host, node=CONF.host, project_id='cowherd-test', user_id='cowherd-test',
        image_ref=image_id, flavor=fl, old_flavor=None, new_flavor=None,
        memory_mb=fl.memory_mb, vcpus=fl.vcpus, root_gb=root_gb, ephemeral_gb=ephemeral_gb,
        root_device_name=None, default_ephemeral_device=None, default_swap_device=None,
        system_metadata=sysmeta, metadata={}, config_drive='', key_data=None,
        user_data=None, vm_state=vm_states.BUILDING, task_state=None,
        power_state=power_state.NOSTATE, numa_topology=None, pci_requests=None,
        pci_devices=objects.PciDeviceList(objects=[]), ephemeral_key_uuid=None,
        trusted_certs=None, resources=None, vcpu_model=None, migration_context=None,
        keypairs=objects.KeyPairList(objects=[]), device_metadata=None,
        tags=objects.TagList(objects=[]),
        services=objects.ServiceList(objects=[]), launched_at=None, os_type=None,
        architecture=None, availability_zone=None, locked=False, cell_name=None,
        info_cache=objects.InstanceInfoCache(network_info=network_model.NetworkInfo([])),
        security_groups=objects.SecurityGroupList(objects=[]),
        deleted=False, access_ip_v4=None, access_ip_v6=None, kernel_id='', ramdisk_id='')
    # Every other field as a new row has it (NULL): nothing is lazy-loaded
    # from a database that is not there.
    for field_name, field in objects.Instance.fields.items():
        if not inst.obj_attr_is_set(field_name) and field.nullable:
            setattr(inst, field_name, None)
    inst.obj_reset_changes(recursive=True)
    return inst


def serve(verbs):
    """serve.py's loop (driver.sh's requests) with VERBS."""
    serve_module.serve(verbs)


class Host:
    """One compute host's driver and the instances it was handed, by name,
    with the requests the flows make of nova-compute (each the driver
    method the compute manager calls for that API request, with the
    arguments it passes).  Sizes: root and ephemeral in GB, swap in MB."""

    def __init__(self, glance_url, **kw):
        self.drv, self.ctx = setup(glance_url, **kw)
        self.instances = {}
        from nova.image import glance
        self.images = glance.API()

    def verbs(self):
        return {name[2:]: getattr(self, name) for name in dir(self) if name.startswith('v_')}

    def _inst(self, name):
        return self.instances[name]

    def v_spawn(self, name, image_id, db_id, root_gb='1', ephemeral_gb='0', swap_mb='0'):
        """ComputeManager._build_and_run_instance: spawn, power on; the
        instance made from the image's record in Glance."""
        inst = instance(image_id, name, root_gb=int(root_gb), ephemeral_gb=int(ephemeral_gb),
                        swap_mb=int(swap_mb), image=self.images.get(self.ctx, image_id),
                        db_id=int(db_id))
        self.instances[name] = inst
        self.drv.spawn(self.ctx, inst, inst.image_meta, [], None, {}, network_info=[])
        inst.vm_state = vm_states.ACTIVE
        inst.power_state = power_state.RUNNING
        return '%s %s' % (inst.name, inst.uuid)

    def v_snapshot(self, name, snap_name):
        """ComputeAPI.snapshot creates the image record in Glance (queued)
        with compute_utils.create_image, which gives it the instance's
        image properties (all but [DEFAULT]
        non_inheritable_image_properties); then
        ComputeManager.snapshot_instance calls driver.snapshot, which
        uploads the image's data.  Returns the new image's id."""
        from nova.compute import utils as compute_utils
        inst = self._inst(name)
        meta = compute_utils.create_image(self.ctx, inst, snap_name, 'snapshot', self.images)
        self.drv.snapshot(self.ctx, inst, meta['id'], lambda *a, **kw: None)
        return meta['id']

    def v_power_off(self, name):
        """ComputeManager.stop_instance (no clean shutdown: the guest has no OS)."""
        inst = self._inst(name)
        self.drv.power_off(inst, timeout=0, retry_interval=0)
        inst.vm_state = vm_states.STOPPED
        inst.power_state = power_state.SHUTDOWN

    def v_power_on(self, name):
        """ComputeManager.start_instance, a request with a token."""
        inst = self._inst(name)
        self.drv.power_on(self.ctx, inst, network_info=[], block_device_info=None)
        inst.vm_state = vm_states.ACTIVE
        inst.power_state = power_state.RUNNING

    def v_reboot_hard(self, name):
        """ComputeManager.reboot_instance(HARD), a request with a token."""
        inst = self._inst(name)
        self.drv.reboot(self.ctx, inst, [], 'HARD', block_device_info=None)
        inst.vm_state = vm_states.ACTIVE
        inst.power_state = power_state.RUNNING

    def v_resume_on_boot(self, name):
        """ComputeManager._init_instance after a host reboot, for an
        instance that should be running: resume_state_on_host_boot, with
        the admin context nova-compute starts with (no token)."""
        inst = self._inst(name)
        self.drv.resume_state_on_host_boot(no_token(self.ctx), inst, [],
                                           block_device_info=None)
        inst.power_state = power_state.RUNNING

    def v_destroy(self, name, destroy_disks='1'):
        """ComputeManager's delete (disks too) or, with 0, what shelve
        offload and the others keep: the domain goes, the disks stay."""
        inst = self.instances.pop(name) if destroy_disks == '1' else self._inst(name)
        self.drv.destroy(self.ctx, inst, [], destroy_disks=destroy_disks == '1')

    def v_state(self, name):
        """The domain's power state, as the driver reads it."""
        return power_state.STATE_MAP[self.drv.get_info(self._inst(name)).state]
