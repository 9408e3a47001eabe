"""driver_serve.py GLANCE_URL [KEY=VALUE...]: one compute host's
LibvirtDriver serving requests (driverhost.Host's verbs: spawn, snapshot,
power_off, power_on, reboot_hard, resume_on_boot, destroy, state, ...),
for driver.sh.  KEY=VALUE: driverhost.setup's keywords
(force_raw_images=0|1, host=NAME)."""
import sys

import driverhost

kw = dict(a.split('=', 1) for a in sys.argv[2:])
if 'force_raw_images' in kw:
    kw['force_raw_images'] = kw['force_raw_images'] == '1'
driverhost.serve(driverhost.Host(sys.argv[1], **kw).verbs())
