"""rebase_with_qemu_img.py DISK NEW_BASE [DISK NEW_BASE ...]: Nova 26's
own LibvirtDriver._rebase_with_qemu_img(DISK, NEW_BASE) for each pair, in
order (NEW_BASE "-" is None: flatten), as the driver runs it after a
snapshot or a block rebase: `qemu-img info` of the new base, then
`qemu-img rebase -b NEW_BASE -F <its format> DISK`, whichever qemu-img
comes first in PATH.  Prints "done DISK" or "error DISK: TYPE: message"
per pair; exits 1 if any failed."""
import sys

import novahost

novahost.setup()

from nova.virt.libvirt import driver  # noqa: E402  (after novahost's setup)

args = sys.argv[1:]
if not args or len(args) % 2:
    novahost.fail('usage: rebase_with_qemu_img.py DISK NEW_BASE [DISK NEW_BASE ...]')
rc = 0
for disk, new_base in zip(args[::2], args[1::2]):
    try:
        driver.LibvirtDriver._rebase_with_qemu_img(disk, None if new_base == '-' else new_base)
    except Exception as e:
        print('error %s: %s: %s' % (disk, type(e).__name__, ' '.join(str(e).split())), flush=True)
        rc = 1
        continue
    print('done %s' % disk, flush=True)
sys.exit(rc)
