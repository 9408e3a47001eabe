#!/bin/bash
# fetch-glance.sh [BUILDDIR]: fetching an image from a real glance-api on
# loopback, `cowherd fetch` side by side with `curl -o` of the same URL,
# with and without an fsync after it.
#
#   sudo bench/fetch-glance.sh [BUILDDIR]
#
#   curl:     curl -s -o FILE $GLANCE_URL/v2/images/ID/file
#   curl + fsync: the same, then `sync FILE` (an fsync of it): what a
#             download must do before anything boots from it
#   cowherd:  cowherd --config CONF fetch ID   (GET the image record, stream
#             the body to _base/.cowherd-tmp writing zero blocks as holes,
#             writeback started every 32 MiB, hashing it in the same pass in
#             a worker thread (sha512, Glance's os_hash, which the manifest
#             records), fsync, rename to _base/<sha1>, write
#             <sha1>.cowherd.json)
#
# The image: 2 GiB raw, 64 chunks of 16 MiB of random bytes, one every
# 32 MiB, holes between (1 GiB of data), uploaded to a glance-api started
# with tests/integration/glance.sh (file store and sqlite under a temp dir,
# no Keystone).  Each side runs ROUNDS (3) times, the order rotating (each
# side first in turn); before every run the previous output
# (curl's file; cowherd's base and manifest) is removed and `sync` runs,
# outside the timing.  The page cache is not dropped, so glance-api reads
# its stored copy from memory for both.  Each run is wrapped in
# /usr/bin/time -v for its peak RSS ("Maximum resident set size").  Then
# once more each with a 512 MiB image (256 MiB of data, same pattern), to
# show cowherd's RSS does not grow with the image.
#
# Prints a table (median wall time, throughput over the image's size, the
# ratio to curl's throughput, peak RSS, bytes allocated by the output), a
# breakdown of cowherd's extra work measured separately, and the targets:
# >= 0.9x the throughput of curl -o + fsync, peak RSS under 16 MiB, output
# sparse.
#
# Runs as root in a private mount namespace (as the integration tests do);
# scratch files (about 8 GiB, under a temp dir in /tmp) and glance-api are
# removed and stopped at exit.  BUILDDIR (or $BUILDDIR; default: build/
# next to bench/) holds the built cli/cowherd.  Packages (Debian 12):
# glance-api, curl, time, openssl, iproute2 (ss), python3, util-linux;
# strace (optional: the breakdown of cowherd's time).
#
# Not part of the test suite: the numbers depend on the machine.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
export LC_ALL=C                  # '.' in $EPOCHREALTIME and in numbers

self=$(readlink -f "$0")
here=$(dirname "$self")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
builddir=${1:-${BUILDDIR:-$here/../build}}
rounds=${ROUNDS:-3}

# shellcheck source=../tests/integration/functions.sh
source "$here/../tests/integration/functions.sh"
# shellcheck source=../tests/integration/glance.sh
source "$here/../tests/integration/glance.sh"
private_ns "$@"

requires /usr/bin/time curl openssl du stat truncate dd sync awk sha1sum
builddir=$(readlink -f "$builddir") || die "no build dir $builddir"
cli=$builddir/cli/cowherd
[ -x "$cli" ] || die "$cli not built (cmake --build $builddir)"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number"

mktempdir tmp
avail=$(df --output=avail -B1 "$tmp" | tail -n 1)
[ "$avail" -gt $((9 * 1024 * 1024 * 1024)) ] || die "need 9 GiB free in /tmp"

inst=$tmp/instances
base=$inst/_base
conf=$tmp/cowherd.conf
mkdir -p "$base" "$inst/locks" "$tmp/curl"

glance_up "$tmp/glance"
cat >"$conf" <<EOF
[nova]
instances_path = $inst
[log]
syslog = false
file = $tmp/cowherd.log
[glance]
url = $GLANCE_URL
EOF

# make_image FILE CHUNKS: CHUNKS chunks of 16 MiB of random
# bytes, one every 32 MiB, holes between.
make_image() {
    local file=$1 chunks=$2 i
    truncate -s $((chunks * 32))M "$file"
    for ((i = 0; i < chunks; i++)); do
        dd if=/dev/urandom of="$file" bs=16M count=1 seek=$((2 * i)) \
            conv=notrunc iflag=fullblock status=none
    done
}



max() {
    printf '%s\n' "$@" | sort -g | tail -n 1
}

# timed OUT_VAR RSS_VAR CMD...: run CMD under /usr/bin/time -v; append the
# wall time (s) to OUT_VAR and the peak RSS (KiB) to RSS_VAR.
timed() {
    local -n _t=$1 _r=$2
    local t0 t1 rss
    shift 2
    t0=$EPOCHREALTIME
    /usr/bin/time -v -o "$tmp/time.out" "$@" >"$tmp/cmd.out" 2>"$tmp/cmd.err" ||
        die "$* failed: $(cat "$tmp/cmd.err")"
    t1=$EPOCHREALTIME
    rss=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$tmp/time.out")
    [ -n "$rss" ] || die "no peak RSS from /usr/bin/time"
    _t+=("$(elapsed "$t0" "$t1")")
    _r+=("$rss")
}

# run_curl ID OUT T R / run_cowherd ID SHA T R: one run each, output gone
# and synced before.
run_curl() {
    rm -f "$2"
    sync
    timed "$3" "$4" curl -s -o "$2" "$GLANCE_URL/v2/images/$1/file"
}

run_curl_sync() {
    rm -f "$2"
    sync
    # shellcheck disable=SC2016  # $1 and $2 are sh's
    timed "$3" "$4" sh -c 'curl -s -o "$1" "$2" && sync "$1"' sh "$2" \
        "$GLANCE_URL/v2/images/$1/file"
}

run_cowherd() {
    rm -f "$base/$2" "$base/$2.cowherd.json"
    sync
    timed "$3" "$4" "$cli" --config "$conf" fetch "$1"
    if [ ! -f "$base/$2" ] || [ ! -f "$base/$2.cowherd.json" ]; then
        die "cowherd fetch $1 did not publish $2 and its manifest"
    fi
    grep -q "^fetched " "$tmp/cmd.out" || die "cowherd fetch $1: $(cat "$tmp/cmd.out")"
}

alloc() {
    du --block-size=1 "$1" | cut -f1
}

mb_s() {                # mb_s BYTES SECONDS
    awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / s / 1e6 }'
}

# ---- the 2 GiB image, alternating rounds ---------------------------------------

note "writing and uploading the 2 GiB image (1 GiB of data) ..."
make_image "$tmp/big.raw" 64
big_size=$(stat -c %s "$tmp/big.raw")
t0=$EPOCHREALTIME
big=$(glance_upload "$tmp/big.raw" raw)
note "uploaded as $big in $(elapsed "$t0" "$EPOCHREALTIME") s"
big_sha=$(image_sha1 "$big")

curl_t=() curl_r=() cow_t=() cow_r=() curl_sync_t=() curl_sync_r=()
run_side() {
    case $1 in
    0) run_curl "$big" "$tmp/curl/big.raw" curl_t curl_r ;;
    1) run_curl_sync "$big" "$tmp/curl/big.raw" curl_sync_t curl_sync_r ;;
    2) run_cowherd "$big" "$big_sha" cow_t cow_r ;;
    esac
}
note "$rounds rounds, the order rotating ..."
for ((r = 0; r < rounds; r++)); do
    for ((k = 0; k < 3; k++)); do
        run_side $(((r + k) % 3))
    done
done
cmp "$tmp/big.raw" "$tmp/curl/big.raw" || die "curl's copy differs from the image"
cmp "$tmp/big.raw" "$base/$big_sha" || die "cowherd's copy differs from the image"

# What cowherd does that curl does not, each measured alone on the output.
t0=$EPOCHREALTIME
openssl dgst -sha512 "$base/$big_sha" >/dev/null
sha512_s=$(elapsed "$t0" "$EPOCHREALTIME")
t0=$EPOCHREALTIME
openssl dgst -sha256 "$base/$big_sha" >/dev/null
sha256_s=$(elapsed "$t0" "$EPOCHREALTIME")

# Where cowherd's time goes: one more run under strace (timestamps of the
# few syscalls that mark its phases; --seccomp-bpf leaves the others
# untraced, so the data path runs at full speed).
phases=
if command -v strace >/dev/null; then
    rm -f "$base/$big_sha" "$base/$big_sha.cowherd.json"
    sync
    strace -f -ttt --seccomp-bpf -e trace=execve,openat,fsync,renameat2 -e status=successful \
        -o "$tmp/strace.out" "$cli" --config "$conf" fetch "$big" >/dev/null 2>"$tmp/cmd.err" ||
        die "cowherd fetch under strace failed: $(cat "$tmp/cmd.err")"
    phases=$(awk -v dl="$big_sha.download" -v mf="$big_sha.cowherd.json" '
        { t = index($1, ".") ? $1 : $2 }     # with or without a pid column
        NR == 1 { t0 = t }
        index($0, "openat(") && index($0, dl) && !tdl { tdl = t }
        tdl && !tfs && index($0, "fsync(") { tfs = t }
        tfs && !trn && index($0, "renameat2(") { trn = t }
        trn && !tmf && index($0, "openat(") && index($0, mf) { tmf = t }
        { tend = t }
        END {
            if (!tdl || !tfs || !trn || !tmf) { print "(phases not found in the trace)"; exit }
            printf "start-up and image record %.2f s, download (sha512, holes) %.2f s, " \
                   "fsync %.2f s, publish to the manifest (no second digest) %.2f s, " \
                   "manifest and the rest %.2f s; total %.2f s", \
                   tdl - t0, tfs - tdl, trn - tfs, tmf - trn, tend - tmf, tend - t0
        }' "$tmp/strace.out")
fi

# ---- the 512 MiB image, once each ------------------------------------------------

note "writing and uploading the 512 MiB image (256 MiB of data) ..."
make_image "$tmp/small.raw" 16
small_size=$(stat -c %s "$tmp/small.raw")
small=$(glance_upload "$tmp/small.raw" raw)
small_sha=$(image_sha1 "$small")
scurl_t=() scurl_r=() scow_t=() scow_r=()
run_curl "$small" "$tmp/curl/small.raw" scurl_t scurl_r
run_cowherd "$small" "$small_sha" scow_t scow_r
cmp "$tmp/small.raw" "$base/$small_sha" || die "cowherd's copy of the 512 MiB image differs"

# ---- report ----------------------------------------------------------------------

curl_med=$(median "${curl_t[@]}")
cow_med=$(median "${cow_t[@]}")
ratio=$(awk -v c="$cow_med" -v u="$curl_med" 'BEGIN { printf "%.2f", u / c }')
sync_med=$(median "${curl_sync_t[@]}")
ratio_sync=$(awk -v c="$cow_med" -v u="$sync_med" 'BEGIN { printf "%.2f", u / c }')
curl_rss=$(max "${curl_r[@]}")
cow_rss=$(max "${cow_r[@]}")
src_alloc=$(alloc "$tmp/big.raw")
curl_alloc=$(alloc "$tmp/curl/big.raw")
cow_alloc=$(alloc "$base/$big_sha")
cow_ms=$(grep -oE "fetch $base/$big_sha: .* done in [0-9]+ ms" "$tmp/cowherd.log" |
    sed -E 's/.* ([0-9]+) ms$/\1/' | tr '\n' ' ')

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
fs=$(findmnt -n -o FSTYPE -T "$tmp" 2>/dev/null || stat -f -c %T "$tmp")
echo "machine: $(nproc) CPUs ($cpu), Linux $(uname -r), $(date -u +%Y-%m-%d); $fs under /tmp"
echo "glance-api $(glance-api --version 2>&1 | tail -n 1) on 127.0.0.1 (one process), file store in /tmp;" \
     "$(curl --version | head -n 1 | cut -d' ' -f1-2)"
echo "image: 2 GiB raw, $src_alloc bytes allocated; $rounds runs per side, order rotating, sync before each"
echo
echo "| side | median s | runs s | MB/s | x curl | x curl + fsync | peak RSS KiB | allocated bytes (du) |"
echo "|---|---:|---|---:|---:|---:|---:|---:|"
echo "| curl -s -o (2 GiB) | $curl_med | ${curl_t[*]} | $(mb_s "$big_size" "$curl_med") | 1.00 | | $curl_rss | $curl_alloc |"
echo "| curl -s -o, then fsync (2 GiB) | $sync_med | ${curl_sync_t[*]} | $(mb_s "$big_size" "$sync_med") | | 1.00 | $(max "${curl_sync_r[@]}") | $curl_alloc |"
echo "| cowherd fetch (2 GiB) | $cow_med | ${cow_t[*]} | $(mb_s "$big_size" "$cow_med") | $ratio | $ratio_sync | $cow_rss | $cow_alloc |"
echo "| curl -s -o (512 MiB, once) | ${scurl_t[0]} | | $(mb_s "$small_size" "${scurl_t[0]}") | 1.00 | | ${scurl_r[0]} | $(alloc "$tmp/curl/small.raw") |"
echo "| cowherd fetch (512 MiB, once) | ${scow_t[0]} | | $(mb_s "$small_size" "${scow_t[0]}") | $(awk -v u="${scurl_t[0]}" -v c="${scow_t[0]}" 'BEGIN { printf "%.2f", u / c }') | | ${scow_r[0]} | $(alloc "$base/$small_sha") |"
echo
echo "cowherd's own log, 2 GiB runs (ms): $cow_ms"
echo "alone on the 2 GiB output: openssl dgst -sha512 $sha512_s s, -sha256 $sha256_s s"
[ -z "$phases" ] || echo "one more cowherd run, under strace: $phases"
echo
echo "targets:"
if awk -v r="$ratio_sync" 'BEGIN { exit !(r >= 0.9) }'; then v=met; else v=MISSED; fi
echo "  >= 0.9x the throughput of curl -o + fsync: x$ratio_sync: $v (x$ratio of curl -o alone)"
if ((cow_rss < 16384 && scow_r[0] < 16384)); then v=met; else v=MISSED; fi
echo "  peak RSS under 16 MiB: $cow_rss KiB (2 GiB), ${scow_r[0]} KiB (512 MiB): $v"
if ((cow_alloc <= src_alloc + 4 * 1048576)); then v=met; else v=MISSED; fi
echo "  output sparse: $cow_alloc bytes allocated, the upload $src_alloc, curl's $curl_alloc: $v"
