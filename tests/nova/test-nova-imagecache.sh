#!/usr/bin/env bash
# Nova's image cache manager over a cache cowherd has touched: a statement
# of today's behaviour, for the issue about cache management.
#
# cowherd's hook (run as libvirt runs it, for `prepare`) and `cowherd fetch`
# fill _base: originals fetched from Glance with their manifests, <sha1>_1
# copies, ephemeral and swap entries (also a Grizzly-era name), and a
# leftover in .cowherd-tmp/ from a hook killed mid-build; lock files in
# locks/.  One instance still uses its entries; the others' directories are
# gone, as after a delete.  Everything is aged with touch -d (two days; one
# original two hours), then Nova 26's own ImageCacheManager.update() runs
# one pass (imagecache_update.py: real Instance objects and a real sqlite
# DB for the block device mappings update() looks up; no stub).
#
# Asserted exactly, and printed as notes: what Nova removes, what it keeps
# (in use and refreshed, too young, or not recognised), and what it leaves
# orphaned (manifests, lock files, the .cowherd-tmp directory).
#
# Also a deeper chain: vm6 (kept, booted from image E) has its disk over
# _base/<e>, a qcow2 entry that stands on the original <d> of another
# image.  Nova protects one level only and removes <d>, which vm6 needs.
# The instances that remain are defined in the test's libvirtd, and
# `cowherd cache ls --json`, run just before Nova's pass, must have said
# exactly what Nova then removes (and flagged <d> as used here).
set -euo pipefail
source "$(dirname "$0")/../integration/functions.sh"
source "$(dirname "$0")/../integration/glance.sh"
source "$(dirname "$0")/nova.sh"
private_ns "$@"
requires qemu-img stat touch find sort join awk mkfs mkfs.vfat mkfs.ext3 mkfs.ext4 mkswap
requires_built COWHERD_HOOK COWHERD_CLI KILLWHEN
nova_requires

mktempdir tmp
glance_up "$tmp/glance"
lvhost_up "$tmp/host"
glance_configure

make_original "$tmp/image.raw" 16
A=$(glance_upload "$tmp/image.raw" raw)
B=$(glance_upload "$tmp/image.raw" raw)
C=$(glance_upload "$tmp/image.raw" raw)
D=$(glance_upload "$tmp/image.raw" raw)
E=$(new_uuid)                    # vm6's image: its entry <e> is made by hand
d=$(image_sha1 "$D")
e=$(image_sha1 "$E")
a=$(image_sha1 "$A")
b=$(image_sha1 "$B")
c=$(image_sha1 "$C")

# prepare DOM: the hook's prepare for the domain in $tmp/DOM.xml.
prepare() {
    "$COWHERD_HOOK" "$1" prepare begin - <"$tmp/$1.xml" >"$tmp/$1.out" 2>"$tmp/$1.err" ||
        { cat "$tmp/$1.err" >&2; show_log; die "prepare $1 failed"; }
}

# cowherd takes a manifest as current only while its base's ctime is older
# than the manifest (lib/manifest.c).  Noted, not asserted: that is about
# cowherd's own marks (the hook touches the base it has just fetched), not
# about Nova's cache manager, which this test states.
cur() {   # cur NAME: whether cowherd would take NAME's manifest as current
    local fc mm
    fc=$(stat -c %.9Z "$NOVA_BASE/$1")
    mm=$(stat -c %.9Y "$NOVA_BASE/$1.cowherd.json")
    if [ "$(printf '%s\n' "$fc" "$mm" | sort -g | tail -n 1)" = "$mm" ] && [ "$fc" != "$mm" ]; then
        echo current
    else
        echo "not current (base ctime $fc, manifest mtime $mm)"
    fi
}

# vm1, still there: root over <a>_1, ephemeral_1_0706d66 (vfat), swap_64.
U1=$(new_uuid)
make_instance vm1 "$U1" "$A" 64 root eph swap >"$tmp/vm1.xml"
prepare vm1
manifest_after_prepare=$(cur "$a")
# vm2, deleted below: root over <b>_1, ephemeral_2_40d1d2c (ext4), swap_128.
U2=$(new_uuid)
d2=$NOVA_INSTANCES/$U2
mkdir -p "$d2"
make_overlay "$d2/disk" "$NOVA_BASE/${b}_1" 1G
make_overlay "$d2/disk.eph0" "$NOVA_BASE/ephemeral_2_40d1d2c" 2G
make_overlay "$d2/disk.swap" "$NOVA_BASE/swap_128" 128M
domain_xml vm2 "$U2" "$B" 2 128 64 "$d2/disk" "$d2/disk.eph0" "$d2/disk.swap" >"$tmp/vm2.xml"
prepare vm2
# vm3, deleted below: a Grizzly-era ephemeral, ephemeral_1_linux (ext3).
U3=$(new_uuid)
d3=$NOVA_INSTANCES/$U3
mkdir -p "$d3"
make_overlay "$d3/disk.local" "$NOVA_BASE/ephemeral_1_linux" 1G
domain_xml vm3 "$U3" - 1 0 64 "$d3/disk.local" >"$tmp/vm3.xml"
prepare vm3
# <c>: fetched by hand, used by nobody.
fetch_ok "$C"
# vm4, deleted below: its hook killed while building swap_256.
U4=$(new_uuid)
d4=$NOVA_INSTANCES/$U4
mkdir -p "$d4"
make_overlay "$d4/disk.swap" "$NOVA_BASE/swap_256" 256M
domain_xml vm4 "$U4" - 0 256 64 "$d4/disk.swap" >"$tmp/vm4.xml"
rc=0
"$KILLWHEN" "$COWHERD_TMP_DIR" swap_256 -- "$COWHERD_HOOK" vm4 prepare begin - \
    <"$tmp/vm4.xml" >/dev/null 2>&1 || rc=$?
[ "$rc" = 0 ] || die "the hook for vm4 was not killed while building swap_256 (killwhen: $rc)"
# vm5, deleted below: root over <b>_10, a name Nova's scan does take.
U5=$(new_uuid)
d5=$NOVA_INSTANCES/$U5
mkdir -p "$d5"
make_overlay "$d5/disk" "$NOVA_BASE/${b}_10" 10G
domain_xml vm5 "$U5" "$B" 0 0 64 "$d5/disk" >"$tmp/vm5.xml"
prepare vm5
# vm6, kept: its disk over <e> (qcow2) over <d> (the original of image D).
fetch_ok "$D"
qemu-img create -q -f qcow2 -F raw -b "$NOVA_BASE/$d" "$NOVA_BASE/$e" 16M
U6=$(new_uuid)
d6=$NOVA_INSTANCES/$U6
mkdir -p "$d6"
qemu-img create -q -f qcow2 -F qcow2 -b "$NOVA_BASE/$e" "$d6/disk" 16M
domain_xml vm6 "$U6" "$E" 0 0 64 "$d6/disk" >"$tmp/vm6.xml"
rm -rf "$d2" "$d3" "$d4" "$d5"
# The instances that remain, as libvirt knows them.
virsh -q define "$tmp/vm1.xml" >/dev/null
virsh -q define "$tmp/vm6.xml" >/dev/null

# ---- before ------------------------------------------------------------------------

ls_dir() { find "$1" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort | tr '\n' ' '; }
ls_base() { ls_dir "$NOVA_BASE"; }
ls_locks() { ls_dir "$NOVA_LOCKS"; }
ls_tmp() { ls_dir "$COWHERD_TMP_DIR"; }
# want_set WHAT GOT NAME...: GOT (a sorted, space-separated listing) is
# exactly NAME...
want_set() {
    local what=$1 got=$2 want
    shift 2
    want=$(printf '%s\n' "$@" | LC_ALL=C sort | tr '\n' ' ')
    [ "$got" = "$want" ] || die "$what: [ $got], want [ $want]"
}
want_set "_base before" "$(ls_base)" .cowherd-tmp \
    "$a" "$a.cowherd.json" "${a}_1" "$b" "$b.cowherd.json" "${b}_1" "${b}_10" "$c" "$c.cowherd.json" \
    "$d" "$d.cowherd.json" "$e" \
    ephemeral_1_0706d66 ephemeral_2_40d1d2c ephemeral_1_linux swap_64 swap_128
want_set ".cowherd-tmp before" "$(ls_tmp)" swap_256
locks_before=$(ls_locks)
want_set "locks before" "$locks_before" "nova-$a" "nova-${a}_1" "nova-$b" "nova-${b}_1" "nova-${b}_10" \
    "nova-$c" "nova-$d" nova-ephemeral_1_0706d66 nova-ephemeral_2_40d1d2c nova-ephemeral_1_linux \
    nova-swap_64 nova-swap_128 nova-swap_256

# Age everything in _base two days, <c> and its manifest two hours.
find "$NOVA_BASE" -exec touch -h -d '2 days ago' {} +
touch -d '2 hours ago' "$NOVA_BASE/$c" "$NOVA_BASE/$c.cowherd.json"
mtimes() {   # NAME MTIME, for everything in _base and .cowherd-tmp
    (cd "$NOVA_BASE" && find . -mindepth 1 -printf '%P %T@\n' | LC_ALL=C sort)
}
mtimes >"$tmp/mtimes.before"

# What cowherd says Nova's pass will do, from the domains libvirt knows.
"$COWHERD_CLI" --config "$COWHERD_CONF" cache ls --json >"$tmp/ls.json" 2>"$tmp/ls.err" ||
    { cat "$tmp/ls.err" >&2; die "cowherd cache ls failed"; }
predicted=$("$PYTHON" -c 'import json, sys
for e in json.load(open(sys.argv[1]))["entries"]:
    if e["nova"] == "remove" and e["nova_removes_in"] == 0:
        print(e["name"])' "$tmp/ls.json" | LC_ALL=C sort | tr '\n' ' ')
flagged=$("$PYTHON" -c 'import json, sys
for e in json.load(open(sys.argv[1]))["entries"]:
    if e["nova"] == "remove" and e["used_by"]:
        print(e["name"], ",".join(sorted(e["used_by"])))' "$tmp/ls.json")

# ---- Nova's pass ------------------------------------------------------------------

t0=$(date +%s)
nova_py "$NOVA_DIR/imagecache_update.py" "$tmp/nova.sqlite" "1:$U1:$A:1:64" "6:$U6:$E:0:0" \
    >"$tmp/nova.out" 2>"$tmp/nova.err" ||
    { cat "$tmp/nova.err" >&2; die "Nova's ImageCacheManager.update() failed"; }
decided=$(sed 's/ /: /' "$tmp/nova.out" | tr '\n' ';')

# ---- what Nova did -------------------------------------------------------------------

# Removed: unused and old enough, by name: the original <b> (a day), the
# resized <b>_10 (an hour), ephemeral_2_40d1d2c and swap_128 (a day).
# Kept: what vm1 uses (<a>, <a>_1, its ephemeral and swap); <c>, unused
# but younger than a day; and what Nova's scan does not take as a cache
# entry at all: <b>_1 (a <sha1>_<N> name shorter than 43 characters:
# _scan_base_images wants len > 42, so _1 to _9 are never aged),
# ephemeral_1_linux (not a 7-character tag), the manifests, .cowherd-tmp.
# And the original <d>, two levels under vm6's disk: Nova looks one level
# down (vm6's image is E, its disk's backing <e>), so <d> is unused to it.
want_set "_base after" "$(ls_base)" .cowherd-tmp \
    "$a" "$a.cowherd.json" "${a}_1" "$b.cowherd.json" "${b}_1" "$c" "$c.cowherd.json" \
    "$d.cowherd.json" "$e" ephemeral_1_0706d66 ephemeral_1_linux swap_64
# cowherd cache ls said so beforehand, exactly, and flagged <d>.
removed=$(mtimes_names=$(cut -d' ' -f1 "$tmp/mtimes.before"); for f in $mtimes_names; do
    [ -e "$NOVA_BASE/$f" ] || echo "$f"; done | LC_ALL=C sort | tr '\n' ' ')
[ "$predicted" = "$removed" ] ||
    die "cowherd cache ls predicted Nova would remove [ $predicted], Nova removed [ $removed]"
[ "$flagged" = "$d _base/$e,vm6" ] || die "cowherd cache ls flagged [$flagged], want [$d _base/$e,vm6]"
want_set ".cowherd-tmp after" "$(ls_tmp)" swap_256
# Lock files: removed with a removed original or resized entry, kept for a
# removed ephemeral or swap entry (remove_lock=False), and for all else.
want_set "locks after" "$(ls_locks)" "nova-$a" "nova-${a}_1" "nova-${b}_1" "nova-$c" \
    nova-ephemeral_1_0706d66 nova-ephemeral_2_40d1d2c nova-ephemeral_1_linux \
    nova-swap_64 nova-swap_128 nova-swap_256
# Marked in use (mtime now): <a>, vm1's ephemeral and swap.  Not <a>_1:
# Nova counts it active (vm1's disk is backed by it) but, not scanning it,
# never touches it.  Nothing else changed.
refreshed=$(mtimes | LC_ALL=C join - "$tmp/mtimes.before" | awk -v t0="$t0" '$2 != $3 && $2 >= t0 { print $1 }' | tr '\n' ' ')
want_set "refreshed" "$refreshed" "$a" "$e" ephemeral_1_0706d66 swap_64
changed=$(mtimes | LC_ALL=C join - "$tmp/mtimes.before" | awk -v t0="$t0" '$2 != $3 && $2 < t0 { print $1 }')
[ -z "$changed" ] || die "mtimes changed otherwise: $changed"
[ "$(stat -c %Y "$NOVA_BASE/${a}_1")" -lt "$t0" ] || die "${a}_1 was refreshed"

note "Nova decided: $decided"
note "removed: $b (original, unused 2 days), ${b}_10 (resized, unused), ephemeral_2_40d1d2c, swap_128"
note "kept, in use and refreshed: $a, ephemeral_1_0706d66, swap_64 (used per vm1's block device mappings)"
note "kept, in use but never refreshed: ${a}_1 (vm1's backing file; Nova's scan skips <sha1>_1 .. _9)"
note "kept, unused: $c (2 hours, younger than remove_unused_original_minimum_age_seconds);" \
    "${b}_1 (2 days: Nova never ages a <sha1>_<N> with N < 10); ephemeral_1_linux (2 days:" \
    "Nova ages only ephemeral_<GB>_<7-char tag>)"
note "orphaned: $b.cowherd.json (its base removed); lock files nova-ephemeral_2_40d1d2c and" \
    "nova-swap_128 (their entries removed); nova-swap_256 and .cowherd-tmp/swap_256 (a killed" \
    "hook's), and the .cowherd-tmp directory, 2 days old, untouched"
note "lock files Nova removed: nova-$b, nova-${b}_10, nova-$d"
note "removed although vm6 needs it: $d, the original two levels under vm6's disk (Nova follows" \
    "one level: vm6's image $e is in use, its backing <d> is not); cowherd cache ls predicted" \
    "exactly what Nova removed and flagged $d as used by vm6"
note "cowherd's manifest of $a right after the prepare that fetched it: $manifest_after_prepare;" \
    "Nova's pass bumps the ctime of every in-use original again (utime)"

# ---- cowherd cache gc after Nova's pass -------------------------------------------------

# It removes what Nova's pass left orphaned that cowherd made: the
# manifests of the removed originals, the killed hook's swap_256 (its
# lock is free).  It keeps the lock files of the removed ephemeral and
# swap entries, as Nova does, and everything in use.
printf '[hook]\nstate_dir = %s\n' "$tmp/state" >>"$COWHERD_CONF"
"$COWHERD_CLI" --config "$COWHERD_CONF" cache gc >"$tmp/gc.out" 2>&1 ||
    { cat "$tmp/gc.out" >&2; die "cowherd cache gc failed"; }
want_set "_base after gc" "$(ls_base)" .cowherd-tmp \
    "$a" "$a.cowherd.json" "${a}_1" "${b}_1" "$c" "$c.cowherd.json" "$e" \
    ephemeral_1_0706d66 ephemeral_1_linux swap_64
[ -z "$(ls_tmp)" ] || die ".cowherd-tmp after gc: [ $(ls_tmp)], want it empty"
want_set "locks after gc" "$(ls_locks)" "nova-$a" "nova-${a}_1" "nova-${b}_1" "nova-$c" \
    nova-ephemeral_1_0706d66 nova-ephemeral_2_40d1d2c nova-ephemeral_1_linux \
    nova-swap_64 nova-swap_128 nova-swap_256
note "cowherd cache gc: $(tr '\n' ';' <"$tmp/gc.out")"
