#!/usr/bin/env bash
# Power cycle and hard reboot through the API path.  Nova 26's power_on
# and reboot(HARD) (a request with a token) re-populate missing backing
# files themselves (_create_images_and_backing) before libvirt starts the
# guest; cowherd's hook then finds every base there and does nothing.
# Instance: root (1 GB flavor, over <sha1>), ephemeral_1_0706d66, swap_64.
# Root <sha1> removed (guest off, then running): each request makes one
# transfer, Nova's from Glance; the hook fetches, builds and waits for
# nothing; no <sha1>_1 is made; the disks read as before.  swap_64
# removed: Nova makes it, then takes it for a legacy resized base
# (a name ending in _<digits>) and fails extending a copy, swap_64_64, as
# qcow2; the request fails before libvirt is asked, the next one runs
# over Nova's swap_64 (reads as before but for mkswap's UUID).
# ephemeral_1_0706d66 removed: Nova's mkfs gets the base's name as the
# vfat label and fails; the request fails and leaves a blank base, which
# the next request boots over: the guest's ephemeral file system is gone.
# The hook neither helps nor hinders: it never runs on a failed request
# and finds every base present on the next.
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
# Nova's qemu-img calls recorded in $rec.
rec=$tmp/nova-qemu-img.log
driver_host_up "$tmp" "$rec"

# Every qemu hook event, as libvirt runs the hooks in qemu.d: this one
# after cowherd's (alphabetical order), so a "prepare begin" line means
# cowherd's hook ran and succeeded; it logs only what it rebuilt.
ops=$tmp/qemu-hook-ops.log
cat >/etc/libvirt/hooks/qemu.d/zz-ops <<EOF
#!/bin/sh
echo "\$*" >>$ops
EOF
chmod 755 /etc/libvirt/hooks/qemu.d/zz-ops
touch "$ops"

make_original "$tmp/image.raw" 48
image=$(glance_upload "$tmp/image.raw" raw)
sha=$(image_sha1 "$image")
eph=ephemeral_1_0706d66
bases=("$sha" "$eph" swap_64)

driver_start a "$NOVA_DIR/driver_serve.py" "$GLANCE_URL"
drv_ok a spawn vm1 "$image" 1 1 1 64
read -r dom uuid <<<"$RESULT"
dir=$NOVA_INSTANCES/$uuid
[ "$(glance_count_downloads "$image")" = 1 ] || die "spawn did not download $image once"
assert_base_files "${bases[@]}"

drv_ok a power_off vm1
for d in disk disk.local disk.swap; do
    qemu-img convert -U -f qcow2 -O raw "$dir/$d" "$tmp/before.$d"
done

# mark: where the logs stand before a request.
mark() {
    log_at=$(wc -l <"$COWHERD_LOG")
    ops_at=$(wc -l <"$ops")
    rec_at=$(wc -l <"$rec")
    downloads_at=$(glance_count_downloads "$image")
}

# since_mark FILE AT: FILE's lines after line AT.
since_mark() {
    tail -n +"$(($2 + 1))" "$1"
}

# downloads WHAT N: Glance served the image N times since the mark.
downloads() {
    local n
    n=$(($(glance_count_downloads "$image") - downloads_at))
    [ "$n" = "$2" ] || die "$1: Glance served $image $n times, want $2"
}

# nova_ran WHAT LINE: Nova ran `qemu-img LINE` since the mark.
nova_ran() {
    grep -qxF -- "$2" <<<"$(since_mark "$rec" "$rec_at")" ||
        die "$1: Nova did not run qemu-img $2: $(since_mark "$rec" "$rec_at")"
}

# hook_idle WHAT: libvirt prepared the domain, cowherd's hook succeeded
# and logged nothing: it found every base there, fetched, built and
# waited for nothing.
hook_idle() {
    grep -qxF "$dom prepare begin -" <<<"$(since_mark "$ops" "$ops_at")" ||
        die "$1: libvirt did not prepare $dom"
    [ -z "$(since_mark "$COWHERD_LOG" "$log_at")" ] ||
        { show_log; die "$1: the hook acted: $(since_mark "$COWHERD_LOG" "$log_at")"; }
}

# hook_not_run WHAT: libvirt was not asked to start the domain.
hook_not_run() {
    ! grep -qF "$dom prepare " <<<"$(since_mark "$ops" "$ops_at")" ||
        die "$1: libvirt prepared $dom"
    [ -z "$(since_mark "$COWHERD_LOG" "$log_at")" ] || { show_log; die "$1: the hook ran"; }
    [ "$(virsh domstate "$dom" 2>/dev/null || true)" != running ] || die "$1: $dom runs"
}

# reads_as_before WHAT: root and ephemeral byte for byte, swap but for
# the UUID mkswap makes.
reads_as_before() {
    local same
    assert_running "$dom"
    qemu-img compare -U -q "$tmp/before.disk" "$dir/disk" || die "$1: the root disk reads differently"
    qemu-img compare -U -q "$tmp/before.disk.local" "$dir/disk.local" ||
        die "$1: the ephemeral disk reads differently"
    qemu-img convert -U -f qcow2 -O raw "$dir/disk.swap" "$tmp/after.disk.swap"
    same=$("$PYTHON" "$NOVA_DIR/same_but_ids.py" swap "$tmp/before.disk.swap" "$tmp/after.disk.swap") ||
        die "$1: the swap disk: $same"
    SAME=$same
}

# ---- root: power off, base gone, power on ----------------------------------------

rm "$NOVA_BASE/$sha"
mark
drv_ok a power_on vm1
downloads power_on 1
nova_ran power_on "info $NOVA_BASE/$sha.part --force-share --output=json"
hook_idle power_on
cmp "$tmp/image.raw" "$NOVA_BASE/$sha" || die "power_on: Nova's $sha differs from the image"
assert_base_files "${bases[@]}"
reads_as_before power_on
note "power_on without $sha: Nova fetched it (1 download), the hook found the chains whole"

# ---- root: base gone under the running guest, hard reboot ----------------------

rm "$NOVA_BASE/$sha"
mark
drv_ok a reboot_hard vm1
downloads "reboot HARD" 1
nova_ran "reboot HARD" "info $NOVA_BASE/$sha.part --force-share --output=json"
hook_idle "reboot HARD"
assert_base_files "${bases[@]}"
reads_as_before "reboot HARD"
note "reboot HARD without $sha: the same"

# ---- swap: Nova makes it, then fails on the legacy rule --------------------------

rm "$NOVA_BASE/swap_64"
mark
drv a reboot_hard vm1
case $ANSWER in
"error ProcessExecutionError: "*"Command: qemu-img resize -f qcow2 $NOVA_BASE/swap_64_64 $((64 << 30))"*"is not in qcow2 format"*) ;;
*) die "reboot HARD without swap_64: $ANSWER" ;;
esac
note "reboot HARD without swap_64: ${ANSWER:0:160}..."
hook_not_run "reboot HARD without swap_64"
downloads "reboot HARD without swap_64" 0
nova_ran "reboot HARD without swap_64" "create -f raw $NOVA_BASE/swap_64 64M"
assert_base_files "${bases[@]}"           # swap_64 made, swap_64_64 removed again
[ "$(fs_type "$NOVA_BASE/swap_64")" = swap ] || die "Nova's swap_64 is no swap"

mark
drv_ok a power_on vm1
downloads "power_on after" 0
hook_idle "power_on after"
reads_as_before "power_on after"
note "power_on after: runs over Nova's swap_64; swap: $SAME"

# ---- ephemeral: Nova's mkfs fails and leaves a blank base --------------------------

rm "$NOVA_BASE/$eph"
mark
drv a reboot_hard vm1
case $ANSWER in
"error ProcessExecutionError: "*"Command: mkfs -t vfat -n $eph $NOVA_BASE/$eph"*"Label can be no longer than 11 characters"*) ;;
*) die "reboot HARD without $eph: $ANSWER" ;;
esac
note "reboot HARD without $eph: ${ANSWER:0:160}..."
hook_not_run "reboot HARD without $eph"
nova_ran "reboot HARD without $eph" "create -f raw $NOVA_BASE/$eph 1.0G"
assert_base_files "${bases[@]}"
[ "$(raw_virtual_size "$NOVA_BASE/$eph")" = $((1 << 30)) ] || die "Nova's $eph is not 1 GiB"
truncate -s 1G "$tmp/zeros.raw"
qemu-img compare -U -q -f raw -F raw "$tmp/zeros.raw" "$NOVA_BASE/$eph" ||
    die "Nova's leftover $eph reads other than zeros"

mark
drv_ok a power_on vm1
assert_running "$dom"
hook_idle "power_on after"
qemu-img compare -U -q "$tmp/before.disk" "$dir/disk" || die "the root disk reads differently"
[ -n "$(fs_type "$tmp/before.disk.local")" ] || die "the ephemeral disk had no file system"
qemu-img compare -U -q -f raw -F qcow2 "$tmp/zeros.raw" "$dir/disk.local" ||
    die "the ephemeral disk reads other than zeros"
note "power_on after: runs over Nova's blank $eph; the guest's ephemeral disk reads zeros"
downloads "power_on after" 0

# Over the whole flow: one transfer per request that needed the root base,
# all Nova's; cowherd's hook fetched, built and logged nothing.
[ "$(glance_count_downloads "$image")" = 3 ] || die "Glance served $image other than 3 times"
[ ! -s "$COWHERD_LOG" ] || { show_log; die "cowherd logged"; }
