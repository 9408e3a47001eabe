#!/usr/bin/env bash
# Nova's download path with cowherd's shim first in its PATH: Nova 26's
# own nova.virt.images.fetch_to_raw (format inspector, `qemu-img info`,
# the conversion to raw) of a qcow2 and of a raw image from a real
# glance-api, with force_raw_images on and off.  With and without the shim
# the cache entry is byte for byte the same, and qemu-img saw the same
# calls: the shim passes info and convert through untouched.
set -euo pipefail
source "$(dirname "$0")/../integration/functions.sh"
source "$(dirname "$0")/../integration/glance.sh"
source "$(dirname "$0")/nova.sh"
private_ns "$@"
requires qemu-img qemu-io cmp
nova_requires

mktempdir tmp
glance_up "$tmp/glance"
hookhost_up "$tmp/host"

# A qcow2 image with data in two places, and the raw image of the same.
qemu-img create -q -f qcow2 "$tmp/image.qcow2" 96M
qemu-io -f qcow2 -c "write -P 0x5a 1M 3M" -c "write -P 0xa5 80M 1M" "$tmp/image.qcow2" >/dev/null
qemu-img convert -f qcow2 -O raw "$tmp/image.qcow2" "$tmp/image.raw"
qcow2_id=$(glance_upload "$tmp/image.qcow2" qcow2)
raw_id=$(glance_upload "$tmp/image.raw" raw)

# Every qemu-img call, whoever makes it, leaves its argv in a trace: the
# recorder is qemu-img for Nova without the shim, and the real qemu-img
# behind the shim.
qemu_img_recorder "$tmp/rec" "$tmp/calls"
printf '[tools]\nreal_qemu_img = %s\n' "$tmp/rec/qemu-img" >>"$COWHERD_CONF"

# fetch ID FORCE_RAW WHO: Nova's fetch_to_raw into _base/<sha1 of ID>; the
# entry is moved to $tmp/WHO.entry and the trace to $tmp/WHO.calls.
fetch() {
    local id=$1 force=$2 who=$3 entry
    entry=$NOVA_BASE/$(image_sha1 "$id")
    : >"$tmp/calls"
    nova_py "$NOVA_DIR/fetch_to_raw.py" "$GLANCE_URL" "$id" "$entry" "$force" ||
        die "$who: Nova's fetch_to_raw of $id (force_raw_images=$force) failed"
    [ -f "$entry" ] || die "$who: fetch_to_raw left no $entry"
    [ -z "$(find "$NOVA_BASE" -mindepth 1 -maxdepth 1 ! -name "${entry##*/}")" ] ||
        die "$who: fetch_to_raw left more in _base: $(ls -A "$NOVA_BASE")"
    mv "$entry" "$tmp/$who.entry"
    mv "$tmp/calls" "$tmp/$who.calls"
}

for case in "$qcow2_id 1 raw" "$qcow2_id 0 qcow2" "$raw_id 1 raw" "$raw_id 0 raw"; do
    read -r id force want <<<"$case"
    nova_shim_off
    NOVA_PATH=$tmp/rec:$NOVA_PATH
    fetch "$id" "$force" plain
    nova_shim_on "$tmp"
    fetch "$id" "$force" shim
    name="image $id, force_raw_images=$force"
    cmp "$tmp/plain.entry" "$tmp/shim.entry" || die "$name: the entry differs with the shim"
    fmt=$(qemu-img info --output=json -f "$want" "$tmp/shim.entry" |
        "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["format"])')
    [ "$fmt" = "$want" ] || die "$name: the entry is $fmt, want $want"
    qemu-img compare -q -f "$want" -F raw "$tmp/shim.entry" "$tmp/image.raw" ||
        die "$name: the entry does not read as the image"
    [ -s "$tmp/plain.calls" ] || die "$name: Nova ran no qemu-img"
    cmp "$tmp/plain.calls" "$tmp/shim.calls" || {
        diff "$tmp/plain.calls" "$tmp/shim.calls" >&2 || true
        die "$name: qemu-img saw other calls through the shim"
    }
    note "$name: $(wc -l <"$tmp/shim.calls") qemu-img calls, the same through the shim:" \
        "$(cut -d' ' -f1 "$tmp/shim.calls" | sort | uniq -c | tr -s ' \n' ' ')"
    rm -f "$tmp"/*.entry "$tmp"/*.calls
done
