#!/bin/bash
# snapshot.sh [BUILDDIR]: COW-only snapshots against Nova's flattened ones,
# side by side: making the snapshot (what Nova uploads), and making the
# image whole again where it boots.
#
#   sudo bench/snapshot.sh [BUILDDIR]
#
# (a) the snapshot, Nova's extract_snapshot of a stopped instance's disk:
#   flatten:    qemu-img convert -t none -O qcow2 -f qcow2 disk DST
#               (/usr/bin/qemu-img first on PATH: every cluster of the disk,
#               the backing file's included, into a standalone qcow2)
#   COW-only:   the same argv with a directory first on PATH whose qemu-img
#               is a symlink to BUILDDIR/wrapper/qemu-img, [snapshot] key_file
#               set: the shim hands it to `cowherd snapshot extract` (convert
#               -B of the top's clusters, rebase -u, marker, HMAC-SHA256 of
#               the file, fsync)
#   Reported: wall time, DST's size (what Nova uploads to Glance, byte for
#   byte) and allocation, against the top layer's own data.
# (b) where it boots, Nova's fetch_to_raw after the download to
#   _base/<x>.part (the DST of (a) copied there, the original in _base):
#   flattened:  qemu-img info X.part --force-share --output=json, then
#               qemu-img convert -t none -O raw -f qcow2 X.part X.converted
#   COW-only:   the same two calls through the shim: the info finds the
#               marker and runs `cowherd snapshot info` (a private copy,
#               its signature, the parent found and checked, qemu-img's
#               info of the copy unmarked); the convert runs `cowherd
#               snapshot to-raw` (a new private copy checked again, a
#               sparse copy of the parent into X.converted at the image's
#               size, the copy rebased onto it, `qemu-img commit` of the
#               snapshot's clusters into it, fsync).
#   Reported: each call, and the whole step (what a user waits for).
#
# Fixture (under $tmp/instances, made as Nova makes it): the original
# _base/<sha1>, 2 GiB raw, 64 chunks of 16 MiB of random bytes one every
# 32 MiB, holes between (1 GiB of data); _base/<sha1>_4, `cp
# --sparse=always` of it, then `qemu-img resize -f raw` to 4G (the entry a
# 4 GiB flavor's disk stands on); the disk: 4 GiB qcow2 over <sha1>_4
# (absolute backing name, -F raw) with TOP_MIB (96) MiB of guest data
# (qemu-io: TOP_MIB writes of 1 MiB of random bytes at uneven offsets over
# the whole disk, some over the original's data, some past its end).  No
# manifest beside the original (Nova downloaded it, not cowherd), so the
# marker records no sha256 and the rebuild hashes nothing.
#
# Before timing, a check round (not timed): both snapshots made; the
# flattened one reads as the disk (qemu-img compare); the COW-only one is
# signed (`cowherd snapshot show`), is refused by plain qemu-img (the
# safety catch), and rebuilt through the shim reads as the flattened one.
# Then ROUNDS (5) rounds: in each, (a) every side once, then (b) every
# side once on that round's snapshots; the order rotates each round (with
# two sides, it alternates).  `sync` before every timed run, outside the
# timing; the page cache is not dropped (a shared machine): the fixture
# and the .part copies (as Nova's download leaves them) are read from
# memory.  The parent is the exception: before each COW-only boot its own
# pages are dropped (`dd iflag=nocache count=0`, that file only), as a
# host whose guests run with Nova's cache=none leaves a base; PARENT=warm
# keeps them.  Each timed command also reports its CPU seconds (user +
# sys, with the processes it waited for: /usr/bin/time).  After every
# round, outside the timing: the raw results of every side compare
# identical (`qemu-img compare -f raw -F raw`, then `cmp`); the shim's log
# must say it made DST COW-only and made the .part whole, and
# the real side must not have logged.  Any failure stops the bench.
#
# BASELINE="DIR..." adds a side to (a) and (b) per DIR: the shim handing
# over to DIR/cli/cowherd (another build, an earlier fetch/snapshot.c say)
# in place of BUILDDIR's, in the same rounds: a change's effect, side by
# side.
#
# Prints the machine, a table per part (medians, all runs, CPU, ratios) and
# the targets: the COW-only snapshot in <= 0.2x the flatten's time, its DST
# <= 1.1x the top's data; the rebuild, i.e. the whole boot step (Nova's
# info and convert to raw, inside which cowherd does all its work), <= 1.1x
# the same step for the flattened image.
#
# Runs as root, re-executed in a private mount namespace with a tmpfs over
# /etc/cowherd holding its own cowherd.conf and snapshot key (the shim and
# the CLI read /etc/cowherd/cowherd.conf: BUILDDIR must be configured with
# -DCMAKE_INSTALL_PREFIX=/usr), so the host's /etc is never touched.  Scratch
# files (about 8 GiB allocated at the peak, 2.2 GiB more per baseline; df
# must show 11 GiB free, 3.3 GiB more per baseline; the 4 GiB files are
# sparse) live under a temp dir in /tmp, removed at exit.
# BUILDDIR (or $BUILDDIR; default: build/ next to bench/) holds
# wrapper/qemu-img and cli/cowherd.  Environment: ROUNDS (5), TOP_MIB (96),
# PARENT (cold), BASELINE.
#
# Not part of the test suite: the numbers depend on the machine.
set -euo pipefail
export LC_ALL=C                  # '.' in $EPOCHREALTIME and in numbers

self=$(readlink -f "$0")
here=$(dirname "$self")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
builddir=${1:-${BUILDDIR:-$here/../build}}
rounds=${ROUNDS:-5}
top_mib=${TOP_MIB:-96}
parent_cache=${PARENT:-cold}
real=/usr/bin/qemu-img
# CPU seconds (user + sys) of a timed command and every process it waited
# for (cowherd's qemu-img children included).
cputime="/usr/bin/time -f %U+%S"
t_start=$EPOCHREALTIME

die() {
    echo "snapshot: $*" >&2
    exit 1
}

note() {
    echo "snapshot: $*" >&2
}

[ "$(id -u)" = 0 ] || die "must run as root (it uses a private mount namespace)"

# ---- outside: re-exec in a private mount namespace --------------------------
bench_private_ns "$self" "$@"

# ---- inside the namespace ----------------------------------------------------
for c in qemu-img qemu-io cp sync du stat truncate dd head sha1sum awk mount umount findmnt; do
    command -v "$c" >/dev/null || die "$c missing"
done
[ -x "$real" ] || die "$real missing (apt-get install qemu-utils)"
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install time)"
case $parent_cache in cold | warm) ;; *) die "PARENT must be cold or warm" ;; esac
[ "$(command -v qemu-img)" = "$real" ] ||
    die "the first qemu-img on PATH is $(command -v qemu-img), not $real"
builddir=$(readlink -f "$builddir") || die "no build dir $builddir"
shim=$builddir/wrapper/qemu-img
[ -x "$shim" ] || die "$shim not built (cmake --build $builddir)"
read -r -a baselines <<<"${BASELINE:-}"
for d in "$builddir" "${baselines[@]}"; do
    [ -x "$d/cli/cowherd" ] || die "$d/cli/cowherd not built"
done
grep -q '"/etc/cowherd/cowherd.conf"' "$builddir/cowherd-build.h" ||
    die "$builddir was not configured with -DCMAKE_INSTALL_PREFIX=/usr" \
        "(the shim must read /etc/cowherd/cowherd.conf)"
cli=$builddir/cli/cowherd
base_clis=()
for d in "${baselines[@]}"; do
    base_clis+=("$(readlink -f "$d")/cli/cowherd")
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number"
if ! [[ $top_mib =~ ^[1-9][0-9]*$ ]] || ((top_mib > 1024)); then
    die "TOP_MIB must be 1 to 1024"
fi

bench_scratch /tmp/cowherd-bench-snap.XXXXXX
tmp=$BENCH_TMP

# Space: the original's data twice (<sha1> and <sha1>_4), the disk's top,
# per side at most three images of the original's data and the top (the
# flattened snapshot, the rebuilt or copied .part, the raw result), 1 GiB
# to spare.
gib=$((1024 * 1024 * 1024))
need=$((2 * gib + (1 + 3 * (2 + ${#baselines[@]})) * (gib + top_mib * 1024 * 1024) + gib))
avail=$(df --output=avail -B1 "$tmp" | tail -n 1)
[ "$avail" -gt "$need" ] ||
    die "need $((need / gib + 1)) GiB free in /tmp, have $((avail / gib)) GiB"

# A private /etc/cowherd.  Mounts made here stay in this namespace.
bench_etc_cowherd

inst=$tmp/instances
base=$inst/_base
log=$tmp/cowherd.log
key=/etc/cowherd/snapshot.key
shimbin=$tmp/shim-bin                   # first on PATH for the shim's sides
uuid=00000000-0000-4000-8000-000000000096
vm=$inst/$uuid
snapdir=$inst/snapshots                 # Nova's [libvirt] snapshots_directory
mkdir -p "$base" "$inst/locks" "$vm" "$snapdir" "$shimbin" "$tmp/chunks" "$tmp/keep"
ln -s "$shim" "$shimbin/qemu-img"
path_real=$PATH
path_shim=$shimbin:$PATH
(umask 077 && head -c 64 /dev/urandom >"$key")

# write_conf CLI: cowherd.conf, the shim handing snapshots to CLI.
write_conf() {
    bench_cowherd_conf "$inst" "$log" "$real" "$1" "$key"
}
write_conf "$cli"

# ---- helpers -----------------------------------------------------------------

fmt() {                 # fmt DIGITS X...: the numbers, rounded, space-separated
    local d=$1
    shift
    printf '%s\n' "$@" | awk -v f="%.${d}f" '{ printf "%s" f, (NR > 1 ? " " : ""), $1 }'
}

ratio() {               # ratio A B [DIGITS]: A / B
    awk -v a="$1" -v b="$2" -v d="${3:-3}" 'BEGIN { printf "%.*f", d, a / b }'
}

le() {                  # le A B: A <= B
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'
}

log_lines() {
    if [ -f "$log" ]; then wc -l <"$log"; else echo 0; fi
}

new_log() {             # new_log N: what the log got after its first N lines
    tail -n +"$(($1 + 1))" "$log" 2>/dev/null || true
}

# The bytes of guest data the top layer of qcow2 FILE holds (its own
# allocated clusters, depth 0).
top_data() {
    qemu-img map -f qcow2 --output=json "$1" |
        awk '/"depth": 0,/ && /"data": true/ {
                 if (match($0, /"length": [0-9]+/)) s += substr($0, RSTART + 10, RLENGTH - 10) }
             END { printf "%d", s }'
}

alloc() { du --block-size=1 "$1" | cut -f1; }
cpu_of() { awk -F+ 'NR == 1 { printf "%.2f", $1 + $2 }' "$1"; }     # cpu_of FILE: of $cputime
size() { stat -c %s "$1"; }

# ---- the fixture ---------------------------------------------------------------

sha1=$(printf '%s' cowherd-bench-snapshot | sha1sum | cut -c1-40)
orig=$base/$sha1
entry=$base/${sha1}_4
note "writing the 2 GiB original (1 GiB of data), its _4 copy, the disk with $top_mib MiB of its own ..."
truncate -s 2G "$orig"
for ((i = 0; i < 64; i++)); do
    dd if=/dev/urandom of="$orig" bs=16M count=1 seek=$((2 * i)) \
        conv=notrunc iflag=fullblock status=none
done
truncate -s 2G "$orig"
cp --sparse=always "$orig" "$entry"             # as Nova makes <sha1>_<GB>
qemu-img resize -q -f raw "$entry" 4G
qemu-img create -q -f qcow2 -F raw -b "$entry" "$vm/disk" 4G
io=()
stride=$((4096 / top_mib))                       # MiB
for ((i = 0; i < top_mib; i++)); do
    head -c 1M /dev/urandom >"$tmp/chunks/$i"
    off=$((i * stride + (i * 5) % (stride - 1)))
    io+=(-c "write -q -s $tmp/chunks/$i ${off}M 1M")
done
qemu-io -f qcow2 "${io[@]}" "$vm/disk" >/dev/null
rm -rf "$tmp/chunks"
sync
top_bytes=$(top_data "$vm/disk")
top_alloc=$(alloc "$vm/disk")
[ "$top_bytes" -eq $((top_mib * 1024 * 1024)) ] ||
    die "the disk's top holds $top_bytes bytes of guest data, not $top_mib MiB"
orig_alloc=$(alloc "$orig")

# ---- the sides ---------------------------------------------------------------------

# Sides: flat (Nova, the real qemu-img), cow (the shim, BUILDDIR's cowherd),
# and with BASELINE, base1... (the shim, each BASELINE's cowherd).
sides=(flat cow)
declare -A label=([flat]="Nova: flattened" [cow]="cowherd: COW-only")
for ((i = 1; i <= ${#base_clis[@]}; i++)); do
    sides+=("base$i")
    label[base$i]="cowherd: COW-only, baseline $i"
done
declare -A snap_t info_t conv_t boot_t snap_cpu info_cpu conv_cpu snap_size snap_alloc

cli_of() {              # cli_of SIDE: the cowherd the shim hands over to
    case $1 in cow) echo "$cli" ;; base*) echo "${base_clis[${1#base} - 1]}" ;; esac
}

# snapshot SIDE: Nova's snapshot convert of the disk into $snapdir/SIDE,
# timed (adds to snap_t[SIDE] unless untimed=1).
snapshot() {
    local side=$1 dst=$snapdir/$1 t0 t1 before lines p=$path_shim
    rm -f "$dst"
    [ "$side" != flat ] || p=$path_real
    [ "$side" = flat ] || write_conf "$(cli_of "$side")"
    sync
    before=$(log_lines)
    cd "$vm"
    t0=$EPOCHREALTIME
    PATH=$p $cputime -o "$tmp/cpu1" qemu-img convert -t none -O qcow2 -f qcow2 "$vm/disk" "$dst" \
        >"$tmp/cmd.out" 2>"$tmp/cmd.err" ||
        die "$side: snapshot convert failed: $(cat "$tmp/cmd.out" "$tmp/cmd.err")"
    t1=$EPOCHREALTIME
    cd "$tmp"
    if [ -s "$tmp/cmd.out" ] || [ -s "$tmp/cmd.err" ]; then
        die "$side: snapshot convert printed: $(cat "$tmp/cmd.out" "$tmp/cmd.err")"
    fi
    lines=$(new_log "$before")
    if [ "$side" = flat ]; then
        [ -z "$lines" ] || die "the flattened side went through the shim? it logged: $lines"
    else
        grep -qF "snapshot $vm/disk: COW-only into $dst" <<<"$lines" ||
            die "$side: the shim did not make a COW-only snapshot; it logged: $lines"
    fi
    if [ "${untimed:-0}" != 1 ]; then
        snap_t[$side]+=" $(elapsed "$t0" "$t1")"
        snap_cpu[$side]+=" $(cpu_of "$tmp/cpu1")"
    fi
    snap_size[$side]=$(size "$dst")
    snap_alloc[$side]=$(alloc "$dst")
}

# boot SIDE: the snapshot of SIDE downloaded to _base/<x>.part (copied
# there, outside the timing), then Nova's info and convert to raw, timed.
# The raw image is left in $tmp/keep/SIDE.raw.
boot() {
    local side=$1 x part t0 t1 t2 before lines p=$path_shim
    x=$(printf '%s' "cowherd-bench-snapshot-image-$side" | sha1sum | cut -c1-40)
    part=$base/$x.part
    rm -f "$base/$x" "$part" "$base/$x.converted"
    cp "$snapdir/$side" "$part"
    [ "$side" != flat ] || p=$path_real
    [ "$side" = flat ] || write_conf "$(cli_of "$side")"
    sync
    # The parent as a guest's disk leaves it: not in the page cache (Nova
    # runs guests with cache=none); dropped for this file only.
    [ "$side" = flat ] || [ "$parent_cache" = warm ] ||
        dd if="$orig" iflag=nocache count=0 status=none
    before=$(log_lines)
    cd "$base"
    t0=$EPOCHREALTIME
    PATH=$p $cputime -o "$tmp/cpu1" qemu-img info "$part" --force-share --output=json \
        >"$tmp/cmd.out" 2>"$tmp/cmd.err" ||
        die "$side: qemu-img info of the .part failed: $(cat "$tmp/cmd.err")"
    t1=$EPOCHREALTIME
    PATH=$p $cputime -o "$tmp/cpu2" qemu-img convert -t none -O raw -f qcow2 "$part" \
        "$base/$x.converted" >>"$tmp/cmd.out" 2>>"$tmp/cmd.err" ||
        die "$side: qemu-img convert to raw failed: $(cat "$tmp/cmd.err")"
    t2=$EPOCHREALTIME
    cd "$tmp"
    [ ! -s "$tmp/cmd.err" ] || die "$side: the boot side printed: $(cat "$tmp/cmd.err")"
    grep -q '"format": "qcow2"' "$tmp/cmd.out" ||
        die "$side: qemu-img info did not see a qcow2: $(cat "$tmp/cmd.out")"
    if grep -q '"backing-filename"' "$tmp/cmd.out"; then
        die "$side: the .part names a backing file: $(cat "$tmp/cmd.out")"
    fi
    lines=$(new_log "$before")
    if [ "$side" = flat ]; then
        [ -z "$lines" ] || die "the flattened side went through the shim? it logged: $lines"
    else
        grep -qF "$part: COW-only snapshot over $sha1" <<<"$lines" ||
            die "$side: the shim did not rebuild the .part; it logged: $lines"
    fi
    if [ "${untimed:-0}" != 1 ]; then
        info_t[$side]+=" $(elapsed "$t0" "$t1")"
        conv_t[$side]+=" $(elapsed "$t1" "$t2")"
        boot_t[$side]+=" $(elapsed "$t0" "$t2")"
        info_cpu[$side]+=" $(cpu_of "$tmp/cpu1")"
        conv_cpu[$side]+=" $(cpu_of "$tmp/cpu2")"
    fi
    rm -f "$tmp/keep/$side.raw" "$part"
    mv "$base/$x.converted" "$tmp/keep/$side.raw"
}

same() {                # same FMT A B WHAT: qemu-img compare says identical
    local out
    out=$(qemu-img compare -f "$1" -F "$1" "$2" "$3" 2>&1) || die "$4: $out"
    [ "$out" = "Images are identical." ] || die "$4: qemu-img compare printed: $out"
}

# check_round: what every round must leave.
check_round() {
    local s
    for s in "${sides[@]}"; do
        [ "$s" = flat ] && continue
        same raw "$tmp/keep/$s.raw" "$tmp/keep/flat.raw" \
            "the raw image from the $s snapshot differs from the flattened one's"
        cmp -s "$tmp/keep/$s.raw" "$tmp/keep/flat.raw" ||
            die "the raw image from the $s snapshot is not byte-identical to the flattened one's"
    done
    compared=$((compared + 1))
    rm -f "$tmp/keep/"*
}

# rotate N: the sides in the order of round N (each side goes first in turn;
# with two, they alternate).
rotate() {
    local n=${#sides[@]} k
    order=()
    for ((k = 0; k < n; k++)); do
        order+=("${sides[(($1 + k) % n)]}")
    done
}

# ---- the check round (not timed) -----------------------------------------------------

note "check round ..."
compared=0
untimed=1
for s in "${sides[@]}"; do
    snapshot "$s"
done
same qcow2 "$vm/disk" "$snapdir/flat" "Nova's flattened snapshot does not read as the disk"
show=$(write_conf "$cli" && "$cli" snapshot show "$snapdir/cow") ||
    die "cowherd snapshot show: $show"
grep -q 'signature:     holds' <<<"$show" || die "the COW-only snapshot is not signed: $show"
grep -q "parent:        $sha1" <<<"$show" || die "the COW-only snapshot's parent: $show"
if plain=$("$real" info -f qcow2 "$snapdir/cow" 2>&1); then
    die "plain qemu-img opens the COW-only snapshot: $plain"
fi
grep -q 'Compression type incompatible feature bit' <<<"$plain" ||
    die "plain qemu-img refused the COW-only snapshot for another reason: $plain"
for s in "${sides[@]}"; do
    boot "$s"
done
check_round
untimed=0

# ---- the timed rounds ------------------------------------------------------------------

note "$rounds rounds, order rotating ..."
for ((r = 0; r < rounds; r++)); do
    rotate "$r"
    for s in "${order[@]}"; do
        snapshot "$s"
    done
    for s in "${order[@]}"; do
        boot "$s"
    done
    check_round
done
last_log=$(tail -n 2 "$log")

# ---- report ----------------------------------------------------------------------

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
fs=$(findmnt -n -o FSTYPE,OPTIONS -T "$tmp" 2>/dev/null | awk '{ print $1 " (" $2 ")" }')
mem=$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
echo "machine: $(nproc) CPUs ($cpu), ${mem} GiB RAM, Linux $(uname -r), $(date -u +%Y-%m-%d); $fs under /tmp"
echo "$("$real" --version | head -n 1); cowherd: $cli"
for ((i = 1; i <= ${#base_clis[@]}; i++)); do
    echo "baseline $i: ${base_clis[i - 1]}"
done
echo "fixture: original 2 GiB raw, $orig_alloc bytes allocated; _4: cp --sparse + resize 4G;" \
     "disk: 4 GiB qcow2 over _4, top: $top_bytes bytes of guest data, $top_alloc allocated (du)"
if [ "$parent_cache" = cold ]; then
    pc="the parent's dropped before each COW-only boot"
else
    pc="the parent's kept (PARENT=warm)"
fi
echo "$rounds rounds after a check round; in each, (a) then (b), every side once, order rotating;" \
     "sync before each run; page cache not dropped, $pc"
echo "CPU s: user + sys of the command and the processes it waited for (/usr/bin/time)"
echo
echo "(a) snapshot: qemu-img convert -t none -O qcow2 -f qcow2 disk DST"
echo
echo "| side | median s | runs s | x flattened | CPU s | DST bytes (uploaded) | DST allocated (du) | DST / top data | DST / top allocated |"
echo "|---|---:|---|---:|---:|---:|---:|---:|---:|"
declare -A med_snap med_info med_conv med_boot
for s in "${sides[@]}"; do
    read -r -a t <<<"${snap_t[$s]}"
    read -r -a c <<<"${snap_cpu[$s]}"
    med_snap[$s]=$(median "${t[@]}")
    echo "| ${label[$s]} | ${med_snap[$s]} | $(fmt 3 "${t[@]}") |" \
         "$(ratio "${med_snap[$s]}" "${med_snap[flat]}") | $(fmt 2 "$(median "${c[@]}")") |" \
         "${snap_size[$s]} | ${snap_alloc[$s]} | $(ratio "${snap_size[$s]}" "$top_bytes") |" \
         "$(ratio "${snap_size[$s]}" "$top_alloc") |"
done
echo
echo "(b) boot: the snapshot as _base/<x>.part; Nova's qemu-img info (the COW-only: checked, parent" \
     "included), then qemu-img convert -t none -O raw -f qcow2 .part .converted (the COW-only: the" \
     "raw image written from the parent and the snapshot's clusters)"
echo
echo "| side | step | median s | runs s | CPU s | x Nova's (flattened) |"
echo "|---|---|---:|---|---:|---:|"
for s in "${sides[@]}"; do
    read -r -a ti <<<"${info_t[$s]}"
    read -r -a tc <<<"${conv_t[$s]}"
    read -r -a tb <<<"${boot_t[$s]}"
    read -r -a ci <<<"${info_cpu[$s]}"
    read -r -a cc <<<"${conv_cpu[$s]}"
    med_info[$s]=$(median "${ti[@]}")
    med_conv[$s]=$(median "${tc[@]}")
    med_boot[$s]=$(median "${tb[@]}")
    if [ "$s" = flat ]; then
        step1="qemu-img info"
        x1=
    else
        step1="qemu-img info: checks + info"
        x1="$(ratio "${med_info[$s]}" "${med_conv[flat]}") of the convert"
    fi
    # CPU of the whole step: per round, both calls.
    cb=()
    for ((k = 0; k < ${#ci[@]}; k++)); do
        cb+=("$(awk -v a="${ci[k]}" -v b="${cc[k]}" 'BEGIN { printf "%.2f", a + b }')")
    done
    echo "| ${label[$s]} | $step1 | ${med_info[$s]} | $(fmt 3 "${ti[@]}") | $(fmt 2 "$(median "${ci[@]}")") | $x1 |"
    echo "| ${label[$s]} | convert to raw | ${med_conv[$s]} | $(fmt 3 "${tc[@]}") | $(fmt 2 "$(median "${cc[@]}")") |" \
         "$(ratio "${med_conv[$s]}" "${med_conv[flat]}") |"
    echo "| ${label[$s]} | **whole step** | ${med_boot[$s]} | $(fmt 3 "${tb[@]}") | $(fmt 2 "$(median "${cb[@]}")") |" \
         "$(ratio "${med_boot[$s]}" "${med_boot[flat]}") |"
done
echo
echo "checks: the flattened snapshot reads as the disk; the COW-only one is signed, names $sha1," \
     "and plain qemu-img refuses it; in the check round and all $rounds rounds, every raw image" \
     "made from a COW-only snapshot was identical to the flattened one's ($compared of $((rounds + 1)))"
echo "shim's log, last round: $last_log"
echo
echo "targets:"
for s in "${sides[@]}"; do
    [ "$s" = flat ] && continue
    x=$(ratio "${med_snap[$s]}" "${med_snap[flat]}")
    if le "$x" 0.2; then v=met; else v=MISSED; fi
    echo "  ${label[$s]}: snapshot time <= 0.2x the flatten: ${med_snap[$s]} s vs ${med_snap[flat]} s, x$x: $v"
    x=$(ratio "${snap_size[$s]}" "$top_bytes")
    if le "$x" 1.1; then v=met; else v=MISSED; fi
    echo "  ${label[$s]}: uploaded bytes <= 1.1x the top's data: ${snap_size[$s]} vs $top_bytes, x$x: $v"
    # The rebuild is the whole boot step: everything cowherd does to put
    # the image together happens inside Nova's info and convert.
    x=$(ratio "${med_boot[$s]}" "${med_boot[flat]}")
    if le "$x" 1.1; then v=met; else v=MISSED; fi
    echo "  ${label[$s]}: rebuild (Nova's info + convert) <= 1.1x Nova's info + convert to raw of the" \
         "flattened image: ${med_boot[$s]} s vs ${med_boot[flat]} s, x$x: $v"
done
echo
echo "total: $(fmt 0 "$(elapsed "$t_start" "$EPOCHREALTIME")") s"
