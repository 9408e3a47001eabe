#!/usr/bin/env bash
# The two-host harness (twohost.sh), without cowherd: a TCG domain on a
# qcow2 top over a raw base in _base migrates live from host A to host B
# with --copy-storage-inc, onto a base copied and an empty top made by hand
# on B; afterwards it runs on B only and B's chain reads as A's.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/twohost.sh"
private_ns "$@"
requires qemu-img qemu-io cmp
# The harness alone: ctest sets COWHERD_HOOK, no host gets it here.
unset COWHERD_HOOK

mktempdir tmp
twohost_up "$tmp/hosts"

image=$(new_uuid)
uuid=$(new_uuid)
sha=$(image_sha1 "$image")
base=$NOVA_BASE/$sha                # as the hosts see them
top=$NOVA_INSTANCES/$uuid/disk
a_base=$TH_A_DIR/lib-nova/instances/_base/$sha    # as the test sees them
b_base=$TH_B_DIR/lib-nova/instances/_base/$sha
a_top=$TH_A_DIR/lib-nova/instances/$uuid/disk
b_top=$TH_B_DIR/lib-nova/instances/$uuid/disk

# A: the base, a top over it (the backing path is A's, hence make_overlay's
# -u here) with data of its own, and the domain.
make_original "$a_base" 64
mkdir -p "${a_top%/*}"
make_overlay "$a_top" "$base" 1G
th_a qemu-io -f qcow2 -c 'write -q -P 0x5a 0 4M' "$top"
domain_xml vm1 "$uuid" - 0 0 128 "$top" >"$tmp/vm1.xml"
th_a virsh -q define "$tmp/vm1.xml" >/dev/null
th_a virsh -q start vm1 >/dev/null
[ "$(th_a virsh domstate vm1)" = running ] || die "vm1 does not run on A"

# B: the same base, an empty top of the same size over the same name.
cp --sparse=always "$a_base" "$b_base"
mkdir -p "${b_top%/*}"
th_b qemu-img create -q -f qcow2 -F raw -b "$base" "$top" 1G

bytes0=$(th_veth_bytes)
t0=$EPOCHREALTIME
th_migrate vm1 --copy-storage-inc >/dev/null || die "virsh migrate vm1 failed"
moved=$(($(th_veth_bytes) - bytes0))
note "migrated in $(since_s "$t0") s, $moved bytes over the veth"
# The 4 MiB written on A went over the veth, not some shortcut.
[ "$moved" -gt $((4 * 1024 * 1024)) ] || die "only $moved bytes crossed the veth"

state=$(th_b virsh domstate vm1) || die "vm1 unknown on B"
[ "$state" = running ] || die "vm1 is '$state' on B, not running"
state=$(th_a virsh domstate vm1)
[ "$state" = "shut off" ] || die "vm1 is '$state' on A, want 'shut off'"

# Each chain explicitly, as the test sees it (B's is open: -U).
chain() {
    printf '{"driver": "qcow2", "file": {"driver": "file", "filename": "%s"},' "$1"
    printf ' "backing": {"driver": "raw", "file": {"driver": "file", "filename": "%s"}}}' "$2"
}
cmp "$a_base" "$b_base" || die "the bases differ"
qemu-img compare -U "json:$(chain "$a_top" "$a_base")" "json:$(chain "$b_top" "$b_base")" ||
    die "B's chain differs from A's"
# Not vacuous: B's top was empty and the base holds no 0x5a.
qemu-io -r -U -c 'read -q -P 0x5a 0 4M' "json:$(chain "$b_top" "$b_base")" ||
    die "B's chain lacks the data written on A"
note "B's chain is identical to A's"
