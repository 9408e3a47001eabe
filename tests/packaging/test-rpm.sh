#!/usr/bin/env bash
# The .rpms against the .debs of the same tree (one scripts/package.sh run):
#
#  - rpm -qlp lists, package by package, exactly the files and links the
#    .deb installs, where paths differ only as Fedora's layout does (below);
#  - rpm -qp --scripts: %post and %postun of cowherd reload libvirt (with
#    systemd: systemctl reload; without: SIGHUP by pid file) and restart
#    nothing; cowherd-nova's reload systemd;
#  - rpm --root DIR --nodeps --noscripts -i of both, into an empty root,
#    lays the files out (links, modes, the config), and the CLI runs.
set -euo pipefail
source "$(dirname "$0")/pkg.sh"
private_ns "$@"
requires rpm rpmbuild dpkg-deb
mktempdir tmp
build_packages "$tmp/dist"
arch=$(dpkg --print-architecture)
cd "$tmp/dist"
deb_main=cowherd_${PKG_VERSION}-1_$arch.deb
deb_nova=cowherd-nova_${PKG_VERSION}-1_all.deb
rpm_main=$(echo cowherd-"$PKG_VERSION"-1.*.rpm)
rpm_nova=cowherd-nova-${PKG_VERSION}-1.noarch.rpm
for f in "$deb_main" "$deb_nova" "$rpm_main" "$rpm_nova"; do
    [ -f "$f" ] || die "$f was not built (have: $(ls))"
done

# deb_files DEB: "path[ -> target]" of each file and link, sorted; Fedora's
# names for the few that differ.  Left out: Debian's changelog.Debian,
# copyright and lintian overrides (Debian's policy and tools; the .rpm has
# its %changelog, and no license file yet to mark %license).  Renamed: systemd's unit directory, and the
# drop-in's unit (RDO's is openstack-nova-compute.service).  Left out:
# nova-compute-start, which Debian's nova-compute.service needs (its init
# script resets PATH) and RDO's, which runs /usr/bin/nova-compute itself,
# does not.  .gz: Debian compresses documentation over 4 KiB, rpm none.
deb_files() {
    dpkg-deb -c "$1" | awk '$1 !~ /^d/ { p = $6; sub(/^\./, "", p); l = ($7 == "->") ? " -> " $8 : ""; print p l }' |
        sed -e 's|\.gz$||' \
            -e 's|^/lib/systemd/system/nova-compute\.service\.d/|/usr/lib/systemd/system/openstack-nova-compute.service.d/|' |
        grep -vE '^/usr/share/doc/[^/]+/(changelog\.Debian|copyright)$|^/usr/share/lintian/|^/usr/libexec/cowherd/nova-compute-start$' |
        LC_ALL=C sort
}

# rpm_files RPM: the same from the .rpm.  Left out: Fedora's build-id links
# (/usr/lib/.build-id), made for every ELF file.
rpm_files() {
    rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES} %{FILELINKTOS}\n]' "$1" |
        awk '$1 !~ /^d/ { l = ($3 != "") ? " -> " $3 : ""; print $2 l }' |
        sed -e 's|\.gz$||' | grep -v '^/usr/lib/\.build-id/' | LC_ALL=C sort
}

for pair in "$deb_main:$rpm_main" "$deb_nova:$rpm_nova"; do
    deb_files "${pair%%:*}" >"$tmp/deb.list"
    rpm_files "${pair##*:}" >"$tmp/rpm.list"
    [ -s "$tmp/deb.list" ] || die "no files in ${pair%%:*}"
    if ! diff -u "$tmp/deb.list" "$tmp/rpm.list" >"$tmp/list.diff"; then
        cat "$tmp/list.diff" >&2
        die "${pair##*:} and ${pair%%:*} do not hold the same files (- .deb, + .rpm)"
    fi
    note "${pair##*:}: the same $(wc -l <"$tmp/rpm.list") files and links as ${pair%%:*}"
done

# Requires: what the Debian package depends on, by Fedora's names.
rpm -qpR "$rpm_main" >"$tmp/requires"
for r in qemu-img dosfstools e2fsprogs libvirt-daemon-driver-qemu; do
    grep -qx "$r" "$tmp/requires" || die "$rpm_main does not require $r"
done
rpm -qpR "$rpm_nova" >"$tmp/requires"
grep -qx "cowherd = $PKG_VERSION-1" "$tmp/requires" || die "$rpm_nova does not require cowherd = $PKG_VERSION-1"
# The config is %config(noreplace).
rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm_main" >"$tmp/flags"
grep -qx 'cn /etc/cowherd/cowherd.conf' "$tmp/flags" ||
    die "/etc/cowherd/cowherd.conf is not %config(noreplace): $(grep cowherd.conf "$tmp/flags")"

# The scriptlets.
rpm -qp --scripts "$rpm_main" >"$tmp/scripts"
for s in postinstall postuninstall; do
    sed -n "/^$s scriptlet/,/^[a-z]* scriptlet/p" "$tmp/scripts" >"$tmp/$s"
    grep -qF 'systemctl reload "$daemon.service"' "$tmp/$s" || die "$rpm_main: $s does not reload libvirt with systemd"
    grep -qF 'kill -HUP "$pid"' "$tmp/$s" || die "$rpm_main: $s does not reload libvirt without systemd"
    grep -qF 'for daemon in libvirtd virtqemud' "$tmp/$s" || die "$rpm_main: $s does not cover libvirtd and virtqemud"
done
grep -qF '"$1" -eq 0' "$tmp/postuninstall" || die "$rpm_main: %postun reloads on upgrade too"
if grep -nE 'restart|systemctl (start|stop)|rm -' "$tmp/scripts"; then
    die "$rpm_main: a scriptlet restarts, stops or removes something (above)"
fi
rpm -qp --scripts "$rpm_nova" >"$tmp/scripts"
[ "$(grep -c 'systemctl daemon-reload' "$tmp/scripts")" = 2 ] ||
    die "$rpm_nova: %post and %postun must reload systemd"

# Into an empty root.
rroot=$tmp/rpmroot
mkdir "$rroot"
rpm --root "$rroot" --nodeps --noscripts -i "$rpm_main" "$rpm_nova"
rpm --root "$rroot" -qa --qf '%{NAME}-%{VERSION}-%{RELEASE}\n' | LC_ALL=C sort >"$tmp/installed"
[ "$(tr '\n' ' ' <"$tmp/installed")" = "cowherd-$PKG_VERSION-1 cowherd-nova-$PKG_VERSION-1 " ] ||
    die "rpm --root installed: $(cat "$tmp/installed")"
for f in /usr/bin/cowherd /usr/libexec/cowherd/cowherd-hook /usr/libexec/cowherd/qemu-img; do
    [ -f "$rroot$f" ] && [ "$(stat -c %a "$rroot$f")" = 755 ] || die "$f is not laid out (0755)"
done
[ "$(readlink "$rroot/etc/libvirt/hooks/qemu.d/cowherd")" = /usr/libexec/cowherd/cowherd-hook ] ||
    die "no hook link in $rroot"
[ "$(readlink -f "$rroot/usr/libexec/cowherd/shim/qemu-img")" = "$rroot/usr/libexec/cowherd/qemu-img" ] ||
    die "the shim's link does not reach the shim in $rroot"
cmp "$rroot/etc/cowherd/cowherd.conf" "$PKG_SRCDIR/packaging/cowherd.conf" || die "the config differs"
dropin=$rroot/usr/lib/systemd/system/openstack-nova-compute.service.d/cowherd-qemu-img.conf
grep -qx 'Environment=PATH=/usr/libexec/cowherd/shim:.*' "$dropin" || die "no PATH in $dropin"
zcat "$rroot/usr/share/man/man8/cowherd.8.gz" | head -n 1 >"$tmp/man"
[ -s "$tmp/man" ] || die "no man page cowherd(8)"
version=$("$rroot/usr/bin/cowherd" --version)
[ "$version" = "cowherd $PKG_VERSION" ] || die "the rpm's cowherd --version: $version"
n=$(find "$rroot" -path "$rroot/root" -prune -o \( -type f -o -type l \) -print | wc -l)
note "rpm --root: $n files and links laid out, $version"
