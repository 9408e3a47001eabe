#!/usr/bin/env bash
# Snapshot and boot elsewhere (issue 19, flow 1) with Nova 26's whole
# LibvirtDriver on two hosts (twohost.sh; driverhost.py: instances and
# snapshots get the image metadata Nova's API gives them), a real
# glance-api between, relayed to the same address in both hosts' network
# namespaces.  Each host: its libvirtd with cowherd's hook, the shim first
# in its driver's PATH, the same [snapshot] key_file.  A snapshots, B
# boots the snapshots.
#
# On A the driver spawns vm1 from image o1 (Nova downloads _base/<o1>
# itself: no manifest) and vm2 from o2 (_base/<o2> from `cowherd fetch`
# beforehand: a manifest naming o2).  Each guest (no OS) is stopped by the
# driver and its disk written with qemu-io.  vm1, powered on again, gets a
# live snapshot (Nova's .delta, libvirt's block copy, extract_snapshot
# through the shim); vm2, left stopped, two cold ones (extract_snapshot of
# the disk), more written between.  Each image Glance stores is COW-only
# and signed (`cowherd snapshot show` of the stored file), the marker
# naming o2 or no image, its data about the disk's top and far below the
# flattened disk.  On B the driver spawns each snapshot: the guest runs,
# its disk is one layer over B's own raw _base entry and reads as A's did
# at snapshot time (qemu-img compare with A's disk flattened then, itself
# checked against the original with the same writes), the original
#   1. missing on B, no id recorded: found in Glance by image_id_sha1;
#   2. missing on B: from peer A ([peers] file:// URL of A's _base, whose
#      tree B sees too; it has o2's manifest), Glance serving nothing;
#   3. cached on B (by 2), for vm2's second snapshot.
# Each original B gets is the image byte for byte; B's _base holds only
# what Nova and cowherd publish.
#
# Nova's API (compute_utils.create_image) gives a snapshot every property
# of the instance's image but those in [DEFAULT]
# non_inheritable_image_properties: o1's image_id_sha1 too, with Nova's
# defaults.  Glance's list for image_id_sha1 then holds o1 and its
# snapshot: cowherd takes the image whose id hashes to the name.
set -euo pipefail
source "$(dirname "$0")/../integration/functions.sh"
source "$(dirname "$0")/../integration/twohost.sh"
source "$(dirname "$0")/../integration/glance.sh"
source "$(dirname "$0")/nova.sh"
source "$(dirname "$0")/driver.sh"
private_ns "$@"
requires qemu-img qemu-io virsh cmp truncate
requires_built COWHERD_HOOK COWHERD_CLI COWHERD_SHIM
driver_requires

t_start=$EPOCHREALTIME
mktempdir tmp
twohost_up "$tmp/hosts"
A_BASE=$(th_path A "$NOVA_BASE")     # as the test sees them; B sees A's there too
B_BASE=$(th_path B "$NOVA_BASE")
B_LOG=$(th_path B "$COWHERD_LOG")
A_PEER=file://$A_BASE/

# ---- Glance, cowherd's settings, Nova's driver on each host ---------------------------

glance_up "$tmp/glance"
# Nova imports itself while the rest is set up.
nova_shim_on "$tmp"
DRV_WRAP=(th_a)
driver_launch a "$NOVA_DIR/driver_serve.py" "$GLANCE_URL" host=host-a
DRV_WRAP=(th_b)
driver_launch b "$NOVA_DIR/driver_serve.py" "$GLANCE_URL" host=host-b
DRV_WRAP=()
glance_relay "$TH_A_PID" "$TH_B_PID"

# [glance] and [tools] fetcher as glance_configure writes them, on both
# hosts, and the same key.
head -c 64 /dev/urandom >"$TH_A_DIR/etc-cowherd/snapshot.key"
chmod 0600 "$TH_A_DIR/etc-cowherd/snapshot.key"
cp -p "$TH_A_DIR/etc-cowherd/snapshot.key" "$TH_B_DIR/etc-cowherd/snapshot.key"
for h in A B; do
    th_conf "$h" <<EOF
[glance]
url = $GLANCE_URL
[tools]
fetcher = ${COWHERD_FETCH:-$COWHERD_CLI}
[snapshot]
key_file = /etc/cowherd/snapshot.key
EOF
done

# log_on A|B REGEX: log_count on that host's cowherd log; show_log_on A|B.
log_on() {
    COWHERD_LOG=$(th_path "$1" "$COWHERD_LOG") log_count "$2"
}

show_log_on() {
    COWHERD_LOG=$(th_path "$1" "$COWHERD_LOG") show_log
}

# ---- the images -----------------------------------------------------------------------

# original FILE BYTE: a 32 MiB original, all data, with a 64 KiB block of
# BYTE at 5 MiB, so that no two are alike.
original() {
    make_original_full "$1" 32
    qemu-io -f raw -c "write -P $2 5M 64k" "$1" >/dev/null
}
original "$tmp/o1.raw" 0x11
original "$tmp/o2.raw" 0x22
# o1 carries the image_id_sha1 property, so its id is chosen first.
o1=$(new_uuid)
s1=$(image_sha1 "$o1")
glance_upload "$tmp/o1.raw" raw id="$o1" image_id_sha1="$s1" >"$tmp/o1.id" &
up1=$!
o2=$(glance_upload "$tmp/o2.raw" raw)
wait "$up1" || die "uploading o1 failed"
[ "$(<"$tmp/o1.id")" = "$o1" ] || die "Glance gave $(<"$tmp/o1.id") for the id $o1"
s2=$(image_sha1 "$o2")

# o2's original on A by cowherd fetch (a manifest naming o2), before Nova
# needs it; o1's Nova downloads itself at spawn.
th_a "$COWHERD_CLI" --config "$COWHERD_CONF" fetch "$o2" >"$tmp/out" 2>"$tmp/err" ||
    { cat "$tmp/err" >&2; show_log_on A; die "cowherd fetch $o2 on A failed"; }
[ ! -s "$tmp/out" ] || note "$(cat "$tmp/out")"
[ -f "$A_BASE/$s2.cowherd.json" ] || die "cowherd fetch wrote no manifest for $s2"

driver_ready a
driver_ready b
note "Nova's driver up on both hosts ($(since_s "$t_start") s since the start)"

# ---- helpers -------------------------------------------------------------------------------

# qemu_io FORMAT FILE QEMU-IO-CMD...: the commands on FILE (as host A
# sees it: an instance disk's chain), in one qemu-io.
qemu_io() {
    local fmt=$1 f=$2 c args=()
    shift 2
    for c in "$@"; do
        args+=(-c "$c")
    done
    th_a qemu-io -f "$fmt" "${args[@]}" "$f" >/dev/null
}

# expect FILE ORIGINAL QEMU-IO-CMD...: what a 1 GiB disk over ORIGINAL
# reads as after those writes, as a raw file.
expect() {
    local f=$1
    cp --sparse=always "$2" "$f"
    truncate -s 1G "$f"
    shift 2
    qemu_io raw "$f" "$@"
}

# disk_of UUID: an instance's root disk as its host sees it.
disk_of() {
    printf '%s\n' "$NOVA_INSTANCES/$1/disk"
}

# cow_only CASE IMAGE PARENT IMAGE_ID UUID FLAT: Glance's stored file of
# IMAGE is a COW-only snapshot over PARENT (IMAGE_ID recorded, or "(not
# recorded)"), signed under the key; its data about that of A's instance
# UUID's disk (its qcow2 file), far below FLAT's (the disk flattened).
# Sets SHOWN.
cow_only() {
    local c=$1 f out d_snap d_top d_flat
    f=$(glance_image_file_path "$2")
    [ "$(glance_image disk_format "$2")" = qcow2 ] || die "$c: Glance has $2 as $(glance_image disk_format "$2")"
    out=$(th_a "$COWHERD_CLI" snapshot show "$f") || die "$c: cowherd snapshot show: $out"
    grep -qx "$f: COW-only snapshot (marker version 1)" <<<"$out" &&
        grep -qx "  parent: *$3" <<<"$out" && grep -qxF "  image id:      $4" <<<"$out" &&
        grep -qx "  signature: *holds" <<<"$out" || die "$c: cowherd snapshot show says: $out"
    d_snap=$(data_bytes "$f")
    d_top=$(data_bytes "$(th_path A "$(disk_of "$5")")")
    d_flat=$(data_bytes "$6")
    [ $((d_snap * 10)) -le $((d_top * 11)) ] ||
        die "$c: the snapshot has $d_snap bytes of data, the disk's top $d_top: not COW-only"
    [ $((d_snap * 4)) -le "$d_flat" ] ||
        die "$c: the snapshot has $d_snap bytes of data, the flattened disk $d_flat"
    SHOWN="$d_snap bytes of data (the disk's top: $d_top, flattened: $d_flat)"
}

# a_flat UUID REF EXPECTED: A's instance disk (its chain) flattened into
# REF (raw) after a snapshot (the guest, without an OS, writes nothing),
# which must read as EXPECTED.
a_flat() {
    th_a qemu-img convert -U -f qcow2 -O raw "$(disk_of "$1")" "$2"
    qemu-img compare -q -f raw -F raw "$2" "$3" ||
        die "A's disk $(disk_of "$1") does not read as the original with the writes made in it"
}

# b_base_is CASE NAME...: B's _base holds exactly these (and an empty
# .cowherd-tmp): no .part, .converted or .<x>.cowherd-* left.
b_base_is() {
    local c=$1 want got
    shift
    want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
    got=$(find "$B_BASE" -mindepth 1 -maxdepth 1 ! -name .cowherd-tmp -printf '%f\n' | sort |
        tr '\n' ' ')
    [ "$want" = "$got" ] || die "$c: host B's _base holds [ $got], want [ $want]"
    [ ! -d "$B_BASE/.cowherd-tmp" ] || [ -z "$(ls -A "$B_BASE/.cowherd-tmp")" ] ||
        die "$c: left in .cowherd-tmp: $(ls -A "$B_BASE/.cowherd-tmp")"
}

# running A|B DOMAIN...: each domain runs on that host.
running() {
    local h=$1 dom state
    shift
    for dom in "$@"; do
        state=$("th_${h,,}" virsh domstate "$dom" 2>&1) || die "domstate $dom on $h: $state"
        [ "$state" = running ] || die "$dom on $h is '$state', not running"
    done
}

# boot_b CASE NAME DB_ID SNAP REF PARENT: B's driver spawns NAME from
# image SNAP; the guest runs, its disk is one qcow2 layer over B's raw,
# standalone _base/<sha1 of SNAP> (Nova's entry, made whole over
# _base/PARENT by the shim, once) and reads as REF.  Sets ENTRY, DOM, UUID.
boot_b() {
    local c=$1 disk info
    ENTRY=$(image_sha1 "$4")
    : >"$B_LOG"
    drv_ok b spawn "$2" "$4" "$3"
    read -r DOM UUID <<<"$RESULT"
    drv_ok b state "$2"
    [ "$RESULT" = running ] || die "$c: B's driver says $2 is $RESULT"
    [ "$(th_b virsh domstate "$DOM")" = running ] || die "$c: $DOM is $(th_b virsh domstate "$DOM")"
    disk=$(disk_of "$UUID")
    info=$(th_b qemu-img info -U --output=json -f qcow2 "$disk" | "$PYTHON" -c 'import json, sys
i = json.load(sys.stdin)
print(i.get("backing-filename"), i.get("backing-filename-format"))')
    [ "$info" = "$NOVA_BASE/$ENTRY raw" ] || die "$c: B's disk is over $info"
    info=$(th_b qemu-img info -U --output=json "$NOVA_BASE/$ENTRY" | "$PYTHON" -c 'import json, sys
i = json.load(sys.stdin)
print(i["format"], i.get("backing-filename"))')
    [ "$info" = "raw None" ] || die "$c: B's _base/$ENTRY is $info, want raw, standalone"
    th_b qemu-img compare -U -q -f qcow2 -F raw "$disk" "$5" ||
        die "$c: B's disk does not read as A's did at snapshot time"
    [ "$(log_on B "_base/$ENTRY\.part: COW-only snapshot over $6 \(image [^)]*\) made whole into .*/$ENTRY\.converted\$")" = 1 ] ||
        { cat "$B_LOG" >&2; die "$c: host B's cowherd did not make the download whole once"; }
}

# ---- host A: two instances, their guests' writes, snapshots -----------------------------

drv_ok a spawn vm1 "$o1" 1
read -r dom1 uuid1 <<<"$RESULT"
drv_ok a spawn vm2 "$o2" 2
read -r dom2 uuid2 <<<"$RESULT"
running A "$dom1" "$dom2"
cmp "$tmp/o1.raw" "$A_BASE/$s1" || die "Nova's _base/$s1 is not o1"
[ ! -e "$A_BASE/$s1.cowherd.json" ] || die "a manifest for Nova's own download of $s1"
note "host A: vm1 ($dom1) over Nova's own _base/$s1, vm2 ($dom2) over cowherd's _base/$s2," \
    "both running ($(since_s "$t_start") s since the start)"

# The guests' writes, made with qemu-io while the driver has the guest
# stopped (they have no OS): over the original's data (2 MiB of clusters,
# half a cluster, a cluster of zeros) and 1 MiB past its end.
w1=("write -P 0x61 2M 2M" "write -P 0x61 21M 32k" "write -z 1M 64k" "write -P 0x61 100M 1M")
w2=("write -P 0x62 2M 2M" "write -P 0x62 21M 32k" "write -z 1M 64k" "write -P 0x62 100M 1M")
w2b=("write -P 0x63 3M 1M" "write -P 0x63 200M 64k")
expect "$tmp/exp1.raw" "$tmp/o1.raw" "${w1[@]}"
expect "$tmp/exp2.raw" "$tmp/o2.raw" "${w2[@]}"
expect "$tmp/exp2b.raw" "$tmp/o2.raw" "${w2[@]}" "${w2b[@]}"

# vm1: written, running again, a live snapshot (Nova's .delta over the
# disk's _base entry, libvirt's block copy of the top, extract_snapshot).
drv_ok a power_off vm1
qemu_io qcow2 "$(disk_of "$uuid1")" "${w1[@]}"
drv_ok a power_on vm1
running A "$dom1"
drv_ok a snapshot vm1 vm1-live
snap1=$RESULT
a_flat "$uuid1" "$tmp/ref1.raw" "$tmp/exp1.raw"
cow_only 1 "$snap1" "$s1" "(not recorded)" "$uuid1" "$tmp/ref1.raw"
[ "$(glance_image image_id_sha1 "$snap1")" = "$s1" ] &&
    [ "$(glance_image instance_uuid "$snap1")" = "$uuid1" ] ||
    die "vm1's snapshot record: image_id_sha1 '$(glance_image image_id_sha1 "$snap1")'," \
        "instance_uuid '$(glance_image instance_uuid "$snap1")'"
note "vm1's live snapshot $snap1: COW-only over $s1, no image id (Nova's own download), signed," \
    "image_id_sha1 inherited from $o1; $SHOWN"

# vm2: stopped, two cold snapshots (extract_snapshot of the disk itself),
# each after writes.
drv_ok a power_off vm2
qemu_io qcow2 "$(disk_of "$uuid2")" "${w2[@]}"
drv_ok a snapshot vm2 vm2-cold
snap2=$RESULT
a_flat "$uuid2" "$tmp/ref2.raw" "$tmp/exp2.raw"
cow_only 2 "$snap2" "$s2" "$o2" "$uuid2" "$tmp/ref2.raw"
note "vm2's cold snapshot $snap2: COW-only over $s2, image $o2 recorded, signed; $SHOWN"
qemu_io qcow2 "$(disk_of "$uuid2")" "${w2b[@]}"
drv_ok a snapshot vm2 vm2-cold-2
snap2b=$RESULT
a_flat "$uuid2" "$tmp/ref2b.raw" "$tmp/exp2b.raw"
cow_only 3 "$snap2b" "$s2" "$o2" "$uuid2" "$tmp/ref2b.raw"
note "vm2's second cold snapshot $snap2b: COW-only; $SHOWN"

snaps="$NOVA_INSTANCES/snapshots/tmp[^/]*/[0-9a-f]{32}"
[ "$(log_on A "snapshot $snaps\\.delta: COW-only into $snaps\$")" = 1 ] &&
    [ "$(log_on A "snapshot $(disk_of "$uuid2"): COW-only into $snaps\$")" = 2 ] ||
    { show_log_on A; die "host A's shim did not log one live and two cold COW-only snapshots"; }
note "host A done ($(since_s "$t_start") s since the start)"

# ---- host B ------------------------------------------------------------------------------

n1=$(glance_count_downloads "$o1")
n2=$(glance_count_downloads "$o2")

# 1. The original missing on B, the marker naming no image: Glance finds
# it by image_id_sha1.
boot_b 1 vmb1 3 "$snap1" "$tmp/ref1.raw" "$s1"
e1=$ENTRY
[ "$(log_on B "fetch $NOVA_BASE/$s1: image $o1 from $GLANCE_URL/v2/images/$o1/file")" = 1 ] ||
    { cat "$B_LOG" >&2; die "1: B's cowherd did not fetch $s1 from Glance"; }
[ "$(glance_count_downloads "$o1")" = $((n1 + 1)) ] || die "1: Glance did not serve o1 once more"
# (glance_count_downloads waited until Glance had logged every request.)
grep -qF "GET /v2/images?image_id_sha1=$s1&status=active " "$GLANCE_LOG" ||
    die "1: Glance was not asked for image_id_sha1=$s1"
cmp "$tmp/o1.raw" "$B_BASE/$s1" || die "1: B's _base/$s1 is not o1"
b_base_is 1 "$e1" "$e1.cowherd-top" "$s1" "$s1.cowherd.json"
note "1 $snap1 on B ($DOM running): _base/$s1 missing, found in Glance by image_id_sha1;" \
    "the disk reads as vm1's at snapshot time"

# 2. The original missing on B, A a peer (ahead of Glance).
printf '[peers]\nurls = %s\n' "$A_PEER" | th_conf B
boot_b 2 vmb2 4 "$snap2" "$tmp/ref2.raw" "$s2"
e2=$ENTRY
[ "$(log_on B "fetch $NOVA_BASE/$s2: image $o2 from $A_PEER$s2, ")" = 1 ] ||
    { cat "$B_LOG" >&2; die "2: B's cowherd did not fetch $s2 from peer A"; }
[ "$(glance_count_downloads "$o2")" = "$n2" ] || die "2: Glance served o2"
cmp "$tmp/o2.raw" "$B_BASE/$s2" || die "2: B's _base/$s2 is not o2"
b_base_is 2 "$e1" "$e1.cowherd-top" "$s1" "$s1.cowherd.json" "$e2" "$e2.cowherd-top" "$s2" \
    "$s2.cowherd.json"
note "2 $snap2 on B ($DOM running): _base/$s2 missing, from peer A; the disk reads as vm2's at snapshot time"

# 3. The original cached on B (by 2).
boot_b 3 vmb3 5 "$snap2b" "$tmp/ref2b.raw" "$s2"
[ "$(log_on B "fetch ")" = 0 ] || { cat "$B_LOG" >&2; die "3: B's cowherd fetched"; }
[ "$(glance_count_downloads "$o2")" = "$n2" ] || die "3: Glance served o2"
b_base_is 3 "$e1" "$e1.cowherd-top" "$s1" "$s1.cowherd.json" "$e2" "$e2.cowherd-top" "$s2" \
    "$s2.cowherd.json" "$ENTRY" "$ENTRY.cowherd-top"
note "3 $snap2b on B ($DOM running): _base/$s2 cached; the disk reads as vm2's at its second snapshot"

running A "$dom1"
running B instance-00000003 instance-00000004 instance-00000005
note "all cases as expected in $(since_s "$t_start") s"
