#!/usr/bin/env bash
# Host reboot.  Nova 26's resume_state_on_host_boot (the context
# nova-compute starts with: no auth token) brings a stopped instance back
# through _hard_reboot without re-populating backing files.  An instance
# with a root disk (1 GB flavor), ephemeral and swap, spawned by Nova's
# LibvirtDriver on the test's libvirtd with cowherd's hook; its bases
# removed (Nova 26 made <sha1>, ephemeral_1_0706d66 and swap_64, never a
# <sha1>_1; the root disk is then pointed at a legacy <sha1>_1, as an older
# Nova left it) and its image deleted in Glance, a peer still holding a
# copy.  With the hook the guest comes back running: the hook fetched the
# root base from the peer, made <sha1>_1 from it and made the ephemeral
# and swap bases, Nova ran no download and Glance served nothing more;
# every disk reads as before (the root byte for byte; ephemeral and swap
# but for the volume id and swap UUID that mkfs and mkswap make anew).  Without the hook the same
# request fails, naming the missing backing file.
set -euo pipefail
source "$(dirname "$0")/../integration/functions.sh"
source "$(dirname "$0")/../integration/glance.sh"
source "$(dirname "$0")/nova.sh"
source "$(dirname "$0")/driver.sh"
private_ns "$@"
requires qemu-img cmp virsh blkid
requires_built COWHERD_HOOK COWHERD_CLI COWHERD_SHIM
driver_requires

mktempdir tmp
# Nova's qemu-img calls recorded in nova-qemu-img.log.
driver_host_up "$tmp" "$tmp/nova-qemu-img.log"

# libvirt re-reads its hook directories on SIGHUP, then runs the daemon
# hook with "reload": that line says the reload is done.
cat >/etc/libvirt/hooks/daemon <<EOF
#!/bin/sh
echo "\$*" >>$tmp/daemon-hook.log
EOF
chmod 755 /etc/libvirt/hooks/daemon
reloads() {
    [ -f "$tmp/daemon-hook.log" ] || { echo 0; return 0; }
    grep -c -- '^- reload ' "$tmp/daemon-hook.log" || true
}
reloaded_since() {
    [ "$(reloads)" -gt "$1" ]
}
libvirt_reload() {
    local n
    n=$(reloads)
    kill -HUP "$(</run/libvirt/libvirtd.pid)"
    poll_until 30 "libvirtd reloaded" reloaded_since "$n"
}
libvirt_reload           # the daemon hook is seen from now on

make_original "$tmp/image.raw" 48
image=$(glance_upload "$tmp/image.raw" raw)
sha=$(image_sha1 "$image")

# The peer: another host's _base that fetched the image while Glance had it.
peer=$tmp/peer/instances
mkdir -p "$peer"
cat >"$tmp/peer/cowherd.conf" <<EOF
[nova]
instances_path = $peer
[log]
syslog = false
file = $tmp/peer/cowherd.log
[glance]
url = $GLANCE_URL
EOF
"$COWHERD_CLI" --config "$tmp/peer/cowherd.conf" fetch "$image" >/dev/null
cmp "$tmp/image.raw" "$peer/_base/$sha" || die "the peer's copy differs from the image"
printf '[peers]\nurls = file://%s/_base/\n' "$peer" >>"$COWHERD_CONF"
[ "$(glance_count_downloads "$image")" = 1 ] || die "the peer did not download $image once"

driver_start a "$NOVA_DIR/driver_serve.py" "$GLANCE_URL"

# Two instances of the image: vm1 comes back with the hook, vm2 without.
drv_ok a spawn vm1 "$image" 1 1 1 64
read -r dom1 uuid1 <<<"$RESULT"
drv_ok a spawn vm2 "$image" 2 1 1 64
read -r dom2 uuid2 <<<"$RESULT"
[ "$(glance_count_downloads "$image")" = 2 ] || die "spawn did not download $image once"
grep -qF "$NOVA_BASE/$sha.part" "$tmp/nova-qemu-img.log" || die "Nova did not fetch at spawn"
bases=("$sha" ephemeral_1_0706d66 swap_64)
assert_base_files "${bases[@]}"
note "Nova 26's spawn made _base/{$(IFS=,; echo "${bases[*]}")}; no ${sha}_1"
dir1=$NOVA_INSTANCES/$uuid1
disks=(disk disk.local disk.swap)
backs=("$sha" ephemeral_1_0706d66 swap_64)
for i in 0 1 2; do
    b=$(qemu-img info -U --output=json "$dir1/${disks[i]}" |
        "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin).get("full-backing-filename"))')
    [ "$b" = "$NOVA_BASE/${backs[i]}" ] || die "$dir1/${disks[i]} backs onto $b"
done

drv_ok a power_off vm1
drv_ok a power_off vm2
drv_ok a state vm1
[ "$RESULT" = shutdown ] || die "vm1 is $RESULT after power_off"
# vm1's root disk as an older Nova left it: over the legacy <sha1>_1 (the
# original followed by zeros to 1 GiB, as Qcow2.create_image makes it: a
# copy, then extended), which reads the same as <sha1> under the disk.
cp --sparse=always "$NOVA_BASE/$sha" "$NOVA_BASE/${sha}_1"
truncate -s 1G "$NOVA_BASE/${sha}_1"
qemu-img rebase -q -u -f qcow2 -F raw -b "$NOVA_BASE/${sha}_1" "$dir1/disk"
for d in "${disks[@]}"; do
    qemu-img convert -U -f qcow2 -O raw "$dir1/$d" "$tmp/before.$d"
done

# The host comes back without its cache, and the image is gone from Glance.
rm -f "${bases[@]/#/$NOVA_BASE/}" "$NOVA_BASE/${sha}_1"
glance_delete "$image"
rec_lines=$(wc -l <"$tmp/nova-qemu-img.log")

# ---- with cowherd ------------------------------------------------------------

drv_ok a resume_on_boot vm1
drv_ok a state vm1
[ "$RESULT" = running ] || die "vm1 is $RESULT after resume_on_boot"
assert_running "$dom1"
assert_logged "$dom1" vda fetch "$NOVA_BASE/$sha"
assert_logged "$dom1" vda copy-extend "$NOVA_BASE/${sha}_1"
assert_logged "$dom1" vdb create-ephemeral "$NOVA_BASE/ephemeral_1_0706d66"
assert_logged "$dom1" vdc create-swap "$NOVA_BASE/swap_64"
[ "$(log_count "fetch $NOVA_BASE/$sha: image $image from file://$peer/_base/$sha, [0-9]+ bytes: done in")" = 1 ] ||
    { show_log; die "the root base was not fetched from the peer"; }
[ "$(log_count "error|timed out")" = 0 ] || { show_log; die "cowherd logged an error"; }
[ "$(glance_count_downloads "$image")" = 2 ] || die "Glance served $image again"
new_rec=$(tail -n +"$((rec_lines + 1))" "$tmp/nova-qemu-img.log")
! grep -qF "$NOVA_BASE/" <<<"$new_rec" || die "Nova touched _base itself: $new_rec"
cmp "$tmp/image.raw" "$NOVA_BASE/$sha" || die "the rebuilt $sha differs from the image"
assert_base_files "${bases[@]}" "${sha}_1" "$sha.cowherd.json"

qemu-img compare -U -q "$tmp/before.disk" "$dir1/disk" || die "vm1's root disk reads differently"
for d in disk.local disk.swap; do
    qemu-img convert -U -f qcow2 -O raw "$dir1/$d" "$tmp/after.$d"
done
same=$("$PYTHON" "$NOVA_DIR/same_but_ids.py" vfat "$tmp/before.disk.local" "$tmp/after.disk.local") ||
    die "vm1's ephemeral disk: $same"
note "vm1's ephemeral disk: $same"
same=$("$PYTHON" "$NOVA_DIR/same_but_ids.py" swap "$tmp/before.disk.swap" "$tmp/after.disk.swap") ||
    die "vm1's swap disk: $same"
note "vm1's swap disk: $same"
[ "$(fs_type "$tmp/after.disk.local") $(fs_label "$tmp/after.disk.local")" = "vfat ephemeral0" ] ||
    die "vm1's ephemeral disk: $(fs_type "$tmp/after.disk.local") $(fs_label "$tmp/after.disk.local")"
[ "$(fs_type "$tmp/after.disk.swap")" = swap ] || die "vm1's swap disk is no swap"
note "with the hook: vm1 runs; root base fetched from the peer and its legacy ${sha}_1 copy," \
    "ephemeral and swap bases made by the hook; Nova fetched nothing; the disks read as before"

# ---- without cowherd ---------------------------------------------------------

rm -f "${bases[@]/#/$NOVA_BASE/}" "$NOVA_BASE/${sha}_1" "$NOVA_BASE/$sha.cowherd.json"
rm /etc/libvirt/hooks/qemu.d/cowherd
libvirt_reload
log_lines=$(wc -l <"$COWHERD_LOG")
drv a resume_on_boot vm2
case $ANSWER in
"error "*) ;;
*) die "vm2: resume_on_boot without cowherd: $ANSWER" ;;
esac
# libvirt names the first missing backing file it meets.
missing=$(sed -n "s|.*Cannot access backing file '\\([^']*\\)' of storage file '$NOVA_INSTANCES/$uuid2/.*|\\1|p" <<<"$ANSWER")
case " ${bases[*]/#/$NOVA_BASE/} " in
*" $missing "*) [ ! -e "$missing" ] || die "$missing exists" ;;
*) die "the error does not name a missing base of vm2: $ANSWER" ;;
esac
note "without the hook: $ANSWER"
[ "$(wc -l <"$COWHERD_LOG")" = "$log_lines" ] || die "the hook ran after it was removed"
[ "$(virsh domstate "$dom2" 2>/dev/null || true)" != running ] || die "vm2 runs"
assert_base_files
