#!/usr/bin/env bash
# Nova's rebase through the shim.  Nova 26's own
# LibvirtDriver._rebase_with_qemu_img(disk, new_base) (`qemu-img info` of
# the new base, then `qemu-img rebase -b NEW -F raw DISK`, safe mode, no -f)
# runs with cowherd's qemu-img shim first in its PATH, and again without
# it on a copy of the same starting files.  The shim turns the call into a
# header-only rebase (-u) where it can prove both backing files read the
# same (a disk over _base/<sha1> or <sha1>_1, rebased onto a larger
# <sha1>_<GB> made from the same original), and passes it through as the
# full safe rebase otherwise (an unrelated base; rebase_base=None, which
# flattens).  Every result is the one Nova gets without the shim: qemu-img
# compare finds no difference, the header names the same backing file and
# format, the files are equal byte for byte, and the guest reads what it
# read before.
set -euo pipefail
source "$(dirname "$0")/../integration/functions.sh"
source "$(dirname "$0")/nova.sh"
private_ns "$@"
requires qemu-img qemu-io cmp
requires_built COWHERD_SHIM
nova_requires

mktempdir tmp
hookhost_up "$tmp/host"
printf '[tools]\nreal_qemu_img = %s\n' "$(command -v qemu-img)" >>"$COWHERD_CONF"

# ---- fixtures ----------------------------------------------------------------

# Two originals (64 MiB, 8 MiB of data each), and sized copies made as
# Nova's Qcow2 backend makes them: copy the original, then extend it.
A=$(image_sha1 "$(new_uuid)")
B=$(image_sha1 "$(new_uuid)")
qemu-img create -q -f raw "$NOVA_BASE/$A" 64M
qemu-io -f raw -c 'write -P 0x41 0 4M' -c 'write -P 0x42 60M 4M' "$NOVA_BASE/$A" >/dev/null
qemu-img create -q -f raw "$NOVA_BASE/$B" 64M
qemu-io -f raw -c 'write -P 0x51 0 4M' -c 'write -P 0x52 60M 4M' "$NOVA_BASE/$B" >/dev/null
sized() {   # sized SHA GB: <sha>_<GB>
    cp --sparse=always "$NOVA_BASE/$1" "$NOVA_BASE/$1_$2"
    qemu-img resize -q -f raw "$NOVA_BASE/$1_$2" "$2G"
}
sized "$A" 1
sized "$A" 2
sized "$B" 1

# The cases: NAME CURRENT_BACKING NEW_BASE (- for None) WANT, WANT being
# "header" or "full:<the reason the shim logs>".
cases=(
    "original-to-sized $A ${A}_1 header"
    "sized-to-sized ${A}_1 ${A}_2 header"
    "unrelated-base $A ${B}_1 full:come from different originals"
    "flatten $A - full:no new backing file"
)

# A 1 GiB root disk over _base/CURRENT with guest data in three places
# (one over the original's data, one beyond its end); the pristine copy
# in $tmp, and one copy each for the runs with and without the shim, in
# instance directories.
shim_args=()
real_args=()
for c in "${cases[@]}"; do
    read -r name cur new want <<<"$c"
    qemu-img create -q -f qcow2 -F raw -b "$NOVA_BASE/$cur" "$tmp/$name.pristine" 1G
    qemu-io -f qcow2 -c 'write -P 0x61 1M 1M' -c 'write -P 0x62 62M 4M' \
        -c 'write -P 0x63 900M 1M' "$tmp/$name.pristine" >/dev/null
    for side in shim real; do
        mkdir -p "$NOVA_INSTANCES/$side-$name"
        cp "$tmp/$name.pristine" "$NOVA_INSTANCES/$side-$name/disk"
    done
    nb=$NOVA_BASE/$new
    [ "$new" != - ] || nb=-
    shim_args+=("$NOVA_INSTANCES/shim-$name/disk" "$nb")
    real_args+=("$NOVA_INSTANCES/real-$name/disk" "$nb")
done

# ---- Nova, with and without the shim (at once: they share nothing but the
# bases, which a rebase only reads) ------------------------------------------

nova_shim_on "$tmp"
bg_run "$tmp/shim.out" nova_py "$NOVA_DIR/rebase_with_qemu_img.py" "${shim_args[@]}"
shim_bg=$BG_PID
nova_shim_off
bg_run "$tmp/real.out" nova_py "$NOVA_DIR/rebase_with_qemu_img.py" "${real_args[@]}"
real_bg=$BG_PID
wait "$shim_bg" "$real_bg" || true
for side in shim real; do
    [ "$(bg_status "$tmp/$side.out")" = 0 ] ||
        { cat "$tmp/$side.out" >&2; show_log; die "Nova's rebases ($side) failed"; }
done
[ "$(log_count "/real-")" = 0 ] || { show_log; die "the run without the shim went through it"; }

# ---- the results ---------------------------------------------------------------

# header DISK: format, virtual size, backing file name and format as written
# in the header.
header() {
    qemu-img info -U --output=json "$1" | "$PYTHON" -c 'import json, sys
i = json.load(sys.stdin)
print(i["format"], i["virtual-size"], i.get("backing-filename"), i.get("backing-filename-format"))'
}

for c in "${cases[@]}"; do
    read -r name cur new want <<<"$c"
    shim=$NOVA_INSTANCES/shim-$name/disk
    real=$NOVA_INSTANCES/real-$name/disk
    for side in shim real; do
        grep -qx "done $NOVA_INSTANCES/$side-$name/disk" "$tmp/$side.out" ||
            die "$name: Nova's rebase ($side): $(cat "$tmp/$side.out")"
    done
    lines=$(grep -F "rebase $shim" "$COWHERD_LOG" || true)
    if [ -z "$lines" ] || [ "$(wc -l <<<"$lines")" != 1 ]; then
        show_log
        die "$name: want one shim log line for $shim, got: $lines"
    fi
    case $want in
    header)
        [[ $lines == *"rebase $shim onto $NOVA_BASE/$new: header only (-u), proven equivalent: "* ]] ||
            die "$name: the shim did not take the header-only path: $lines"
        how="header only (-u), proven equivalent: ${lines##*proven equivalent: }" ;;
    full:*)
        [[ $lines == *": full rebase: "*"${want#full:}"* ]] ||
            die "$name: want a full rebase because '${want#full:}': $lines"
        how="full rebase: ${lines##*full rebase: }" ;;
    esac

    hs=$(header "$shim")
    hr=$(header "$real")
    [ "$hs" = "$hr" ] || die "$name: header with the shim [$hs], without [$hr]"
    if [ "$new" = - ]; then
        [ "$hr" = "qcow2 1073741824 None None" ] || die "$name: not flattened: $hr"
    else
        [ "$hr" = "qcow2 1073741824 $NOVA_BASE/$new raw" ] || die "$name: Nova's result: $hr"
    fi
    qemu-img compare -q "$shim" "$real" ||
        die "$name: qemu-img compare: the results with and without the shim differ"
    cmp -s "$shim" "$real" || die "$name: the results with and without the shim differ in bytes"
    qemu-img compare -q "$tmp/$name.pristine" "$real" ||
        die "$name: the guest reads other data after the rebase"
    note "$name: ${cur} -> ${new/#-/None (flatten)}: the shim: $how; the result is Nova's" \
        "without the shim: header [$hs], qemu-img compare equal, byte for byte; the guest's data kept"
done
