"""snapshot_nova.py NAME=PATH...: Nova 26's own functions on the paths a
snapshot takes, from the instance disk to the cache entry another host
boots from.  Nova is imported once (it takes seconds); then one request
per line of stdin, "TAG PATH VERB ARGS...", is served at a time:

  glance URL              [glance] api_servers = URL (before any fetch)
  delta DISK DELTA        what LibvirtDriver._live_snapshot does before its
                          block copy: get_disk_size and
                          get_disk_backing_file(basename=False) of DISK,
                          create_image(DELTA, 'qcow2', size, backing_file=...)
  disk DISK BASE SIZE     Qcow2.create_image's instance disk:
                          create_image(DISK, 'qcow2', SIZE, backing_file=BASE)
  resized BASE LEGACY GB  Qcow2.create_image's legacy <sha1>_<GB>: copy_image,
                          then disk.api.extend of the copy as the raw image
                          it is (Nova 26.2.2 says qcow2 there, and fails)
  extract SRC OUT C       extract_snapshot(SRC, 'qcow2', OUT, 'qcow2'), as a
                          snapshot (live or cold) makes the image it
                          uploads, with [libvirt] snapshot_compression = C
  fetch ID TARGET F       what spawn does for a root disk over the cache
                          entry TARGET: Qcow2(path=DISK).cache() with
                          fetch_image, i.e. fetch_to_raw(ctx, ID, TARGET)
                          under Nova's lock nova-<basename of TARGET>, then
                          the instance disk DISK (<instances_path>/disk-
                          <basename of TARGET>) created over the entry;
                          force_raw_images = F

PATH names the PATH Nova's commands run with, one of the NAME=PATH
arguments (the shim first in it, or not).  Served by serve.py, for
driver.sh: the request "TAG PATH VERB ARGS" is served as the verb PATH."""
import serve  # first: its pid, before Nova's slow import
import os  # noqa: E402
import sys  # noqa: E402

import novahost  # noqa: E402

ctx = novahost.setup()
PATHS = dict(a.split('=', 1) for a in sys.argv[1:])

from nova.virt.disk import api as disk_api  # noqa: E402
from nova.virt.image import model as imgmodel  # noqa: E402
from nova.virt.libvirt import imagebackend  # noqa: E402
from nova.virt.libvirt import utils as libvirt_utils  # noqa: E402

CONF = novahost.CONF
GIB = 1 << 30


def glance(url):
    CONF.set_override('api_servers', [url], group='glance')


def delta(disk, out):
    size = libvirt_utils.get_disk_size(disk, format='qcow2')
    back = libvirt_utils.get_disk_backing_file(disk, basename=False, format='qcow2')
    libvirt_utils.create_image(out, 'qcow2', size, backing_file=back)


def disk(path, base, size):
    libvirt_utils.create_image(path, 'qcow2', int(size), backing_file=base)


def resized(base, legacy, gb):
    libvirt_utils.copy_image(base, legacy)
    disk_api.extend(imgmodel.LocalFileImage(legacy, imgmodel.FORMAT_RAW), int(gb) * GIB)


def extract(src, out, compress):
    CONF.set_override('snapshot_compression', compress == '1', group='libvirt')
    libvirt_utils.extract_snapshot(src, 'qcow2', out, 'qcow2')


def fetch(image_id, target, force_raw):
    CONF.set_override('force_raw_images', force_raw == '1')
    name = os.path.basename(target)
    if os.path.dirname(target) != os.path.join(CONF.instances_path, '_base'):
        raise ValueError('%s is not in the image cache' % target)
    disk = os.path.join(CONF.instances_path, 'disk-' + name)
    if os.path.exists(disk):
        os.unlink(disk)
    imagebackend.Qcow2(path=disk).cache(
        fetch_func=libvirt_utils.fetch_image, context=ctx, filename=name,
        image_id=image_id, size=None)


VERBS = {'glance': glance, 'delta': delta, 'disk': disk, 'resized': resized, 'extract': extract,
         'fetch': fetch}



def with_path(name):
    def run(verb, *args):
        os.environ['PATH'] = PATHS[name]
        return VERBS[verb](*args)
    return run


serve.serve({name: with_path(name) for name in PATHS})
