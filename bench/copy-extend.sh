#!/bin/bash
# copy-extend.sh [BUILDDIR]: rebuilding a resized cache entry <sha1>_8
# (8 GiB) from a sparse 2 GiB raw original <sha1> holding 1 GiB of data,
# cowherd's way versus Nova's way, side by side.
#
#   bench/copy-extend.sh [BUILDDIR]
#
#   Nova:     cp <sha1> <sha1>_8 && qemu-img resize -f raw <sha1>_8 8G
#   cowherd:  cowherd ensure --config CONF domain.xml   (one qcow2 disk over
#             the missing _base/<sha1>_8: probe, plan, lock, copy the data
#             extents, extend, fsync, rename, fsync the directory)
#
# Each side runs ROUNDS (5) times, alternating (which side goes first
# alternates too); the output is removed and `sync` run before every run,
# outside the timing.  The page cache is not dropped (a shared machine), so
# the original is read from memory by both sides.  Both sides end durable:
# cowherd fsyncs the entry (and the directory after the rename), and
# `qemu-img resize` fdatasyncs the image as it closes it, writing back what
# cp left dirty.  To show that, each Nova run also reports the time until a
# further fsync of its result returns (it should add next to nothing).
# Prints median wall times, the ratio, the allocation of both results and
# `qemu-img compare` of the two.  Scratch files (about 3 GiB) live under a
# temp dir in /tmp and are removed at exit.  BUILDDIR (or $BUILDDIR;
# default: build/ next to bench/) holds the built cli/cowherd.
#
# Not part of the test suite: the numbers depend on the machine.
set -euo pipefail
export LC_ALL=C                  # '.' in $EPOCHREALTIME and in numbers

self=$(readlink -f "$0")
here=$(dirname "$self")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
builddir=${1:-${BUILDDIR:-$here/../build}}
rounds=${ROUNDS:-5}

die() {
    echo "copy-extend: $*" >&2
    exit 1
}

for c in qemu-img cp sync du stat truncate dd sha1sum awk; do
    command -v "$c" >/dev/null || die "$c missing"
done
builddir=$(readlink -f "$builddir") || die "no build dir $builddir"
cli=$builddir/cli/cowherd
[ -x "$cli" ] || die "$cli not built (cmake --build $builddir)"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number"

tmp=
cleanup() {
    [ -z "$tmp" ] || rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

tmp=$(mktemp -d /tmp/cowherd-bench-ce.XXXXXX)
avail=$(df --output=avail -B1 "$tmp" | tail -n 1)
[ "$avail" -gt $((4 * 1024 * 1024 * 1024)) ] || die "need 4 GiB free in /tmp"

inst=$tmp/instances
base=$inst/_base
uuid=11111111-2222-4333-8444-555555555555
sha1=$(printf '%s' cowherd-bench-copy-extend | sha1sum | cut -c1-40)
src=$base/$sha1
cow_out=$base/${sha1}_8                  # what cowherd rebuilds
nova_dir=$tmp/nova
nova_out=$nova_dir/${sha1}_8             # Nova's copy, same filesystem
conf=$tmp/cowherd.conf
xml=$tmp/domain.xml
mkdir -p "$base" "$inst/locks" "$inst/$uuid" "$nova_dir"

# The original: 2 GiB, 64 chunks of 16 MiB of random data every 32 MiB,
# holes between: 1 GiB of data.
echo "copy-extend: writing the 2 GiB original (1 GiB of data) ..." >&2
truncate -s 2G "$src"
for ((i = 0; i < 64; i++)); do
    dd if=/dev/urandom of="$src" bs=16M count=1 seek=$((2 * i)) \
        conv=notrunc iflag=fullblock status=none
done
truncate -s 2G "$src"
sync

qemu-img create -q -f qcow2 -F raw -b "$cow_out" -u "$inst/$uuid/disk" 8G

cat >"$conf" <<EOF
[nova]
instances_path = $inst
[log]
syslog = false
EOF

cat >"$xml" <<EOF
<domain type='kvm'>
  <name>instance-00000008</name>
  <uuid>$uuid</uuid>
  <metadata>
    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
      <nova:name>copy-extend</nova:name>
      <nova:flavor name="m1.eight">
        <nova:memory>2048</nova:memory>
        <nova:disk>8</nova:disk>
        <nova:swap>0</nova:swap>
        <nova:ephemeral>0</nova:ephemeral>
        <nova:vcpus>1</nova:vcpus>
      </nova:flavor>
      <nova:root type="image" uuid="a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"/>
    </nova:instance>
  </metadata>
  <memory unit='KiB'>2097152</memory>
  <os>
    <type arch='x86_64'>hvm</type>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='$inst/$uuid/disk'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
EOF


nova_t=()
nova_durable_t=()
cow_t=()

run_nova() {
    local t0 t1 t2
    rm -f "$nova_out"
    sync
    t0=$EPOCHREALTIME
    cp "$src" "$nova_out"
    qemu-img resize -q -f raw "$nova_out" 8G
    t1=$EPOCHREALTIME
    sync -- "$nova_out"          # fsync(2): is anything left unwritten?
    t2=$EPOCHREALTIME
    nova_t+=("$(elapsed "$t0" "$t1")")
    nova_durable_t+=("$(elapsed "$t0" "$t2")")
}

run_cowherd() {
    local t0 t1
    rm -f "$cow_out"
    sync
    t0=$EPOCHREALTIME
    "$cli" ensure --config "$conf" "$xml" 2>>"$tmp/cowherd.err" ||
        die "cowherd ensure failed: $(cat "$tmp/cowherd.err")"
    t1=$EPOCHREALTIME
    [ -f "$cow_out" ] || die "cowherd ensure did not create $cow_out"
    cow_t+=("$(elapsed "$t0" "$t1")")
}

echo "copy-extend: $rounds rounds, alternating ..." >&2
for ((r = 0; r < rounds; r++)); do
    if ((r % 2 == 0)); then
        run_nova
        run_cowherd
    else
        run_cowherd
        run_nova
    fi
done

nova_med=$(median "${nova_t[@]}")
nova_durable_med=$(median "${nova_durable_t[@]}")
cow_med=$(median "${cow_t[@]}")
ratio=$(awk -v c="$cow_med" -v n="$nova_med" 'BEGIN { printf "%.2f", c / n }')
ratio_durable=$(awk -v c="$cow_med" -v n="$nova_durable_med" 'BEGIN { printf "%.2f", c / n }')

alloc() {               # alloc FILE: "du bytes | stat %b x %B"
    printf '%s | %s x %s' "$(du --block-size=1 "$1" | cut -f1)" \
        "$(stat -c %b "$1")" "$(stat -c %B "$1")"
}

if cmp_out=$(qemu-img compare -f raw -F raw "$nova_out" "$cow_out" 2>&1); then
    identical=yes
else
    identical=no
fi
nova_du=$(du --block-size=1 "$nova_out" | cut -f1)
cow_du=$(du --block-size=1 "$cow_out" | cut -f1)

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
fs=$(findmnt -n -o FSTYPE -T "$tmp" 2>/dev/null || stat -f -c %T "$tmp")
echo "machine: $(nproc) CPUs ($cpu), Linux $(uname -r), $(date -u +%Y-%m-%d); $fs under /tmp"
echo "original: 2 GiB raw, $(du --block-size=1 "$src" | cut -f1) bytes allocated;" \
     "result: 8 GiB raw; $rounds runs per side, alternating, sync before each"
echo
echo "| side | median s | runs s | allocated bytes (du) | stat %b x %B |"
echo "|---|---:|---|---:|---|"
echo "| Nova: cp + qemu-img resize | $nova_med | ${nova_t[*]} | $(alloc "$nova_out") |"
echo "| (Nova, then another fsync of the result) | $nova_durable_med | ${nova_durable_t[*]} | | |"
echo "| cowherd ensure | $cow_med | ${cow_t[*]} | $(alloc "$cow_out") |"
echo
echo "cowherd / Nova (cp + resize): $ratio; cowherd / (cp + resize + fsync): $ratio_durable"
echo "qemu-img compare -f raw -F raw: $cmp_out"
echo
echo "targets:"
if awk -v r="$ratio" 'BEGIN { exit !(r <= 1.0) }'; then v=met; else v=MISSED; fi
echo "  no slower than cp + resize: cowherd ${cow_med} s vs ${nova_med} s (x$ratio): $v"
if [ "$nova_du" = "$cow_du" ]; then v=met; else v=MISSED; fi
echo "  same allocation: $cow_du vs $nova_du bytes: $v"
if [ "$identical" = yes ]; then v=met; else v=MISSED; fi
echo "  identical content: $v"
[ "$identical" = yes ] || exit 1
