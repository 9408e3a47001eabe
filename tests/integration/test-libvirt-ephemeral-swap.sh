#!/usr/bin/env bash
# The ephemeral (vfat) and swap bases are missing, the root base is there:
# the hook creates both as Nova would, and the domain runs.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
private_ns "$@"
requires qemu-img blkid sha1sum "$PYTHON"

mktempdir tmp
lvhost_up "$tmp/host"

image=$(new_uuid)
sha=$(image_sha1 "$image")
eph=$NOVA_BASE/ephemeral_1_0706d66
swap=$NOVA_BASE/swap_64
make_original "$NOVA_BASE/$sha" 64
cp --sparse=always "$NOVA_BASE/$sha" "$NOVA_BASE/${sha}_1"
truncate -s 1G "$NOVA_BASE/${sha}_1"
make_instance vm1 "$(new_uuid)" "$image" 64 root eph swap >"$tmp/vm1.xml"

virsh -q define "$tmp/vm1.xml" >/dev/null
virsh -q start vm1 || { show_log; die "virsh start vm1 failed"; }
assert_running vm1

show_log
[ -f "$eph" ] || die "$eph was not created"
[ -f "$swap" ] || die "$swap was not created"
[ "$(raw_virtual_size "$eph")" = $((1024 * 1024 * 1024)) ] || die "$eph is not 1 GiB"
[ "$(raw_virtual_size "$swap")" = $((64 * 1024 * 1024)) ] || die "$swap is not 64 MiB"
[ "$(fs_type "$eph")" = vfat ] || die "$eph: type '$(fs_type "$eph")', want vfat"
[ "$(fs_label "$eph")" = ephemeral0 ] || die "$eph: label '$(fs_label "$eph")', want ephemeral0"
[ "$(fs_type "$swap")" = swap ] || die "$swap: type '$(fs_type "$swap")', want swap"
assert_logged vm1 vdb create-ephemeral "$eph"
assert_logged vm1 vdc create-swap "$swap"
[ "$(log_count "copy-extend")" = 0 ] || die "the present root base was rebuilt"
assert_base_files "$sha" "${sha}_1" ephemeral_1_0706d66 swap_64
