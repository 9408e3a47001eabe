#!/bin/bash
# shim-rebase.sh [BUILDDIR]: `qemu-img rebase` of a Nova disk from one
# resized cache entry of an image onto a bigger one, through cowherd's
# qemu-img shim versus the real qemu-img's safe rebase, side by side; and
# what the shim adds to the calls it only passes through.
#
#   sudo bench/shim-rebase.sh [BUILDDIR]
#
#   real:  qemu-img rebase -f qcow2 -F raw -b _base/<sha1>_<2N> disk
#          (/usr/bin/qemu-img first on PATH: the safe rebase reads every
#          cluster the top does not hold from both backing files)
#   shim:  the same argv, with a directory first on PATH whose qemu-img is
#          a symlink to BUILDDIR/wrapper/qemu-img (it proves the two backing
#          files read the same, then execs the real `qemu-img rebase -u`:
#          header only)
#
# Fixtures, FIXTURES="4 8" (the disk's size N in GiB; made as Nova makes
# them, under $tmp/instances/_base):
#   4: original <sha1>: 2 GiB raw, 64 chunks of 16 MiB of random bytes, one
#      every 32 MiB, holes between (1 GiB of data); <sha1>_4 and <sha1>_8
#      are `cp --sparse=always` of it, then `qemu-img resize -f raw` to 4G
#      and 8G; the disk: 4 GiB qcow2 over <sha1>_4 (absolute backing name,
#      -F raw), rebased onto <sha1>_8.
#   8: the same with an original of 6 GiB holding 4 GiB of data (256 chunks
#      of 16 MiB, one every 24 MiB; <sha1>_8 must not be smaller than the
#      original, and 6 GiB keeps the data dense without filling it): an
#      8 GiB disk over <sha1>_8, rebased onto <sha1>_16.
# Each disk gets 64 MiB of guest data (qemu-io: 64 writes of 1 MiB of
# random bytes, spread over the disk at uneven offsets) and is kept as a
# pristine copy.  One fixture at a time: made, run, removed.
#
# Each side runs ROUNDS (3) times per fixture, alternating (which side goes
# first alternates too).  Before every run, outside the timing: a fresh
# copy of the pristine disk, then `sync`.  The page cache is not dropped (a
# shared machine), so the backing files are read from memory where they
# fit (the fixture was just written; the first safe rebase of a fixture
# also fills the cache with zero pages for the holes it reads, which may
# make it the slowest run: hence the median).  Timed: fork+exec of
# qemu-img (or the shim) until it exits; both end with qemu-img's flush on
# close.  After
# every round, `qemu-img compare -f qcow2 -F qcow2` of the shim's result
# against the real safe rebase's must print "Images are identical.", both
# must name the new backing file (raw), and the shim's log must say it took
# the header-only path (the real side must not have logged): the bench
# fails loudly otherwise.  Whether the results are also byte-identical
# (cmp) is reported, not required.
#
# Passthrough overhead: `qemu-img --version` and `qemu-img info -f qcow2
# DISK` (the first fixture's pristine disk, its backing file there; run
# after that fixture's rounds): /usr/bin/qemu-img, the shim's symlink, and
# a bare exec trampoline (static, only execv of the real binary: the floor
# for any shim that must exec it), timed with bench/spawn-timer.c
# (posix_spawn + wait4, commands interleaved round-robin), WARMUP (20) +
# RUNS (300) each.
# Prints the machine, a table per part (median, all runs, ratio), and the
# targets: shim >= 50x faster than the safe rebase; < 1 ms added to
# passthrough calls at the median.
#
# Runs as root, re-executed in a private mount namespace with a tmpfs over
# /etc/cowherd holding its own cowherd.conf (the shim reads
# /etc/cowherd/cowherd.conf: BUILDDIR must be configured with
# -DCMAKE_INSTALL_PREFIX=/usr), so the host's /etc is never touched.
# Scratch files (about 13 GiB at the peak, checked against df first) live
# under a temp dir in /tmp and are removed at exit.  BUILDDIR (or
# $BUILDDIR; default: build/ next to bench/) holds wrapper/qemu-img.
# Environment: ROUNDS (3), FIXTURES ("4 8"), RUNS (300), WARMUP (20).
#
# Not part of the test suite: the numbers depend on the machine.
set -euo pipefail
export LC_ALL=C                  # '.' in $EPOCHREALTIME and in numbers

self=$(readlink -f "$0")
here=$(dirname "$self")
BENCH_DIGITS=6
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
builddir=${1:-${BUILDDIR:-$here/../build}}
rounds=${ROUNDS:-3}
runs=${RUNS:-300}
warmup=${WARMUP:-20}
fixtures=${FIXTURES:-4 8}
real=/usr/bin/qemu-img
t_start=$EPOCHREALTIME

die() {
    echo "shim-rebase: $*" >&2
    exit 1
}

note() {
    echo "shim-rebase: $*" >&2
}

[ "$(id -u)" = 0 ] || die "must run as root (it uses a private mount namespace)"

# ---- outside: re-exec in a private mount namespace --------------------------
bench_private_ns "$self" "$@"

# ---- inside the namespace ----------------------------------------------------
for c in qemu-img qemu-io cp sync cmp truncate dd head sha1sum awk mount umount; do
    command -v "$c" >/dev/null || die "$c missing"
done
[ -x "$real" ] || die "$real missing (apt-get install qemu-utils)"
[ "$(command -v qemu-img)" = "$real" ] ||
    die "the first qemu-img on PATH is $(command -v qemu-img), not $real"
builddir=$(readlink -f "$builddir") || die "no build dir $builddir"
shim=$builddir/wrapper/qemu-img
[ -x "$shim" ] || die "$shim not built (cmake --build $builddir)"
grep -q '"/etc/cowherd/cowherd.conf"' "$builddir/cowherd-build.h" ||
    die "$builddir was not configured with -DCMAKE_INSTALL_PREFIX=/usr" \
        "(the shim must read /etc/cowherd/cowherd.conf)"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"
[[ $warmup =~ ^[0-9]+$ ]] || die "WARMUP must be a number"
read -r -a fixtures <<<"$fixtures"
[ ${#fixtures[@]} -gt 0 ] || die "FIXTURES is empty"
for gb in "${fixtures[@]}"; do
    case $gb in
    4 | 8) ;;
    *) die "FIXTURES: $gb is not 4 or 8" ;;
    esac
done
PYTHON=/usr/bin/python3
command -v gcc >/dev/null || die "gcc is needed (bench/spawn-timer.c and the trampoline)"

bench_scratch /tmp/cowherd-bench-sr.XXXXXX
tmp=$BENCH_TMP

# Space, for the biggest fixture (one at a time): its data three times (the
# original and its two sized copies, sparse), the pristine disk, the one
# being rebased and the two results (about 70 MiB each), 1 GiB to spare.
gib=$((1024 * 1024 * 1024))
need=0
for gb in "${fixtures[@]}"; do
    case $gb in
    4) n=$((3 * gib)) ;;
    8) n=$((12 * gib)) ;;
    esac
    ((n <= need)) || need=$n
done
need=$((need + 4 * 70 * 1024 * 1024 + gib))
avail=$(df --output=avail -B1 "$tmp" | tail -n 1)
[ "$avail" -gt "$need" ] ||
    die "need $((need / gib + 1)) GiB free in /tmp for FIXTURES=\"${fixtures[*]}\"," \
        "have $((avail / gib)) GiB (FIXTURES=4 needs about 5 GiB)"

# A private /etc/cowherd.  Mounts made here stay in this namespace.
bench_etc_cowherd

inst=$tmp/instances
base=$inst/_base
log=$tmp/cowherd.log
shimbin=$tmp/shim-bin                   # first on PATH for the shim side
mkdir -p "$base" "$inst/locks" "$shimbin" "$tmp/results" "$tmp/chunks"
ln -s "$shim" "$shimbin/qemu-img"
path_real=$PATH
path_shim=$shimbin:$PATH

bench_cowherd_conf "$inst" "$log" "$real"

# ---- helpers -----------------------------------------------------------------



fmt() {                 # fmt DIGITS X...: the numbers, rounded, space-separated
    local d=$1
    shift
    printf '%s\n' "$@" | awk -v f="%.${d}f" '{ printf "%s" f, (NR > 1 ? " " : ""), $1 }'
}

log_lines() {
    if [ -f "$log" ]; then wc -l <"$log"; else echo 0; fi
}

# Fixture parameters for a disk of GB GiB: original size and chunk spacing
# (MiB), chunk count, the current and new backing sizes (GiB).
fixture_params() {
    case $1 in
    4) orig_mib=2048 every_mib=32 chunks=64 cur_gb=4 new_gb=8 ;;
    8) orig_mib=6144 every_mib=24 chunks=256 cur_gb=8 new_gb=16 ;;
    esac
}

# make_fixture GB: the original, Nova's two sized copies, the disk with
# 64 MiB of guest data and its pristine copy.
make_fixture() {
    local gb=$1 sha1 i n stride off vm
    local -a io=()
    fixture_params "$gb"
    sha1=$(printf '%s' "cowherd-bench-shim-rebase-$gb" | sha1sum | cut -c1-40)
    note "fixture $gb: writing the $((orig_mib / 1024)) GiB original" \
         "($((chunks * 16 / 1024)) GiB of data) and its _${cur_gb}, _${new_gb} copies ..."
    truncate -s "${orig_mib}M" "$base/$sha1"
    for ((i = 0; i < chunks; i++)); do
        dd if=/dev/urandom of="$base/$sha1" bs=1M count=16 seek=$((i * every_mib)) \
            conv=notrunc iflag=fullblock status=none
    done
    truncate -s "${orig_mib}M" "$base/$sha1"
    for n in "$cur_gb" "$new_gb"; do        # as Nova makes <sha1>_<GB>
        cp --sparse=always "$base/$sha1" "$base/${sha1}_$n"
        qemu-img resize -q -f raw "$base/${sha1}_$n" "${n}G"
    done

    vm=$inst/00000000-0000-4000-8000-00000000000$gb
    mkdir -p "$vm"
    qemu-img create -q -f qcow2 -F raw -b "$base/${sha1}_$cur_gb" "$vm/disk" "${gb}G"
    stride=$((gb * 1024 / 64))                      # MiB
    for ((i = 0; i < 64; i++)); do
        head -c 1M /dev/urandom >"$tmp/chunks/$i"
        off=$((i * stride + (i * 5) % (stride - 1)))
        io+=(-c "write -q -s $tmp/chunks/$i ${off}M 1M")
    done
    qemu-io -f qcow2 "${io[@]}" "$vm/disk" >/dev/null
    cp "$vm/disk" "$tmp/pristine-$gb"
    rm -f "$vm/disk"
    sync

    fx_vm[$gb]=$vm
    fx_new[$gb]=$base/${sha1}_$new_gb
    fx_desc[$gb]="${gb} GiB disk, _${cur_gb} -> _${new_gb}; original $((orig_mib / 1024)) GiB, $((chunks * 16 / 1024)) GiB data"
    fx_top[$gb]=$(qemu-img map -f qcow2 --output=json "$tmp/pristine-$gb" |
        awk '/"depth": 0,/ && /"data": true/ {
                 if (match($0, /"length": [0-9]+/)) s += substr($0, RSTART + 10, RLENGTH - 10) }
             END { printf "%d", s }')
    [ "${fx_top[$gb]}" -ge $((64 * 1024 * 1024)) ] ||
        die "fixture $gb: only ${fx_top[$gb]} bytes of guest data in the disk's top"
}

# run_side SIDE GB: one rebase of a fresh copy of the fixture's disk, timed;
# the result is moved to $tmp/results/SIDE-GB.
run_side() {
    local side=$1 gb=$2 vm=${fx_vm[$2]} t0 t1 before new_lines
    rm -f "$vm/disk"
    cp "$tmp/pristine-$gb" "$vm/disk"
    sync
    before=$(log_lines)
    cd "$vm"
    if [ "$side" = real ]; then
        t0=$EPOCHREALTIME
        PATH=$path_real qemu-img rebase -f qcow2 -F raw -b "${fx_new[$gb]}" disk \
            >"$tmp/cmd.out" 2>"$tmp/cmd.err" ||
            die "real rebase ($gb) failed: $(cat "$tmp/cmd.err")"
        t1=$EPOCHREALTIME
        real_t[$gb]+=" $(elapsed "$t0" "$t1")"
    else
        t0=$EPOCHREALTIME
        PATH=$path_shim qemu-img rebase -f qcow2 -F raw -b "${fx_new[$gb]}" disk \
            >"$tmp/cmd.out" 2>"$tmp/cmd.err" ||
            die "rebase through the shim ($gb) failed: $(cat "$tmp/cmd.err")"
        t1=$EPOCHREALTIME
        shim_t[$gb]+=" $(elapsed "$t0" "$t1")"
    fi
    cd "$tmp"
    if [ -s "$tmp/cmd.out" ] || [ -s "$tmp/cmd.err" ]; then
        die "$side rebase ($gb) printed: $(cat "$tmp/cmd.out" "$tmp/cmd.err")"
    fi
    new_lines=$(tail -n +"$((before + 1))" "$log" 2>/dev/null || true)
    if [ "$side" = real ]; then
        [ -z "$new_lines" ] || die "the real side went through the shim? it logged: $new_lines"
    else
        [ -n "$new_lines" ] || die "the shim ($gb) logged nothing: was it run?"
        grep -q "header only (-u), proven equivalent" <<<"$new_lines" ||
            die "the shim ($gb) did not take the header-only path; it logged: $new_lines"
        shim_log[$gb]=$new_lines
    fi
    mv "$vm/disk" "$tmp/results/$side-$gb"
}

# check_round GB: the two results read the same and name the new backing.
check_round() {
    local gb=$1 f out info
    for f in real shim; do
        info=$(qemu-img info -f qcow2 --output=json "$tmp/results/$f-$gb")
        grep -qF "\"backing-filename\": \"${fx_new[$gb]}\"" <<<"$info" ||
            die "the $f result ($gb) does not name ${fx_new[$gb]} as its backing file: $info"
        grep -qF '"backing-filename-format": "raw"' <<<"$info" ||
            die "the $f result ($gb) does not record raw as its backing format: $info"
    done
    out=$(qemu-img compare -f qcow2 -F qcow2 "$tmp/results/shim-$gb" "$tmp/results/real-$gb" 2>&1) ||
        die "qemu-img compare ($gb): shim result differs from the safe rebase's: $out"
    [ "$out" = "Images are identical." ] ||
        die "qemu-img compare ($gb) printed: $out"
    compare_out[$gb]=$out
    if cmp -s "$tmp/results/shim-$gb" "$tmp/results/real-$gb"; then
        same_bytes[$gb]=$((${same_bytes[$gb]:-0} + 1))
    fi
    rm -f "$tmp/results/shim-$gb" "$tmp/results/real-$gb"
}

# ---- part 2: passthrough overhead -------------------------------------------------

# passthrough: time `qemu-img --version` and `qemu-img info` of the first
# fixture's disk: direct, through the shim, and through a bare exec
# trampoline (a static C program that only execs qemu-img: the least any
# shim that execs the real binary can add).  bench/spawn-timer.c runs the
# commands round-robin, so drift on a shared machine falls on all alike.
declare -A pt_med pt_mean pt_min
passthrough() {
    local i key
    info_disk=$tmp/pristine-${fixtures[0]}
    labels=("qemu-img --version" "qemu-img info -f qcow2 disk")
    printf '#include <unistd.h>\nint main (int c, char **v) { (void) c; execv ("%s", v); return 127; }\n' \
        "$real" >"$tmp/trampoline.c"
    gcc -O2 -static -o "$tmp/trampoline" "$tmp/trampoline.c"
    gcc -O2 -Wall -o "$tmp/spawn-timer" "$here/spawn-timer.c"
    mkdir -p "$tmp/tramp-bin"
    ln -s "$tmp/trampoline" "$tmp/tramp-bin/qemu-img"
    keys=("0 real" "0 shim" "0 tramp" "1 real" "1 shim" "1 tramp")
    : >"$tmp/empty-input"
    note "passthrough: $runs runs (+$warmup warmup) of each, interleaved ..."
    "$tmp/spawn-timer" -w "$warmup" -r "$runs" -i "$tmp/empty-input" -o "$tmp/pt.json" \
        "$real" --version :: "$shimbin/qemu-img" --version :: "$tmp/tramp-bin/qemu-img" --version :: \
        "$real" info -f qcow2 "$info_disk" :: "$shimbin/qemu-img" info -f qcow2 "$info_disk" :: \
        "$tmp/tramp-bin/qemu-img" info -f qcow2 "$info_disk"
    i=0
    while read -r med mean sd min; do
        key=${keys[i]}
        pt_med[$key]=$med
        pt_mean[$key]="$mean +- $sd"
        pt_min[$key]=$min
        i=$((i + 1))
    done < <("$PYTHON" -c 'import json, statistics, sys
for r in json.load(open(sys.argv[1]))["results"]:
    t = [x * 1e3 for x in r["times"]]
    print("%.3f %.3f %.3f %.3f" % (statistics.median(t), statistics.mean(t), statistics.stdev(t), min(t)))' \
        "$tmp/pt.json")
    [ "$i" = ${#keys[@]} ] || die "spawn-timer reported $i commands, not ${#keys[@]}"
    timer_desc="bench/spawn-timer.c (posix_spawn + wait4, no shell), $warmup warmup + $runs runs, commands interleaved"
}

# ---- the runs --------------------------------------------------------------------

# Each fixture is made just before its rounds and removed after them: on
# ext4 a read of a hole leaves a zero page in the page cache, so the safe
# rebase of the 8 GiB disk alone maps 16 GiB of it, and the other
# fixture's files would be pushed out (and re-read from disk) midway.
declare -A fx_vm fx_new fx_desc fx_top real_t shim_t shim_log compare_out same_bytes
for gb in "${fixtures[@]}"; do
    make_fixture "$gb"
    note "fixture $gb: $rounds rounds, alternating ..."
    for ((r = 0; r < rounds; r++)); do
        if ((r % 2 == 0)); then
            run_side real "$gb"
            run_side shim "$gb"
        else
            run_side shim "$gb"
            run_side real "$gb"
        fi
        check_round "$gb"
    done
    [ "$gb" != "${fixtures[0]}" ] || passthrough
    rm -f "$base"/* "$tmp/pristine-$gb"
done

# ---- report ----------------------------------------------------------------------

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
fs=$(findmnt -n -o FSTYPE -T "$tmp" 2>/dev/null || stat -f -c %T "$tmp")
mem=$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
echo "machine: $(nproc) CPUs ($cpu), ${mem} GiB RAM, Linux $(uname -r), $(date -u +%Y-%m-%d); $fs under /tmp"
echo "$("$real" --version | head -n 1); shim: $shim"
echo "rebase: $rounds runs per side and fixture, alternating, fresh copy of the disk and sync" \
     "before each, page cache not dropped"
echo
echo "| fixture | side | median s | runs s | real / shim |"
echo "|---|---|---:|---|---:|"
declare -A ratio
for gb in "${fixtures[@]}"; do
    read -r -a rt <<<"${real_t[$gb]}"
    read -r -a st <<<"${shim_t[$gb]}"
    rmed=$(median "${rt[@]}")
    smed=$(median "${st[@]}")
    ratio[$gb]=$(awk -v a="$rmed" -v b="$smed" 'BEGIN { printf "%.0f", a / b }')
    echo "| ${fx_desc[$gb]} | real safe rebase | $(fmt 3 "$rmed") | $(fmt 3 "${rt[@]}") | 1 |"
    echo "| ${fx_desc[$gb]} | shim (rebase -u) | $(fmt 4 "$smed") | $(fmt 4 "${st[@]}") | ${ratio[$gb]} |"
done
echo
for gb in "${fixtures[@]}"; do
    echo "fixture $gb: top holds ${fx_top[$gb]} bytes of guest data;" \
         "qemu-img compare -f qcow2 -F qcow2 (every round): \"${compare_out[$gb]}\"," \
         "byte-identical (cmp) in ${same_bytes[$gb]:-0} of $rounds rounds"
    echo "  shim's log, last round: $(tail -n 1 <<<"${shim_log[$gb]}")"
done
echo
echo "passthrough: $timer_desc"
echo
echo "| command | direct median ms | shim median ms | added ms | trampoline median ms | trampoline added ms | direct mean +- sd ms | shim mean +- sd ms | direct min ms | shim min ms |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
declare -A added tadded
for i in 0 1; do
    added[$i]=$(awk -v a="${pt_med[$i shim]}" -v b="${pt_med[$i real]}" 'BEGIN { printf "%.3f", a - b }')
    tadded[$i]=$(awk -v a="${pt_med[$i tramp]}" -v b="${pt_med[$i real]}" 'BEGIN { printf "%.3f", a - b }')
    echo "| ${labels[i]} | ${pt_med[$i real]} | ${pt_med[$i shim]} | ${added[$i]} | ${pt_med[$i tramp]} | ${tadded[$i]} | ${pt_mean[$i real]} | ${pt_mean[$i shim]} | ${pt_min[$i real]} | ${pt_min[$i shim]} |"
done
echo
echo "trampoline: a static C program whose only work is execv of the real qemu-img:" \
     "the least an exec-based shim can add on this machine"
echo
echo "targets:"
for gb in "${fixtures[@]}"; do
    if ((ratio[$gb] >= 50)); then v=met; else v=MISSED; fi
    echo "  fixture $gb (${fx_desc[$gb]}): shim >= 50x faster than the safe rebase: x${ratio[$gb]}: $v"
    echo "  fixture $gb: same image as the safe rebase (qemu-img compare, $rounds of $rounds rounds): met"
    echo "  fixture $gb: shim took the header-only path ($rounds of $rounds runs): met"
done
for i in 0 1; do
    if awk -v a="${added[$i]}" 'BEGIN { exit !(a < 1.0) }'; then v=met; else v=MISSED; fi
    echo "  ${labels[i]}: under 1 ms added at the median: ${added[$i]} ms: $v"
done
echo
echo "total: $(fmt 0 "$(elapsed "$t_start" "$EPOCHREALTIME")") s"
