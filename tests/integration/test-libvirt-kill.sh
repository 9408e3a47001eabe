#!/usr/bin/env bash
# The hook is SIGKILLed while it builds a resized base: no file appears
# under the final name, and the next `virsh start` cleans the stale partial
# file up (under the lock) and builds the base correctly.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
private_ns "$@"
requires qemu-img du sha1sum "$PYTHON"
requires_built KILLWHEN

mktempdir tmp
lvhost_up "$tmp/host"

image_fixture 512 full
make_instance vm1 "$(new_uuid)" "$image" 64 root >"$tmp/vm1.xml"

# The hook as libvirt runs it for prepare, killed the moment its partial
# file appears in its private build directory (made here first, as the
# hook would, so that it can be watched).
mkdir -m 700 "$COWHERD_TMP_DIR"
rc=0
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C \
    "$KILLWHEN" "$COWHERD_TMP_DIR" "${sha}_1" -- \
    "$COWHERD_HOOK" vm1 prepare begin - <"$tmp/vm1.xml" || rc=$?
[ "$rc" = 0 ] || die "the hook was not killed while building (killwhen exit $rc)"
[ ! -e "$resized" ] || die "$resized exists after the hook was killed mid-build"
[ -e "$COWHERD_TMP_DIR/${sha}_1" ] || die "no partial file left by the killed hook"
note "after the kill: _base [$(ls "$NOVA_BASE" | tr '\n' ' ')]," \
    "partial $(stat -c %s "$COWHERD_TMP_DIR/${sha}_1") bytes"

virsh -q define "$tmp/vm1.xml" >/dev/null
virsh -q start vm1 || { show_log; die "virsh start vm1 failed after the kill"; }
assert_running vm1

show_log
assert_resized_base "$orig" "$resized" 1
assert_logged vm1 vda copy-extend "$resized"
assert_base_files "$sha" "${sha}_1"
