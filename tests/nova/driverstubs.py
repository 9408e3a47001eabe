"""The only stand-ins for the rest of OpenStack when Nova 26's
LibvirtDriver runs on one host without a database or message queue.

Each replaces one call that would reach Nova's database (through the
conductor) or another service; each says why the driver makes that call in
the flows tested here and why an empty or fixed answer is what a real
deployment of these instances would return.  Nothing here stands in for
libvirt, qemu-img, the filesystem, Glance or cowherd: the driver reaches
the test's libvirtd, the qemu-img first in its PATH and the test's
glance-api for real."""

import contextlib

from nova import exception
from nova import objects
from nova.virt import virtapi


class VirtAPI(virtapi.VirtAPI):
    """The compute manager's side of the driver.  wait_for_instance_event
    waits for Neutron's network-vif-plugged events: these instances have
    no ports (network_info is empty), so there is nothing to wait for.
    exit_wait_early is only reached with events.  The provider status is
    Placement's, which is not here."""

    @contextlib.contextmanager
    def wait_for_instance_event(self, instance, event_names, deadline=300,
                                error_callback=None):
        yield

    def exit_wait_early(self, events):
        pass

    def update_compute_provider_status(self, context, rp_uuid, enabled):
        pass


def _empty(cls):
    return classmethod(lambda klass, *a, **kw: cls(objects=[]))


def install():
    """Replace the database calls the tested flows make (objects are
    registered first: objects.register_all())."""
    # Instances on this host, for init_host's and the image cache's
    # accounting: the tests hand the driver each instance themselves.
    objects.InstanceList.get_by_host = _empty(objects.InstanceList)
    objects.InstanceList.get_by_filters = _empty(objects.InstanceList)
    # Block device mappings: every disk here is an image-backed local
    # disk described by the flavor, none is a volume or a mapping row.
    objects.BlockDeviceMappingList.get_by_instance_uuid = _empty(objects.BlockDeviceMappingList)
    objects.BlockDeviceMappingList.bdms_by_instance_uuid = classmethod(
        lambda klass, ctx, uuids, **kw: {u: objects.BlockDeviceMappingList(objects=[])
                                         for u in uuids})
    # Virtual interfaces, for device tagging metadata: no ports.
    objects.VirtualInterfaceList.get_by_instance_uuid = _empty(objects.VirtualInterfaceList)
    # Instance.save writes the instance row (task and power state, system
    # metadata): the test's instance object is the only copy, so the
    # changes are kept in it and only marked saved.
    objects.Instance.save = lambda self, *a, **kw: self.obj_reset_changes(recursive=True)
    # The compute service record, asked for the service version before
    # some features are used: no service row exists for this host.
    def _no_service(cls, ctx, host, *a, **kw):
        raise exception.ComputeHostNotFound(host=host)
    objects.Service.get_by_compute_host = classmethod(_no_service)
