#!/bin/bash
# migrate.sh [BUILDDIR]: a live migration that moves only the COW layer,
# side by side with what users do without cowherd, between two libvirt
# hosts on one machine (tests/integration/twohost.sh: network namespaces
# joined by a veth pair, a libvirtd --listen in each, TCG guests).
#
#   sudo bench/migrate.sh [BUILDDIR]
#
#   cowherd-inc:  B's _base empty; `virsh migrate --live --copy-storage-inc`.
#                 B's migrate hook reads the disk's header from A over sftp
#                 (the veth), fetches the base from A's cache through a
#                 file:// peer (the filesystem both hosts share here, not the
#                 veth: as from Glance or a peer on a storage network),
#                 creates the empty top, and QEMU moves the top layer.
#   copy-all:     `virsh migrate --live --copy-storage-all` onto an empty
#                 flat qcow2 of the disk's size made by hand on B (what
#                 libvirt needs for it): the whole disk crosses.
#   nova-cold:    Nova's cold path: `qemu-img convert -O qcow2` flattens the
#                 disk on A, then B pulls it with `scp` from A's sshd.
#
# Fixture (made once): a 2 GiB raw base in A's _base, 64 chunks of 32 MiB
# each 16 MiB of random bytes then a 16 MiB hole (1 GiB of data), with
# cowherd's manifest; per run a fresh 2 GiB qcow2 top over it with 64 MiB
# written by qemu-io, under a 128 MiB guest that runs no OS.  Each method
# runs ROUNDS (3) times, rotating the order; every run's result is checked
# identical to A's disk (qemu-img compare) and removed afterwards.  Bytes
# are the veth's rx + tx counters around the transfer (Ethernet frames).
#
# Prints: method, median wall time, median bytes over the veth, bytes
# relative to (A's top allocated + guest RAM), and to copy-all.
#
# Not part of the test suite: the numbers depend on the machine.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
export LC_ALL=C

self=$(readlink -f "$0")
here=$(dirname "$self")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
builddir=$(readlink -f "${1:-${BUILDDIR:-$here/../build}}")
rounds=${ROUNDS:-3}
export COWHERD_HOOK=$builddir/hooks/cowherd-hook COWHERD_CLI=$builddir/cli/cowherd
export BUILDDIR=$builddir

# shellcheck source=../tests/integration/functions.sh
source "$here/../tests/integration/functions.sh"
# shellcheck source=../tests/integration/twohost.sh
source "$here/../tests/integration/twohost.sh"
# shellcheck source=../tests/integration/migrate.sh
source "$here/../tests/integration/migrate.sh"
private_ns "$@"
requires qemu-img qemu-io scp dd "$PYTHON"
for b in "$COWHERD_HOOK" "$COWHERD_CLI"; do
    [ -x "$b" ] || die "$b not built (cmake --build $builddir)"
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number"

tmp=
mktempdir tmp
twohost_up "$tmp/hosts"
th_sshd_up_a
mig_setup
# The file peer first: bases come through the filesystem; the sftp peer
# shows B the source's disk headers (the chain: a few KiB over the veth).
th_conf B <<EOF
[peers]
urls = file://$TH_A_DIR/lib-nova/instances/_base/, sftp://root@$TH_A_ADDR:$TH_SSHD_PORT$NOVA_BASE/
ssh_key = $TH_SSH_KEY
EOF

ram=$((128 << 20))
image=$(new_uuid)
sha=$(image_sha1 "$image")
base=$NOVA_BASE/$sha
a_base=$(th_path A "$base")
note "fixture: 2 GiB base, 1 GiB of random data"
for ((c = 0; c < 64; c++)); do
    dd if=/dev/urandom of="$a_base" bs=1M seek=$((c * 32)) count=16 conv=notrunc status=none
done
truncate -s 2G "$a_base"
th_seed_base "$sha" 2048 "$image"

# new_vm: a fresh top on A with 64 MiB of data; prints its uuid.
new_vm() {
    local uuid
    uuid=$(new_uuid)
    vm_top "$NOVA_INSTANCES/$uuid/disk" "$base" 2G 64 >&2
    printf '%s\n' "$uuid"
}

# forget UUID: the domain and its files, on both hosts; B's cache emptied.
forget() {
    local h
    for h in th_a th_b; do
        "$h" virsh -q destroy "vm-$1" >/dev/null 2>&1 || true
        "$h" virsh -q undefine "vm-$1" >/dev/null 2>&1 || true
    done
    rm -rf "$(th_path A "$NOVA_INSTANCES/$1")" "$(th_path B "$NOVA_INSTANCES/$1")"
    rm -f "$(th_path B "$base")" "$(th_path B "$base").cowherd.json"
    sync
}

declare -A secs bytes
alloc=0

run_inc() {
    local uuid t0 b0
    uuid=$(new_vm)
    alloc=$(($(stat -c %b "$(th_path A "$NOVA_INSTANCES/$uuid/disk")") * 512))
    vm_xml "vm-$uuid" "$uuid" - 0 0 "$NOVA_INSTANCES/$uuid/disk" >"$tmp/vm.xml"
    vm_start_a "vm-$uuid" "$tmp/vm.xml"
    b0=$(th_veth_bytes)
    t0=$EPOCHREALTIME
    th_migrate "vm-$uuid" --copy-storage-inc >/dev/null
    secs[inc]+=" $(elapsed "$t0" "$EPOCHREALTIME")"
    bytes[inc]+=" $(($(th_veth_bytes) - b0))"
    th_same_disk "$NOVA_INSTANCES/$uuid/disk" || die "cowherd-inc: B's disk differs"
    forget "$uuid"
}

run_all() {
    local uuid t0 b0 top
    uuid=$(new_vm)
    top=$NOVA_INSTANCES/$uuid/disk
    vm_xml "vm-$uuid" "$uuid" - 0 0 "$top" >"$tmp/vm.xml"
    vm_start_a "vm-$uuid" "$tmp/vm.xml"
    th_b mkdir -p "${top%/*}"
    th_b qemu-img create -q -f qcow2 "$top" 2G
    b0=$(th_veth_bytes)
    t0=$EPOCHREALTIME
    th_migrate "vm-$uuid" --copy-storage-all >/dev/null
    secs[all]+=" $(elapsed "$t0" "$EPOCHREALTIME")"
    bytes[all]+=" $(($(th_veth_bytes) - b0))"
    qemu-img compare -q -U "json:$(th_chain_json A "$top")" "json:$(th_chain_json B "$top")" ||
        die "copy-all: B's disk differs"
    forget "$uuid"
}

run_cold() {
    local uuid t0 b0 top
    uuid=$(new_vm)
    top=$NOVA_INSTANCES/$uuid/disk
    th_b mkdir -p "${top%/*}"
    b0=$(th_veth_bytes)
    t0=$EPOCHREALTIME
    th_a qemu-img convert -f qcow2 -O qcow2 "$top" "$top.flat"
    th_b scp -q -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -i "$TH_SSH_KEY" -P "$TH_SSHD_PORT" "root@$TH_A_ADDR:$top.flat" "$top"
    secs[cold]+=" $(elapsed "$t0" "$EPOCHREALTIME")"
    bytes[cold]+=" $(($(th_veth_bytes) - b0))"
    qemu-img compare -q -U "json:$(th_chain_json A "$top")" "json:$(th_chain_json B "$top")" ||
        die "nova-cold: B's disk differs"
    forget "$uuid"
}

order=(inc all cold)
for ((r = 0; r < rounds; r++)); do
    for ((k = 0; k < 3; k++)); do
        m=${order[(r + k) % 3]}
        note "round $((r + 1)): $m"
        "run_$m"
    done
done

# shellcheck disable=SC2086  # the lists are words
{
    all_b=$(median ${bytes[all]})
    printf '%-12s %10s %14s %16s %12s\n' method "median s" "median bytes" "/(top+RAM)" "/copy-all"
    for m in inc all cold; do
        b=$(median ${bytes[$m]})
        printf '%-12s %10s %14.0f %16s %12s\n' \
            "$(case $m in inc) echo cowherd-inc ;; all) echo copy-all ;; cold) echo nova-cold ;; esac)" \
            "$(median ${secs[$m]})" "$b" \
            "$(awk -v b="$b" -v d=$((alloc + ram)) 'BEGIN { printf "%.3f", b / d }')" \
            "$(awk -v b="$b" -v a="$all_b" 'BEGIN { printf "%.3f", b / a }')"
    done
    printf '\nA top allocated %d bytes, guest RAM %d bytes; %d rounds\n' "$alloc" "$ram" "$rounds"
    for m in inc all cold; do
        printf '%-5s s:%s  bytes:%s\n' "$m" "${secs[$m]}" "${bytes[$m]}"
    done
}
