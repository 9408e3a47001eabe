#!/usr/bin/env bash
# A resized root base <sha1>_1 is missing, its original <sha1> is in the
# cache: `virsh start` runs the hook, which copies and extends the original,
# and the domain runs on it.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
private_ns "$@"
requires qemu-img du sha1sum "$PYTHON"

mktempdir tmp
lvhost_up "$tmp/host"

image_fixture 64
make_instance vm1 "$(new_uuid)" "$image" 64 root >"$tmp/vm1.xml"
[ ! -e "$resized" ] || die "fixture: $resized exists"

virsh -q define "$tmp/vm1.xml" >/dev/null
virsh -q start vm1 || { show_log; die "virsh start vm1 failed"; }
assert_running vm1

show_log
assert_resized_base "$orig" "$resized" 1
assert_logged vm1 vda copy-extend "$resized"
assert_base_files "$sha" "${sha}_1"
