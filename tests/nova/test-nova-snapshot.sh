#!/usr/bin/env bash
# COW-only snapshots (docs/snapshot-format.md) with Nova 26's own code on
# both ends.  Host A, the snapshot host (the test's /var/lib/nova and
# /etc/cowherd), has cowherd's qemu-img shim first in Nova's PATH and a
# [snapshot] key_file (64 random bytes, mode 0600).  Host B, the boot
# host, is another /var/lib/nova and /etc/cowherd bound over them in a
# nested private mount namespace, with the same key.  Nova runs as one
# long-lived python on each host (snapshot_nova.py); a real glance-api
# serves both.
#
# 1. Nova's extract_snapshot through the shim: (a) of a live snapshot's
#    .delta, made as _live_snapshot makes it (create_image over the disk's
#    _base/<sha1>), the disk's top clusters written into it with qemu-io
#    where libvirt's block copy would copy them; (b) of a cold instance
#    disk over a legacy _base/<sha1>_1, made as Qcow2.create_image makes
#    it (copy_image, then disk.api.extend of the raw copy).  DST is
#    COW-only: `cowherd snapshot show` reads the marker and the signature
#    holds, it is about the size of the top layer, plain qemu-img refuses
#    it.  Also over an original Nova downloaded itself (no manifest: no
#    image id, no digest recorded; over one cowherd fetched from Glance,
#    sha512 recorded).
# 2. Each uploaded to glance-api; on host B, Nova's fetch_to_raw (under
#    Nova's lock on the entry), force_raw_images on and off: the parent
#    cached on B; missing, fetched from Glance by the recorded image id;
#    missing with no id recorded, found by Glance's image_id_sha1
#    property.  The entry is standalone, raw or qcow2 as configured, and
#    reads as Nova's own flattened snapshot of the same disk (made without
#    the shim); _base holds the snapshot's top beside it
#    (<sha1>.cowherd-top) and nothing else (no .part, .converted or
#    .<x>.cowherd-*).
# 3. Refused, with cowherd's one line in Nova's exception and nothing
#    published: another cloud's key; one data byte changed after signing
#    (in Glance's store: the Glance client in Nova already refuses that
#    download; so also in Nova's .part, Nova held between its download and
#    its qemu-img info); the parent absent everywhere; the parent with
#    other content than the digest recorded.
# 4. Host B without the shim: Nova's fetch_to_raw fails in qemu-img info.
# 5. The parent deleted from Glance but on host A: B's [peers] file:// URL
#    of A's _base gives it.
# 6. Disks the shim must leave to Nova (two layers over the cache; a
#    backing file outside _base): Nova's own flattened snapshot, byte for
#    byte, and the log says "flattened" and why.
# 7. The cold disk's snapshot with [libvirt] snapshot_compression (Nova
#    passes -c): COW-only with compressed clusters, booted on B as in 2.
set -euo pipefail
source "$(dirname "$0")/../integration/functions.sh"
source "$(dirname "$0")/../integration/glance.sh"
source "$(dirname "$0")/nova.sh"
source "$(dirname "$0")/driver.sh"
private_ns "$@"
requires qemu-img qemu-io cmp od dd du find stat touch sha512sum mkfifo unshare mount
requires_built COWHERD_CLI COWHERD_SHIM
nova_requires

MIB=$((1 << 20))
GIB=$((1 << 30))
ROOT=$((128 * MIB))     # root disks over an original (over <sha1>_1: 1 GiB)
t_start=$EPOCHREALTIME
mktempdir tmp

# ---- two hosts -------------------------------------------------------------------

hookhost_up "$tmp/a"                   # host A: the test's /etc/cowherd, /var/lib/nova
A_BASE=$NOVA_BASE
A_PEER=file://$tmp/a/nova/instances/_base/      # A's _base as B sees it
A_SNAPS=$NOVA_INSTANCES/snapshots      # CONF.libvirt.snapshots_directory
mkdir -p "$A_SNAPS"

head -c 64 /dev/urandom >"$tmp/a/etc/snapshot.key"
head -c 64 /dev/urandom >"$tmp/a/etc/other-cloud.key"
chmod 0600 "$tmp/a/etc/snapshot.key" "$tmp/a/etc/other-cloud.key"

# key_a KEYFILE: host A's cowherd.conf ($tmp/a.conf) with [snapshot]
# key_file = KEYFILE.
key_a() {
    { cat "$tmp/a.conf"; printf '[snapshot]\nkey_file = %s\n' "$1"; } >"$COWHERD_CONF"
}

# Host B: seen from here under $tmp/b; its processes see it at the usual
# paths (on_b).
B=$tmp/b
B_BASE=$B/nova/instances/_base
B_LOG=$B/log/cowherd-test.log
mkdir -p "$B/etc" "$B_BASE" "$B/nova/instances/locks" "$B/log"
cp -p "$tmp/a/etc/snapshot.key" "$B/etc/snapshot.key"

# conf_b [PEER_URL]: host B's cowherd.conf: Glance, the shared key, and
# PEER_URL as its one peer if given.
conf_b() {
    cat >"$B/etc/cowherd.conf" <<EOF
[nova]
instances_path = $NOVA_INSTANCES
[locks]
timeout = 60
[log]
syslog = false
file = $COWHERD_LOG
[glance]
url = $GLANCE_URL
[tools]
fetcher = $COWHERD_CLI
[snapshot]
key_file = /etc/cowherd/snapshot.key
EOF
    [ -z "${1:-}" ] || printf '[peers]\nurls = %s\n' "$1" >>"$B/etc/cowherd.conf"
}

# on_b CMD...: CMD on host B: in a nested private mount namespace where
# B's directories are bound over /etc/cowherd, /var/lib/nova and
# /var/log/libvirt (as hookhost_up binds A's).
on_b() {
    unshare --mount --propagation private bash -c '
        mount --bind "$1/etc" /etc/cowherd && mount --bind "$1/nova" /var/lib/nova &&
            mount --bind "$1/log" /var/log/libvirt || exit 1
        shift
        "$@"' on_b "$B" "$@"
}

# Nova's PATHs: the shim first (as cowherd-nova installs it), plain, and
# the shim behind a wrapper that holds `qemu-img info` of a .part until
# the test lets it go (the breakpoint of case 3b).
nova_shim_on "$tmp"
SHIM_PATH=$NOVA_PATH
PLAIN_PATH=/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p "$tmp/hold-bin" "$tmp/hold"
cat >"$tmp/hold-bin/qemu-img" <<EOF
#!/bin/bash
# Nova's qemu-img info of a download: held until $tmp/hold/go exists (or
# the test's directory is gone; at most 60 s).
case " \$* " in
*" info "*.part" "*)
    : >"$tmp/hold/held"
    for ((i = 0; i < 1200; i++)); do
        [ -e "$tmp/hold/held" ] && [ ! -e "$tmp/hold/go" ] || break
        sleep 0.05
    done ;;
esac
exec "$tmp/shim-bin/qemu-img" "\$@"
EOF
chmod +x "$tmp/hold-bin/qemu-img"
HOLD_PATH=$tmp/hold-bin:$SHIM_PATH

# ---- Nova on each host ---------------------------------------------------------------

# snapshot_nova.py on each host (driver.sh): a request is "PATH VERB
# ARGS...", PATH one of shim, plain or hold.  Nova imports itself while
# Glance starts.
driver_launch a "$NOVA_DIR/snapshot_nova.py" shim="$SHIM_PATH" plain="$PLAIN_PATH" \
    hold="$HOLD_PATH"
DRV_WRAP=(on_b)
driver_launch b "$NOVA_DIR/snapshot_nova.py" shim="$SHIM_PATH" plain="$PLAIN_PATH" \
    hold="$HOLD_PATH"
DRV_WRAP=()

glance_up "$tmp/glance"
glance_configure
cp "$COWHERD_CONF" "$tmp/a.conf"
key_a /etc/cowherd/snapshot.key
conf_b

driver_ready a
driver_ready b
note "Nova up on both hosts ($(since_s "$t_start") s since the start)"
drv_ok a plain glance "$GLANCE_URL"
drv_ok b plain glance "$GLANCE_URL"

# upload_bg NAME FILE FORMAT [PROP=VALUE...]: glance_upload in the
# background, the image id into $tmp/NAME.id; uploads_done waits for all.
UPLOADS=()
upload_bg() {
    local n=$1
    shift
    glance_upload "$@" >"$tmp/$n.id" &
    UPLOADS+=("$!")
}
uploads_done() {
    local p
    for p in "${UPLOADS[@]}"; do
        wait "$p" || die "a Glance upload failed"
    done
    UPLOADS=()
}

# ---- images --------------------------------------------------------------------------

# original FILE BYTE: a 64 MiB original, all data (make_original_full),
# with a 64 KiB block of BYTE at 5 MiB, so that no two are alike.
original() {
    make_original_full "$1" 64
    qemu-io -f raw -c "write -P $2 5M 64k" "$1" >/dev/null
}

# write_top DISK BYTE: the guest's writes over the original's data: 2 MiB
# of clusters, half a cluster (the other half stays the original's), one
# cluster of zeros; and 1 MiB past the original's end.  About 3 MiB.
write_top() {
    qemu-io -f qcow2 -c "write -P $2 2M 2M" -c "write -P $2 21M 32k" -c "write -z 1M 64k" \
        -c "write -P $2 100M 1M" "$1" >/dev/null
}

# entry_info FILE: "FORMAT BACKING" as qemu-img reads FILE.
entry_info() {
    qemu-img info -U --output=json "$1" | "$PYTHON" -c 'import json, sys
i = json.load(sys.stdin)
print(i["format"], i.get("backing-filename"))'
}

# unmarked COPY SNAPSHOT: COPY is SNAPSHOT with the compression-type bit
# (incompatible feature bit 3, header byte 79) cleared, which plain
# qemu-img opens: to look at its clusters.
unmarked() {
    local b
    cp --sparse=always "$2" "$1"
    b=$(od -An -tu1 -j79 -N1 "$1")
    printf '%b' "\\$(printf '%03o' $((b & ~8)))" | dd of="$1" bs=1 seek=79 conv=notrunc status=none
}

# compressed SNAPSHOT: the "compressed clusters" share qemu-img check
# reports for the snapshot's own clusters.
compressed() {
    local out
    unmarked "$tmp/unmarked.qcow2" "$1"
    out=$(qemu-img check -f qcow2 "$tmp/unmarked.qcow2")
    rm -f "$tmp/unmarked.qcow2"
    sed -n 's/.*fragmented, \([0-9.]*%\) compressed clusters.*/\1/p' <<<"$out"
}

# data_offset SNAPSHOT: the file offset of a byte in the middle of the
# snapshot's first data cluster.
data_offset() {
    unmarked "$tmp/unmarked.qcow2" "$1"
    qemu-img map -f qcow2 --output=json "$tmp/unmarked.qcow2" | "$PYTHON" -c 'import json, sys
print(min(e["offset"] for e in json.load(sys.stdin) if e["data"] and "offset" in e) + 1000)'
    rm -f "$tmp/unmarked.qcow2"
}

# flip FILE OFFSET: change one byte of FILE.
flip() {
    local b
    b=$(od -An -tu1 -j"$2" -N1 "$1")
    printf '%b' "\\$(printf '%03o' $((b ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# cow_only NAME DST TOP PARENT IMAGE_ID SHA256 COMPRESSED: DST, made by
# Nova's extract_snapshot through the shim, is a COW-only snapshot of TOP
# over PARENT as the marker says (IMAGE_ID and SHA256, or "(not
# recorded)"), signed; not much larger than TOP; refused by plain
# qemu-img; its clusters compressed ("yes") or not ("no").  Sets SHOWN.
cow_only() {
    local name=$1 dst=$2 top=$3 parent=$4 id=$5 sha=$6 comp=$7 out err d_dst d_top pct
    out=$("$COWHERD_CLI" snapshot show "$dst") || { show_log; die "$name: cowherd snapshot show: $out"; }
    grep -qx "$dst: COW-only snapshot (marker version 1)" <<<"$out" &&
        grep -qx "  parent: *$parent" <<<"$out" && grep -qx "  image id: *$id" <<<"$out" &&
        grep -qx "  parent $sha" <<<"$out" && grep -qx "  signature: *holds" <<<"$out" ||
        die "$name: cowherd snapshot show says: $out"
    d_dst=$(data_bytes "$dst")
    d_top=$(data_bytes "$top")
    [ $((d_dst * 10)) -le $((d_top * 11)) ] ||
        die "$name: the snapshot has $d_dst bytes of data, the top $d_top: not COW-only"
    [ $(($(allocated "$dst") * 10)) -le $(($(allocated "$top") * 11)) ] ||
        die "$name: the snapshot has $(allocated "$dst") bytes allocated, the top $(allocated "$top")"
    if err=$(/usr/bin/qemu-img info "$dst" 2>&1); then
        die "$name: plain qemu-img opens the COW-only snapshot: $err"
    fi
    grep -qF "Compression type incompatible feature bit must not be set" <<<"$err" ||
        die "$name: plain qemu-img info: $err"
    pct=$(compressed "$dst")
    if [ "$comp" = yes ]; then
        [ -n "$pct" ] && [ "$pct" != 0.00% ] || die "$name: compressed clusters: '$pct', want some"
    else
        [ "$pct" = 0.00% ] || die "$name: compressed clusters: '$pct', want none"
    fi
    SHOWN="DST $d_dst bytes of data extents, $(allocated "$dst") allocated (top: $d_top,"
    SHOWN+=" $(allocated "$top")), $pct of its clusters compressed;"
    SHOWN+=" plain qemu-img: '${err##*: }'"
}

# ---- the originals and their way onto host A -----------------------------------------

original "$tmp/o1.raw" 0x11
original "$tmp/o2.raw" 0x22
original "$tmp/o3.raw" 0x33
# o2 carries the image_id_sha1 property, so its id must be known first.
u2=$(new_uuid)
s2=$(image_sha1 "$u2")
upload_bg o1 "$tmp/o1.raw" raw
upload_bg o2 "$tmp/o2.raw" raw id="$u2" image_id_sha1="$s2"
upload_bg o3 "$tmp/o3.raw" raw
uploads_done
o1=$(<"$tmp/o1.id")
o2=$(<"$tmp/o2.id")
o3=$(<"$tmp/o3.id")
[ "$o2" = "$u2" ] || die "Glance gave $o2 for the id $u2"
s1=$(image_sha1 "$o1")
s3=$(image_sha1 "$o3")
# cowherd fetched o1 and o3 from Glance: their manifests record Glance's
# sha512, and a marker over them its first 256 bits.
sha512_line() { local s; s=$(sha512sum <"$1"); echo "sha512: *${s:0:64}\\.\\.\\. (its first 256 bits)"; }
sum1=$(sha512_line "$tmp/o1.raw")

# _ctime_ns FILE / _mtime_ns FILE
_ctime_ns() { stat -c '%.9Z' "$1" | tr -d .; }
_mtime_ns() { stat -c '%.9Y' "$1" | tr -d .; }
_newer() {
    touch -m "$2"
    [ "$(_mtime_ns "$2")" -gt "$(_ctime_ns "$1")" ]
}

# made_current NAME: the manifest of A's _base/NAME is "current" (written
# after the file last changed: its mtime later than the file's ctime).
# `cowherd fetch` writes it right after it renames the file into place,
# often within the same tick of the kernel's file time clock: equal times,
# which cowherd rightly reads as not current.  Then the manifest is
# touched (as if written a tick later) until it is strictly newer.
made_current() {
    local f=$A_BASE/$1 m=$A_BASE/$1.cowherd.json
    [ -f "$m" ] || die "no manifest for $1"
    if [ "$(_mtime_ns "$m")" -gt "$(_ctime_ns "$f")" ]; then
        note "the manifest of $1 is current as cowherd fetch wrote it"
        return 0
    fi
    poll_until 5 "the manifest of $1 newer than the file" _newer "$f" "$m"
    note "the manifest of $1 has the file's ctime as its mtime (same clock tick): touched"
}

# o1 and o3 by `cowherd fetch` (a manifest with the image id and a current
# sha256); o2 by Nova's own fetch_to_raw (no manifest).
fetch_ok "$o1"
fetch_ok "$o3"
made_current "$s1"
made_current "$s3"
drv_ok a shim fetch "$o2" "$A_BASE/$s2" 1
[ -f "$A_BASE/$s1.cowherd.json" ] && [ ! -e "$A_BASE/$s2.cowherd.json" ] ||
    die "host A: manifests: $(ls -A "$A_BASE")"
cmp "$tmp/o2.raw" "$A_BASE/$s2" || die "host A: Nova's $s2 is not the image"

# ---- 1. snapshots on host A ------------------------------------------------------------

# (a) live: the instance disk over _base/<o1>, its snapshot's .delta as
# _live_snapshot makes it, the disk's top written into it.
disk_a=$NOVA_INSTANCES/$(new_uuid)/disk
mkdir -p "${disk_a%/disk}" "$A_SNAPS/tmp-a"
drv_ok a shim disk "$disk_a" "$A_BASE/$s1" "$ROOT"
write_top "$disk_a" 0x61
delta=$A_SNAPS/tmp-a/live.delta
drv_ok a shim delta "$disk_a" "$delta"
[ "$(entry_info "$delta")" = "qcow2 $A_BASE/$s1" ] || die "1a: Nova's delta: $(entry_info "$delta")"
write_top "$delta" 0x61
qemu-img compare -q "$disk_a" "$delta" || die "1a: the delta does not read as the disk"
drv_ok a shim extract "$delta" "$A_SNAPS/tmp-a/live" 0
drv_ok a plain extract "$delta" "$tmp/live.flat" 0
cow_only 1a "$A_SNAPS/tmp-a/live" "$delta" "$s1" "$o1" "$sum1" no
grep -qF "snapshot $delta: COW-only into $A_SNAPS/tmp-a/live" "$COWHERD_LOG" ||
    { show_log; die "1a: the shim did not log the COW-only snapshot"; }
note "1a live (.delta by create_image over _base/$s1, the disk's top written with qemu-io," \
    "no libvirt block copy): COW-only, signed, parent $s1 (image $o1, its sha512 recorded); $SHOWN;" \
    "Nova's flattened: $(data_bytes "$tmp/live.flat") data bytes"
cp --sparse=always "$A_SNAPS/tmp-a/live" "$tmp/live.snap"

# The same delta signed with another cloud's key (case 3a).
key_a /etc/cowherd/other-cloud.key
drv_ok a shim extract "$delta" "$tmp/forged.snap" 0
key_a /etc/cowherd/snapshot.key
if out=$("$COWHERD_CLI" snapshot show "$tmp/forged.snap"); then
    die "a snapshot made with another key shows as good: $out"
fi
grep -qF "DOES NOT HOLD" <<<"$out" || die "forged snapshot: $out"

# (b) cold: a legacy disk over _base/<o1>_1 (its snapshot with
# snapshot_compression on is case 7, at the end).
drv_ok a shim resized "$A_BASE/$s1" "$A_BASE/${s1}_1" 1
assert_resized_base "$A_BASE/$s1" "$A_BASE/${s1}_1" 1
disk_b=$NOVA_INSTANCES/$(new_uuid)/disk
mkdir -p "${disk_b%/disk}" "$A_SNAPS/tmp-b"
drv_ok a shim disk "$disk_b" "$A_BASE/${s1}_1" "$GIB"
write_top "$disk_b" 0x62
drv_ok a shim extract "$disk_b" "$A_SNAPS/tmp-b/cold" 0
drv_ok a plain extract "$disk_b" "$tmp/cold.flat" 0
cow_only 1b "$A_SNAPS/tmp-b/cold" "$disk_b" "$s1" "$o1" "$sum1" no
grep -qF "  parent size:   $((64 * MIB)) bytes, $GIB as the disk saw it" \
    <<<"$("$COWHERD_CLI" snapshot show "$A_SNAPS/tmp-b/cold")" || die "1b: parent sizes"
note "1b cold (disk over _base/${s1}_1: Nova's copy_image + extend): COW-only, parent $s1 at" \
    "$((64 * MIB)) bytes, $GIB as the disk saw it; $SHOWN"
cp --sparse=always "$A_SNAPS/tmp-b/cold" "$tmp/cold.snap"
# The same disk's snapshot with snapshot_compression on (case 7).
drv_ok a shim extract "$disk_b" "$A_SNAPS/tmp-b/cold-c" 1
drv_ok a plain extract "$disk_b" "$tmp/cold-c.flat" 1
cp --sparse=always "$A_SNAPS/tmp-b/cold-c" "$tmp/cold-c.snap"

# Over o2 (no manifest on A: no image id, no sha256 recorded).
disk_p=$NOVA_INSTANCES/$(new_uuid)/disk
mkdir -p "${disk_p%/disk}"
drv_ok a shim disk "$disk_p" "$A_BASE/$s2" "$ROOT"
write_top "$disk_p" 0x63
drv_ok a shim extract "$disk_p" "$tmp/prop.snap" 0
drv_ok a plain extract "$disk_p" "$tmp/prop.flat" 0
cow_only 1c "$tmp/prop.snap" "$disk_p" "$s2" "(not recorded)" "sha256: *(not recorded)" no
note "1c over _base/$s2 (Nova's own download, no manifest): COW-only, image id and sha256 not recorded"

# Over o3 (for cases 3c and 5).
disk_3=$NOVA_INSTANCES/$(new_uuid)/disk
mkdir -p "${disk_3%/disk}"
drv_ok a shim disk "$disk_3" "$A_BASE/$s3" "$ROOT"
write_top "$disk_3" 0x64
drv_ok a shim extract "$disk_3" "$tmp/o3.snap" 0
drv_ok a plain extract "$disk_3" "$tmp/o3.flat" 0
cow_only 1d "$tmp/o3.snap" "$disk_3" "$s3" "$o3" "$(sha512_line "$tmp/o3.raw")" no

# ---- 2. to Glance, and back on host B -------------------------------------------------------

for n in live cold cold-c prop o3 forged; do
    upload_bg "$n.snap" "$tmp/$n.snap" qcow2
done
cp "$tmp/live.snap" "$tmp/tampered.snap"
upload_bg tampered.snap "$tmp/tampered.snap" qcow2
uploads_done
live_id=$(<"$tmp/live.snap.id")
cold_id=$(<"$tmp/cold.snap.id")
coldc_id=$(<"$tmp/cold-c.snap.id")
prop_id=$(<"$tmp/prop.snap.id")
o3snap_id=$(<"$tmp/o3.snap.id")
forged_id=$(<"$tmp/forged.snap.id")
tampered_id=$(<"$tmp/tampered.snap.id")
note "Glance took the COW-only snapshots as qcow2 images ($(since_s "$t_start") s since the start)"

b_clean() {
    find "$B_BASE" -mindepth 1 -maxdepth 1 ! -name .cowherd-tmp -exec rm -f {} +
}

# b_base_is CASE NAME...: B's _base holds exactly these (and an empty
# .cowherd-tmp): no .part, .converted or .<x>.cowherd-* left.
b_base_is() {
    local c=$1 want got
    shift
    want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
    got=$(find "$B_BASE" -mindepth 1 -maxdepth 1 ! -name .cowherd-tmp -printf '%f\n' | sort | tr '\n' ' ')
    [ "$want" = "$got" ] || die "$c: host B's _base holds [ $got], want [ $want]"
    [ ! -d "$B_BASE/.cowherd-tmp" ] || [ -z "$(ls -A "$B_BASE/.cowherd-tmp")" ] ||
        die "$c: left in .cowherd-tmp: $(ls -A "$B_BASE/.cowherd-tmp")"
}

b_log_count() {
    [ -f "$B_LOG" ] || { echo 0; return 0; }
    grep -cE -- "$1" "$B_LOG" || true
}

# boot CASE PATH ID FORCE_RAW: Nova's fetch_to_raw of image ID into host
# B's _base/<sha1 of ID>, with PATH; sets ANSWER and ENTRY.
boot() {
    ENTRY=$(image_sha1 "$3")
    : >"$B_LOG"
    drv b "$2" fetch "$3" "$NOVA_BASE/$ENTRY" "$4"
}

# booted CASE ID FORCE_RAW FLAT: fetch_to_raw succeeded; the entry is
# standalone, raw or qcow2 per FORCE_RAW, and reads as FLAT (Nova's own
# flattened snapshot of the same disk).
booted() {
    local c=$1 force=$3 flat=$4 e=$B_BASE/$ENTRY want=raw
    case $ANSWER in
    done) ;;
    *"qemu-img info"*"killed by signal"*)
        cat "$B_LOG" >&2
        die "$c: Nova's fetch_to_raw: the rebuild's qemu-img died inside Nova's qemu-img info," \
            "which Nova runs under prlimit --as=1GiB --cpu=30: $ANSWER" ;;
    *) tail -n 20 "$DRV_DIR/b.err" >&2; cat "$B_LOG" >&2; die "$c: Nova's fetch_to_raw: $ANSWER" ;;
    esac
    [ "$force" = 1 ] || want=qcow2
    [ "$(entry_info "$e")" = "$want None" ] || die "$c: the entry is $(entry_info "$e"), want $want, standalone"
    qemu-img compare -q -f "$want" -F qcow2 "$e" "$flat" ||
        die "$c: the entry does not read as Nova's flattened snapshot"
    # Both as raw (the flattened snapshot's raw image made once).
    [ -f "$flat.raw" ] || qemu-img convert -f qcow2 -O raw "$flat" "$flat.raw"
    if [ "$want" = qcow2 ]; then
        qemu-img convert -f qcow2 -O raw "$e" "$tmp/entry.raw"
        e=$tmp/entry.raw
    fi
    cmp "$e" "$flat.raw" || die "$c: the entry and Nova's flattened snapshot differ as raw"
    rm -f "$tmp/entry.raw"
    # Raw: written in one pass by Nova's convert of the download; qcow2:
    # the entry Nova published put together at Nova's next info of it.
    local made="_base/$ENTRY: COW-only snapshot over [0-9a-f]{40} \(image [^)]*\) made whole\$"
    [ "$force" = 1 ] &&
        made="_base/$ENTRY\.part: COW-only snapshot over [0-9a-f]{40} \(image [^)]*\) made whole into .*/$ENTRY\.converted\$"
    [ "$(b_log_count "$made")" = 1 ] ||
        { cat "$B_LOG" >&2; die "$c: host B's cowherd did not log the rebuild once"; }
    # The entry says which original it was made over (`cowherd cache ls`).
    "$PYTHON" -c 'import os, re, sys
v = os.getxattr(sys.argv[1], "user.cowherd.snapshot-parent").decode()
sys.exit(0 if re.fullmatch("[0-9a-f]{40}", v) else "not a cache name: %r" % v)' "$B_BASE/$ENTRY" ||
        die "$c: the entry does not name the original it was made over"
}

# refused CASE REGEX: fetch_to_raw failed, with cowherd's one line (or
# qemu-img's) naming the cause (REGEX) in Nova's exception; nothing of
# the entry left in B's _base.  Sets WHY (that line).
refused() {
    local c=$1 stderr
    case $ANSWER in
    "error "*) ;;
    *) die "$c: Nova's fetch_to_raw succeeded: $ANSWER" ;;
    esac
    stderr=${ANSWER##*Stderr: }
    [ "$stderr" != "$ANSWER" ] || die "$c: no qemu-img stderr in Nova's exception: $ANSWER"
    # Python's repr of qemu-img's stderr: quoted, the newline escaped.
    WHY=${stderr:1}
    WHY=${WHY%\\n?}
    case $WHY in
    *\\n*) die "$c: more than one line from qemu-img: $stderr" ;;
    esac
    grep -qE -- "$2" <<<"$WHY" || die "$c: the reason does not name the cause ($2): $WHY"
    [ ! -e "$B_BASE/$ENTRY" ] || die "$c: $ENTRY was published"
    [ -z "$(find "$B_BASE" -mindepth 1 -maxdepth 1 \( -name "$ENTRY*" -o -name ".$ENTRY*" \) -printf '%f ')" ] ||
        die "$c: left in _base: $(ls -A "$B_BASE")"
}

# boot_o1_missing CASE ID FORCE_RAW FLAT: B without o1; Nova's
# fetch_to_raw of snapshot ID (over o1) fetches o1 from Glance by the
# recorded id, once; the entry reads as FLAT.
boot_o1_missing() {
    local c=$1
    b_clean
    boot "$c" shim "$2" "$3"
    booted "$c" "$2" "$3" "$4"
    b_base_is "$c" "$ENTRY" "$ENTRY.cowherd-top" "$s1" "$s1.cowherd.json"
    N1=$((N1 + 1))
    [ "$(glance_count_downloads "$o1")" = "$N1" ] || die "$c: Glance did not serve $o1 once more"
    [ "$(b_log_count "fetch $NOVA_BASE/$s1: image $o1 from $GLANCE_URL/v2/images/$o1/file")" = 1 ] ||
        { cat "$B_LOG" >&2; die "$c: the parent was not fetched from Glance by id"; }
    cmp "$tmp/o1.raw" "$B_BASE/$s1" || die "$c: the fetched parent is not the original"
}

N1=$(glance_count_downloads "$o1")      # A's fetch
for force in 1 0; do
    # The parent cached on B.
    b_clean
    cp --sparse=always "$A_BASE/$s1" "$B_BASE/$s1"
    boot "2a/$force" shim "$live_id" "$force"
    booted "2a/$force" "$live_id" "$force" "$tmp/live.flat"
    b_base_is "2a/$force" "$ENTRY" "$ENTRY.cowherd-top" "$s1"
    [ "$(b_log_count "fetch ")" = 0 ] || die "2a/$force: the parent was fetched"
    note "2a live snapshot $live_id, force_raw_images=$force, parent cached on B:" \
        "_base/$ENTRY is $(entry_info "$B_BASE/$ENTRY"), reads as Nova's flattened snapshot" \
        "(qemu-img compare, cmp as raw); _base: $ENTRY $s1"

    # The parent missing: fetched from Glance by the recorded image id.
    boot_o1_missing "2b/$force" "$cold_id" "$force" "$tmp/cold.flat"
    note "2b cold snapshot $cold_id over ${s1}_1, force_raw_images=$force, parent missing:" \
        "fetched from Glance by image id $o1; _base/$ENTRY is $(entry_info "$B_BASE/$ENTRY"), reads as" \
        "Nova's flattened snapshot"

    # The parent missing, no image id recorded: Glance's image_id_sha1.
    b_clean
    boot "2c/$force" shim "$prop_id" "$force"
    booted "2c/$force" "$prop_id" "$force" "$tmp/prop.flat"
    b_base_is "2c/$force" "$ENTRY" "$ENTRY.cowherd-top" "$s2" "$s2.cowherd.json"
    [ "$(b_log_count "fetch $NOVA_BASE/$s2: image $o2 from $GLANCE_URL/")" = 1 ] ||
        { cat "$B_LOG" >&2; die "2c/$force: the parent was not found by image_id_sha1"; }
    note "2c snapshot $prop_id, no image id recorded, force_raw_images=$force: Glance found $o2 by" \
        "image_id_sha1=$s2; _base/$ENTRY is $(entry_info "$B_BASE/$ENTRY"), reads as Nova's flattened snapshot"
done

# ---- 3. refusals ------------------------------------------------------------------------------

b_clean
cp --sparse=always "$A_BASE/$s1" "$B_BASE/$s1"

# 3a. Another cloud's key.
boot 3a shim "$forged_id" 1
refused 3a "signature does not hold"
b_base_is 3a "$s1"
note "3a signed with another key: Nova's fetch_to_raw failed: $WHY"

# 3b. One data byte changed after signing.  First in Glance's store
# (nothing else updated): the Glance client in Nova checks the image's
# os_hash_value as it downloads, and fails the download.  If it did not,
# cowherd must refuse; as it does, the byte is changed in Nova's .part
# instead, Nova held (hold-bin) between its download and its qemu-img info.
off=$(data_offset "$tmp/live.snap")
glance_tamper "$tampered_id" "$off"
boot 3b shim "$tampered_id" 1
case $ANSWER in
"error "*) ;;
*) die "3b: Nova's fetch_to_raw of the tampered image succeeded" ;;
esac
[ -z "$(find "$B_BASE" -mindepth 1 -maxdepth 1 -name "$ENTRY*" -printf '%f ')" ] ||
    die "3b: left in _base: $(ls -A "$B_BASE")"
glance_said=${ANSWER:0:300}
if grep -qF "Stderr:" <<<"$ANSWER"; then
    # Glance let it through: cowherd must have refused it.
    refused 3b "signature does not hold"
    note "3b tampered in Glance's store: Glance served it, cowherd refused: $WHY"
else
    grep -qF "Corrupt image download" <<<"$ANSWER" || die "3b: Nova's fetch_to_raw: $ANSWER"
    note "3b tampered in Glance's store: the download itself failed ($glance_said);" \
        "so the .part is tampered instead, Nova held at its qemu-img info"
    rm -f "$tmp/hold/held" "$tmp/hold/go"
    ENTRY=$(image_sha1 "$live_id")
    drv_send b hold fetch "$live_id" "$NOVA_BASE/$ENTRY" 1
    cleanup_fn touch "$tmp/hold/go"
    poll_until 60 "3b: Nova held at qemu-img info of the .part" test -e "$tmp/hold/held"
    [ -f "$B_BASE/$ENTRY.part" ] || die "3b: no .part while Nova is held"
    cmp "$tmp/live.snap" "$B_BASE/$ENTRY.part" || die "3b: the .part is not the snapshot"
    flip "$B_BASE/$ENTRY.part" "$off"
    : >"$tmp/hold/go"
    drv_wait b
    refused 3b "signature does not hold"
    note "3b the .part changed by one byte (offset $off, a data cluster) between Nova's download" \
        "and its qemu-img info: Nova's fetch_to_raw failed: $WHY"
fi
b_base_is 3b "$s1"

# 3c. The parent absent everywhere: deleted from Glance, not on B, no peers.
glance_delete "$o3"
boot 3c shim "$o3snap_id" 1
refused 3c "original $s3"
b_base_is 3c "$s1"
note "3c parent deleted from Glance, not cached, no peers: Nova's fetch_to_raw failed: $WHY"

# 3d. The parent holds other content than the recorded digest.
flip "$B_BASE/$s1" $((5 * MIB + 7))
boot 3d shim "$live_id" 1
refused 3d "other content .*sha512"
b_base_is 3d "$s1"
note "3d parent changed on B (one byte, same size), sha512 recorded: Nova's fetch_to_raw failed: $WHY"

# ---- 4. host B without cowherd ----------------------------------------------------------

cp --sparse=always "$A_BASE/$s1" "$B_BASE/$s1"
boot 4 plain "$live_id" 1
refused 4 "Compression type incompatible feature bit must not be set"
b_base_is 4 "$s1"
note "4 no shim in Nova's PATH (the parent cached): Nova's fetch_to_raw failed: $WHY"

# ---- 5. the parent from a peer ----------------------------------------------------------

b_clean
conf_b "$A_PEER"
for force in 1 0; do
    b_clean
    boot "5/$force" shim "$o3snap_id" "$force"
    booted "5/$force" "$o3snap_id" "$force" "$tmp/o3.flat"
    b_base_is "5/$force" "$ENTRY" "$ENTRY.cowherd-top" "$s3" "$s3.cowherd.json"
    [ "$(b_log_count "fetch $NOVA_BASE/$s3: image $o3 from $A_PEER$s3, ")" = 1 ] ||
        { cat "$B_LOG" >&2; die "5/$force: the parent did not come from the peer"; }
    cmp "$tmp/o3.raw" "$B_BASE/$s3" || die "5/$force: the parent from the peer is not the original"
done
conf_b
note "5 parent $o3 deleted from Glance, B's peer $A_PEER: fetched from the peer;" \
    "_base/$ENTRY reads as Nova's flattened snapshot, both force_raw_images settings"

# ---- 6. what the shim leaves flattened ---------------------------------------------------

# flattened CASE SRC REASON: Nova's extract_snapshot of SRC through the
# shim is its ordinary flattened snapshot (the same file as without the
# shim), and the log says why.
flattened() {
    local c=$1 src=$2 out
    drv_ok a shim extract "$src" "$tmp/$c.shim" 0
    drv_ok a plain extract "$src" "$tmp/$c.plain" 0
    if out=$("$COWHERD_CLI" snapshot show "$tmp/$c.shim"); then
        die "$c: $out"
    fi
    [ "$out" = "$tmp/$c.shim: not a COW-only snapshot" ] || die "$c: $out"
    [ "$(entry_info "$tmp/$c.shim")" = "qcow2 None" ] || die "$c: $(entry_info "$tmp/$c.shim")"
    cmp "$tmp/$c.shim" "$tmp/$c.plain" || die "$c: not Nova's own flattened snapshot"
    [ "$(log_count "snapshot $src: flattened: $3")" = 1 ] ||
        { show_log; die "$c: the log does not say 'flattened: $3'"; }
    note "$c: flattened, byte for byte Nova's own; log: $(grep -F "snapshot $src: flattened:" "$COWHERD_LOG" | sed 's/.*: flattened: /flattened: /')"
}

# 6a. Two layers over the cache (Nova's create_image refuses a backing
# file that has one itself, so the top layer is qemu-img's).
disk_6=$NOVA_INSTANCES/$(new_uuid)/disk
mkdir -p "${disk_6%/disk}"
drv_ok a shim disk "$disk_6.mid" "$A_BASE/$s1" "$ROOT"
write_top "$disk_6.mid" 0x71
qemu-img create -q -f qcow2 -F qcow2 -b "$disk_6.mid" "$disk_6" "$ROOT"
qemu-io -f qcow2 -c "write -P 0x72 3M 64k" "$disk_6" >/dev/null
flattened 6a "$disk_6" "$disk_6 is more than one layer over the cache"

# 6b. A backing file outside _base.
mkdir -p "$tmp/elsewhere"
cp --sparse=always "$tmp/o1.raw" "$tmp/elsewhere/o1.raw"
disk_7=$NOVA_INSTANCES/$(new_uuid)/disk
mkdir -p "${disk_7%/disk}"
drv_ok a shim disk "$disk_7" "$tmp/elsewhere/o1.raw" "$ROOT"
write_top "$disk_7" 0x73
flattened 6b "$disk_7" "its backing file $tmp/elsewhere/o1.raw is not an entry of $A_BASE"

# ---- 7. the cold disk's snapshot, compressed ---------------------------------------------

# [libvirt] snapshot_compression on: Nova passes -c.  The snapshot (made
# in 1b, uploaded with the others) must be COW-only with compressed
# clusters, as Nova's own is compressed, and boot on B as 2b does.
[ "$(compressed "$tmp/cold-c.flat")" != 0.00% ] || die "7: Nova's own snapshot is not compressed"
cow_only 7 "$A_SNAPS/tmp-b/cold-c" "$disk_b" "$s1" "$o1" "$sum1" yes
note "7 cold, snapshot_compression on (Nova passed -c): COW-only; $SHOWN"
boot_o1_missing 7 "$coldc_id" 1 "$tmp/cold-c.flat"
note "7 compressed snapshot $coldc_id, parent missing: fetched from Glance; _base/$ENTRY is" \
    "$(entry_info "$B_BASE/$ENTRY"), reads as Nova's flattened snapshot"

note "all cases as expected in $(since_s "$t_start") s"
