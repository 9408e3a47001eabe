#!/bin/bash
# fetch-peer.sh [BUILDDIR]: fetching an original from a peer's _base,
# `cowherd fetch --sha1` (its data extents over ssh, and the whole file over
# sftp as a peer without cowherd serves it) side by side with `scp` and
# `rsync -S` over ssh of the same file, from a real sshd on the other end
# of a veth pair.
#
#   sudo bench/fetch-peer.sh [BUILDDIR]
#
#   cowherd:  cowherd --config CONF fetch --sha1 SHA1   ([peers] urls is the
#             peer's sftp:// _base, no [glance], remote_cowherd the build's
#             CLI: ssh to the peer runs `cowherd send`, which streams the
#             manifest and the file's data extents (SEEK_DATA/SEEK_HOLE);
#             written to _base/.cowherd-tmp, holes left, every byte of the
#             logical file (zeros included) hashed (sha256) in a second
#             thread, size and hash checked against the manifest, fsync,
#             rename to _base/<sha1>, manifest written)
#   cowherd (sftp): the same with [peers] extents = false: GET the manifest
#             and the whole file over sftp (libcurl + libssh2), as from a
#             peer without cowherd
#   scp:      scp root@PEER:/.../_base/SHA1 DIR/     (OpenSSH's scp, which
#             since 9.0 speaks the sftp protocol by default)
#   rsync:    rsync -S -e ssh root@PEER:/.../_base/SHA1 DIR/
#
# The peer: an sshd (config as tests/integration/sshd.sh writes it:
# throwaway ed25519 host and client keys, root by key only, internal-sftp)
# in a network namespace of its own, joined to this one by a veth pair made
# here: 198.51.100.1/30 in the namespace, 198.51.100.2/30 here (TEST-NET-2,
# on the pair only; no route, no other address is touched).  So every byte
# a transfer moves crosses the pair, and the pair's counters
# (/sys/class/net/<veth>/statistics/{rx,tx}_bytes, read before and after
# each run; Ethernet frames, headers included) say how many.  The peer's
# side of the CPU is its sshd's reaped children (cutime + cstime of the
# listener: the session process, internal-sftp, the rsync it runs).
#
# The original: 2 GiB raw (CHUNKS=64 chunks of 32 MiB), each chunk 16 MiB
# of random bytes then a 16 MiB hole (1 GiB of data), as the peer's
# _base/<sha1> with the manifest <sha1>.cowherd.json cowherd checks (size,
# sha256).  Each tool runs ROUNDS (3) times; the order rotates each round
# (each tool first in turn).  Before every
# run the tool's previous result is removed (cowherd's: the base, its
# manifest and _base/.cowherd-tmp) and `sync` runs, outside the timing.
# The page cache is not dropped: the peer reads the original from memory.
# After each run: `cmp` of the result with the original, its allocation
# (du --block-size=1), and, for scp and rsync, the time of an fsync of the
# result (cowherd fsyncs inside its run; they do not).
#
# Then, for the breakdown, once each: `openssl dgst -sha256` of the
# original (the hash cowherd computes as it receives), and `curl -o` of the
# same sftp:// URL (curl's CLI over the same libcurl and libssh2 as
# cowherd, with no hashing and no holes).  The ciphers each client
# negotiated are read from the sshd's log.
#
# Prints a table: tool, median wall time, bytes over the link (rx + tx),
# bytes allocated at the destination, identical to the original; then the
# runs, the link bytes each way, client and peer CPU; then the targets:
# cowherd's bytes over the link <= 1.05x the original's allocated data, its
# wall time <= 0.8x scp's.
#
# Runs as root in a private mount namespace (as the integration tests do).
# At exit the sshd is stopped by its pid, the namespace and the veth pair
# are deleted by the names made here, and the temp dir (about 7 GiB in
# /tmp at most) is removed.  ROUNDS and CHUNKS (the original's size in
# 32 MiB chunks) can be set in the environment.  BUILDDIR (or $BUILDDIR; default: build/ next to
# bench/) holds the built cli/cowherd.  Packages (Debian 12):
# openssh-server, openssh-client, rsync, curl, openssl, iproute2, procps,
# time, util-linux.
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
chunks=${CHUNKS:-64}

# shellcheck source=../tests/integration/functions.sh
source "$here/../tests/integration/functions.sh"
# shellcheck source=../tests/integration/sshd.sh
source "$here/../tests/integration/sshd.sh"
private_ns "$@"

requires ip sshd ssh ssh-keygen scp rsync curl openssl /usr/bin/time pgrep \
    cmp du stat truncate dd sync awk sha1sum
builddir=$(readlink -f "$builddir") || die "no build dir $builddir"
cli=$builddir/cli/cowherd
[ -x "$cli" ] || die "$cli not built (cmake --build $builddir)"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number"
[[ $chunks =~ ^[1-9][0-9]*$ ]] || die "CHUNKS must be a positive number"

peer_ip=198.51.100.1
here_ip=198.51.100.2
port=22                          # the netns is new: nothing else listens there
ns=cowherd-bench-$$
vh=cwb$$h                        # this side of the pair (<= 15 characters)
vp=cwb$$p                        # the peer's side, moved into $ns

if [ -n "$(ip -4 -o addr show to 198.51.100.0/30)" ] ||
    [ -n "$(ip -4 route show 198.51.100.0/30)" ]; then
    die "198.51.100.0/30 is already in use on this host"
fi

tmp=
mktempdir tmp
avail=$(df --output=avail -B1 "$tmp" | tail -n 1)
need=$((chunks * 32 * 1048576 * 4 + 1073741824))
[ "$avail" -gt "$need" ] || die "need $((need >> 30)) GiB free in /tmp"

peer_base=$tmp/peer/_base        # the peer's _base (same filesystem, other netns)
inst=$tmp/instances              # ours
base=$inst/_base
conf=$tmp/cowherd.conf
mkdir -p "$peer_base" "$base" "$inst/locks" "$tmp/scp" "$tmp/rsync" "$tmp/curl"

# ---- the link ---------------------------------------------------------------

ns_made=
net_down() {
    if [ -n "$ns_made" ]; then
        ip netns del "$ns" || echo "warning: ip netns del $ns failed" >&2
    fi
    # Deleting the namespace deletes the pair; this is for a pair made before
    # the move into it failed.
    if ip link show dev "$vh" >/dev/null 2>&1; then
        ip link del dev "$vh" 2>/dev/null || true
    fi
}
cleanup_fn net_down
ip netns add "$ns"
ns_made=1
ip link add "$vh" type veth peer name "$vp"
ip link set dev "$vp" netns "$ns"
# No IPv6 on the pair: no router solicitations or DAD counted as transfer bytes.
if [ -e "/proc/sys/net/ipv6/conf/$vh/disable_ipv6" ]; then
    echo 1 >"/proc/sys/net/ipv6/conf/$vh/disable_ipv6"
    ip netns exec "$ns" sh -c "echo 1 >/proc/sys/net/ipv6/conf/$vp/disable_ipv6"
fi
ip addr add "$here_ip/30" dev "$vh"
ip -n "$ns" addr add "$peer_ip/30" dev "$vp"
ip -n "$ns" link set dev lo up
ip -n "$ns" link set dev "$vp" up
ip link set dev "$vh" up
stats=/sys/class/net/$vh/statistics
[ -r "$stats/rx_bytes" ] || die "no counters at $stats"

# ---- the peer's sshd, in the namespace ------------------------------------------

# As sshd_up does, but listening on the peer's address in $ns (sshd_up's
# loopback would not cross the pair); stopped by pid with sshd_down.
SSHD_DIR=$tmp/sshd
SSHD_LOG=$SSHD_DIR/sshd.log
mkdir -p "$SSHD_DIR"
ssh-keygen -q -t ed25519 -N '' -C cowherd-bench-host -f "$SSHD_DIR/host_ed25519_key"
ssh-keygen -q -t ed25519 -N '' -C cowherd-bench-client -f "$SSHD_DIR/client_ed25519"
cp "$SSHD_DIR/client_ed25519.pub" "$SSHD_DIR/authorized_keys"
SSH_KEY=$SSHD_DIR/client_ed25519
if [ ! -d /run/sshd ]; then
    mkdir -p /run/sshd
    chmod 0755 /run/sshd
fi
_sshd_write_conf "$port"
# DEBUG1 for the "kex: ... cipher:" lines (once per connection, not per packet).
sed -i -e "s/^ListenAddress .*/ListenAddress $peer_ip/" -e 's/^LogLevel .*/LogLevel DEBUG1/' \
    "$SSHD_DIR/sshd_config"
sshd_bin=$(command -v sshd)
"$sshd_bin" -t -f "$SSHD_DIR/sshd_config" || die "sshd -t rejects $SSHD_DIR/sshd_config"
cleanup_fn sshd_down
: >"$SSHD_LOG"
# ip netns exec execs sshd (no fork): $! is sshd's pid.
ip netns exec "$ns" "$sshd_bin" -D -f "$SSHD_DIR/sshd_config" -E "$SSHD_LOG" \
    </dev/null >"$SSHD_DIR/sshd.out" 2>&1 &
SSHD_PID=$!

ssh_opts=(-F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -i "$SSH_KEY"
          -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
          -o ConnectTimeout=10 -o Port="$port")
for ((i = 0; ; i++)); do
    kill -0 "$SSHD_PID" 2>/dev/null ||
        { cat "$SSHD_DIR/sshd.out" "$SSHD_LOG" >&2; SSHD_PID=; die "sshd died"; }
    grep -qF "Server listening on $peer_ip port $port" "$SSHD_LOG" && break
    ((i < 100)) || die "sshd did not listen within 20 s"
    sleep 0.2
done
ssh "${ssh_opts[@]}" -n -T "root@$peer_ip" true ||
    { tail -n 20 "$SSHD_LOG" >&2; die "a login to the peer fails"; }
note "peer sshd at $peer_ip:$port in netns $ns (pid $SSHD_PID), veth $vh <-> $vp"

# CPU seconds of the sshd's reaped children (the sessions and what they ran).
peer_cpu() {
    local tck
    tck=$(getconf CLK_TCK)
    awk -v t="$tck" '{ printf "%.2f", ($16 + $17) / t }' "/proc/$SSHD_PID/stat"
}

# Wait (bounded) until the sshd has reaped every session.
sessions_gone() {
    local i
    for ((i = 0; i < 100; i++)); do
        pgrep -P "$SSHD_PID" >/dev/null || return 0
        sleep 0.05
    done
    die "an ssh session on the peer is still open 5 s after its client exited"
}

# ---- the original and its manifest --------------------------------------------------

sha=$(printf '%s' cowherd-bench-peer | sha1sum | cut -c1-40)
orig=$peer_base/$sha
note "writing the original: $((chunks * 32)) MiB raw, $((chunks * 16)) MiB of data ..."
truncate -s $((chunks * 32))M "$orig"
for ((i = 0; i < chunks; i++)); do
    dd if=/dev/urandom of="$orig" bs=16M count=1 seek=$((2 * i)) \
        conv=notrunc iflag=fullblock status=none
done
size=$(stat -c %s "$orig")
sum=$(openssl dgst -sha256 -r "$orig" | cut -d' ' -f1)
printf '{"name":"%s","size":%s,"sha256":"%s","image_id":"","source":"bench"}\n' \
    "$sha" "$size" "$sum" >"$orig.cowherd.json"
sync

cat >"$conf" <<EOF
[nova]
instances_path = $inst
[log]
syslog = false
file = $tmp/cowherd.log
[peers]
urls = sftp://root@$peer_ip:$port$peer_base/
ssh_key = $SSH_KEY
remote_cowherd = $cli
EOF
conf_sftp=$tmp/cowherd-sftp.conf
sed 's/^remote_cowherd = .*/extents = false/' "$conf" >"$conf_sftp"

# ---- the tools ------------------------------------------------------------------------

labels=("cowherd fetch --sha1 (extents over ssh)" "cowherd fetch --sha1 (sftp)" "scp"
        "rsync -S over ssh")
results=("$base/$sha" "$base/$sha" "$tmp/scp/$sha" "$tmp/rsync/$sha")
ntools=${#labels[@]}
# cmd0..cmd3 are used through local -n in run_tool.
# shellcheck disable=SC2034
cmd0=("$cli" --config "$conf" fetch --sha1 "$sha")
# shellcheck disable=SC2034
cmd1=("$cli" --config "$conf_sftp" fetch --sha1 "$sha")
# shellcheck disable=SC2034
cmd2=(scp -q "${ssh_opts[@]}" "root@$peer_ip:$orig" "$tmp/scp/")
# shellcheck disable=SC2034
cmd3=(rsync -S -e "ssh ${ssh_opts[*]}" "root@$peer_ip:$orig" "$tmp/rsync/")

clear_result() {
    case $1 in
    0|1) rm -f "$base/$sha" "$base/$sha.cowherd.json"
       rm -rf --one-file-system "$base/.cowherd-tmp" ;;
    2) rm -f "$tmp/scp/$sha" ;;
    3) rm -rf --one-file-system "$tmp/rsync"; mkdir "$tmp/rsync" ;;
    esac
}



median_int() {
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

alloc() {
    du --block-size=1 "$1" | cut -f1
}

mb_s() {                # mb_s BYTES SECONDS
    awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / s / 1e6 }'
}

# Per tool and run, as strings of space-separated values.
t=("" "" "" "") rx=("" "" "" "") tx=("" "" "" "") ucpu=("" "" "" "") pcpu=("" "" "" "")
da=("" "" "" "") same=("" "" "" "") fs=("" "" "" "")
med_t=() med_link=()

# measure OUT_PREFIX CMD...: run CMD once with the counters around it; sets
# m_t m_rx m_tx m_ucpu m_pcpu.
measure() {
    local t0 t1 rx0 tx0 c0
    sync
    sessions_gone
    rx0=$(<"$stats/rx_bytes")
    tx0=$(<"$stats/tx_bytes")
    c0=$(peer_cpu)
    t0=$EPOCHREALTIME
    /usr/bin/time -f '%U %S' -o "$tmp/time.out" "$@" >"$tmp/cmd.out" 2>"$tmp/cmd.err" ||
        die "$* failed: $(cat "$tmp/cmd.err")"
    t1=$EPOCHREALTIME
    sessions_gone
    m_t=$(elapsed "$t0" "$t1")
    m_rx=$(($(<"$stats/rx_bytes") - rx0))
    m_tx=$(($(<"$stats/tx_bytes") - tx0))
    m_pcpu=$(awk -v a="$c0" -v b="$(peer_cpu)" 'BEGIN { printf "%.2f", b - a }')
    m_ucpu=$(awk '{ printf "%.2f", $1 + $2 }' "$tmp/time.out")
}

run_tool() {
    local i=$1 t0 r
    local -n cmd="cmd$i"
    r=${results[i]}
    clear_result "$i"
    measure "${cmd[@]}"
    [ -f "$r" ] || die "${labels[i]} left no $r"
    if ((i <= 1)); then
        grep -q "^fetched " "$tmp/cmd.out" || die "cowherd fetch: $(cat "$tmp/cmd.out")"
        [ -f "$base/$sha.cowherd.json" ] || die "cowherd fetch published no manifest"
        fs[i]+="- "
    else
        t0=$EPOCHREALTIME
        sync "$r"
        fs[i]+="$(elapsed "$t0" "$EPOCHREALTIME") "
    fi
    t[i]+="$m_t " rx[i]+="$m_rx " tx[i]+="$m_tx " ucpu[i]+="$m_ucpu " pcpu[i]+="$m_pcpu "
    da[i]+="$(alloc "$r") "
    if cmp -s "$orig" "$r"; then same[i]+="yes "; else same[i]+="NO "; fi
    note "${labels[i]}: $m_t s, link rx $m_rx tx $m_tx bytes"
}

note "$rounds rounds, the order rotating ..."
for ((r = 0; r < rounds; r++)); do
    for ((k = 0; k < ntools; k++)); do
        run_tool $(((r + k) % ntools))
    done
done
grep -q "fetch $base/$sha: image .* from sftp://root@$peer_ip" "$tmp/cowherd.log" ||
    die "cowherd's log does not say it fetched from the peer: $(tail -n 5 "$tmp/cowherd.log")"
n_ext=$(grep -c "fetch $sha: peer sftp://[^ ]*: its data extents over ssh" "$tmp/cowherd.log" || true)
[ "$n_ext" = "$rounds" ] ||
    die "cowherd's extents side came over ssh $n_ext times in $rounds runs"

# ---- the breakdown ----------------------------------------------------------------------

# sha256 alone, over the original in the page cache.
t0=$EPOCHREALTIME
/usr/bin/time -f '%U %S' -o "$tmp/time.out" openssl dgst -sha256 "$orig" >/dev/null
sha256_s=$(elapsed "$t0" "$EPOCHREALTIME")
sha256_cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$tmp/time.out")

# libcurl + libssh2 alone: curl's CLI, same URL, no hash, holes written.
measure curl -s -S -k --key "$SSH_KEY" --pubkey "$SSH_KEY.pub" -o "$tmp/curl/$sha" \
    "sftp://root@$peer_ip:$port$orig"
curl_t=$m_t curl_rx=$m_rx curl_tx=$m_tx curl_ucpu=$m_ucpu curl_pcpu=$m_pcpu
curl_alloc=$(alloc "$tmp/curl/$sha")
if cmp -s "$orig" "$tmp/curl/$sha"; then curl_same=yes; else curl_same=NO; fi
rm -f "$tmp/curl/$sha"

# The limit here: the original's data bytes through ssh and nothing else
# (the cipher cowherd's ssh prefers; not written, not hashed).
data_bytes=$(alloc "$orig")
# shellcheck disable=SC2016  # $1.. are sh's
measure sh -c 'exec "$@" >/dev/null' sh ssh "${ssh_opts[@]}" -o 'Ciphers=^aes128-gcm@openssh.com' \
    "root@$peer_ip" "head -c $data_bytes /dev/zero"
wire_t=$m_t wire_link=$((m_rx + m_tx)) wire_ucpu=$m_ucpu wire_pcpu=$m_pcpu

# Ciphers as the sshd saw them: per connection, the client's version and
# the server->client cipher and MAC.
ciphers=$(awk '
    /Remote protocol version/ { sub(/.*remote software version /, ""); sub(/\r$/, ""); sw = $0 }
    /kex: server->client cipher:/ && sw != "" {
        c = $0; sub(/.*cipher: /, "", c); sub(/ compression.*/, "", c)
        if (!seen[sw " " c]++) printf "%s%s: %s", n++ ? "; " : "", sw, c
    }' "$SSHD_LOG")

# ---- report -------------------------------------------------------------------------------

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
fstype=$(findmnt -n -o FSTYPE -T "$tmp" 2>/dev/null || stat -f -c %T "$tmp")
echo "machine: $(nproc) CPUs ($cpu), Linux $(uname -r), $(date -u +%Y-%m-%d); $fstype under /tmp"
echo "peer: $(ssh -V 2>&1 | cut -d, -f1) sshd in a netns over a veth pair (MTU $(<"/sys/class/net/$vh/mtu"), no shaping);" \
     "$(rsync --version | head -n 1 | sed 's/  */ /g');" \
     "$(curl --version | head -n 1 | grep -oE 'libcurl/[^ ]+|libssh2/[^ ]+' | paste -sd' ')"
echo "original: $size bytes raw, $(alloc "$orig") allocated (du); $rounds runs per tool, order rotating, sync before each"
echo "ciphers: ${ciphers:-(not found in the sshd log)}"
echo
echo "| tool | median s | bytes over the link | bytes allocated at destination | identical |"
echo "|---|---:|---:|---:|---|"
for ((i = 0; i < ntools; i++)); do
    read -r -a tt <<<"${t[i]}"
    read -r -a rr <<<"${rx[i]}"
    read -r -a xx <<<"${tx[i]}"
    read -r -a aa <<<"${da[i]}"
    link=()
    for j in "${!rr[@]}"; do link+=($((rr[j] + xx[j]))); done
    ident=yes
    case " ${same[i]}" in *" NO "*) ident=NO ;; esac
    echo "| ${labels[i]} | $(median "${tt[@]}") | $(median_int "${link[@]}") | $(median_int "${aa[@]}") | $ident |"
    med_t[i]=$(median "${tt[@]}")
    med_link[i]=$(median_int "${link[@]}")
done
echo "| (curl -o sftp://, once) | $curl_t | $((curl_rx + curl_tx)) | $curl_alloc | $curl_same |"
echo
echo "per run (in the order run within each tool):"
for ((i = 0; i < ntools; i++)); do
    read -r -a tt <<<"${t[i]}"
    echo "  ${labels[i]}: wall s ${t[i]% }; MB/s at the median $(mb_s "$size" "$(median "${tt[@]}")");" \
         "link rx ${rx[i]% } / tx ${tx[i]% } bytes; client CPU s ${ucpu[i]% }; peer CPU s ${pcpu[i]% };" \
         "fsync after s ${fs[i]% }; allocated ${da[i]% }; cmp ${same[i]% }"
done
echo "  curl -o sftp://: wall s $curl_t ($(mb_s "$size" "$curl_t") MB/s); link rx $curl_rx tx $curl_tx bytes;" \
     "client CPU s $curl_ucpu; peer CPU s $curl_pcpu"
echo "  openssl dgst -sha256 of the original alone: $sha256_s s wall, $sha256_cpu s CPU"
echo "  the data's $data_bytes bytes through ssh alone (head -c of /dev/zero on the peer, to /dev/null):" \
     "$wire_t s wall ($(mb_s "$data_bytes" "$wire_t") MB/s), $wire_link bytes over the link," \
     "client CPU s $wire_ucpu, peer CPU s $wire_pcpu"
cow_ms=$(grep -oE "fetch $base/$sha: .* done in [0-9]+ ms" "$tmp/cowherd.log" |
    sed -E 's/.* ([0-9]+) ms$/\1/' | tr '\n' ' ')
echo "  cowherd's own log (ms): ${cow_ms% }"

data=$(alloc "$orig")
echo
echo "targets:"
x=$(awk -v a="${med_link[0]}" -v b="$data" 'BEGIN { printf "%.3f", a / b }')
v=$(awk -v x="$x" 'BEGIN { print (x <= 1.05) ? "met" : "MISSED" }')
echo "  bytes over the link <= 1.05x the original's allocated data: ${med_link[0]} vs $data, x$x: $v"
x=$(awk -v a="${med_t[0]}" -v b="${med_t[2]}" 'BEGIN { printf "%.3f", a / b }')
v=$(awk -v x="$x" 'BEGIN { print (x <= 0.8) ? "met" : "MISSED" }')
echo "  wall time <= 0.8x scp's: ${med_t[0]} s vs ${med_t[2]} s, x$x: $v" \
     "(rsync -S: ${med_t[3]} s; cowherd over sftp: ${med_t[1]} s)"
echo "  (the limit: the data alone through ssh took $wire_t s; cowherd's median is" \
     "x$(awk -v a="${med_t[0]}" -v b="$wire_t" 'BEGIN { printf "%.2f", a / b }') that)"
