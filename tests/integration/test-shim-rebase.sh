#!/usr/bin/env bash
# The qemu-img shim's rebase.  When the current and the new backing file
# are copies of one original in _base (or carry equal current manifests),
# the shim runs the header-only rebase (-u) and logs that it did; the image
# it leaves is byte-identical to what the real safe rebase leaves, and
# `qemu-img compare` agrees.  In every other case (different originals, new
# smaller, non-zero data beyond the original, disagreeing manifests, a
# backing file outside _base or a symlink, no original to bound the prefix,
# a call already unsafe, no -F) it runs the real safe rebase: the log says
# why, and image, stdout, stderr and exit status equal a direct run's.
# `cowherd rebase` uses the same proof.  Also: the loop guard, a broken
# cowherd.conf passing everything through, also in a dpkg-divert layout.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
private_ns "$@"
requires qemu-img qemu-io cmp sha256sum mount umount "$PYTHON"
requires_built COWHERD_SHIM

mktempdir tmp
hookhost_up "$tmp/host"
printf '[tools]\nreal_qemu_img = %s\n' "$(command -v qemu-img)" >>"$COWHERD_CONF"
good_conf=$(cat "$COWHERD_CONF")

mkdir -p "$tmp/bin" "$tmp/out"
ln -s "$COWHERD_SHIM" "$tmp/bin/qemu-img"
REAL=$(command -v qemu-img)
INST=$NOVA_INSTANCES/8d2c5a6e-0c39-4bde-9c2d-4d2f1e0a9b11
mkdir -p "$INST"

# ---- fixtures ----------------------------------------------------------------

# Two originals (64 MiB, 8 MiB of data) and Nova's sized copies of them.
A=$(image_sha1 "$(new_uuid)")
B=$(image_sha1 "$(new_uuid)")
qemu-img create -q -f raw "$NOVA_BASE/$A" 64M
qemu-io -f raw -c 'write -P 0x41 0 4M' -c 'write -P 0x42 60M 4M' "$NOVA_BASE/$A" >/dev/null
qemu-img create -q -f raw "$NOVA_BASE/$B" 64M
qemu-io -f raw -c 'write -P 0x51 0 4M' -c 'write -P 0x52 60M 4M' "$NOVA_BASE/$B" >/dev/null
sized() {   # sized SHA GB: <sha>_<GB> as Nova makes it (copy, then extend)
    cp --sparse=always "$NOVA_BASE/$1" "$NOVA_BASE/$1_$2"
    qemu-img resize -q -f raw "$NOVA_BASE/$1_$2" "$2G"
}
sized "$A" 1
sized "$A" 2
sized "$B" 2
# _3 with its tail written as zeros (allocated, not holes): still equivalent.
sized "$A" 3
dd if=/dev/zero of="$NOVA_BASE/${A}_3" bs=1M seek=512 count=16 conv=notrunc status=none
# _4 with data beyond the original: not equivalent.
sized "$A" 4
qemu-io -f raw -c 'write -P 0x77 1500M 1M' "$NOVA_BASE/${A}_4" >/dev/null
[ "$(allocated "$NOVA_BASE/${A}_3")" -gt "$(allocated "$NOVA_BASE/${A}_2")" ] ||
    die "fixture: ${A}_3's zeros are not allocated"

# manifest NAME [SHA256]: a manifest as cowherd writes it, after the file.
manifest() {
    local name=$1 sum=${2:-} size
    [ -n "$sum" ] || { sum=$(sha256sum <"$NOVA_BASE/$name"); sum=${sum%% *}; }
    size=$(stat -c %s "$NOVA_BASE/$name")
    printf '{"name": "%s", "size": %s, "sha256": "%s", "image_id": "", "source": "test"}\n' \
        "$name" "$size" "$sum" >"$NOVA_BASE/$name.cowherd.json"
}

# The disk: a 2 GiB qcow2 with guest data in 3 places, over CUR; kept
# pristine in $tmp/pristine-<name>.
pristine() {   # pristine NAME BACKING_AS_WRITTEN
    rm -f "$INST/disk"
    (cd "$INST" && qemu-img create -q -f qcow2 -F raw -b "$2" disk 2G)
    qemu-io -f qcow2 -c 'write -P 0x61 1M 1M' -c 'write -P 0x62 61M 2M' \
        -c 'write -P 0x63 900M 1M' "$INST/disk" >/dev/null
    cp "$INST/disk" "$tmp/pristine-$1"
}

# ---- running both ways -------------------------------------------------------

# run_both CASE ARGS...: `qemu-img rebase ARGS` on a fresh copy of the
# case's pristine disk, once through the shim and once with the real
# qemu-img, both from $INST (relative names resolve the same way).
# Leaves the results in $tmp/out/CASE.{shim,real}.{img,out,err,rc} and the
# shim's log lines for the case in $tmp/out/CASE.log.
run_both() {
    local name=$1 side path rc lines
    shift
    for side in shim real; do
        path=$REAL
        [ "$side" = shim ] && path=$tmp/bin/qemu-img
        cp "$tmp/pristine-$name" "$INST/disk"
        lines=$(log_count .)
        rc=0
        (cd "$INST" && timeout 120 "$path" rebase "$@") \
            >"$tmp/out/$name.$side.out" 2>"$tmp/out/$name.$side.err" || rc=$?
        echo "$rc" >"$tmp/out/$name.$side.rc"
        cp "$INST/disk" "$tmp/out/$name.$side.img"
        if [ "$side" = shim ]; then
            if [ -f "$COWHERD_LOG" ]; then
                tail -n +"$((lines + 1))" "$COWHERD_LOG" >"$tmp/out/$name.log"
            else
                : >"$tmp/out/$name.log"
            fi
        fi
    done
}

same_as_real() {   # same_as_real CASE: output, status and image as a direct run's
    local n=$1 f
    for f in out err rc; do
        cmp -s "$tmp/out/$n.shim.$f" "$tmp/out/$n.real.$f" || {
            diff -u "$tmp/out/$n.real.$f" "$tmp/out/$n.shim.$f" >&2 || true
            die "$n: the shim's $f differs from the real qemu-img's"
        }
    done
    cmp -s "$tmp/out/$n.shim.img" "$tmp/out/$n.real.img" ||
        die "$n: the image the shim left differs from the real rebase's"
}

# fast CASE ARGS...: the header-only path, identical to the safe rebase.
fast() {
    local n=$1
    run_both "$@"
    same_as_real "$n"
    [ "$(cat "$tmp/out/$n.shim.rc")" = 0 ] || die "$n: rebase failed: $(cat "$tmp/out/$n.shim.err")"
    grep -q "header only (-u), proven equivalent" "$tmp/out/$n.log" ||
        { cat "$tmp/out/$n.log" >&2; die "$n: the shim did not take the header-only path"; }
    # Beside the disk, so relative backing names resolve.
    cp "$tmp/out/$n.shim.img" "$INST/cmp-shim"
    cp "$tmp/out/$n.real.img" "$INST/cmp-real"
    qemu-img compare -q -f qcow2 -F qcow2 "$INST/cmp-shim" "$INST/cmp-real" ||
        die "$n: qemu-img compare finds differences"
    rm "$INST/cmp-shim" "$INST/cmp-real"
    note "$n: header only: $(sed 's/.*proven equivalent: //' "$tmp/out/$n.log")"
}

# full CASE REASON ARGS...: the real safe rebase, with REASON (an extended
# regex) logged; everything as a direct run's.
full() {
    local n=$1 reason=$2
    shift 2
    run_both "$n" "$@"
    same_as_real "$n"
    grep -q "header only" "$tmp/out/$n.log" && die "$n: the shim took the header-only path"
    grep -qE -- "full rebase: .*$reason" "$tmp/out/$n.log" ||
        { cat "$tmp/out/$n.log" >&2; die "$n: the log does not give the reason /$reason/"; }
    note "$n: full rebase (exit $(cat "$tmp/out/$n.shim.rc")): $(sed 's/.*full rebase: //' "$tmp/out/$n.log")"
}

# ---- equivalent: header only ----------------------------------------------------

pristine sized-to-sized "$NOVA_BASE/${A}_1"
fast sized-to-sized -f qcow2 -F raw -b "$NOVA_BASE/${A}_2" disk

pristine original-to-sized "$NOVA_BASE/$A"
fast original-to-sized -f qcow2 -F raw -b "$NOVA_BASE/${A}_2" disk

# Relative names, option clusters, options after the file name, -q.
pristine relative "../_base/${A}_1"
fast relative -qfqcow2 disk -Fraw "-b../_base/${A}_2"

pristine allocated-zeros "$NOVA_BASE/${A}_1"
fast allocated-zeros -f qcow2 -F raw -b "$NOVA_BASE/${A}_3" disk

# Equal manifests: the same content under two names.
C=$(image_sha1 "$(new_uuid)")
cp --sparse=always "$NOVA_BASE/$A" "$NOVA_BASE/$C"
manifest "$A"
manifest "$C"
pristine equal-manifests "$NOVA_BASE/$A"
fast equal-manifests -f qcow2 -F raw -b "$NOVA_BASE/$C" disk

# ---- not proven: the real safe rebase -------------------------------------------

pristine different-originals "$NOVA_BASE/${A}_1"
full different-originals "different originals" -f qcow2 -F raw -b "$NOVA_BASE/${B}_2" disk

pristine new-smaller "$NOVA_BASE/${A}_2"
full new-smaller "is smaller than" -f qcow2 -F raw -b "$NOVA_BASE/${A}_1" disk

pristine tail-data "$NOVA_BASE/${A}_1"
full tail-data "has data at byte 1572864000" -f qcow2 -F raw -b "$NOVA_BASE/${A}_4" disk

# Same size, recorded contents differ (the manifest of C claims other bytes).
manifest "$C" 0000000000000000000000000000000000000000000000000000000000000000
pristine manifests-disagree "$NOVA_BASE/$A"
full manifests-disagree "manifests of .* disagree" -f qcow2 -F raw -b "$NOVA_BASE/$C" disk
manifest "$C"

# A manifest older than its file is not current: back to the names.
pristine stale-manifest "$NOVA_BASE/$A"
touch -d '2001-01-01' "$NOVA_BASE/$C.cowherd.json"
full stale-manifest "different originals" -f qcow2 -F raw -b "$NOVA_BASE/$C" disk

cp --sparse=always "$NOVA_BASE/${A}_2" "$tmp/outside-${A}_2"
pristine outside-base "$NOVA_BASE/${A}_1"
full outside-base "is not in $NOVA_BASE" -f qcow2 -F raw -b "$tmp/outside-${A}_2" disk

ln -s "${A}_2" "$NOVA_BASE/${A}_5"
pristine symlink "$NOVA_BASE/${A}_1"
full symlink "is a symbolic link" -f qcow2 -F raw -b "$NOVA_BASE/${A}_5" disk

# A symlinked directory on the way: QEMU reaches another file than the
# lexical name says.
mkdir -p "$tmp/elsewhere/sub" "$tmp/elsewhere/_base"
cp --sparse=always "$NOVA_BASE/${A}_2" "$tmp/elsewhere/_base/${A}_2"
ln -s "$tmp/elsewhere/sub" "$NOVA_INSTANCES/via"
pristine dotdot-symlink "$NOVA_BASE/${A}_1"
full dotdot-symlink "does not resolve to" -f qcow2 -F raw -b "../via/../_base/${A}_2" disk

pristine no-format "$NOVA_BASE/${A}_1"
full no-format "no backing format given" -f qcow2 -b "$NOVA_BASE/${A}_2" disk

pristine already-unsafe "$NOVA_BASE/${A}_1"
full already-unsafe "already unsafe" -u -f qcow2 -F raw -b "$NOVA_BASE/${A}_2" disk

pristine missing-new "$NOVA_BASE/${A}_1"
full missing-new "No such file" -f qcow2 -F raw -b "$NOVA_BASE/${A}_9" disk
[ "$(cat "$tmp/out/missing-new.shim.rc")" != 0 ] || die "missing-new: rebase onto a missing file succeeded"

mv "$NOVA_BASE/$B" "$tmp/B-original"
pristine no-original "$NOVA_BASE/${B}_2"
cp --sparse=always "$NOVA_BASE/${B}_2" "$NOVA_BASE/${B}_3"
qemu-img resize -q -f raw "$NOVA_BASE/${B}_3" 3G
full no-original "original .* is not there" -f qcow2 -F raw -b "$NOVA_BASE/${B}_3" disk
mv "$tmp/B-original" "$NOVA_BASE/$B"

# Not a rebase the shim can read: passed through without a word.
lines=$(log_count .)
rc=0
(cd "$INST" && "$tmp/bin/qemu-img" rebase -f qcow2 -F raw -b "$NOVA_BASE/${A}_2" -x disk) \
    >"$tmp/out/bad.out" 2>"$tmp/out/bad.err" || rc=$?
[ "$rc" = 1 ] || die "an unknown option: exit $rc"
grep -qF "unrecognized option '-x'" "$tmp/out/bad.err" || die "unclear: $(cat "$tmp/out/bad.err")"
[ "$(log_count .)" = "$lines" ] || die "the shim logged a call it does not understand"

# The image named through a symlinked directory and "..": qemu-img opens
# what the kernel resolves (another disk, over B), not the lexical name.
mkdir -p "$tmp/elsewhere/${INST##*/}"
qemu-img create -q -f qcow2 -F raw -b "$NOVA_BASE/${B}_2" "$tmp/elsewhere/${INST##*/}/disk" 2G
cp "$tmp/elsewhere/${INST##*/}/disk" "$tmp/out/elsewhere-pristine"
pristine image-dotdot "$NOVA_BASE/${A}_1"
cp "$tmp/pristine-image-dotdot" "$INST/disk"
lines=$(log_count .)
"$tmp/bin/qemu-img" rebase -q -f qcow2 -F raw -b "$NOVA_BASE/${A}_2" \
    "$NOVA_INSTANCES/via/../${INST##*/}/disk"
grep -q "full rebase: .*different originals" <<<"$(tail -n +"$((lines + 1))" "$COWHERD_LOG")" ||
    { show_log; die "image-dotdot: the proof looked at the lexical path's disk"; }
cmp -s "$INST/disk" "$tmp/pristine-image-dotdot" || die "image-dotdot: the lexical path's disk changed"
note "image-dotdot: full rebase of the disk the kernel reaches"

# Nova holds the lock on the new entry (its image cache manager at work):
# no header-only rebase under its feet.
hold_lock "$NOVA_LOCKS/nova-${A}_2" "$tmp/out/lock.out"
pristine nova-lock "$NOVA_BASE/${A}_1"
full nova-lock "Nova's lock on ${A}_2 is held by another process" -f qcow2 -F raw -b "$NOVA_BASE/${A}_2" disk
release_lock

# ---- cowherd rebase: the same proof, from the CLI ----------------------------------

requires_built COWHERD_CLI
cli_rebase() {   # cli_rebase CASE CUR NEW WANT: the CLI's result equals a safe rebase's
    local n=$1 out
    pristine "$n" "$2"
    "$REAL" rebase -q -f qcow2 -F raw -b "$3" "$INST/disk"
    cp "$INST/disk" "$tmp/out/$n.real.img"
    cp "$tmp/pristine-$n" "$INST/disk"
    out=$("$COWHERD_CLI" rebase "$INST/disk" "$3") || die "$n: cowherd rebase failed"
    grep -qF "$4" <<<"$out" || die "$n: cowherd rebase said: $out; want $4"
    cmp -s "$INST/disk" "$tmp/out/$n.real.img" ||
        die "$n: cowherd rebase left another image than the safe rebase"
    note "$n: cowherd rebase: $out"
}
cli_rebase cli-fast "$NOVA_BASE/${A}_1" "$NOVA_BASE/${A}_2" "header only (-u)"
cli_rebase cli-full "$NOVA_BASE/${A}_1" "$NOVA_BASE/${A}_4" "full rebase: "
out=$("$COWHERD_CLI" rebase --dry-run "$INST/disk" "$NOVA_BASE/${B}_2")
cmp -s "$INST/disk" "$tmp/out/cli-full.real.img" || die "cowherd rebase --dry-run changed the disk"
grep -qF "come from different originals" <<<"$out" || die "--dry-run said: $out"

# ---- the loop guard and a broken configuration ------------------------------------

loop_case() {   # loop_case REAL_QEMU_IMG
    local rc=0
    printf '%s\n[tools]\nreal_qemu_img = %s\n' "$(grep -v real_qemu_img <<<"$good_conf")" "$1" \
        >"$COWHERD_CONF"
    timeout 10 "$tmp/bin/qemu-img" --version >"$tmp/out/loop.out" 2>"$tmp/out/loop.err" || rc=$?
    [ "$rc" = 1 ] || die "real_qemu_img = $1 (the shim): exit $rc, want 1"
    [ "$(wc -l <"$tmp/out/loop.err")" = 1 ] || { cat "$tmp/out/loop.err" >&2; die "want one line"; }
    grep -qF "real_qemu_img = $1 is this shim itself" "$tmp/out/loop.err" ||
        die "unclear: $(cat "$tmp/out/loop.err")"
    [ ! -s "$tmp/out/loop.out" ] || die "the loop guard wrote to stdout"
    note "loop guard ($1): $(cat "$tmp/out/loop.err")"
}
loop_case "$COWHERD_SHIM"
ln -s "$tmp/bin/qemu-img" "$tmp/bin/link-to-link"
loop_case "$tmp/bin/link-to-link"
ln "$COWHERD_SHIM" "$tmp/hardlink" 2>/dev/null && loop_case "$tmp/hardlink"

# A broken cowherd.conf must not break qemu-img: passthrough, logged.
printf '[nonsense\n' >"$COWHERD_CONF"
"$tmp/bin/qemu-img" --version >"$tmp/out/broken.out" 2>"$tmp/out/broken.err" ||
    die "with a broken cowherd.conf qemu-img --version failed: $(cat "$tmp/out/broken.err")"
"$REAL" --version | cmp -s - "$tmp/out/broken.out" || die "with a broken config the output differs"
[ ! -s "$tmp/out/broken.err" ] || die "with a broken config the shim wrote: $(cat "$tmp/out/broken.err")"

# dpkg-divert: the shim is /usr/bin/qemu-img and the real binary
# /usr/bin/qemu-img.distrib, here on an overlay of /usr/bin private to this
# test's mount namespace.  With a broken config the default names the shim
# itself: the shim must run the diverted binary, not refuse every call.
mkdir -p "$tmp/ov/upper" "$tmp/ov/work"
mount -t overlay cowherd-divert -o "lowerdir=/usr/bin,upperdir=$tmp/ov/upper,workdir=$tmp/ov/work" /usr/bin
cleanup_fn umount --lazy /usr/bin    # umount itself runs from /usr/bin
real_copy=/usr/bin/qemu-img.distrib
cp "$REAL" "$real_copy"
rm -f /usr/bin/qemu-img
cp "$COWHERD_SHIM" /usr/bin/qemu-img
/usr/bin/qemu-img --version >"$tmp/out/divert.out" 2>"$tmp/out/divert.err" ||
    die "diverted, with a broken config: qemu-img --version failed: $(cat "$tmp/out/divert.err")"
"$real_copy" --version | cmp -s - "$tmp/out/divert.out" || die "diverted: the output differs"
[ ! -s "$tmp/out/divert.err" ] || die "diverted: the shim wrote: $(cat "$tmp/out/divert.err")"
# Without the diverted binary there is nothing real to run: one clear line.
rm "$real_copy"
rc=0
/usr/bin/qemu-img --version >"$tmp/out/divert.out" 2>"$tmp/out/divert.err" || rc=$?
[ "$rc" = 1 ] && grep -qF "real_qemu_img = /usr/bin/qemu-img is this shim itself" "$tmp/out/divert.err" ||
    die "diverted without the real binary: exit $rc: $(cat "$tmp/out/divert.err")"
note "dpkg-divert layout with a broken config: ran the diverted qemu-img"

printf '%s\n' "$good_conf" >"$COWHERD_CONF"
note "all rebase cases as expected"
