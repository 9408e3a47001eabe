#!/usr/bin/env bash
# `cowherd fetch` against a real glance-api on loopback: by image id, by the
# image_id_sha1 property, a qcow2 image published raw; and the refusals,
# which leave _base clean and say why in one line: a stored file whose hash
# no longer matches, an unknown id, a qcow2 that names a backing file or an
# external data file.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/glance.sh"
private_ns "$@"
requires qemu-img cmp sha1sum sha256sum sha512sum "$PYTHON"
requires_built COWHERD_CLI

mktempdir tmp
glance_up "$tmp/glance"
hookhost_up "$tmp/host"
glance_configure


# assert_manifest NAME SIZE IMAGE_ID [ALGO]: <name>.cowherd.json describes the
# published file and where it came from.
assert_manifest() {
    local name=$1 size=$2 image=$3 algo=${4:-sha512} m=$NOVA_BASE/$1.cowherd.json
    [ -f "$m" ] || die "no manifest $m"
    [ "$(json_field "$m" size)" = "$size" ] || die "$m: size $(json_field "$m" size), want $size"
    # Glance's sha512, checked as it arrived, is the manifest's digest; a
    # file made here from the download (raw from qcow2) is hashed anew.
    assert_manifest_digest "$m" "$NOVA_BASE/$name" "$algo"
    [ "$(json_field "$m" image_id)" = "$image" ] ||
        die "$m: image_id $(json_field "$m" image_id), want $image"
    [[ "$(json_field "$m" source)" == *"$GLANCE_URL"* ]] ||
        die "$m: source '$(json_field "$m" source)' does not name $GLANCE_URL"
}

# assert_sparse_copy SOURCE PUBLISHED: no more data extents than SOURCE.
assert_sparse_copy() {
    local a_src a_pub
    a_src=$(data_bytes "$1")
    a_pub=$(data_bytes "$2")
    note "data extents: upload $a_src bytes, published $a_pub bytes"
    [ "$a_pub" -le "$a_src" ] || die "$2 has $a_pub bytes of data extents, the upload $a_src"
}

# entries DIR: the names in DIR, sorted, on one line.
entries() {
    find "$1" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' '
}

# assert_published_only NAME...: _base holds these entries (and the manifest
# of each) and nothing else, except inside cowherd's private tmp dir.
assert_published_only() {
    local want="" got n
    for n in "$@"; do want+="$n"$'\n'"$n.cowherd.json"$'\n'; done
    want=$(printf '%s' "$want" | sort | tr '\n' ' ')
    got=$(find "$NOVA_BASE" -mindepth 1 -maxdepth 1 ! -name .cowherd-tmp -printf '%f\n' |
        sort | tr '\n' ' ')
    [ "$want" = "$got" ] || die "_base holds [ $got], want [ $want]"
    if [ -d "$COWHERD_TMP_DIR" ] && [ -n "$(entries "$COWHERD_TMP_DIR")" ]; then
        note "left in $COWHERD_TMP_DIR: $(entries "$COWHERD_TMP_DIR")"
    fi
}

published=()

# ---- 1. a raw image, by id ---------------------------------------------------

make_original "$tmp/one.raw" 64
id=$(glance_upload "$tmp/one.raw" raw)
sha=$(image_sha1 "$id")
fetch_ok "$id"
[ -f "$NOVA_BASE/$sha" ] || die "fetch $id did not publish $NOVA_BASE/$sha"
cmp "$tmp/one.raw" "$NOVA_BASE/$sha" || die "$NOVA_BASE/$sha differs from the upload"
assert_sparse_copy "$tmp/one.raw" "$NOVA_BASE/$sha"
assert_manifest "$sha" $((64 << 20)) "$id"
published+=("$sha")
assert_base_files "${published[@]}" "${published[@]/%/.cowherd.json}"
[ "$(glance_count_downloads "$id")" = 1 ] ||
    die "glance served $(glance_count_downloads "$id") downloads of $id, want 1"
note "fetched $id as $sha"

# Already there: nothing to do, nothing downloaded again.
before=$(stat -c '%i %s' "$NOVA_BASE/$sha")
fetch_ok "$id"
[ "$(stat -c '%i %s' "$NOVA_BASE/$sha")" = "$before" ] || die "a second fetch replaced $sha"
[ "$(glance_count_downloads "$id")" = 1 ] ||
    die "a second fetch of a present base downloaded it again"

# ---- 2. by sha1, through the image_id_sha1 property --------------------------

other=$(new_uuid)      # an id Glance does not know; the property names it
other_sha=$(image_sha1 "$other")
make_original "$tmp/two.raw" 32
id2=$(glance_upload "$tmp/two.raw" raw image_id_sha1="$other_sha")
fetch_ok --sha1 "$other_sha"
[ -f "$NOVA_BASE/$other_sha" ] || die "fetch --sha1 $other_sha did not publish it"
cmp "$tmp/two.raw" "$NOVA_BASE/$other_sha" || die "$NOVA_BASE/$other_sha differs from the upload"
assert_manifest "$other_sha" $((32 << 20)) "$id2"
published+=("$other_sha")
assert_published_only "${published[@]}"
note "fetched image_id_sha1=$other_sha (image $id2)"

# ---- 3. a qcow2 image is published raw ---------------------------------------

make_original "$tmp/three.raw" 48
qemu-img convert -q -f raw -O qcow2 "$tmp/three.raw" "$tmp/three.qcow2"
id3=$(glance_upload "$tmp/three.qcow2" qcow2)
sha3=$(image_sha1 "$id3")
fetch_ok "$id3"
[ -f "$NOVA_BASE/$sha3" ] || die "fetch $id3 did not publish $NOVA_BASE/$sha3"
[ "$(head -c 4 "$NOVA_BASE/$sha3" | od -An -tx1 | tr -d ' ')" != 514649fb ] ||
    die "$NOVA_BASE/$sha3 is still qcow2"
[ "$(stat -c %s "$NOVA_BASE/$sha3")" = $((48 << 20)) ] ||
    die "$NOVA_BASE/$sha3: $(stat -c %s "$NOVA_BASE/$sha3") bytes, want the virtual size 48 MiB"
qemu-img compare -U -q -f qcow2 -F raw "$tmp/three.qcow2" "$NOVA_BASE/$sha3" ||
    die "$NOVA_BASE/$sha3 differs from the qcow2 upload's content"
assert_sparse_copy "$tmp/three.raw" "$NOVA_BASE/$sha3"
assert_manifest "$sha3" $((48 << 20)) "$id3" sha256
published+=("$sha3")
assert_published_only "${published[@]}"
note "fetched qcow2 image $id3, published raw"

# ---- 4. the stored file no longer matches Glance's hashes --------------------

make_original "$tmp/four.raw" 16
id4=$(glance_upload "$tmp/four.raw" raw)
glance_tamper "$id4"
fetch_refused 'checksum|hash' "$id4"
assert_published_only "${published[@]}"

# ---- 5. an id Glance does not know -------------------------------------------

fetch_refused '404|not found' "$(new_uuid)"
assert_published_only "${published[@]}"

# ---- 6. a qcow2 that names a backing file (Nova refuses those too) -----------

qemu-img create -q -f qcow2 -F raw -b /etc/hostname -u "$tmp/backing.qcow2" 1M
id6=$(glance_upload "$tmp/backing.qcow2" qcow2)
fetch_refused 'backing' "$id6"
assert_published_only "${published[@]}"

# ---- 7. a qcow2 with an external data file -----------------------------------

qemu-img create -q -f qcow2 -o data_file="$tmp/data-file.raw" "$tmp/datafile.qcow2" 1M
id7=$(glance_upload "$tmp/datafile.qcow2" qcow2)
fetch_refused 'data[ _-]?file' "$id7"
assert_published_only "${published[@]}"
