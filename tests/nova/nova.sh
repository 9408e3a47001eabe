# shellcheck shell=bash
# nova.sh: helpers for the tests that call Nova's own code (Debian's
# python3-nova, Nova 26) on a host that has cowherd installed.  Source it
# after ../integration/functions.sh (and glance.sh where a test needs
# Glance), then:
#
#   nova_requires
#   hookhost_up "$tmp/host"            # or lvhost_up, for a real libvirtd
#   nova_shim_on "$tmp"                # cowherd's qemu-img first in PATH
#   nova_py script.py ARGS...          # Nova's functions, as nova-compute runs them
#
# Nova runs inside the test's private mount namespace: /var/lib/nova is the
# test's own, and Nova is given its configuration by oslo.config overrides
# (novahost.py), so the host's /etc/nova is never read.

NOVA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NOVA_PATH=/usr/sbin:/usr/bin:/sbin:/bin       # nova-compute's, without the shim

# nova_requires: skip unless Debian's python3 can import Nova's libvirt
# driver modules (package python3-nova; scripts/setup.sh installs it).
nova_requires() {
    requires "$PYTHON"
    "$PYTHON" -c 'import nova.virt.libvirt.imagebackend' 2>/dev/null ||
        skip "python3-nova missing (install python3-nova)"
}

# nova_shim_on DIR: put cowherd's qemu-img shim first in the PATH Nova's
# code sees (as the cowherd-nova package does for nova-compute).
nova_shim_on() {
    requires_built COWHERD_SHIM
    mkdir -p "$1/shim-bin"
    ln -sf "$COWHERD_SHIM" "$1/shim-bin/qemu-img"
    NOVA_PATH=$1/shim-bin:/usr/sbin:/usr/bin:/sbin:/bin
}

# nova_shim_off: Nova's PATH without the shim again.
nova_shim_off() {
    NOVA_PATH=/usr/sbin:/usr/bin:/sbin:/bin
}

# qemu_img_recorder DIR LOG [PROGRAM]: the real qemu-img (or PROGRAM, e.g.
# cowherd's shim) behind a recorder that appends each call's argv to LOG
# (one line, arguments NUL-free and space-separated), then execs it with
# them unchanged.  Point the shim at it with [tools] real_qemu_img, or put
# DIR first in NOVA_PATH: both paths then leave the same trace.
qemu_img_recorder() {
    mkdir -p "$1"
    cat >"$1/qemu-img" <<REC
#!/bin/bash
printf '%s\n' "\$*" >>"$2"
exec ${3:-/usr/bin/qemu-img} "\$@"
REC
    chmod +x "$1/qemu-img"
}

# nova_py SCRIPT ARGS...: run SCRIPT with Debian's python3, novahost.py on
# its import path and NOVA_PATH as its PATH (Nova runs qemu-img by name,
# in its own process: whatever comes first in PATH is what it runs).
nova_py() {
    env -i PATH="$NOVA_PATH" LANG=C.UTF-8 PYTHONPATH="$NOVA_DIR" PYTHONDONTWRITEBYTECODE=1 \
        NOVA_INSTANCES="$NOVA_INSTANCES" "$PYTHON" "$@"
}
