#!/usr/bin/env bash
# Shelve and unshelve with Nova 26's whole LibvirtDriver (driverhost.py),
# cowherd's hook in the test's libvirtd and its qemu-img shim first in the
# driver's PATH, with a snapshot key: the shelve snapshot is COW-only.
#
# Unshelve spawns from the snapshot (fetch_to_raw: the shim makes the
# cache entry whole and keeps the snapshot's top beside it,
# _base/<sha1>.cowherd-top), then Nova rebases the disk from that entry
# onto the original's (_rebase_original_qcow2_image: a safe `qemu-img
# rebase`, which reads the whole disk).  The shim proves the entry is the
# top over the original and rebases through the top: header only onto the
# top, then Nova's own safe rebase, which now compares the top's clusters
# only.
#
# Asserted: the guest's disk reads as before the shelve (qemu-img
# compare); it stands on the original; the log says which rebase ran and
# why.  A second instance unshelved from the same snapshot with plain
# qemu-img (Nova's own safe rebase, the entry already whole) gets a disk
# reading the same, with the same clusters allocated.  With the top
# changed, the proof fails and Nova's full rebase runs, with the reason
# logged, and the disk still reads as before.  When Nova's rebase fails
# after the header-only step, its error reaches Nova and the disk names
# the entry again.  With force_raw_images off
# (the entry made whole in place, as qcow2), the same.  `cowherd cache`
# lists the top, and gc removes it once its entry is gone.
set -euo pipefail
source "$(dirname "$0")/../integration/functions.sh"
source "$(dirname "$0")/../integration/glance.sh"
source "$(dirname "$0")/nova.sh"
source "$(dirname "$0")/driver.sh"
private_ns "$@"
requires qemu-img qemu-io virsh cmp mount umount
requires_built COWHERD_CLI COWHERD_SHIM
driver_requires

t_start=$EPOCHREALTIME
mktempdir tmp
driver_host_up "$tmp"
head -c 64 /dev/urandom >/etc/cowherd/snapshot.key
chmod 0600 /etc/cowherd/snapshot.key
printf '[snapshot]\nkey_file = /etc/cowherd/snapshot.key\n' >>"$COWHERD_CONF"
SHIM_PATH=$NOVA_PATH
PLAIN_PATH=/usr/sbin:/usr/bin:/sbin:/bin

make_original_full "$tmp/image.raw" 64
IMAGE=$(glance_upload "$tmp/image.raw" raw)
ORIG=$NOVA_BASE/$(image_sha1 "$IMAGE")
driver_start a "$NOVA_DIR/driver_unshelve.py" "$GLANCE_URL" shim="$SHIM_PATH" plain="$PLAIN_PATH"

# disk_of UUID
disk_of() { printf '%s/%s/disk\n' "$NOVA_INSTANCES" "$1"; }

# backing_of DISK: the backing file named in DISK's header.
backing_of() {
    qemu-img info -U --output=json "$1" | "$PYTHON" -c 'import json, sys
print(json.load(sys.stdin).get("full-backing-filename"))'
}

# alloc_map DISK: DISK's own clusters (depth 0), without file offsets.
alloc_map() {
    qemu-img map -U --output=json "$1" | "$PYTHON" -c 'import json, sys
for e in json.load(sys.stdin):
    if e["depth"] == 0:
        print(e["start"], e["length"], e["zero"], e["data"])'
}

# json_kind NAME: the kind `cowherd cache ls --json` (stdin) gives NAME.
json_kind() {
    "$PYTHON" -c 'import json, sys
for e in json.load(sys.stdin)["entries"]:
    if e["name"] == sys.argv[1]:
        print(e["kind"])' "$1"
}

# ---- vm1: spawned, written, shelved ------------------------------------------------

drv_ok a spawn vm1 "$IMAGE" 1
read -r _ U1 <<<"$RESULT"
D1=$(disk_of "$U1")
[ "$(backing_of "$D1")" = "$ORIG" ] || die "vm1's disk stands on $(backing_of "$D1")"
# The guest's writes (it has no OS: written while it is off), over the
# original and past its end.
drv_ok a power_off vm1
qemu-io -f qcow2 -c "write -P 0x61 2M 3M" -c "write -P 0x62 40M 64k" -c "write -z 1M 64k" \
    -c "write -P 0x63 200M 1M" "$D1" >/dev/null
qemu-img convert -f qcow2 -O raw "$D1" "$tmp/before.raw"
drv_ok a power_on vm1

drv_ok a shelve vm1 snap-vm1
SNAP=$RESULT
ENTRY=$NOVA_BASE/$(image_sha1 "$SNAP")
[ ! -e "$D1" ] || die "shelve offload left $D1"
out=$("$COWHERD_CLI" snapshot show "$(glance_image_file_path "$SNAP")")
grep -qx "  signature: *holds" <<<"$out" || die "the shelve snapshot is not COW-only: $out"
note "shelved: snapshot $SNAP is COW-only"

# ---- unshelve through the shim --------------------------------------------------

: >"$COWHERD_LOG"
drv_ok a unshelve vm1
read -r _ U1 <<<"$RESULT"
D1=$(disk_of "$U1")
drv_ok a state vm1
[ "$RESULT" = running ] || die "vm1 after unshelve: $RESULT"
[ "$(backing_of "$D1")" = "$ORIG" ] || die "vm1's disk after unshelve stands on $(backing_of "$D1")"
[ -f "$ENTRY.cowherd-top" ] || die "no snapshot top kept beside $ENTRY: $(ls -A "$NOVA_BASE")"
[ "$(log_count "rebase $D1 onto $ORIG: through the snapshot top $ENTRY.cowherd-top:")" = 1 ] ||
    { show_log; die "the unshelve rebase did not go through the snapshot top"; }
qemu-img compare -U -f qcow2 -F raw "$D1" "$tmp/before.raw" >/dev/null ||
    die "vm1's disk after unshelve does not read as before the shelve"
note "unshelved: $(grep -F "rebase $D1 onto" "$COWHERD_LOG" | sed 's/.*: through/through/')"

# ---- the same with Nova's own safe rebase ------------------------------------------

drv_ok a path plain
drv_ok a unshelve vm1 vm2 2
read -r _ U2 <<<"$RESULT"
D2=$(disk_of "$U2")
drv_ok a path shim
[ "$(backing_of "$D2")" = "$ORIG" ] || die "vm2's disk stands on $(backing_of "$D2")"
qemu-img compare -U -f qcow2 -F qcow2 "$D1" "$D2" >/dev/null ||
    die "the disk rebased through the top does not read as Nova's own safe rebase"
[ "$(alloc_map "$D1")" = "$(alloc_map "$D2")" ] ||
    die "the clusters allocated differ: $(alloc_map "$D1") vs $(alloc_map "$D2")"
note "Nova's own safe rebase (plain qemu-img) gives a disk reading the same, same clusters"

# ---- Nova's rebase fails after the top step: the header goes back ---------------------

# A disk over the entry on a 1 MiB filesystem: the header-only step fits,
# the top's clusters do not.  Nova's own _rebase_with_qemu_img through the
# shim must fail with qemu-img's error, and leave the disk naming the
# entry again, reading as before.
mkdir -p "$tmp/small"
mount -t tmpfs -o size=1m cowherd-small "$tmp/small"
cleanup_fn umount "$tmp/small"
qemu-img create -q -f qcow2 -F raw -b "$ENTRY" "$tmp/small/disk" 1G
: >"$COWHERD_LOG"
if out=$(nova_py "$NOVA_DIR/rebase_with_qemu_img.py" "$tmp/small/disk" "$ORIG"); then
    die "a rebase that cannot write its clusters succeeded: $out"
fi
grep -qF "No space left on device" <<<"$out" || die "Nova's exception: $out"
[ "$(log_count "rebase $tmp/small/disk onto $ORIG through the snapshot top $ENTRY.cowherd-top: qemu-img ended with status 1; its header names $ENTRY again")" = 1 ] ||
    { show_log; die "the failed rebase was not logged as undone"; }
[ "$(backing_of "$tmp/small/disk")" = "$ENTRY" ] ||
    die "after the failed rebase the disk stands on $(backing_of "$tmp/small/disk")"
qemu-img compare -U -f qcow2 -F raw "$tmp/small/disk" "$ENTRY" >/dev/null ||
    die "after the failed rebase the disk does not read as its entry"
note "Nova's rebase failing (no space) after the top step: its error reached Nova, the header" \
    "names the entry again"

# ---- a changed top: the proof fails, Nova's full rebase runs -------------------------

drv_ok a destroy vm2
qemu-io -f qcow2 -c "write -P 0x77 2M 64k" "$ENTRY.cowherd-top" >/dev/null
: >"$COWHERD_LOG"
drv_ok a unshelve vm1 vm3 3
read -r _ U3 <<<"$RESULT"
D3=$(disk_of "$U3")
[ "$(log_count "rebase $D3 onto $ORIG: full rebase: the snapshot top $ENTRY.cowherd-top is not the one")" = 1 ] ||
    { show_log; die "a changed top was not refused"; }
qemu-img compare -U -f qcow2 -F raw "$D3" "$tmp/before.raw" >/dev/null ||
    die "vm3's disk (full rebase) does not read as before the shelve"
note "changed top: full rebase, logged: $(grep -F "rebase $D3 onto" "$COWHERD_LOG" | sed 's/.*: full/full/')"

# ---- force_raw_images off: the entry made whole in place, as qcow2 ----------------

# Nova keeps the download as it is (qcow2) and its next qemu-img info of
# the entry makes it whole in place (cowherd snapshot rebuild), which
# keeps the top too.
drv_ok a destroy vm3
rm -f "$ENTRY" "$ENTRY.cowherd-top"
drv_ok a force_raw 0
: >"$COWHERD_LOG"
drv_ok a unshelve vm1 vm4 4
read -r _ U4 <<<"$RESULT"
D4=$(disk_of "$U4")
drv_ok a force_raw 1
[ "$(qemu-img info -U --output=json "$ENTRY" | "$PYTHON" -c 'import json, sys
print(json.load(sys.stdin)["format"])')" = qcow2 ] || die "force_raw_images off: $ENTRY is not qcow2"
[ "$(log_count "rebase $D4 onto $ORIG: through the snapshot top $ENTRY.cowherd-top:")" = 1 ] ||
    { show_log; die "force_raw_images off: the rebase did not go through the snapshot top"; }
qemu-img compare -U -f qcow2 -F raw "$D4" "$tmp/before.raw" >/dev/null ||
    die "vm4's disk (force_raw_images off) does not read as before the shelve"
note "force_raw_images off: the qcow2 entry made whole in place, rebased through its top"

# ---- the top in cowherd cache ------------------------------------------------------

out=$("$COWHERD_CLI" cache ls --json)
[ "$(json_kind "$(basename "$ENTRY").cowherd-top" <<<"$out")" = "snapshot top" ] ||
    die "cache ls: the top is listed as: $out"
drv_ok a destroy vm4
drv_ok a destroy vm1
# Nova's cache manager removes the snapshot's entry once no instance
# uses it; gc then removes the top with it.
rm "$ENTRY"
out=$("$COWHERD_CLI" cache gc)
grep -qxF "removed $ENTRY.cowherd-top: a snapshot top whose entry is gone, used by no disk" \
    <<<"$out" || die "cache gc: $out"
[ ! -e "$ENTRY.cowherd-top" ] || die "cache gc left $ENTRY.cowherd-top"
note "cache gc, the entry gone: removed the top"
note "all cases as expected in $(since_s "$t_start") s"
