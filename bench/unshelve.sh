#!/bin/bash
# unshelve.sh [BUILDDIR]: Nova's rebase of an unshelved disk onto the
# original image (LibvirtDriver._rebase_original_qcow2_image), through
# cowherd's qemu-img shim against the real qemu-img, side by side.
#
#   sudo bench/unshelve.sh [BUILDDIR]
#
#   real:  qemu-img rebase -b _base/<orig> -F raw DISK   (Nova's argv,
#          /usr/bin/qemu-img first on PATH: the safe rebase reads every
#          cluster of both backing files the disk does not hold)
#   shim:  the same argv with a directory first on PATH whose qemu-img is a
#          symlink to BUILDDIR/wrapper/qemu-img: the disk's backing file
#          was made whole from a COW-only snapshot, so `cowherd snapshot
#          rebase` checks the snapshot top kept beside it (sha256 of the
#          top, the original's identity, Nova's locks), points the disk at
#          the top (rebase -u) and runs the argv, which then compares the
#          top's clusters only
#
# Fixture, made the way it is made in the cloud (under $tmp/instances):
# the original _base/<orig>, 2 GiB raw, 64 chunks of 16 MiB of random
# bytes, one every 32 MiB (1 GiB of data); a 4 GiB disk over it with TOP
# MiB of guest data (1 MiB writes at uneven offsets over the whole disk);
# its COW-only snapshot made by the shim (Nova's extract_snapshot argv,
# [snapshot] key_file set), copied to _base/<snap>.part as Nova's download
# leaves it, and made whole by the shim for Nova's `qemu-img convert -O
# raw` into _base/<snap> (which keeps _base/<snap>.cowherd-top).  The
# disk to rebase: what unshelve's spawn makes, a 4 GiB qcow2 over
# _base/<snap> with nothing of its own.  TOPS="64 512" (MiB), one fixture
# each.
#
# ROUNDS (3) runs per side and fixture, alternating (and which side goes
# first alternates).  Before each run, outside the timing: a fresh disk,
# `sync`, and the pages of the original, the entry and the top dropped
# (`dd iflag=nocache count=0`, those files only): a host whose guests run
# with Nova's cache=none has them on disk, not in memory.  After each
# round: `qemu-img compare` of the two results must say identical, both
# must name the original (raw) as backing file, their own clusters
# (qemu-img map, depth 0, offsets aside) must be the same, and the shim's
# log must say it went through the top.  Any failure stops the bench.
#
# Prints the machine and a table (medians, all runs, ratio) with the
# target: the shim's time in proportion to the top, not the disk.
#
# Runs as root in a private mount namespace with a tmpfs over /etc/cowherd
# (its own cowherd.conf and snapshot key; BUILDDIR must be configured with
# -DCMAKE_INSTALL_PREFIX=/usr).  Scratch: about 4 GiB per fixture under a
# temp dir in /var/tmp (on disk, not tmpfs), removed at exit.
# Not part of the test suite: the numbers depend on the machine.
set -euo pipefail
export LC_ALL=C

self=$(readlink -f "$0")
here=$(dirname "$self")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
builddir=${1:-${BUILDDIR:-$here/../build}}
rounds=${ROUNDS:-3}
tops=${TOPS:-64 512}
real=/usr/bin/qemu-img

die() { echo "unshelve: $*" >&2; exit 1; }
note() { echo "unshelve: $*" >&2; }

[ "$(id -u)" = 0 ] || die "must run as root (it uses a private mount namespace)"
bench_private_ns "$self" "$@"
for c in qemu-img qemu-io dd truncate sha1sum awk mount umount; do
    command -v "$c" >/dev/null || die "$c missing"
done
builddir=$(readlink -f "$builddir") || die "no build dir $builddir"
shim=$builddir/wrapper/qemu-img
cli=$builddir/cli/cowherd
[ -x "$shim" ] && [ -x "$cli" ] || die "$builddir is not built"
grep -q '"/etc/cowherd/cowherd.conf"' "$builddir/cowherd-build.h" ||
    die "$builddir was not configured with -DCMAKE_INSTALL_PREFIX=/usr"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number"
read -r -a tops <<<"$tops"

bench_scratch /var/tmp/cowherd-bench-unshelve.XXXXXX
tmp=$BENCH_TMP
[ "$(df --output=avail -B1 "$tmp" | tail -n 1)" -gt $((6 << 30)) ] || die "need 6 GiB free in /var/tmp"

bench_etc_cowherd
inst=$tmp/instances
base=$inst/_base
log=$tmp/cowherd.log
mkdir -p "$base" "$inst/locks" "$tmp/shim-bin" "$tmp/results"
ln -s "$shim" "$tmp/shim-bin/qemu-img"
path_real=$PATH
path_shim=$tmp/shim-bin:$PATH
head -c 64 /dev/urandom >/etc/cowherd/snapshot.key
chmod 0600 /etc/cowherd/snapshot.key
bench_cowherd_conf "$inst" "$log" "$real" "$cli" /etc/cowherd/snapshot.key

orig=$base/$(printf 'cowherd-bench-unshelve-original' | sha1sum | cut -c1-40)
note "writing the 2 GiB original (1 GiB of data) ..."
truncate -s 2G "$orig"
for ((i = 0; i < 64; i++)); do
    dd if=/dev/urandom of="$orig" bs=1M count=16 seek=$((i * 32)) conv=notrunc iflag=fullblock status=none
done

declare -A real_t shim_t top_alloc
uncache() {
    local f
    for f in "$@"; do dd if="$f" iflag=nocache count=0 status=none; done
}

# fixture MIB: the snapshot entry (whole) and its top for a disk with MIB
# MiB of guest data; sets snap.
fixture() {
    local mib=$1 i off stride=$((4096 / $1)) d0=$inst/disk0 s
    local -a io=()
    rm -f "$base"/*.cowherd-top "$base"/????????????????????????????????????????.part
    qemu-img create -q -f qcow2 -F raw -b "$orig" "$d0" 4G
    head -c 1M /dev/urandom >"$tmp/chunk"
    for ((i = 0; i < mib; i++)); do
        off=$((i * stride + (i * 5) % (stride > 1 ? stride - 1 : 1)))
        io+=(-c "write -q -s $tmp/chunk ${off}M 1M")
    done
    qemu-io -f qcow2 "${io[@]}" "$d0" >/dev/null
    s=$(printf 'cowherd-bench-unshelve-snap-%s' "$mib" | sha1sum | cut -c1-40)
    snap=$base/$s
    PATH=$path_shim qemu-img convert -f qcow2 -O qcow2 "$d0" "$tmp/snap.qcow2"
    grep -q "signature: *holds" <<<"$("$cli" snapshot show "$tmp/snap.qcow2")" ||
        die "the snapshot of the $mib MiB disk is not COW-only"
    cp "$tmp/snap.qcow2" "$snap.part"
    PATH=$path_shim qemu-img convert -t none -O raw -f qcow2 "$snap.part" "$snap.converted"
    mv "$snap.converted" "$snap"
    rm -f "$snap.part" "$d0" "$tmp/snap.qcow2"
    [ -f "$snap.cowherd-top" ] || die "no top kept beside $snap"
    sync
}

run_side() {
    local side=$1 mib=$2 d=$inst/disk t0 t1 p
    rm -f "$d"
    qemu-img create -q -f qcow2 -F raw -b "$snap" "$d" 4G
    sync
    uncache "$orig" "$snap" "$snap.cowherd-top"
    : >"$log"
    if [ "$side" = real ]; then p=$path_real; else p=$path_shim; fi
    t0=$EPOCHREALTIME
    PATH=$p qemu-img rebase -b "$orig" -F raw "$d" || die "$side rebase failed"
    t1=$EPOCHREALTIME
    if [ "$side" = real ]; then
        real_t[$mib]+=" $(elapsed "$t0" "$t1")"
        [ ! -s "$log" ] || die "the real side logged: $(cat "$log")"
    else
        shim_t[$mib]+=" $(elapsed "$t0" "$t1")"
        grep -q "through the snapshot top" "$log" || die "the shim did not go through the top: $(cat "$log")"
    fi
    mv "$d" "$tmp/results/$side"
}

own() {
    qemu-img map -f qcow2 --output=json "$1" | awk '/"depth": 0,/ { sub(/, "offset": [0-9]+/, ""); print }'
}

check() {
    local f
    for f in real shim; do
        grep -qF "\"backing-filename\": \"$orig\"" \
            <<<"$(qemu-img info -f qcow2 --output=json "$tmp/results/$f")" ||
            die "the $f result does not stand on the original"
    done
    [ "$(qemu-img compare -f qcow2 -F qcow2 "$tmp/results/real" "$tmp/results/shim")" = "Images are identical." ] ||
        die "the results differ"
    [ "$(own "$tmp/results/real")" = "$(own "$tmp/results/shim")" ] || die "the results' own clusters differ"
}

for mib in "${tops[@]}"; do
    note "fixture: a 4 GiB disk with $mib MiB of guest data, snapshotted COW-only and made whole ..."
    fixture "$mib"
    top_alloc[$mib]=$(($(stat -c %b "$snap.cowherd-top") * 512))
    for ((r = 0; r < rounds; r++)); do
        if ((r % 2)); then run_side shim "$mib"; run_side real "$mib"; else run_side real "$mib"; run_side shim "$mib"; fi
        check
    done
done

echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
    "$(qemu-img --version | head -n 1), /var/tmp on $(df --output=fstype "$tmp" | tail -n 1)"
echo "Nova's rebase of an unshelved 4 GiB disk onto the 2 GiB original (1 GiB of data), cold pages, $rounds rounds"
printf '%-10s %-12s %-12s %-30s %-12s %-30s %s\n' "top MiB" "top alloc" "real median" "real runs" \
    "shim median" "shim runs" "shim/real"
for mib in "${tops[@]}"; do
    # shellcheck disable=SC2086
    rm_=$(median ${real_t[$mib]})
    # shellcheck disable=SC2086
    sm_=$(median ${shim_t[$mib]})
    printf '%-10s %-12s %-12s %-30s %-12s %-30s %s\n' "$mib" "${top_alloc[$mib]}" "$rm_" "${real_t[$mib]# }" \
        "$sm_" "${shim_t[$mib]# }" "$(awk -v a="$sm_" -v b="$rm_" 'BEGIN { printf "%.3f", a / b }')"
done
echo "target: the shim's time in proportion to the snapshot's top, not the disk; identical results (checked every round)"
