#!/usr/bin/env bash
# The cowherd .deb from install to purge, in a throwaway root (pkg.sh) with
# a libvirtd running there, started by hand as on a host without systemd:
#
#  - apt-get install ./cowherd_*.deb: the hook link is in qemu.d, libvirtd
#    (same pid: reloaded, not restarted) has picked it up, a domain whose
#    sized, ephemeral and swap bases are missing starts (the demo's check),
#    cowherd --version is the package's upstream version;
#  - an edited /etc/cowherd/cowherd.conf survives the upgrade to a rebuilt
#    package with a higher revision;
#  - dpkg -r: no link, libvirtd reloaded again and no longer runs the hook
#    (a domain with a missing base does not start, nothing is built or
#    logged), the running domain untouched;
#  - dpkg -P: the system's file listing is the one from before the install;
#    what the hook built in _base is still there.
set -euo pipefail
source "$(dirname "$0")/pkg.sh"

if [ -z "${IN_ROOT:-}" ]; then
    private_ns "$@"
    requires apt-get dpkg chroot
    mktempdir tmp
    build_packages "$tmp/v1" --deb
    build_packages "$tmp/v2" --deb --revision 2
    root_up "$tmp"
    root_run "$0" "$tmp"
    exit 0
fi

# ---- in the throwaway root -----------------------------------------------------
tmp=$1
COWHERD_LOG=/var/log/cowherd.log     # set below, as an operator would
deb1=$(echo "$tmp"/v1/cowherd_"$PKG_VERSION"-1_*.deb)
deb2=$(echo "$tmp"/v2/cowherd_"$PKG_VERSION"-2_*.deb)
[ -f "$deb1" ] && [ -f "$deb2" ] || die "packages missing: $deb1 $deb2"
[ -z "$(pkg_version cowherd)" ] || die "cowherd is already installed on this host"

# Other tests leave an empty /etc/cowherd on this host (a mount point);
# the root stands for a host that never had cowherd.
rmdir /etc/cowherd 2>/dev/null || true
root_libvirt_up
daemon=$(libvirtd_pid)
system_snapshot before

# A Nova-like domain whose root disk backs onto a missing <sha1>_1, and
# whose ephemeral and swap bases are missing too; only the original is in
# _base.
image_fixture 64
make_instance vm1 "$(new_uuid)" "$image" 64 root eph swap >"$tmp/vm1.xml"
virsh -q define "$tmp/vm1.xml" >/dev/null

# ---- install ----------------------------------------------------------------------
reloads=$(daemon_hook_count reload)
(cd "$(dirname "$deb1")" && apt_install "./$(basename "$deb1")")
[ "$(pkg_version cowherd)" = "$PKG_VERSION-1" ] || die "cowherd $PKG_VERSION-1 not installed"
[ "$(readlink /etc/libvirt/hooks/qemu.d/cowherd)" = /usr/libexec/cowherd/cowherd-hook ] ||
    die "no hook link in /etc/libvirt/hooks/qemu.d"
[ -x /usr/libexec/cowherd/cowherd-hook ] || die "the hook is not installed"
poll_until 30 "libvirtd reloads after the install" reloaded_since "$reloads"
[ "$(libvirtd_pid)" = "$daemon" ] && kill -0 "$daemon" || die "libvirtd was restarted"
note "installed; libvirtd $daemon reloaded (not restarted)"

version=$(cowherd --version)
[ "$version" = "cowherd $PKG_VERSION" ] ||
    die "cowherd --version says '$version', the package is $(pkg_version cowherd)"

# The operator's edit: a log file (purge must take it away again) and a
# shorter lock timeout.
conf=/etc/cowherd/cowherd.conf
sed -i -e 's|^#syslog = true$|syslog = false|' -e "s|^#file =\$|file = $COWHERD_LOG|" \
    -e 's|^#timeout = 600$|timeout = 60|' "$conf"
grep -qxF "file = $COWHERD_LOG" "$conf" || die "could not edit $conf"
cp "$conf" "$tmp/edited.conf"

# The demo's check: the domain starts, its bases rebuilt by the hook.
virsh -q start vm1 || { show_log; die "vm1 did not start with cowherd installed"; }
assert_running vm1
assert_resized_base "$orig" "$resized" 1
assert_logged vm1 vda copy-extend "$resized"
assert_base_files "$sha" "${sha}_1" ephemeral_1_0706d66 swap_64
note "vm1 started; the hook built ${sha:0:8}..._1, ephemeral_1_0706d66, swap_64"

# ---- upgrade ----------------------------------------------------------------------
reloads=$(daemon_hook_count reload)
(cd "$(dirname "$deb2")" && apt_install "./$(basename "$deb2")")
[ "$(pkg_version cowherd)" = "$PKG_VERSION-2" ] || die "not upgraded to $PKG_VERSION-2"
cmp "$conf" "$tmp/edited.conf" || die "the upgrade changed the operator's $conf"
leftovers=$(find /etc/cowherd -name '*.dpkg-*')
[ -z "$leftovers" ] || die "the upgrade left $leftovers"
[ "$(readlink /etc/libvirt/hooks/qemu.d/cowherd)" = /usr/libexec/cowherd/cowherd-hook ] ||
    die "the upgrade lost the hook link"
poll_until 30 "libvirtd reloads after the upgrade" reloaded_since "$reloads"
[ "$(libvirtd_pid)" = "$daemon" ] || die "libvirtd was restarted by the upgrade"
assert_running vm1
note "upgraded to $PKG_VERSION-2; $conf kept as edited"

# ---- remove -----------------------------------------------------------------------
reloads=$(daemon_hook_count reload)
dpkg_run -r cowherd
[ ! -e /etc/libvirt/hooks/qemu.d/cowherd ] && [ ! -L /etc/libvirt/hooks/qemu.d/cowherd ] ||
    die "dpkg -r left the hook link"
[ ! -e /usr/libexec/cowherd ] || die "dpkg -r left /usr/libexec/cowherd"
cmp "$conf" "$tmp/edited.conf" || die "dpkg -r changed $conf (a conffile: kept until purge)"
poll_until 30 "libvirtd reloads after the removal" reloaded_since "$reloads"
[ "$(libvirtd_pid)" = "$daemon" ] || die "libvirtd was restarted by the removal"
assert_running vm1

# The daemon no longer runs the hook: a domain whose sized base is missing
# does not start, and nothing is built or logged.
cp "$COWHERD_LOG" "$tmp/log.before"
sha_vm1=$sha orig_vm1=$orig
image_fixture 64
make_instance vm2 "$(new_uuid)" "$image" 64 root >"$tmp/vm2.xml"
virsh -q define "$tmp/vm2.xml" >/dev/null
if virsh -q start vm2 2>"$tmp/vm2.err"; then
    die "vm2 started without cowherd: was the hook still run?"
fi
note "vm2 refused, as without cowherd: $(tr '\n' ' ' <"$tmp/vm2.err")"
[ ! -e "$resized" ] || die "$resized was built after dpkg -r"
cmp "$COWHERD_LOG" "$tmp/log.before" || die "the hook logged after dpkg -r"

# ---- purge ------------------------------------------------------------------------
virsh -q undefine vm2 >/dev/null
virsh -q destroy vm1 >/dev/null
virsh -q undefine vm1 >/dev/null
dpkg_run -P cowherd
[ -z "$(pkg_version cowherd)" ] || die "cowherd still installed after dpkg -P"
system_snapshot after
system_changes before after >"$tmp/changes"
if [ -s "$tmp/changes" ]; then
    cat "$tmp/changes" >&2
    die "the system's files after dpkg -P differ from before the install (above)"
fi
host=$(_listing_diff "$tmp/before.host" "$tmp/after.host" | wc -l)
[ "$host" = 0 ] || note "$host paths changed on the host meanwhile; not the root's doing"
# Nova's cache is the operator's: nothing the hook built is taken away.
sha=$sha_vm1 orig=$orig_vm1
[ -f "$orig" ] && [ -f "${orig}_1" ] && [ -f "$NOVA_BASE/ephemeral_1_0706d66" ] &&
    [ -f "$NOVA_BASE/swap_64" ] || die "purging cowherd removed entries from $NOVA_BASE"
[ "$(libvirtd_pid)" = "$daemon" ] && kill -0 "$daemon" || die "libvirtd did not survive"
note "purged: $(wc -l <"$tmp/before.root") paths as before the install; _base kept"
