#!/usr/bin/env bash
# `cowherd fetch` with Keystone v3 password auth: a real Keystone (Debian's
# keystone package, under uWSGI) and a real glance-api on loopback.  No
# [glance] url: cowherd gets a token from Keystone (POST /v3/auth/tokens)
# and finds Glance in the token's service catalog, by interface and region;
# it sends the token to Glance (which runs without Keystone and ignores it).
# Refusals exit 1 with one line and leave _base clean: a wrong password
# (Keystone's 401), an unknown user, a catalog with the image service in
# two regions and no region_name to choose.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/glance.sh"
source "$(dirname "$0")/keystone.sh"
private_ns "$@"
requires cmp sha1sum "$PYTHON"
requires_built COWHERD_CLI

mktempdir tmp
keystone_up "$tmp/keystone"
glance_up "$tmp/glance"
hookhost_up "$tmp/host"

# The catalog: Glance in RegionOne, public as operators register it (no
# version), internal with "/v2/" (cowherd adds /v2/... itself), admin at a
# port nothing listens on, so a fetch that picked it would fail.
dead=http://127.0.0.1:$(free_port)
keystone_endpoint image public RegionOne "$GLANCE_URL" >/dev/null
keystone_endpoint image internal RegionOne "$GLANCE_URL/v2/" >/dev/null
keystone_endpoint image admin RegionOne "$dead" >/dev/null
# A password JSON must escape, and UTF-8.
password='co"w\her/d {é} '"$(new_uuid)"
keystone_user cowherd "$password" service >/dev/null

# configure [KEY=VALUE...]: a fresh cowherd.conf with [keystone] for user
# cowherd in project service (KEYS added) and no [glance] section.
configure() {
    write_cowherd_conf
    keystone_configure cowherd "$password" service "$@"
}

# auth_count: the token requests Keystone answered so far, by status
# ("201 401"), from uWSGI's request log (a line per request, written after
# the response; the client has its answer first, so wait until it shows).
auth_count() {
    grep -oE 'POST /v3/auth/tokens => .*\(HTTP/1\.[01] [0-9]+\)' "$KEYSTONE_DIR/uwsgi.out" |
        sed -E 's/.*HTTP\/1\.[01] ([0-9]+)\)$/\1/' | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}'
}

# expect_auth WANT: wait (bounded) until auth_count is WANT.
expect_auth() {
    local i
    for ((i = 0; i < 50; i++)); do
        [ "$(auth_count)" = "$1" ] && return 0
        sleep 0.1
    done
    die "Keystone answered token requests [ $(auth_count)], want [ $1]"
}

# assert_published SHA UPLOAD ID: _base holds exactly SHA, the upload's
# bytes, and its manifest, which names Glance's URL from the catalog.
assert_published() {
    local sha=$1 upload=$2 id=$3 m=$NOVA_BASE/$1.cowherd.json got
    [ -f "$NOVA_BASE/$sha" ] || die "fetch did not publish $NOVA_BASE/$sha"
    cmp "$upload" "$NOVA_BASE/$sha" || die "$NOVA_BASE/$sha differs from the upload"
    [ -f "$m" ] || die "no manifest $m"
    got=$("$PYTHON" -c 'import json, sys; m = json.load(open(sys.argv[1])); print(m["image_id"], m["source"])' "$m")
    [ "$got" = "$id $GLANCE_URL/v2/images/$id/file" ] ||
        die "$m: image_id and source are '$got', want '$id $GLANCE_URL/v2/images/$id/file'"
    assert_base_files "$sha" "$sha.cowherd.json"
}

# unpublish SHA: remove a fetched base and its manifest, for the next case.
unpublish() {
    rm -f "$NOVA_BASE/$1" "$NOVA_BASE/$1.cowherd.json"
}

make_original "$tmp/image.raw" 16
id=$(glance_upload "$tmp/image.raw" raw)
sha=$(image_sha1 "$id")
make_original "$tmp/snap.raw" 8
snap=$(new_uuid)               # an id Glance does not know: found by property
snap_sha=$(image_sha1 "$snap")
snap_id=$(glance_upload "$tmp/snap.raw" raw image_id_sha1="$snap_sha")
base_auth=$(auth_count)        # keystone_up's and keystone_user's own tokens
note "Keystone token requests before cowherd's: $base_auth"
base_ok=${base_auth#201:}
base_ok=${base_ok%% *}

# ---- 1. the public image endpoint from the catalog ---------------------------

configure
if grep -q '^\[glance\]' "$COWHERD_CONF"; then die "$COWHERD_CONF has a [glance] section"; fi
fetch_ok "$id"
assert_published "$sha" "$tmp/image.raw" "$id"
expect_auth "201:$((base_ok + 1)) "
[ "$(glance_count_downloads "$id")" = 1 ] || die "Glance served $id $(glance_count_downloads "$id") times"
note "fetched $id through the catalog's public endpoint $GLANCE_URL"
unpublish "$sha"

# ---- 2. interface = internal: "$GLANCE_URL/v2/", by sha1 ----------------------

configure interface=internal
fetch_ok --sha1 "$snap_sha"
assert_published "$snap_sha" "$tmp/snap.raw" "$snap_id"
expect_auth "201:$((base_ok + 2)) "
note "fetched image_id_sha1=$snap_sha through the internal endpoint $GLANCE_URL/v2/"
unpublish "$snap_sha"

# ---- 3. interface = admin: the catalog's admin endpoint is the one used ------

configure interface=admin
fetch_refused "${dead#http://}" "$id"
assert_base_files
expect_auth "201:$((base_ok + 3)) "

# ---- 4. a wrong password, an unknown user: Keystone's 401 --------------------

write_cowherd_conf
keystone_configure cowherd "not-$password" service
fetch_refused '^[^ ].*Keystone refused the credentials for user cowherd \(HTTP 401\)' "$id"
assert_base_files
expect_auth "201:$((base_ok + 3)) 401:1 "
write_cowherd_conf
keystone_configure nobody "$password" service
fetch_refused 'Keystone refused the credentials for user nobody.*401' "$id"
assert_base_files
expect_auth "201:$((base_ok + 3)) 401:2 "

# ---- 5. two regions: region_name chooses -------------------------------------

keystone_endpoint image public RegionTwo "$dead/v2" >/dev/null
configure
fetch_refused 'image endpoints.*RegionOne.*RegionTwo.*region_name' "$id"
assert_base_files
configure region_name=RegionOne
fetch_ok "$id"
assert_published "$sha" "$tmp/image.raw" "$id"
unpublish "$sha"
configure region_name=RegionThree
fetch_refused 'no image endpoint for interface public in region RegionThree' "$id"
assert_base_files
expect_auth "201:$((base_ok + 6)) 401:2 "

# ---- 6. [glance] url given: Keystone only for the token ----------------------

# The catalog is still ambiguous, but not consulted.
configure
printf '[glance]\nurl = %s\n' "$GLANCE_URL" >>"$COWHERD_CONF"
fetch_ok "$id"
assert_published "$sha" "$tmp/image.raw" "$id"
expect_auth "201:$((base_ok + 7)) 401:2 "
note "Keystone issued cowherd 7 tokens and refused 2 requests, as expected"
