#!/usr/bin/env bash
# The qemu-img shim is indistinguishable from the real qemu-img for the calls
# it does not improve.  A corpus of real invocations (every subcommand, valid
# and invalid: json output, missing files, bad options, odd option syntax,
# damaged images) runs through the shim and directly, each in a fresh copy
# of the same fixture directory; stdout, stderr, exit status and the files
# left behind must be byte-identical.  No output is normalised: both runs
# have the same argv (argv[0] "qemu-img", found first on the same PATH,
# whose qemu-img links to the shim or to the real binary), the same
# environment and the same cwd.  Masked, as nondeterministic: the elapsed
# time qemu-img bench prints, and the creation times that snapshot -c
# writes into snapshot tables.  No image is in the Nova image cache, so the
# shim has nothing to improve here (it only speeds up rebases there).
#
# On a mismatch, a second direct run tells a nondeterministic case (a corpus
# bug) from a shim that differs; COWHERD_SHIM_AUDIT=1 makes that second run
# for every case.  Each case's exit status is checked against the corpus,
# enough cases must run, both succeeding and failing, and stand-ins that get
# one thing wrong each must be caught: the test cannot pass trivially.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
private_ns "$@"
requires qemu-img qemu-io mount umount od dd sha256sum timeout
requires_built COWHERD_SHIM

REAL=$(command -v qemu-img)
MIN_CASES=60       # cases that must have run
MIN_EACH=15        # of those, at least this many exit 0 and as many non-zero

mktempdir tmp
hookhost_up "$tmp/host"
printf '[tools]\nreal_qemu_img = %s\n' "$REAL" >>"$COWHERD_CONF"

# Images live on a private tmpfs: on ext4, st_blocks (qemu-img's "disk size")
# of a fresh copy grows once writeback allocates extent-tree blocks.
mkdir -p "$tmp/fs" "$tmp/bin"
mount -t tmpfs -o size=512m,mode=0755 cowherd-shim-test "$tmp/fs"
cleanup_fn umount "$tmp/fs"
W=$tmp/fs/work       # every case runs in a copy of $FIX here
FIX=$tmp/fs/fixture
OUT=$tmp/fs/out      # what each run printed and left behind
BIN=$tmp/bin         # first on PATH; its qemu-img links to the shim or $REAL
RUN_PATH=$BIN:/usr/sbin:/usr/bin:/sbin:/bin

# ---- fixtures ------------------------------------------------------------------

# be FILE OFFSET BYTES: an unsigned big-endian field of FILE.
be() {
    local hex
    hex=$(od -An -tx1 -j "$2" -N "$3" "$1" | tr -d ' \n')
    printf '%d\n' "$((16#$hex))"
}

# poke FILE OFFSET BYTES: overwrite bytes (printf escapes) in place.
poke() {
    # shellcheck disable=SC2059  # BYTES is a format: it holds the escapes
    printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# set_refcount FILE CLUSTER VALUE: a qcow2 refcount, behind qemu's back
# (16-bit refcounts, a cluster the first refcount block covers).
set_refcount() {
    local f=$1 cluster=$2 value=$3 rb
    [ "$(be "$f" 96 4)" = 4 ] || die "$f: refcounts are not 16-bit"
    rb=$(be "$f" "$(be "$f" 48 8)" 8)
    poke "$f" $((rb + 2 * cluster)) "$(printf '\\x%02x\\x%02x' $((value >> 8)) $((value & 255)))"
}

# check_status FILE: qemu-img check's exit status for FILE.
check_status() {
    local rc=0
    "$REAL" check -q "$1" >/dev/null 2>&1 || rc=$?
    echo "$rc"
}

qio() {
    qemu-io "$@" >/dev/null
}

make_fixtures() {
    local l1
    mkdir "$W"
    cd "$W"
    # A raw base with data at known offsets, a qcow2 overlay on it (own data
    # and a zeroed range) and a third layer.
    qemu-img create -q -f raw base.raw 2M
    qio -f raw -c 'write -P 0x5a 0 512k' -c 'write -P 0xa5 1M 256k' base.raw
    qemu-img create -q -f qcow2 -b base.raw -F raw ov.qcow2
    qio -f qcow2 -c 'write -P 0x33 512k 64k' -c 'write -z 1M 64k' ov.qcow2
    qemu-img create -q -f qcow2 -b ov.qcow2 -F qcow2 top.qcow2
    qio -f qcow2 -c 'write -P 0x44 1536k 4k' top.qcow2
    # Another base to rebase onto, one block different.
    cp base.raw other.raw
    qio -f raw -c 'write -P 0x77 1792k 4k' other.raw
    # A standalone qcow2, and one with the same content as base.raw.
    qemu-img create -q -f qcow2 solo.qcow2 2M
    qio -f qcow2 -c 'write -P 0x5a 0 256k' solo.qcow2
    qemu-img convert -f raw -O qcow2 base.raw same.qcow2
    # An internal snapshot s1 of old data, newer data on top.
    qemu-img create -q -f qcow2 snap.qcow2 2M
    qio -f qcow2 -c 'write -P 0x11 0 64k' snap.qcow2
    qemu-img snapshot -c s1 snap.qcow2
    qio -f qcow2 -c 'write -P 0x22 0 64k' snap.qcow2
    # A persistent dirty bitmap b0.
    qemu-img create -q -f qcow2 bm.qcow2 2M
    qemu-img bitmap --add bm.qcow2 b0
    # A target for convert -n.
    qemu-img create -q -f raw target.raw 2M
    # Damaged copies of a small qcow2: a leaked cluster (the L1 table's
    # refcount 2), a corruption (its refcount 0), garbage in the header (an
    # unknown version, an unaligned L1 table).
    qemu-img create -q -f qcow2 "$tmp/small.qcow2" 1M
    qio -f qcow2 -c 'write -P 0x5a 0 64k' "$tmp/small.qcow2"
    l1=$(($(be "$tmp/small.qcow2" 40 8) / 65536))
    cp "$tmp/small.qcow2" leaky.qcow2
    set_refcount leaky.qcow2 "$l1" 2
    cp "$tmp/small.qcow2" corrupt.qcow2
    set_refcount corrupt.qcow2 "$l1" 0
    cp "$tmp/small.qcow2" badver.qcow2
    poke badver.qcow2 4 '\x00\x00\x00\x63'
    cp "$tmp/small.qcow2" badl1.qcow2
    poke badl1.qcow2 40 '\x00\x00\x00\x00\x00\x03\x01\x23'
    [ "$(check_status leaky.qcow2)" = 3 ] || die "leaky.qcow2 does not check as leaky"
    [ "$(check_status corrupt.qcow2)" = 2 ] || die "corrupt.qcow2 does not check as corrupt"
    printf 's3cret' >secret.txt
    printf 'not an image\n' >notes.txt
    cd /
    mv "$W" "$FIX"
}

# ---- the corpus ------------------------------------------------------------------

# One case a line: EXIT FLAGS NAME [VAR=VALUE...] ARGS...  EXIT is the status
# the real qemu-img must return.  FLAGS is - or one of: t, mask the elapsed
# time bench prints; d, mask the creation times in snapshot tables.  VAR=VALUE
# words go into the environment.  ARGS are shell words (quotes work; no
# expansions, no globbing) run in the fixture copy, where @W@ is its path.
# Left out as nondeterministic between two direct runs: trace events that
# fire (they print pointers), bitmap --add on a raw image (its error names
# an automatic node name, #blockNNN, that varies) and progress output (-p
# without -q).
CORPUS=$(cat <<'EOF'
# global options
0  - version                   --version
0  - version-short             -V
0  - help                      --help
0  - help-short                -h
1  - no-args
1  - unknown-command           frobnicate solo.qcow2
1  - unknown-global-opt        --frobnicate info solo.qcow2
0  - trace-help                -T help
0  - trace-unused-event        -T 'enable=vfio_*' info solo.qcow2
1  - trace-missing-events      --trace events=no-such-file info solo.qcow2
0  - subcommand-help           info --help

# info
0  - info-raw                  info base.raw
0  - info-json                 info --output=json ov.qcow2
0  - info-chain                info --backing-chain top.qcow2
0  - info-chain-json           info --backing-chain --output json top.qcow2
0  - info-raw-on-qcow2         info -f raw ov.qcow2
0  - info-force-share          info -U solo.qcow2
0  - info-image-opts           info --image-opts driver=qcow2,file.filename=solo.qcow2
1  - info-image-opts-fmt       info --image-opts -f qcow2 driver=qcow2,file.filename=solo.qcow2
1  - info-missing              info missing.qcow2
1  - info-unknown-format       info -f bogus solo.qcow2
1  - info-bad-output           info --output=xml solo.qcow2
0  - info-snapshots            info snap.qcow2
0  - info-bitmap-json          info --output=json bm.qcow2
0  - info-abs-path             info --output=json @W@/ov.qcow2
0  - info-end-of-options       info -- solo.qcow2
0  - info-opt-after-file       info solo.qcow2 --output=json
0  - info-clustered-fmt        info -fqcow2 solo.qcow2
0  - info-long-opt-equals      info --format=qcow2 --output=json solo.qcow2
1  - info-no-file              info
1  - info-two-files            info solo.qcow2 base.raw
1  - info-bad-version          info badver.qcow2
1  - info-bad-l1               info badl1.qcow2
1  - info-secret-no-data       info --object secret,id=s0 solo.qcow2
1  - info-bad-object           info --object frobnicate,id=x solo.qcow2
0  - info-secret-object        info --object secret,id=s0,file=secret.txt solo.qcow2

# create
0  - create-cluster-size       create -f qcow2 -o cluster_size=4k new.qcow2 1M
0  - create-o-help             create -f qcow2 -o help
0  - create-o-question         create -f qcow2 -o '?'
0  - create-prealloc-raw       create -f raw -o preallocation=full new.raw 1M
0  - create-prealloc-meta      create -f qcow2 -o preallocation=metadata new.qcow2 1M
0  - create-backing            create -f qcow2 -b base.raw -F raw new.qcow2
1  - create-backing-no-F       create -f qcow2 -b base.raw new.qcow2
0  - create-backing-unsafe     create -f qcow2 -u -b missing.raw -F raw new.qcow2 1M
1  - create-backing-missing    create -f qcow2 -b missing.raw -F raw new.qcow2
0  - create-size-fraction      create -f qcow2 new.qcow2 1.5M
0  - create-size-g             create -f qcow2 new.qcow2 1G
1  - create-bad-size           create -f qcow2 new.qcow2 12Q
1  - create-negative-size      create -f qcow2 new.qcow2 -- -5
1  - create-bad-cluster        create -f qcow2 -o cluster_size=3000 new.qcow2 1M
0  - create-quiet              create -q -f qcow2 new.qcow2 1M
1  - create-no-size            create -f qcow2 new.qcow2
1  - create-unknown-fmt        create -f bogus new.img 1M
0  - create-opts-after         create new.qcow2 1M -f qcow2 -o lazy_refcounts=on

# convert
0  - convert-to-raw            convert -O raw ov.qcow2 out.raw
0  - convert-compressed        convert -c -O qcow2 base.raw out.qcow2
0  - convert-no-sparse         convert -S 0 -O raw base.raw out.raw
0  - convert-n-existing        convert -n -O raw top.qcow2 target.raw
1  - convert-tio-without-n     convert --target-image-opts base.raw driver=raw,file.filename=target.raw
0  - convert-tio-with-n        convert -n --target-image-opts base.raw driver=raw,file.filename=target.raw
1  - convert-unknown-fmt       convert -O bogus base.raw out.img
1  - convert-missing-src       convert -O raw missing.qcow2 out.raw
0  - convert-out-of-order      convert -W -O raw ov.qcow2 out.raw
0  - convert-coroutines        convert -m 2 -O qcow2 top.qcow2 out.qcow2
1  - convert-zero-coroutines   convert -m 0 -O raw base.raw out.raw
0  - convert-snapshot          convert -l s1 -O raw snap.qcow2 out.raw
0  - convert-backing           convert -O qcow2 -B base.raw -F raw ov.qcow2 out.qcow2
0  - convert-progress-quiet    convert -p -q -O raw ov.qcow2 out.raw
1  - convert-no-target         convert -O raw base.raw

# resize
0  - resize-grow               resize solo.qcow2 4M
0  - resize-shrink-raw         resize --shrink base.raw 1M
1  - resize-shrink-no-flag     resize base.raw 1M
0  - resize-raw-plus           resize -f raw base.raw +512K
0  - resize-prealloc           resize --preallocation=full base.raw 3M
1  - resize-bad-prealloc       resize --preallocation=bogus base.raw 3M
0  - resize-shrink-qcow2       resize --shrink solo.qcow2 1M
1  - resize-no-size            resize solo.qcow2
1  - resize-bad-size           resize solo.qcow2 abc

# rebase (the shim parses these: it must still pass them through)
0  - rebase-safe               rebase -b other.raw -F raw ov.qcow2
0  - rebase-unsafe             rebase -u -b other.raw -F raw ov.qcow2
0  - rebase-flatten            rebase -b '' ov.qcow2
1  - rebase-missing-base       rebase -b missing.raw -F raw ov.qcow2
0  - rebase-clustered          rebase -uqf qcow2 -b other.raw -F raw ov.qcow2
0  - rebase-progress-quiet     rebase -p -q -b other.raw -F raw top.qcow2
0  - rebase-secret-object      rebase --object secret,id=s0,data=x -u -b base.raw -F raw ov.qcow2
1  - rebase-wrong-fmt          rebase -f raw -b base.raw -F raw ov.qcow2
1  - rebase-no-backing         rebase ov.qcow2
0  - rebase-force-share        rebase -U -b other.raw -F raw ov.qcow2
0  - rebase-image-opts         rebase --image-opts -b other.raw -F raw driver=qcow2,file.filename=ov.qcow2
0  - rebase-attached-values    rebase -bother.raw -Fraw ov.qcow2
0  - rebase-long-prefix        rebase --force -b other.raw -F raw ov.qcow2
0  - rebase-opts-after-file    rebase ov.qcow2 -b other.raw -F raw
0  - rebase-end-of-options     rebase -b other.raw -F raw -- ov.qcow2
0  - rebase-cache-modes        rebase -t unsafe -T writeback -b other.raw -F raw ov.qcow2
0  - rebase-abs-paths          rebase -b @W@/other.raw -F raw @W@/ov.qcow2
0  - rebase-skip-layer         rebase -b base.raw -F raw top.qcow2
0  - rebase-after-global-opt   -T 'enable=vfio_*' rebase -b other.raw -F raw ov.qcow2
0  - rebase-help               rebase --help
1  - rebase-two-files          rebase -b other.raw -F raw ov.qcow2 top.qcow2
1  - rebase-missing-arg        rebase -b
0  - posix-rebase              POSIXLY_CORRECT=1 rebase -b other.raw -F raw ov.qcow2
1  - posix-rebase-opts-after   POSIXLY_CORRECT=1 rebase ov.qcow2 -b other.raw -F raw
1  - posix-info-opt-after      POSIXLY_CORRECT=1 info solo.qcow2 --output=json

# check
0  - check-clean               check solo.qcow2
0  - check-json                check --output=json ov.qcow2
3  - check-leaky               check leaky.qcow2
0  - check-repair-leaks        check -r leaks leaky.qcow2
2  - check-corrupt             check corrupt.qcow2
0  - check-repair-all          check -r all corrupt.qcow2
1  - check-bad-repair          check -r bogus solo.qcow2
63 - check-raw                 check base.raw
3  - check-quiet-leaky         check -q leaky.qcow2

# compare
0  - compare-identical         compare base.raw same.qcow2
1  - compare-different         compare base.raw ov.qcow2
1  - compare-strict            compare -s base.raw same.qcow2
0  - compare-formats           compare -f raw -F qcow2 base.raw same.qcow2
2  - compare-missing           compare base.raw missing.qcow2
1  - compare-quiet-diff        compare -q other.raw base.raw
1  - compare-one-file          compare base.raw

# map
0  - map-human                 map ov.qcow2
0  - map-json                  map --output=json top.qcow2
0  - map-range                 map --start-offset=512k --max-length=1M --output=json ov.qcow2
1  - map-bad-output            map --output=bogus ov.qcow2

# snapshot
0  - snapshot-list             snapshot -l snap.qcow2
0  - snapshot-apply            snapshot -a s1 snap.qcow2
0  - snapshot-delete           snapshot -d s1 snap.qcow2
1  - snapshot-apply-missing    snapshot -a nosuch snap.qcow2
0  d snapshot-create           snapshot -c s2 snap.qcow2
1  - snapshot-raw              snapshot -c s2 base.raw
1  - snapshot-two-actions      snapshot -l -a s1 snap.qcow2

# measure, dd, bench, amend, commit, bitmap
0  - measure-size              measure -O qcow2 --size 1G
0  - measure-file              measure -O qcow2 base.raw
0  - measure-json              measure --output=json -O qcow2 ov.qcow2
1  - measure-nothing           measure -O qcow2
1  - measure-both              measure -O qcow2 --size 1G base.raw
0  - dd-raw                    dd if=base.raw of=out.raw bs=64k count=4
0  - dd-qcow2                  dd -O qcow2 if=ov.qcow2 of=out.qcow2 bs=512k skip=1
1  - dd-zero-bs                dd bs=0 if=base.raw of=out.raw
1  - dd-no-output              dd if=base.raw
0  t bench-read                bench -c 4 -d 1 solo.qcow2
1  - bench-bad-count           bench -c abc solo.qcow2
0  - amend-compat              amend -o compat=0.10 solo.qcow2
1  - amend-cluster-size        amend -o cluster_size=4k solo.qcow2
0  - amend-help                amend -f qcow2 -o help
1  - amend-no-options          amend solo.qcow2
0  - commit                    commit ov.qcow2
0  - commit-keep               commit -d top.qcow2
1  - commit-no-backing         commit solo.qcow2
0  - bitmap-add                bitmap --add solo.qcow2 b1
0  - bitmap-remove             bitmap --remove bm.qcow2 b0
1  - bitmap-add-exists         bitmap --add bm.qcow2 b0
1  - bitmap-list               bitmap --list bm.qcow2
EOF
)

# ---- running and comparing ---------------------------------------------------------

# parse_args WORDS: split a corpus line's words (no expansions) into envv
# (the leading VAR=VALUE words) and argv (the rest).
parse_args() {
    local - i
    set -f
    case $1 in
    *['$`\;&|<>(){}']*) die "corpus: unsafe characters in: $1" ;;
    esac
    eval "argv=($1)"
    for i in "${!argv[@]}"; do
        argv[i]=${argv[i]//@W@/$W}
    done
    envv=()
    while [ "${#argv[@]}" -gt 0 ] && [[ ${argv[0]} =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; do
        envv+=("${argv[0]}")
        argv=("${argv[@]:1}")
    done
}

# list_entries DIR: every entry in DIR, sorted, one line each: its path, a
# tab, type, size, mode and link target, a tab and (not part of the state
# compared) its mtime.
list_entries() {
    find "$1" -printf '%P\t%y %s %m %l\t%T@\n' | LC_ALL=C sort
}

# state OUT FLAGS: record in OUT what the case left in $W: every entry (path,
# type, size, mode, link target), then the sha256 of every file it wrote
# (size or mtime no longer the fixture's; the others hold the fixture's
# bytes, and hashing them too would double the run time).  With FLAGS d,
# snapshot creation times are zeroed first.  Sets W_PRISTINE=1 when $W is
# still an exact copy of the fixtures, which the next case can reuse.
state() {
    local out=$1 flags=$2 line path rest f IFS=$'\n'
    local -a entries=() written=()
    mapfile -t entries < <(list_entries "$W")
    W_PRISTINE=0
    [ "${entries[*]}" != "$FIX_LIST" ] || W_PRISTINE=1
    for line in "${entries[@]}"; do
        path=${line%%$'\t'*}
        rest=${line#*$'\t'}
        printf '%s %s\n' "${path:-.}" "${rest%$'\t'*}"
        [ "${rest:0:2}" = "f " ] || continue
        [ "${FIX_STAMP[$path]:-}" = "$rest" ] || written+=("$path")
    done >"$out"
    [ "${#written[@]}" != 0 ] || return 0
    W_PRISTINE=0
    if [ "$flags" = d ]; then
        for f in "${written[@]}"; do
            mask_snapshot_dates "$W/$f"
        done
    fi
    (cd "$W" && sha256sum -- "${written[@]}") >>"$out"
}

# mask_snapshot_dates FILE: zero date_sec and date_nsec in every entry of a
# qcow2 snapshot table.
mask_snapshot_dates() {
    local f=$1 n i off
    [ "$(od -An -tx1 -N 4 "$f" | tr -d ' \n')" = 514649fb ] || return 0
    n=$(be "$f" 60 4)
    off=$(be "$f" 64 8)
    for ((i = 0; i < n; i++)); do
        poke "$f" $((off + 16)) '\x00\x00\x00\x00\x00\x00\x00\x00'
        # The next entry: 40 bytes, extra data, id, name, padded to 8.
        off=$(((off + 40 + $(be "$f" $((off + 36)) 4) + $(be "$f" $((off + 12)) 2) +
                $(be "$f" $((off + 14)) 2) + 7) / 8 * 8))
    done
}

# run_case TARGET OUTDIR FLAGS: run qemu-img "${argv[@]}" with environment
# "${envv[@]}" in a fresh (or untouched) copy of the fixtures, with
# $BIN/qemu-img linked to TARGET; record stdout, stderr, exit status and the
# resulting files in OUTDIR.
W_PRISTINE=0
LINKED=
run_case() {
    local target=$1 out=$2 flags=$3 rc=0
    mkdir -p "$out"
    if [ "$W_PRISTINE" != 1 ]; then
        rm -rf "$W"
        cp -a "$FIX" "$W"
    fi
    if [ "$LINKED" != "$target" ]; then
        ln -sfn "$target" "$BIN/qemu-img"
        LINKED=$target
    fi
    (cd "$W" && exec env -i PATH="$RUN_PATH" LANG=C.UTF-8 "${envv[@]}" \
        timeout 30 qemu-img "${argv[@]}") </dev/null >"$out/stdout" 2>"$out/stderr" || rc=$?
    echo "$rc" >"$out/rc"
    state "$out/files" "$flags"
    if [ "$flags" = t ]; then
        sed -i 's/^Run completed in [0-9.]* seconds\.$/Run completed in N seconds./' \
            "$out/stdout"
    fi
}

# differs A B [QUIET]: 0 if the runs recorded in dirs A and B differ at all
# (and, unless QUIET, show how).
differs() {
    local a=$1 b=$2 quiet=${3:-} ch
    ! diff -rq "$a" "$b" >/dev/null || return 1
    [ -n "$quiet" ] && return 0
    for ch in rc stdout stderr files; do
        diff -u --label "${a##*/}/$ch" --label "${b##*/}/$ch" "$a/$ch" "$b/$ch" >&2 || true
    done
    return 0
}

make_fixtures
# What state() takes as the untouched fixtures: their entries, and each
# file's type, size, mode and mtime.  The pause puts every write a case makes
# on a later clock tick than the fixtures' own.
FIX_LIST=$(list_entries "$FIX")
declare -A FIX_STAMP=()
while IFS= read -r line; do
    path=${line%%$'\t'*}
    [ -z "$path" ] || FIX_STAMP[$path]=${line#*$'\t'}
done <<<"$FIX_LIST"
sleep 0.1

# The harness itself: stand-ins that each get one thing wrong must all be
# told apart from qemu-img, on one of two probe cases.
mkdir "$tmp/liars"
# shellcheck disable=SC2016  # these are scripts, expanded when they run
declare -A LIARS=(
    [stdout]='"$REAL" "$@"; rc=$?; echo; exit $rc'
    [stderr]='"$REAL" "$@"; rc=$?; echo >&2; exit $rc'
    [status]='"$REAL" "$@"; exit $(($? + 1))'
    [files]='"$REAL" "$@"; rc=$?; : >>.stray; exit $rc'
    [content]='"$REAL" "$@"; rc=$?; printf N | dd of=notes.txt conv=notrunc status=none; exit $rc'
    [argv]='exec "$REAL" "$@" ""'
    [environment]='exec env -i "$REAL" "$@"'
)
declare -A caught=()
PROBES=("info --output=json ov.qcow2" "POSIXLY_CORRECT=1 info ov.qcow2 --output=json")
for l in "${!LIARS[@]}"; do
    printf '#!/bin/sh\nREAL=%s\n%s\n' "$REAL" "${LIARS[$l]}" >"$tmp/liars/$l"
    chmod +x "$tmp/liars/$l"
done
for i in "${!PROBES[@]}"; do
    parse_args "${PROBES[i]}"
    run_case "$REAL" "$OUT/probe$i/direct" -
    for l in "${!LIARS[@]}"; do
        run_case "$tmp/liars/$l" "$OUT/probe$i/$l" -
        if differs "$OUT/probe$i/direct" "$OUT/probe$i/$l" quiet; then
            caught[$l]=1
        fi
    done
done
for l in "${!LIARS[@]}"; do
    [ -n "${caught[$l]:-}" ] || die "harness: a stand-in that changes $l passed as qemu-img"
done
note "the harness catches ${#LIARS[@]} wrong stand-ins (${!LIARS[*]})"

# The corpus, through the shim and directly.
declare -A seen=()
n=0 n_zero=0 n_fail=0 failed=()
t0=$EPOCHREALTIME
while read -r want flags name words; do
    case $want in "" | "#"*) continue ;; esac
    [ -z "${seen[$name]:-}" ] || die "corpus: duplicate case name $name"
    seen[$name]=1
    parse_args "$words"
    o=$OUT/$name
    run_case "$REAL" "$o/direct" "$flags"
    run_case "$COWHERD_SHIM" "$o/shim" "$flags"
    n=$((n + 1))
    read -r rc <"$o/direct/rc"
    # Only on a mismatch (or when auditing) is a second direct run needed.
    if [ -n "${COWHERD_SHIM_AUDIT:-}" ] || differs "$o/direct" "$o/shim" quiet; then
        run_case "$REAL" "$o/direct-again" "$flags"
    fi
    if [ -d "$o/direct-again" ] && differs "$o/direct" "$o/direct-again" quiet; then
        echo "FAIL: $name: two direct runs differ, the case is nondeterministic: $words" >&2
        differs "$o/direct" "$o/direct-again" || true
        failed+=("$name(nondeterministic)")
    elif [ "$rc" != "$want" ]; then
        echo "FAIL: $name: qemu-img exited $rc, the corpus says $want: $words" >&2
        cat "$o/direct/stderr" >&2
        failed+=("$name(exit-$rc)")
    elif differs "$o/direct" "$o/shim" quiet; then
        echo "FAIL: $name: shim and qemu-img differ: $words" >&2
        differs "$o/direct" "$o/shim" || true
        failed+=("$name")
    fi
    if [ "$rc" = 0 ]; then n_zero=$((n_zero + 1)); else n_fail=$((n_fail + 1)); fi
done <<<"$CORPUS"

note "$n cases ($n_zero exit 0, $n_fail non-zero) in $(since_s "$t0") s"
[ "${#failed[@]}" = 0 ] || die "${#failed[@]} of $n cases failed: ${failed[*]}"
[ "$n" -ge "$MIN_CASES" ] || die "only $n cases ran, want at least $MIN_CASES"
[ "$n_zero" -ge "$MIN_EACH" ] || die "only $n_zero cases exit 0, want at least $MIN_EACH"
[ "$n_fail" -ge "$MIN_EACH" ] || die "only $n_fail cases fail, want at least $MIN_EACH"
note "shim and qemu-img agree on all $n cases" \
    "(the shim logged $(log_count ': full rebase: | header only ') rebase decisions)"
