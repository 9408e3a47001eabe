#!/usr/bin/env bash
# Both <sha1>_1 and its original <sha1> are missing and there is no source:
# `virsh start` fails with the hook's one-line reason, naming the disk and
# the missing original, and nothing is left in _base.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
private_ns "$@"
requires qemu-img grep sha1sum

mktempdir tmp
lvhost_up "$tmp/host"

image=$(new_uuid)
sha=$(image_sha1 "$image")
make_instance vm1 "$(new_uuid)" "$image" 64 root >"$tmp/vm1.xml"

virsh -q define "$tmp/vm1.xml" >/dev/null
if virsh -q start vm1 >"$tmp/start.out" 2>&1; then
    cat "$tmp/start.out" >&2
    die "virsh start succeeded without the original image"
fi
note "virsh start failed as expected:"
cat "$tmp/start.out" >&2

# The original's own path, not just the <sha1>_1 it is a prefix of.
grep -qE "$NOVA_BASE/$sha(\$|[^_0-9a-z])" "$tmp/start.out" ||
    die "the error does not name the missing original $NOVA_BASE/$sha"
grep -qw vda "$tmp/start.out" || die "the error does not name the disk vda"
state=$(virsh domstate vm1)
[ "$state" = "shut off" ] || die "vm1 is '$state', want 'shut off'"
assert_base_files
