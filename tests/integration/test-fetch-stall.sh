#!/usr/bin/env bash
# A throttled link hitting the stall timeout.  glance-api runs in a network
# namespace of its own, cowherd in another, joined by a veth pair whose
# glance side is shaped with tc's token bucket filter to 4 kbit/s (500 B/s)
# after an 8 KiB burst: the image metadata gets through, the image data
# trickles below 1 KiB/s.  With [fetch] stall_timeout = 2 and retries = 1 the
# fetch fails within seconds with one "stalled" line; nothing is published.
# Once the shaping is removed, the next fetch resumes and publishes.
#
# Addresses: 198.51.100.1/30 (glance) and 198.51.100.2/30 (cowherd), from
# TEST-NET-2 (RFC 5737), on the pair only.  Both ends live in namespaces
# this test creates, so the host's routing never sees them (TEST-NET-1,
# 192.0.2.0/24, is not used: some CI hosts number their uplink from it).
# Torn down by name (ip netns del) and glance-api by pid.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/glance.sh"
private_ns "$@"
requires ip tc nsenter cmp sha1sum stat "$PYTHON"
requires_built COWHERD_CLI

srv_ip=198.51.100.1
cli_ip=198.51.100.2
ns_srv=cowherd-stall-srv-$$
ns_cli=cowherd-stall-cli-$$
veth_srv=chstall$$s          # at most 15 bytes with a 6-digit pid
veth_cli=chstall$$c
veth_srv=${veth_srv:0:15}
veth_cli=${veth_cli:0:15}
[ "$veth_srv" != "$veth_cli" ] || { veth_srv=chstall-s; veth_cli=chstall-c; }

mktempdir tmp
glance_up "$tmp/glance"          # on loopback, to create and upload the image
hookhost_up "$tmp/host"

make_original_full "$tmp/image.raw" 1
image=$(glance_upload "$tmp/image.raw" raw)
sha=$(image_sha1 "$image")
port=${GLANCE_URL##*:}
glance_down                      # served again from the namespace below

# ---- the two namespaces and the shaped link --------------------------------

ns_up=0
netns_down() {
    local ok=0
    [ "$ns_up" = 1 ] || return 0
    ns_up=0
    glance_down || ok=1          # the glance-api inside, by pid, first
    if [ -e "/run/netns/$ns_cli" ]; then ip netns del "$ns_cli" || ok=1; fi
    if [ -e "/run/netns/$ns_srv" ]; then ip netns del "$ns_srv" || ok=1; fi
    [ ! -e "/run/netns/$ns_srv" ] && [ ! -e "/run/netns/$ns_cli" ] || ok=1
    return "$ok"
}
cleanup_fn netns_down
ns_up=1
ip netns add "$ns_srv" || skip "cannot create a network namespace"
ip netns add "$ns_cli" || skip "cannot create a network namespace"
ip link add "$veth_srv" netns "$ns_srv" type veth peer name "$veth_cli" netns "$ns_cli" ||
    skip "cannot create a veth pair"
ip -n "$ns_srv" addr add "$srv_ip/30" dev "$veth_srv"
ip -n "$ns_cli" addr add "$cli_ip/30" dev "$veth_cli"
ip -n "$ns_srv" link set "$veth_srv" up
ip -n "$ns_cli" link set "$veth_cli" up
# Fail now if tbf is missing, not after starting glance.
ip netns exec "$ns_srv" tc qdisc add dev "$veth_srv" root tbf rate 4kbit burst 8kb limit 64kb ||
    skip "tc cannot add a tbf qdisc here (kernel without sch_tbf?)"
ip netns exec "$ns_srv" tc qdisc del dev "$veth_srv" root

in_srv() { nsenter --net="/run/netns/$ns_srv" "$@"; }
in_cli() { nsenter --net="/run/netns/$ns_cli" "$@"; }

# glance-api on the same state, listening on the pair's glance end.
sed -i "s/^bind_host = .*/bind_host = $srv_ip/" "$GLANCE_CONF"
GLANCE_URL=http://$srv_ip:$port
# nsenter execs glance-api (no fork), so $! is glance-api's own pid.
nsenter --net="/run/netns/$ns_srv" glance-api --config-file "$GLANCE_CONF" </dev/null \
    >"$GLANCE_DIR/glance-api-ns.out" 2>&1 &
GLANCE_PID=$!
for ((i = 0; ; i++)); do
    if grep -qF "($GLANCE_PID) wsgi starting up on $GLANCE_URL" "$GLANCE_LOG" &&
        in_cli curl -sf -o /dev/null --max-time 5 "$GLANCE_URL/v2/images"; then
        break
    fi
    kill -0 "$GLANCE_PID" 2>/dev/null || { tail -n 20 "$GLANCE_DIR/glance-api-ns.out" >&2; die "glance-api in $ns_srv died"; }
    ((i < GLANCE_START_TIMEOUT * 5)) || die "glance-api in $ns_srv did not answer"
    sleep 0.2
done
# The unshaped path carries the whole image.
in_cli curl -sf -o "$tmp/control.raw" "$GLANCE_URL/v2/images/$image/file"
cmp "$tmp/image.raw" "$tmp/control.raw" || die "the unshaped link corrupted the image"
note "glance-api (pid $GLANCE_PID) at $GLANCE_URL in $ns_srv; cowherd runs in $ns_cli"

# conf RETRIES: cowherd.conf with stall_timeout = 2 and RETRIES.
conf() {
    write_cowherd_conf 60
    glance_configure
    printf '[fetch]\nstall_timeout = 2\nretries = %s\n' "$1" >>"$COWHERD_CONF"
}

# stalled_fetch RETRIES: fetch over the shaped link with [fetch] retries =
# RETRIES; it must fail with one "stalled" line naming the attempts, in
# bounded time, publish nothing and leave only a partial that is a prefix
# of the image.  Sets kept (the partial's size).
stalled_fetch() {
    local retries=$1 t0 secs rc=0 got line
    conf "$retries"
    t0=$EPOCHREALTIME
    in_cli "$COWHERD_CLI" --config "$COWHERD_CONF" fetch "$image" >"$tmp/out" 2>"$tmp/err" || rc=$?
    secs=$(since_s "$t0")
    note "retries = $retries: exit $rc after $secs s: $(cat "$tmp/err")"
    note "$(ip netns exec "$ns_srv" tc -s qdisc show dev "$veth_srv" | tr -s ' \n' ' ')"
    [ "$rc" = 1 ] || { show_log; die "fetch over a stalled link: exit $rc, want 1"; }
    [ "$(wc -l <"$tmp/err")" = 1 ] || { cat "$tmp/err" >&2; die "want one stderr line"; }
    # Which request stalls depends on what the previous attempt left queued
    # on the shaped link: the image's record or its file.  Either way the
    # line names the request and the stall.
    line=$(cat "$tmp/err")
    case $line in
    "cowherd: GET $GLANCE_URL/v2/images/$image"*": stalled below 1 KiB/s for 2 s"*) ;;
    *) die "unclear error: $line; want a stall of GET $GLANCE_URL/v2/images/$image..." ;;
    esac
    awk -v s="$secs" 'BEGIN { exit !(s < 40) }' || die "the stalled fetch took $secs s"
    [ ! -e "$NOVA_BASE/$sha" ] || die "a stalled fetch published $NOVA_BASE/$sha"
    got=$(find "$NOVA_BASE" -mindepth 1 -maxdepth 1 ! -name .cowherd-tmp -printf '%f ')
    [ -z "$got" ] || die "_base holds [ $got] after a stalled fetch"
    got=$(find "$COWHERD_TMP_DIR" -mindepth 1 ! -name "$sha.download" -printf '%f ')
    [ -z "$got" ] || die "$COWHERD_TMP_DIR holds [ $got] besides the partial download"
    kept=$(stat -c %s "$COWHERD_TMP_DIR/$sha.download")
    ((kept > 0 && kept < 1 << 20)) || die "the partial download has $kept bytes"
    cmp -n "$kept" "$tmp/image.raw" "$COWHERD_TMP_DIR/$sha.download" ||
        die "the partial download is not a prefix of the image"
    note "nothing published; $kept bytes trickled in and are kept for a resume"
}

# ---- the shaped link: the fetch stalls -----------------------------------------

# A short queue (3000 bytes, 6 s at this rate): a retry's handshake is not
# stuck behind the aborted attempt's data for longer than connect_timeout.
ip netns exec "$ns_srv" tc qdisc add dev "$veth_srv" root tbf rate 4kbit burst 8kb limit 3000
stalled_fetch 0
first=$kept
stalled_fetch 1
((kept >= first)) || die "the retried fetch shrank the partial download from $first to $kept bytes"

# ---- the link recovers: the next fetch resumes -----------------------------------

ip netns exec "$ns_srv" tc qdisc del dev "$veth_srv" root
resumes=$(log_count "$sha: resuming a partial download at $kept bytes")
rc=0
in_cli "$COWHERD_CLI" --config "$COWHERD_CONF" fetch "$image" >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 0 ] || { cat "$tmp/err" >&2; show_log; die "fetch after the link recovered: exit $rc"; }
cmp "$tmp/image.raw" "$NOVA_BASE/$sha" || die "$NOVA_BASE/$sha differs from the upload"
assert_base_files "$sha" "$sha.cowherd.json"
[ "$(log_count "$sha: resuming a partial download at $kept bytes")" = $((resumes + 1)) ] ||
    { show_log; die "cowherd did not log resuming at $kept bytes"; }
note "unshaped again: resumed at $kept bytes and published"
