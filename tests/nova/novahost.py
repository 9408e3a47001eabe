"""The smallest real setting Nova 26's own functions run in: oslo.config
overrides (no nova.conf is read), Nova's objects registered, privsep run
in this process, and a request context.  Import it before anything else
of Nova's: it applies Nova's eventlet monkey patching first, as
nova-compute does."""

import os
import sys

import nova.monkey_patch  # noqa: F401  (first, as in nova-compute)

import nova.conf
from nova import context as nova_context
from nova import objects

CONF = nova.conf.CONF


def setup(instances_path=None, glance_url=None, force_raw_images=True,
          use_cow_images=True, subdirectory_name='_base', debug=False):
    """Configure Nova for this process; return a request context.

    instances_path defaults to $NOVA_INSTANCES (the test's own
    /var/lib/nova/instances); Nova's locks go to <instances_path>/locks,
    where nova-compute's Image backends take them."""
    from oslo_log import log as logging
    instances_path = instances_path or os.environ['NOVA_INSTANCES']
    # oslo.log's options (debug among them) exist only once registered,
    # before the command line is parsed; registered, they also give the
    # root logger a handler, which a caller's logging.basicConfig would
    # then not replace: only when asked for.
    if debug:
        logging.register_options(CONF)
    CONF([], project='nova', default_config_files=[], default_config_dirs=[])
    objects.register_all()
    CONF.set_override('instances_path', instances_path)
    CONF.set_override('force_raw_images', force_raw_images)
    CONF.set_override('use_cow_images', use_cow_images)
    CONF.set_override('subdirectory_name', subdirectory_name, group='image_cache')
    CONF.set_override('lock_path', os.path.join(instances_path, 'locks'),
                      group='oslo_concurrency')
    if glance_url:
        CONF.set_override('api_servers', [glance_url], group='glance')
    if debug:
        CONF.set_override('debug', True)
        logging.setup(CONF, 'nova')
    # Nova's privsep calls (utime, chown of cache entries) in this process:
    # the tests run as root, as nova-compute's privsep daemon does.
    import nova.privsep
    nova.privsep.sys_admin_pctxt.set_client_mode(False)
    # Glance without Keystone ([paste_deploy] flavor empty) takes any token.
    return nova_context.RequestContext(user_id='cowherd-test', project_id='cowherd-test',
                                       auth_token='cowherd-test', is_admin=True)


def base_dir():
    return os.path.join(CONF.instances_path, CONF.image_cache.subdirectory_name)


def fail(msg):
    print('FAIL: ' + msg, file=sys.stderr)
    sys.exit(1)
