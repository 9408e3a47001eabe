#!/usr/bin/env bash
# The full hook path: a domain over an image whose original <sha1> and
# resized <sha1>_1 are both missing, with Glance configured as the source,
# starts on a real libvirtd.  The hook fetches the original from Glance
# (once, verified, with its manifest), then copies and extends it.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/glance.sh"
private_ns "$@"
requires qemu-img cmp sha1sum "$PYTHON"
requires_built COWHERD_CLI

mktempdir tmp
glance_up "$tmp/glance"
lvhost_up "$tmp/host"
glance_configure

make_original "$tmp/image.raw" 64
image=$(glance_upload "$tmp/image.raw" raw)
sha=$(image_sha1 "$image")
orig=$NOVA_BASE/$sha
resized=$NOVA_BASE/${sha}_1
make_instance vm1 "$(new_uuid)" "$image" 64 root >"$tmp/vm1.xml"
if [ -e "$orig" ] || [ -e "$resized" ]; then die "a base exists before the start"; fi

virsh -q define "$tmp/vm1.xml" >/dev/null
if ! virsh -q start vm1 >"$tmp/start.out" 2>&1; then
    cat "$tmp/start.out" >&2
    show_log
    die "virsh start vm1 failed"
fi
assert_running vm1

cmp "$tmp/image.raw" "$orig" || die "$orig differs from the image in Glance"
[ -f "$orig.cowherd.json" ] || die "no manifest beside $orig"
assert_resized_base "$orig" "$resized" 1
[ "$(glance_count_downloads "$image")" = 1 ] ||
    die "glance served $image $(glance_count_downloads "$image") times, want once"

# One line for the fetch of the original, one for the copy-extend.
assert_logged vm1 vda fetch "$orig"
assert_logged vm1 vda copy-extend "$resized"
if [ -e "$resized.cowherd.json" ]; then
    assert_base_files "$sha" "$sha.cowherd.json" "${sha}_1" "${sha}_1.cowherd.json"
else
    assert_base_files "$sha" "$sha.cowherd.json" "${sha}_1"
fi
note "vm1 started over $sha fetched from Glance and ${sha}_1 built from it"
