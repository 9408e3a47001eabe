#!/usr/bin/env bash
# An image deleted in Glance is still fetched from a peer (Nova bugs
# 1546778 and 1732428: resize and migration break once the image is gone).
# Host A fetches images from a real glance-api; host A's _base is host B's
# peer (file://, shared storage).  While Glance still has the image, B takes
# it from the peer (peers first) after checking A's manifest against
# Glance's hash; once the image is deleted, B without peers fails with
# Glance's 404, B with A as its peer gets the verified copy, and the
# manifest B writes keeps the image id and Glance's hash.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/glance.sh"
private_ns "$@"
requires cmp sha1sum sha512sum curl "$PYTHON"
requires_built COWHERD_CLI

mktempdir tmp
glance_up "$tmp/glance"
hookhost_up "$tmp/host-b"             # host B: the test's /var/lib/nova

# Host A: its own instances directory and configuration, same Glance.
a_instances=$tmp/host-a/instances
a_base=$a_instances/_base
a_conf=$tmp/host-a/cowherd.conf
mkdir -p "$a_instances"
cat >"$a_conf" <<EOF
[nova]
instances_path = $a_instances
[locks]
timeout = 60
[log]
syslog = false
file = $tmp/host-a/cowherd.log
[glance]
url = $GLANCE_URL
EOF
peer_a=file://$a_base/

glance_configure                       # host B's Glance
b_glance_conf=$tmp/b-glance.conf
cp "$COWHERD_CONF" "$b_glance_conf"
b_peer_conf=$tmp/b-peer.conf
cp "$COWHERD_CONF" "$b_peer_conf"
printf '[peers]\nurls = %s\n' "$peer_a" >>"$b_peer_conf"

# fetch CONF ARGS...: `cowherd fetch` with CONF; output in $tmp/out and
# $tmp/err; sets rc.
fetch() {
    local conf=$1
    shift
    rc=0
    "$COWHERD_CLI" --config "$conf" fetch "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}

fetch_ok() {
    fetch "$@"
    [ "$rc" = 0 ] || { cat "$tmp/err" >&2; show_log; die "fetch $*: exit $rc"; }
    note "$(cat "$tmp/out")"
}


# glance_status ID: the HTTP status of GET /v2/images/ID.
glance_status() {
    curl -s -o /dev/null -w '%{http_code}' "$GLANCE_URL/v2/images/$1"
}

# ---- 1. Glance has it: B takes A's copy, checked against Glance's hash ---------

make_original "$tmp/one.raw" 32
id1=$(glance_upload "$tmp/one.raw" raw)
sha1=$(image_sha1 "$id1")
fetch_ok "$a_conf" "$id1"
[ -f "$a_base/$sha1.cowherd.json" ] || die "host A wrote no manifest for $sha1"
[ "$(json_field "$a_base/$sha1.cowherd.json" glance_hash)" = "$(glance_image os_hash_value "$id1")" ] ||
    die "host A's manifest does not record Glance's hash"
[ "$(glance_count_downloads "$id1")" = 1 ] || die "host A did not download $id1 once"

fetch_ok "$b_peer_conf" "$id1"
cmp "$tmp/one.raw" "$NOVA_BASE/$sha1" || die "host B's $sha1 differs from the upload"
[ "$(json_field "$NOVA_BASE/$sha1.cowherd.json" source)" = "$peer_a$sha1" ] ||
    die "host B's $sha1 came from $(json_field "$NOVA_BASE/$sha1.cowherd.json" source), not the peer"
[ "$(glance_count_downloads "$id1")" = 1 ] || die "host B downloaded $id1 from Glance, not the peer"
assert_base_files "$sha1" "$sha1.cowherd.json"

# ---- 2. the image is deleted in Glance --------------------------------------------

make_original "$tmp/two.raw" 48
id=$(glance_upload "$tmp/two.raw" raw)
sha=$(image_sha1 "$id")
sha512=$(glance_image os_hash_value "$id")
fetch_ok "$a_conf" "$id"
cmp "$tmp/two.raw" "$a_base/$sha" || die "host A's $sha differs from the upload"
glance_delete "$id"
[ "$(glance_status "$id")" = 404 ] || die "image $id is still in Glance after the delete"
note "image $id deleted in Glance"

# Without peers, as Nova: the image is gone.
fetch "$b_glance_conf" "$id"
[ "$rc" = 1 ] || { cat "$tmp/err" >&2; die "fetch of a deleted image without peers: exit $rc"; }
grep -qE "not found|404" "$tmp/err" || die "unclear error: $(cat "$tmp/err")"
note "without peers: $(cat "$tmp/err")"
assert_base_files "$sha1" "$sha1.cowherd.json"

# With host A as the peer: fetched, verified, the image id kept.
fetch_ok "$b_peer_conf" "$id"
cmp "$tmp/two.raw" "$NOVA_BASE/$sha" || die "host B's $sha differs from the upload"
[ "$(data_bytes "$NOVA_BASE/$sha")" -le "$(data_bytes "$a_base/$sha")" ] ||
    die "host B's $sha is less sparse than host A's"
m=$NOVA_BASE/$sha.cowherd.json
[ "$(json_field "$m" image_id)" = "$id" ] || die "$m: image_id '$(json_field "$m" image_id)', want $id"
[ "$(json_field "$m" source)" = "$peer_a$sha" ] || die "$m: source '$(json_field "$m" source)'"
[ "$(json_field "$m" size)" = $((48 << 20)) ] || die "$m: size $(json_field "$m" size)"
# A fetched it from Glance: its manifest and so B's record Glance's sha512.
assert_manifest_digest "$m" "$NOVA_BASE/$sha" sha512
[ "$(json_field "$m" glance_hash)" = "$sha512" ] || die "$m: Glance's hash was not carried over"
[ "$(log_count "fetch $sha: image $id not found in Glance")" = 1 ] ||
    { show_log; die "the deleted image was not logged"; }
[ "$(log_count "fetch .*/$sha: image $id from file://")" = 1 ] ||
    { show_log; die "no log line for the fetch of $sha from the peer"; }
assert_base_files "$sha1" "$sha1.cowherd.json" "$sha" "$sha.cowherd.json"

# B's copy, in turn, is a good peer for a third host (by sha1, no Glance).
mkdir -p "$tmp/host-c/instances"
cat >"$tmp/host-c/cowherd.conf" <<EOF
[nova]
instances_path = $tmp/host-c/instances
[log]
syslog = false
file = $tmp/host-c/cowherd.log
[peers]
urls = file://$NOVA_BASE/
EOF
fetch_ok "$tmp/host-c/cowherd.conf" --sha1 "$sha"
cmp "$tmp/two.raw" "$tmp/host-c/instances/_base/$sha" || die "host C's $sha differs"
[ "$(json_field "$tmp/host-c/instances/_base/$sha.cowherd.json" image_id)" = "$id" ] ||
    die "host C's manifest lost the image id"
