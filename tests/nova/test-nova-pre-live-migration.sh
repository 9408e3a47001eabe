#!/usr/bin/env bash
# Live block migration's destination step.  On the destination, Nova's
# pre_live_migration runs LibvirtDriver._create_images_and_backing (Nova
# 26's own, with a real LibvirtDriver and the real image API against a
# real glance-api) from the disk_info the source computed (Nova's own
# _get_instance_disk_info_from_config over the domain XML); cowherd's hook
# runs its migrate op for the incoming domain.  In either order nothing
# fails, Glance serves the image once, and the destination ends up with the
# same files: the base (the image byte for byte), the instance's empty
# qcow2 top over it at the source's virtual size, and Nova's disk.info.
# Whoever comes second uses what the first made and replaces nothing.
#
# In a real migration Nova comes first: pre_live_migration runs before the
# source asks libvirt to migrate, and libvirt runs the hook's migrate op
# (`cowherd ensure --incoming`) on the way in.  pre_live_migration itself
# refuses an instance directory that exists already (DestinationDiskExists),
# so the hook-first order reaches Nova only through
# _create_images_and_backing, called here directly: it shows that Nova's
# step takes disks cowherd made as its own and replaces nothing.
set -euo pipefail
source "$(dirname "$0")/../integration/functions.sh"
source "$(dirname "$0")/../integration/glance.sh"
source "$(dirname "$0")/nova.sh"
private_ns "$@"
requires qemu-img qemu-io cmp stat
requires_built COWHERD_HOOK COWHERD_CLI
nova_requires

mktempdir tmp
glance_up "$tmp/glance"
hookhost_up "$tmp/host"
glance_configure
printf '[hook]\nstate_dir = %s\n' "$tmp/state" >>"$COWHERD_CONF"

make_original "$tmp/image.raw" 64
image=$(glance_upload "$tmp/image.raw" raw)
sha=$(image_sha1 "$image")
base=$NOVA_BASE/$sha
uuid=$(new_uuid)
idir=$NOVA_INSTANCES/$uuid
top=$idir/disk
dom=instance-0000002a
# The domain as libvirt hands it to the destination: Nova's metadata
# (image, flavor m1.tiny) and its one disk, root, over the base.
domain_xml "$dom" "$uuid" "$image" 0 0 64 "$top" >"$tmp/dom.xml"

# ---- the source --------------------------------------------------------------

# The instance as Nova left it on the source: its disk a qcow2 over the
# base, with data of its own; what the source tells the destination is
# Nova's own disk_info of it.
cp --sparse=always "$tmp/image.raw" "$base"
mkdir -p "$idir"
make_overlay "$top" "$base" 1G
qemu-io -f qcow2 -c "write -q -P 0x5a 0 4M" "$top"
nova_py "$NOVA_DIR/pre_live_migration.py" disk-info "$tmp/dom.xml" \
    >"$tmp/disk_info.json" 2>"$tmp/disk_info.err" ||
    { cat "$tmp/disk_info.err" >&2; die "Nova's disk_info on the source failed"; }
got=$("$PYTHON" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(len(d), *(d[0][k] for k in ("type", "path", "virt_disk_size", "backing_file")))' "$tmp/disk_info.json")
[ "$got" = "1 qcow2 $top $((1 << 30)) $sha" ] || die "the source's disk_info: $got"
note "the source's disk_info (Nova's): $(cat "$tmp/disk_info.json")"

# ---- the destination -----------------------------------------------------------

# dest_reset: a destination that has neither the instance nor the base.
dest_reset() {
    rm -rf "$idir" "$tmp/state" "$COWHERD_TMP_DIR"
    rm -f "$NOVA_BASE"/*
    : >"$COWHERD_LOG"
}

# hook_migrate ORDER: the hook's migrate op, as the destination's libvirtd
# runs it for the incoming domain: it must succeed silently.
hook_migrate() {
    local rc=0
    "$COWHERD_HOOK" "$dom" migrate begin - <"$tmp/dom.xml" >"$tmp/hook.out" 2>"$tmp/hook.err" || rc=$?
    [ "$rc" = 0 ] || { cat "$tmp/hook.err" >&2; show_log; die "$1: the hook's migrate op: exit $rc"; }
    [ ! -s "$tmp/hook.out" ] || die "$1: the hook wrote to stdout: $(cat "$tmp/hook.out")"
    [ ! -s "$tmp/hook.err" ] || die "$1: the hook wrote to stderr: $(cat "$tmp/hook.err")"
}

# nova_create ORDER: Nova's _create_images_and_backing from the source's
# disk_info: it must succeed.
nova_create() {
    nova_py "$NOVA_DIR/pre_live_migration.py" create "$GLANCE_URL" "$image" "$uuid" \
        "$tmp/disk_info.json" >"$tmp/$1.nova" 2>&1 ||
        { tail -n 30 "$tmp/$1.nova" >&2; die "$1: Nova's _create_images_and_backing failed"; }
}

# downloads ORDER WANT: Glance has served the image WANT times so far.
downloads() {
    local n
    n=$(glance_count_downloads "$image")
    [ "$n" = "$2" ] || die "$1: Glance served $image $n times so far, want $2"
}

# ids: the base's inode and size; the top's inode, size and mtime.  (The
# hook refreshes the base's mtime: that marks it in use for Nova's cache
# manager, and is all it may change.)
ids() {
    stat -c '%n %i %s' "$base"
    stat -c '%n %i %s %.9Y' "$top"
}

# made ORDER: the base and the top are there; remember them (ids, and the
# top's bytes) so that the second party is seen to keep them.
made() {
    [ -f "$base" ] && [ -f "$top" ] || die "$1: the first party left no base or no top"
    ids >"$tmp/made"
    cp "$top" "$tmp/top.made"
}

# kept ORDER: what made saw is still there, unchanged.
kept() {
    [ "$(ids)" = "$(cat "$tmp/made")" ] ||
        die "$1: the second party replaced or changed the base or the top:" \
            "$(cat "$tmp/made") -> $(ids)"
    cmp "$tmp/top.made" "$top" || die "$1: the second party changed the top"
}

# qemu_img_summary FILE: format, virtual size, backing file and its format.
qemu_img_summary() {
    qemu-img info -U --output=json "$1" | "$PYTHON" -c 'import json, sys
i = json.load(sys.stdin)
print(i["format"], i["virtual-size"], i.get("backing-filename", "-"), i.get("backing-filename-format", "-"))'
}

# listing ORDER: what the destination holds, to $tmp/ORDER.list: every
# entry of _base and of the instance directory, name, type and size, with
# qemu-img's account of each image and the content of disk.info.
# cowherd's manifests (<name>.cowherd.json) and its private build
# directory are left out: only cowherd writes them.
listing() {
    local f
    for f in "$NOVA_BASE"/* "$idir"/*; do
        case $f in *.cowherd.json) continue ;; esac
        printf '%s: %s, %s bytes: ' "${f#"$NOVA_INSTANCES"/}" "$(stat -c %F "$f")" "$(stat -c %s "$f")"
        if [ "${f##*/}" = disk.info ]; then cat "$f"; else qemu_img_summary "$f"; fi
    done >"$tmp/$1.list"
}

# check_dest ORDER: the files are right.
check_dest() {
    cmp "$tmp/image.raw" "$base" || die "$1: $base differs from the image"
    [ "$(qemu_img_summary "$top")" = "qcow2 $((1 << 30)) $base raw" ] ||
        die "$1: the top is $(qemu_img_summary "$top")"
    # Empty: the block migration brings the source's data into it.
    qemu-img compare -U -q "$tmp/image.raw" "$top" || die "$1: the top does not read as the image"
    [ -z "$(ls -A "$COWHERD_TMP_DIR" 2>/dev/null)" ] || die "$1: leftovers in $COWHERD_TMP_DIR"
    [ -z "$(find "$NOVA_BASE" "$idir" -name '*.part' -o -name '*.converted' -o -name '*.tmp')" ] ||
        die "$1: temporaries left: $(find "$NOVA_BASE" "$idir" -name '*.part' -o -name '*.converted' -o -name '*.tmp')"
}

# 1. The hook first: its migrate op fetches the base and makes the top;
# then Nova's _create_images_and_backing finds both and keeps them.
dest_reset
hook_migrate hook-first
downloads hook-first 1
[ "$(log_count "fetch $base: image $image from .* bytes: done in")" = 1 ] || { show_log; die "hook-first: no fetch logged"; }
[ -f "$base.cowherd.json" ] || die "hook-first: no manifest beside the base cowherd fetched"
grep -q "^top .* $top\$" "$tmp/state/incoming/$uuid" ||
    die "hook-first: the hook's record does not name the top it made: $(cat "$tmp/state/incoming/$uuid")"
made hook-first
nova_create hook-first
downloads hook-first 1
kept hook-first
check_dest hook-first
listing hook-first

# 2. Nova first, as in a real migration: it fetches the base and makes the
# top; then the hook's migrate op finds both, fetches nothing, makes nothing.
dest_reset
nova_create nova-first
downloads nova-first 2
made nova-first
hook_migrate nova-first
downloads nova-first 2
kept nova-first
[ "$(log_count "fetch $base")" = 0 ] || { show_log; die "nova-first: the hook fetched"; }
[ ! -e "$base.cowherd.json" ] || die "nova-first: a manifest for a base cowherd did not fetch"
# Nova's disk is not the hook's: a failed migration's `stopped` must leave
# it to Nova's own rollback.
[ -f "$tmp/state/incoming/$uuid" ] || die "nova-first: the hook recorded no incoming migration"
! grep -q '^top ' "$tmp/state/incoming/$uuid" ||
    die "nova-first: the hook's record claims Nova's disk: $(cat "$tmp/state/incoming/$uuid")"
check_dest nova-first
listing nova-first

diff "$tmp/hook-first.list" "$tmp/nova-first.list" >&2 ||
    die "the destination differs between the two orders (above: hook first <, Nova first >)"
note "both orders, one download each, nothing replaced; the destination holds:"
sed 's/^/---   /' "$tmp/nova-first.list" >&2
note "(and, hook first only, cowherd's manifest $sha.cowherd.json beside the base it fetched;" \
    "the hook's record names the top it made when it came first, and no top when Nova made it)"
