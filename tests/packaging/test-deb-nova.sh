#!/usr/bin/env bash
# cowherd-nova, in a throwaway root (pkg.sh) that passes for a systemd host
# (/run/systemd/system, and a systemctl that records its calls and answers
# that libvirtd.service runs and virtqemud.service does not):
#
#  - installing cowherd and cowherd-nova reloads libvirtd.service (through
#    deb-systemd-invoke), leaves virtqemud.service alone, reloads systemd,
#    and never starts, stops or restarts anything;
#  - the drop-in for nova-compute.service exists and systemd-analyze
#    verify accepts the unit with it (Debian's nova-compute.service stands
#    in for the nova-compute package, which is not installed here);
#  - a shell with the drop-in's environment resolves qemu-img to the shim,
#    and qemu-img through it is the real one; a shell without it, and
#    root's login shell, get /usr/bin/qemu-img;
#  - the drop-in's ExecStart keeps that PATH for nova-compute, where the
#    unit's own ExecStart (Debian's /etc/init.d/nova-compute, which resets
#    PATH) would lose it;
#  - removing cowherd-nova takes the drop-in and the shim's link away and
#    reloads systemd; removing cowherd reloads libvirtd.service again.
set -euo pipefail
source "$(dirname "$0")/pkg.sh"

if [ -z "${IN_ROOT:-}" ]; then
    private_ns "$@"
    requires apt-get dpkg chroot systemd-analyze
    mktempdir tmp
    build_packages "$tmp/dist" --deb
    root_up "$tmp"
    root_run "$0" "$tmp"
    exit 0
fi

# ---- in the throwaway root -----------------------------------------------------
tmp=$1
calls=/run/systemctl.calls
dropin=/lib/systemd/system/nova-compute.service.d/cowherd-qemu-img.conf
shim_link=/usr/libexec/cowherd/shim/qemu-img
[ -z "$(pkg_version cowherd)$(pkg_version cowherd-nova)" ] ||
    die "cowherd is already installed on this host"

# A systemd host, as far as the maintainer scripts can tell.  apt runs
# dpkg with PATH=/usr/sbin:/usr/bin:/sbin:/bin (DPkg::Path), so the
# stand-in takes systemctl's own place (this root is thrown away).
mkdir -p /run/systemd/system
cat >/usr/bin/systemctl <<EOF
#!/bin/sh
# Stand-in for systemctl: records its calls.
echo "\$*" >>$calls
case "\$*" in
*"is-active libvirtd.service") exit 0 ;;
*is-active*) exit 3 ;;
esac
exit 0
EOF
chmod 755 /usr/bin/systemctl

# nova-compute as Debian 12's nova-compute package (26.2.2) has it: its
# unit, verbatim, and the parts of its /etc/init.d/nova-compute
# (openstack-pkg-tools) that matter here: the PATH it sets, and the
# command line it execs for systemd-start and prints for show-args.
# /usr/bin/nova-compute records the qemu-img it would run.
cat >/lib/systemd/system/nova-compute.service <<'EOF'
[Unit]
Description=OpenStack Nova Compute (nova-compute)
After=libvirtd.service postgresql.service mysql.service keystone.service rabbitmq-server.service ntp.service network-online.target local-fs.target remote-fs.target 
Wants=network-online.target 

Documentation=man:nova-compute(1)

[Service]
User=nova
Group=nova
Type=notify
WorkingDirectory=~
RuntimeDirectory=nova lock/nova
CacheDirectory=nova
ExecStart=/etc/init.d/nova-compute systemd-start
Restart=on-failure
LimitNOFILE=65535
TimeoutStopSec=15
NotifyAccess=all

[Install]
WantedBy=multi-user.target
EOF
cat >/etc/init.d/nova-compute <<'EOF'
#!/bin/sh
PATH=/sbin:/usr/sbin:/bin:/usr/bin
DAEMON=/usr/bin/nova-compute
DAEMON_ARGS="--config-file=/etc/nova/nova.conf --log-file=/var/log/nova/nova-compute.log"
case "$1" in
systemd-start) exec $DAEMON $DAEMON_ARGS ;;
show-args) echo $DAEMON $DAEMON_ARGS ;;
esac
EOF
cat >/usr/bin/nova-compute <<EOF
#!/bin/sh
echo "\$* -> \$(command -v qemu-img)" >$tmp/nova-compute.ran
EOF
chmod 755 /etc/init.d/nova-compute /usr/bin/nova-compute

# ---- install ----------------------------------------------------------------------
debs=$(cd "$tmp/dist" && echo ./cowherd_"$PKG_VERSION"-1_*.deb ./cowherd-nova_"$PKG_VERSION"-1_all.deb)
# shellcheck disable=SC2086
(cd "$tmp/dist" && apt_install $debs)
[ -n "$(pkg_version cowherd-nova)" ] || die "cowherd-nova not installed"
note "systemctl calls: $(tr "\n" ";" <"$calls")"
grep -qxF "reload libvirtd.service" "$calls" || die "libvirtd.service was not reloaded"
grep -qxF -- "--system daemon-reload" "$calls" || die "systemd was not reloaded"
if grep -E '(^| )(start|stop|restart|try-restart|reload-or-restart|try-reload-or-restart|kill)( |$)|virtqemud.service$' "$calls" |
    grep -v 'is-active'; then
    die "a maintainer script acted on a unit it must not touch (above)"
fi

# ---- the drop-in -----------------------------------------------------------------
[ -f "$dropin" ] || die "no drop-in $dropin"
dpkg -L cowherd-nova >"$tmp/nova.files"
grep -qxF "$dropin" "$tmp/nova.files" || die "$dropin is not cowherd-nova's"
[ "$(readlink "$shim_link")" = ../qemu-img ] || die "$shim_link is not a link to the shim"
[ "$(ls /usr/libexec/cowherd/shim)" = qemu-img ] || die "the shim's directory holds more than qemu-img"
# --man=no: nova-compute's man page comes with the package it stands in for.
if ! systemd-analyze verify --man=no nova-compute.service >"$tmp/verify.out" 2>&1; then
    cat "$tmp/verify.out" >&2
    die "systemd-analyze verify rejects nova-compute.service with the drop-in"
fi
if grep -F cowherd "$tmp/verify.out"; then
    die "systemd-analyze verify complains about the drop-in (above)"
fi

# Its environment, as systemd reads it: one Environment=PATH=..., an
# emptied ExecStart and the helper.
path=$(sed -n 's/^Environment=PATH=//p' "$dropin")
[ -n "$path" ] || die "the drop-in sets no PATH"
[ "${path%%:*}" = /usr/libexec/cowherd/shim ] || die "the shim is not first in the drop-in's PATH: $path"
mapfile -t execs < <(sed -n 's/^ExecStart=//p' "$dropin")
[ "${#execs[@]}" = 2 ] && [ -z "${execs[0]}" ] || die "the drop-in must reset ExecStart, then set it once"
helper=${execs[1]}

found=$(env -i PATH="$path" sh -c 'command -v qemu-img')
[ "$found" = "$shim_link" ] || die "with the drop-in's PATH qemu-img is $found, not the shim"
[ "$(readlink -f "$found")" = /usr/libexec/cowherd/qemu-img ] || die "$found is not the shim"
env -i PATH="$path" qemu-img --version >"$tmp/shim.version"
/usr/bin/qemu-img --version >"$tmp/real.version"
cmp "$tmp/shim.version" "$tmp/real.version" || die "qemu-img --version differs through the shim"
found=$(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin sh -c 'command -v qemu-img')
[ "$found" = /usr/bin/qemu-img ] || die "without the drop-in qemu-img is $found"
found=$(env -i HOME=/root bash -lc 'command -v qemu-img')
[ "$found" = /usr/bin/qemu-img ] || die "root's login shell finds qemu-img at $found"
note "drop-in's PATH: qemu-img = $shim_link -> the shim; elsewhere /usr/bin/qemu-img"

# nova-compute started as the unit is: the unit's own ExecStart loses the
# PATH (the init script resets it), the drop-in's keeps it.
env -i PATH="$path" /etc/init.d/nova-compute systemd-start
ran=$(cat "$tmp/nova-compute.ran")
[ "$(readlink -f "${ran##* -> }")" = /usr/bin/qemu-img ] ||
    die "the stand-in init script did not reset PATH: $ran"
env -i PATH="$path" "$helper"
ran=$(cat "$tmp/nova-compute.ran")
[ "$ran" = "--config-file=/etc/nova/nova.conf --log-file=/var/log/nova/nova-compute.log -> $shim_link" ] ||
    die "nova-compute through the drop-in's ExecStart: $ran"
note "nova-compute through $helper: $ran"

# ---- removal ----------------------------------------------------------------------
: >"$calls"
dpkg_run -r cowherd-nova
[ ! -e "$dropin" ] || die "dpkg -r cowherd-nova left $dropin"
[ ! -e "$shim_link" ] && [ ! -L "$shim_link" ] || die "dpkg -r cowherd-nova left $shim_link"
found=$(env -i PATH="$path" sh -c 'command -v qemu-img')
[ "$found" = /usr/bin/qemu-img ] || die "after removal, the old PATH still finds qemu-img at $found"
grep -qxF -- "--system daemon-reload" "$calls" || die "removing cowherd-nova did not reload systemd"
[ -x /usr/libexec/cowherd/cowherd-hook ] || die "removing cowherd-nova removed cowherd's files"

: >"$calls"
dpkg_run -P cowherd
grep -qxF "reload libvirtd.service" "$calls" || die "removing cowherd did not reload libvirtd.service"
note "removed: shim off for nova-compute, systemd and libvirtd reloaded"
