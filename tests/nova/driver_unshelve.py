"""driver_unshelve.py GLANCE_URL NAME=PATH...: driver_serve.py's host,
plus shelve and unshelve as the compute manager runs them, "path NAME" to
choose the PATH (one of the NAME=PATH arguments) the driver's qemu-img
calls run with from then on, and "force_raw 0|1"."""
import os
import sys

import driverhost
from nova.compute import power_state, vm_states  # noqa: E402  (after driverhost)
from nova import objects  # noqa: E402

PATHS = dict(a.split('=', 1) for a in sys.argv[2:])


class Host(driverhost.Host):
    def v_path(self, name):
        os.environ['PATH'] = PATHS[name]

    def v_force_raw(self, on):
        """[DEFAULT] force_raw_images from then on."""
        driverhost.CONF.set_override('force_raw_images', on == '1')

    def v_shelve(self, name, snap_name):
        """ComputeManager.shelve_instance then shelve_offload_instance:
        the snapshot (driver.snapshot, uploaded to Glance), power off, and
        the domain destroyed with its disks.  Returns the snapshot's id."""
        inst = self._inst(name)
        snap_id = self.v_snapshot(name, snap_name)
        self.v_power_off(name)
        self.drv.destroy(self.ctx, inst, [], destroy_disks=True)
        inst.system_metadata['shelved_image_id'] = snap_id
        inst.vm_state = vm_states.SHELVED_OFFLOADED
        inst.power_state = power_state.NOSTATE
        return snap_id

    def v_unshelve(self, name, new_name=None, db_id=None):
        """ComputeManager._unshelve_instance: spawn from the shelved
        snapshot (image_ref is the snapshot's id while spawn runs), the
        instance SHELVED_OFFLOADED, so that the driver rebases the disk
        onto image_base_image_ref's cache entry.  With NEW_NAME and DB_ID,
        a second instance unshelved from the same snapshot."""
        inst = self._inst(name)
        if new_name:
            base = inst.system_metadata['image_base_image_ref']
            other = driverhost.instance(base, new_name, root_gb=inst.root_gb,
                                        image=self.images.get(self.ctx, base), db_id=int(db_id))
            other.system_metadata['shelved_image_id'] = inst.system_metadata['shelved_image_id']
            other.vm_state = vm_states.SHELVED_OFFLOADED
            self.instances[new_name] = inst = other
        snap_id = inst.system_metadata['shelved_image_id']
        image = self.images.get(self.ctx, snap_id)
        shelved_image_ref = inst.image_ref
        inst.image_ref = snap_id
        try:
            self.drv.spawn(self.ctx, inst, objects.ImageMeta.from_dict(image), [], None, {},
                           network_info=[])
        finally:
            inst.image_ref = shelved_image_ref
        inst.vm_state = vm_states.ACTIVE
        inst.power_state = power_state.RUNNING
        return '%s %s' % (inst.name, inst.uuid)


driverhost.serve(Host(sys.argv[1]).verbs())
