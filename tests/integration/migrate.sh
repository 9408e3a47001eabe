# shellcheck shell=bash
# migrate.sh: domains for the live migration tests, made on host A of
# twohost.sh.  Source it after twohost.sh.
#
#   vm_top PATH BACKING SIZE [MIB_OF_DATA]   a Nova-style top on A over
#                        BACKING (raw), with MIB_OF_DATA MiB of 0x5a
#                        written into it by qemu-io (default 4)
#   vm_xml NAME UUID IMAGE|- EPH_GB SWAP_MB DISK...   a TCG domain (128 MiB,
#                        no OS) over the file disks DISK (vda, vdb, ...),
#                        with Nova's metadata when IMAGE is not "-"
#   vm_start_a NAME XML  define and start it on A
#   mig_setup            cowherd on both hosts: the CLI as fetcher, state
#                        under /run/libvirt/cowherd (private to each host)

vm_top() {
    local top=$1 backing=$2 size=$3 mib=${4:-4}
    th_a mkdir -p "${top%/*}"
    th_a qemu-img create -q -f qcow2 -F raw -b "$backing" "$top" "$size"
    [ "$mib" = 0 ] || th_a qemu-io -f qcow2 -c "write -q -P 0x5a 0 ${mib}M" "$top"
}

# vm_xml NAME UUID IMAGE|- EPH_GB SWAP_MB DISK...: domain_xml with 128 MiB.
vm_xml() {
    local name=$1 uuid=$2 image=$3 eph=$4 swap=$5
    shift 5
    domain_xml "$name" "$uuid" "$image" "$eph" "$swap" 128 "$@"
}

vm_start_a() {
    local name=$1 xml=$2
    th_a virsh -q define "$xml" >/dev/null
    th_a virsh -q start "$name" >/dev/null
    [ "$(th_a virsh domstate "$name")" = running ] || die "$name does not run on A"
}

mig_setup() {
    requires_built COWHERD_HOOK COWHERD_CLI
    local h
    for h in A B; do
        th_conf "$h" <<EOF
[tools]
fetcher = $COWHERD_CLI
[hook]
state_dir = /run/libvirt/cowherd
EOF
    done
}

# mig_log: B's cowherd log.
mig_log() {
    cat "$(th_path B "$COWHERD_LOG")" 2>/dev/null || true
}

# mig_log_has [GREP OPTION...] PATTERN: B's cowherd log has a matching line
# (grep reads the file itself: no pipe for it to close early).
mig_log_has() {
    grep -q "$@" "$(th_path B "$COWHERD_LOG")" 2>/dev/null
}

# assert_runs_on_b NAME: NAME runs on B and no longer on A.
assert_runs_on_b() {
    local s
    s=$(th_b virsh domstate "$1") || die "$1 unknown on B"
    [ "$s" = running ] || die "$1 is '$s' on B, not running"
    s=$(th_a virsh domstate "$1")
    [ "$s" = "shut off" ] || die "$1 is '$s' on A, want 'shut off'"
}
