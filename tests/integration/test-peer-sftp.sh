#!/usr/bin/env bash
# `cowherd fetch` from peers: another "host's" _base served by a real sshd
# on loopback (sftp, a throwaway ed25519 key).  A peer copy is taken only
# when it matches the peer's manifest: fetched by sha1 from a peer alone,
# sparse, with cowherd's own manifest naming the peer; a peer without a
# manifest and a peer that is down are passed over; a peer whose file does
# not match its manifest (or whose manifest disagrees with the image id or
# with Glance's hash) is refused, and Glance serves the image instead; a
# qcow2 on a peer is published raw, one naming a backing file is refused;
# when no source has it, one line says what each answered.
#
# PEER_MODE=extents (test-peer-extents.sh) runs the same cases with the
# peers asked for their data extents over ssh (`cowherd send`, the build's
# CLI on the peer), and then what only that path has: a peer without
# cowherd (sftp instead), a lying extent list, a peer that dies midway
# (resumed), a hostile stream.  Otherwise [peers] extents = false: sftp.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/glance.sh"
source "$(dirname "$0")/sshd.sh"
private_ns "$@"
requires qemu-img cmp sha1sum sha256sum sha512sum mount umount mountpoint "$PYTHON"
requires_built COWHERD_CLI

mode=${PEER_MODE:-sftp}
mktempdir tmp
sshd_up "$tmp/sshd"
hookhost_up "$tmp/host"
base_conf=$tmp/base.conf
cp "$COWHERD_CONF" "$base_conf"

# The other hosts' _base directories, and their URLs over sftp.
peer_good=$tmp/peer-good
peer_bare=$tmp/peer-bare          # files without manifests
peer_bad=$tmp/peer-bad            # files that do not match their manifests
peer_lies=$tmp/peer-lies          # manifests that do not match the image
mkdir -p "$peer_good" "$peer_bare" "$peer_bad" "$peer_lies"
sftp_url() {
    printf 'sftp://root@127.0.0.1:%s%s/\n' "$SSHD_PORT" "$1"
}
# A port nothing listens on: a peer that is down.
down_url=sftp://root@127.0.0.1:$(free_port)$tmp/peer-down/

# use_sources URLS [glance]: $COWHERD_CONF with these peers (comma-separated)
# and, with "glance", the Glance source.
use_sources() {
    cp "$base_conf" "$COWHERD_CONF"
    if [ "${2:-}" = glance ]; then glance_configure; fi
    printf '[peers]\nurls = %s\nssh_key = %s\n' "$1" "$SSH_KEY" >>"$COWHERD_CONF"
    if [ "$mode" = extents ]; then
        printf 'remote_cowherd = %s\n' "${REMOTE_COWHERD:-$COWHERD_CLI}" >>"$COWHERD_CONF"
    else
        printf 'extents = false\n' >>"$COWHERD_CONF"
    fi
}


# peer_put DIR FILE NAME [IMAGE_ID [KEY=VALUE...]]: put FILE (sparse) into a
# peer's _base as NAME with a manifest as cowherd writes it (size, sha256,
# image id, source), with KEY=VALUE fields added or replaced.
peer_put() {
    local dir=$1 file=$2 name=$3
    shift 3
    cp --sparse=always "$file" "$dir/$name"
    "$PYTHON" - "$dir" "$name" "$@" <<'EOF'
import hashlib, json, os, sys
d, name = sys.argv[1:3]
path = os.path.join(d, name)
h = hashlib.sha256()
with open(path, "rb") as f:
    for b in iter(lambda: f.read(1 << 20), b""):
        h.update(b)
m = {"name": name, "size": os.path.getsize(path), "sha256": h.hexdigest(),
     "source": "http://glance.elsewhere:9292/v2/images/x/file"}
if len(sys.argv) > 3 and sys.argv[3]:
    m["image_id"] = sys.argv[3]
for kv in sys.argv[4:]:
    k, _, v = kv.partition("=")
    m[k] = int(v) if k == "size" else v
with open(path + ".cowherd.json", "w") as f:
    json.dump(m, f)
EOF
}

# flip_byte FILE OFFSET: change one byte, size unchanged.
flip_byte() {
    "$PYTHON" - "$1" "$2" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]))
    b = f.read(1)
    f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ 0xff]))
EOF
}

# assert_manifest NAME SIZE IMAGE_ID SOURCE: cowherd's manifest of a
# published base.
assert_manifest() {
    local name=$1 size=$2 image=$3 source=$4 m=$NOVA_BASE/$1.cowherd.json sum
    [ -f "$m" ] || die "no manifest $m"
    [ "$(json_field "$m" name)" = "$name" ] || die "$m: name $(json_field "$m" name)"
    [ "$(json_field "$m" size)" = "$size" ] || die "$m: size $(json_field "$m" size), want $size"
    # From a peer: the digest its manifest had (sha256 in these); from
    # Glance: Glance's sha512.
    if [ -n "${GLANCE_URL:-}" ] && [[ "$source" == "$GLANCE_URL"* ]]; then
        assert_manifest_digest "$m" "$NOVA_BASE/$name" sha512
    else
        assert_manifest_digest "$m" "$NOVA_BASE/$name" sha256
    fi
    [ "$(json_field "$m" image_id)" = "$image" ] ||
        die "$m: image_id '$(json_field "$m" image_id)', want '$image'"
    [[ "$(json_field "$m" source)" == "$source"* ]] ||
        die "$m: source '$(json_field "$m" source)' does not start with $source"
}

assert_sparse_copy() {
    local a_src a_pub
    a_src=$(data_bytes "$1")
    a_pub=$(data_bytes "$2")
    note "data extents: source $a_src bytes, published $a_pub bytes"
    [ "$a_pub" -le "$a_src" ] || die "$2 has $a_pub bytes of data extents, the source $a_src"
}

published=()
assert_base() {
    assert_base_files "${published[@]}" "${published[@]/%/.cowherd.json}"
}

# ---- 1. from a peer alone, by sha1 -------------------------------------------

image=$(new_uuid)
sha=$(image_sha1 "$image")
make_original "$tmp/one.raw" 64
peer_put "$peer_good" "$tmp/one.raw" "$sha" "$image"
use_sources "$(sftp_url "$peer_good")"
fetch_ok --sha1 "$sha"
cmp "$tmp/one.raw" "$NOVA_BASE/$sha" || die "$NOVA_BASE/$sha differs from the peer's"
assert_sparse_copy "$peer_good/$sha" "$NOVA_BASE/$sha"
assert_manifest "$sha" $((64 << 20)) "$image" "$(sftp_url "$peer_good")$sha"
published+=("$sha")
assert_base
[ "$(log_count "fetch .*/$sha: image $image from sftp://")" = 1 ] ||
    { show_log; die "no log line for the fetch of $sha from the peer"; }
# The way it came: data extents over ssh, or the whole file over sftp.
via=0
[ "$mode" = extents ] && via=1
[ "$(log_count "fetch $sha: peer sftp://[^ ]*/peer-good/: its data extents over ssh")" = $via ] ||
    { show_log; die "$mode: the fetch of $sha did not come the $mode way"; }

# ---- 2. a peer that is down and one without a manifest are passed over --------

image=$(new_uuid)
sha=$(image_sha1 "$image")
make_original "$tmp/two.raw" 32
cp --sparse=always "$tmp/two.raw" "$peer_bare/$sha"        # no manifest
peer_put "$peer_good" "$tmp/two.raw" "$sha" "$image"
use_sources "$down_url,$(sftp_url "$peer_bare"),$(sftp_url "$peer_good")"
fetch_ok "$image"
cmp "$tmp/two.raw" "$NOVA_BASE/$sha" || die "$NOVA_BASE/$sha differs from the peer's"
assert_manifest "$sha" $((32 << 20)) "$image" "$(sftp_url "$peer_good")$sha"
published+=("$sha")
assert_base
[ "$(log_count "fetch $sha: peer sftp://[^ ]*/peer-bare/: no manifest \((404|none on the peer)\); skipped")" = 1 ] ||
    { show_log; die "the peer without a manifest was not logged as skipped"; }
[ "$(log_count "fetch $sha: peer sftp://[^ ]*/peer-down/: .*; skipped")" = 1 ] ||
    { show_log; die "the peer that is down was not logged as skipped"; }

# ---- 3. no source has it: one line says what each answered --------------------

image=$(new_uuid)
sha=$(image_sha1 "$image")
cp --sparse=always "$tmp/two.raw" "$peer_bare/$sha"
use_sources "$down_url,$(sftp_url "$peer_bare"),$(sftp_url "$peer_good")"
fetch_refused "no source could give $sha: peer sftp://[^ ]*/peer-down/: [^;]+; peer sftp://[^ ]*/peer-bare/: no manifest \((404|none on the peer)\); peer sftp://[^ ]*/peer-good/: no manifest \((404|none on the peer)\)$" \
    --sha1 "$sha"
assert_base

# ---- 4. a peer whose file does not match its manifest is refused ---------------

image=$(new_uuid)
sha=$(image_sha1 "$image")
make_original "$tmp/four.raw" 16
peer_put "$peer_bad" "$tmp/four.raw" "$sha" "$image"
flip_byte "$peer_bad/$sha" $((5 * 1048576 + 77))
use_sources "$(sftp_url "$peer_bad")"
fetch_refused "peer sftp://[^ ]*/peer-bad/: serves a different file \(sha256 mismatch\)" --sha1 "$sha"
assert_base
# A manifest that promises another size.
peer_put "$peer_bad" "$tmp/four.raw" "$sha" "$image" size=$((8 << 20))
fetch_refused "peer sftp://[^ ]*/peer-bad/: serves a different file \(size mismatch\)" --sha1 "$sha"
assert_base

# ---- 5. ... and Glance serves it instead ---------------------------------------

glance_up "$tmp/glance"
make_original "$tmp/five.raw" 24
id=$(glance_upload "$tmp/five.raw" raw)
sha=$(image_sha1 "$id")
glance_sha512=$(glance_image os_hash_value "$id")
# The right bytes, flipped behind the manifest's back.
peer_put "$peer_bad" "$tmp/five.raw" "$sha" "$id"
flip_byte "$peer_bad/$sha" 100
# The right bytes, but a manifest for another image, or with a Glance hash
# Glance does not have for this image.
peer_put "$peer_lies" "$tmp/five.raw" "$sha" "$(new_uuid)"
mkdir -p "$tmp/peer-lies2"
peer_put "$tmp/peer-lies2" "$tmp/five.raw" "$sha" "$id" glance_hash_algo=sha512 \
    glance_hash="$(printf '%0128d' 7)"
use_sources "$(sftp_url "$peer_bad"),$(sftp_url "$peer_lies"),$(sftp_url "$tmp/peer-lies2")" glance
fetch_ok "$id"
cmp "$tmp/five.raw" "$NOVA_BASE/$sha" || die "$NOVA_BASE/$sha differs from the upload"
assert_manifest "$sha" $((24 << 20)) "$id" "$GLANCE_URL/v2/images/$id/file"
[ "$(json_field "$NOVA_BASE/$sha.cowherd.json" glance_hash)" = "$glance_sha512" ] ||
    die "the manifest does not record Glance's hash"
[ "$(glance_count_downloads "$id")" = 1 ] ||
    die "glance served $(glance_count_downloads "$id") downloads of $id, want 1"
published+=("$sha")
assert_base
[ "$(log_count "fetch $sha: peer sftp://[^ ]*/peer-bad/ serves a different file than its manifest: hash mismatch")" = 1 ] ||
    { show_log; die "the peer serving a different file was not logged"; }
[ "$(log_count "fetch $sha: peer sftp://[^ ]*/peer-lies/: its manifest names image [^ ]+, not $id; skipped")" = 1 ] ||
    { show_log; die "the manifest for another image was not logged"; }
[ "$(log_count "fetch $sha: peer sftp://[^ ]*/peer-lies2/: its manifest records sha512 0000000000000000\.\.\. for image $id, Glance ${glance_sha512:0:16}\.\.\.; skipped")" = 1 ] ||
    { show_log; die "the manifest with a wrong Glance hash was not logged"; }

# With the manifest's Glance hash right, the peer is preferred: no download.
make_original "$tmp/six.raw" 20
id6=$(glance_upload "$tmp/six.raw" raw)
sha6=$(image_sha1 "$id6")
peer_put "$peer_good" "$tmp/six.raw" "$sha6" "$id6" glance_hash_algo=sha512 \
    glance_hash="$(glance_image os_hash_value "$id6")"
use_sources "$(sftp_url "$peer_good")" glance
fetch_ok "$id6"
cmp "$tmp/six.raw" "$NOVA_BASE/$sha6" || die "$NOVA_BASE/$sha6 differs from the peer's"
assert_manifest "$sha6" $((20 << 20)) "$id6" "$(sftp_url "$peer_good")$sha6"
[ "$(json_field "$NOVA_BASE/$sha6.cowherd.json" glance_hash)" = "$(glance_image os_hash_value "$id6")" ] ||
    die "the manifest does not carry the peer's record of Glance's hash"
[ "$(glance_count_downloads "$id6")" = 0 ] || die "Glance served $id6 although a peer had it"
published+=("$sha6")
assert_base

# ---- 7. a qcow2 on a peer: published raw; one naming a backing file: refused ---

image=$(new_uuid)
sha=$(image_sha1 "$image")
make_original "$tmp/seven.raw" 40
qemu-img convert -q -f raw -O qcow2 "$tmp/seven.raw" "$tmp/seven.qcow2"
peer_put "$peer_good" "$tmp/seven.qcow2" "$sha" "$image"
use_sources "$(sftp_url "$peer_good")"
fetch_ok --sha1 "$sha"
[ "$(head -c 4 "$NOVA_BASE/$sha" | od -An -tx1 | tr -d ' ')" != 514649fb ] ||
    die "$NOVA_BASE/$sha is still qcow2"
cmp "$tmp/seven.raw" "$NOVA_BASE/$sha" || die "$NOVA_BASE/$sha differs from the qcow2's content"
assert_sparse_copy "$tmp/seven.raw" "$NOVA_BASE/$sha"
assert_manifest "$sha" $((40 << 20)) "$image" "$(sftp_url "$peer_good")$sha"
published+=("$sha")
assert_base

image=$(new_uuid)
sha=$(image_sha1 "$image")
qemu-img create -q -f qcow2 -F raw -b /etc/hostname -u "$tmp/backing.qcow2" 1M
peer_put "$peer_good" "$tmp/backing.qcow2" "$sha" "$image"
fetch_refused "peer sftp://[^ ]*/peer-good/: $sha: its qcow2 header names a backing file" \
    --sha1 "$sha"
assert_base

[ "$mode" = extents ] || exit 0

# ---- 8. what only the ssh path has ----------------------------------------------

# fake_send NAME PYTHON: a `cowherd send` for the peer that runs the real
# one and hands the receiver what PYTHON makes of its stream (in `s`, bytes;
# the records parsed into `recs`, [offset, data] each); the result in `out`.
fake_send() {
    local f=$tmp/$1
    cat >"$f" <<EOF
#!$PYTHON
import struct, subprocess, sys
s = subprocess.run(["$COWHERD_CLI"] + sys.argv[1:], stdout=subprocess.PIPE, check=True).stdout
m = struct.unpack(">I", s[15:19])[0]
head, p = s[:27 + m], 27 + m
recs = []
while True:
    off, n = struct.unpack(">QQ", s[p:p + 16])
    if n == 0:
        break
    recs.append([off, s[p + 16:p + 16 + n]])
    p += 16 + n
def record(off, data):
    return struct.pack(">QQ", off, len(data)) + data
size = struct.unpack(">Q", s[19 + m:27 + m])[0]
end = struct.pack(">QQ", size, 0)
$2
sys.stdout.buffer.write(out)
sys.stdout.buffer.flush()
sys.exit(rc if "rc" in dir() else 0)
EOF
    chmod +x "$f"
    echo "$f"
}

# a. A peer without cowherd: the whole file over sftp, as before.
image=$(new_uuid)
sha=$(image_sha1 "$image")
make_original "$tmp/e1.raw" 24
peer_put "$peer_good" "$tmp/e1.raw" "$sha" "$image"
REMOTE_COWHERD=/nonexistent/cowherd use_sources "$(sftp_url "$peer_good")"
fetch_ok --sha1 "$sha"
cmp "$tmp/e1.raw" "$NOVA_BASE/$sha" || die "$NOVA_BASE/$sha differs from the peer's"
assert_manifest "$sha" $((24 << 20)) "$image" "$(sftp_url "$peer_good")$sha"
published+=("$sha")
assert_base
[ "$(log_count "fetch $sha: peer sftp://[^ ]*/peer-good/: no extent stream \(ssh exit 127[^)]*\); the whole file over sftp")" = 1 ] ||
    { show_log; die "the peer without cowherd was not asked over sftp instead"; }

# b. A lying extent list: one data extent left out (it reads as zeros),
# or one moved.  Refused by the digest; nothing published, nothing kept.
image=$(new_uuid)
sha=$(image_sha1 "$image")
make_original "$tmp/e2.raw" 24
peer_put "$peer_good" "$tmp/e2.raw" "$sha" "$image"
# refused_stream NAME PYTHON REGEX: the peer's `cowherd send` hands over
# what PYTHON makes of its stream (fake_send); the fetch fails with one
# line matching REGEX and nothing is published.
refused_stream() {
    REMOTE_COWHERD=$(fake_send "$1" "$2") use_sources "$(sftp_url "$peer_good")"
    fetch_refused "$3" --sha1 "$sha"
    assert_base
}
refused_stream lies-drop 'out = head + b"".join(record(o, d) for o, d in recs[:1] + recs[2:]) + end' \
    "peer sftp://[^ ]*/peer-good/: serves a different file \(sha256 mismatch\)"
[ ! -e "$NOVA_BASE/.cowherd-tmp/$sha.download" ] || die "the wrong file was kept for resuming"
refused_stream lies-move 'out = head + record(recs[0][0] + 4096, recs[0][1]) + b"".join(record(o, d) for o, d in recs[1:]) + end' \
    "peer sftp://[^ ]*/peer-good/: serves a different file \(sha256 mismatch\)"

# c. Hostile streams: refused with one line, nothing published.
refused_stream past-end 'out = head + record(size - 10, b"x" * 20) + end' \
    "peer sftp://[^ ]*/peer-good/: .*extent stream is malformed: an extent at [0-9]+ of 20 bytes out of order or past the end"
refused_stream backwards 'out = head + b"".join(record(o, d) for o, d in reversed(recs)) + end' \
    "extent stream is malformed: an extent at [0-9]+ of [0-9]+ bytes out of order"
refused_stream huge-manifest 'out = s[:15] + struct.pack(">I", 1 << 30)' \
    "extent stream is malformed: a manifest of 1073741824 bytes"

# d. The peer dies midway: what arrived whole is kept, and the next fetch
# asks for the rest only (--from) and publishes the whole, checked.
REMOTE_COWHERD=$(fake_send dies 'out = head + record(*recs[0]) + record(*recs[1]); rc = 1') \
    use_sources "$(sftp_url "$peer_good")"
fetch_refused "peer sftp://[^ ]*/peer-good/: the peer's stream ended early \(ssh exit 1\)" --sha1 "$sha"
[ ! -e "$NOVA_BASE/$sha" ] || die "a base was published from half a stream"
kept=$(stat -c %s "$NOVA_BASE/.cowherd-tmp/$sha.download")
[ "$kept" -gt 0 ] || die "nothing of the first extents was kept"
use_sources "$(sftp_url "$peer_good")"
fetch_ok --sha1 "$sha"
cmp "$tmp/e2.raw" "$NOVA_BASE/$sha" || die "$NOVA_BASE/$sha differs from the peer's after resuming"
assert_manifest "$sha" $((24 << 20)) "$image" "$(sftp_url "$peer_good")$sha"
published+=("$sha")
assert_base
[ "$(log_count "$sha: resuming a partial download at $kept bytes")" = 1 ] ||
    { show_log; die "the second fetch did not resume at $kept bytes"; }
note "resumed at $kept of $((24 << 20)) bytes"

# e. A peer that stops sending: after [fetch] stall_timeout (2 s here) the
# fetch gives up with one line; what arrived whole is kept, and the next
# fetch resumes it.  (The stalled sender waits until its session goes,
# which happens when cowherd stops its ssh: nothing is left on the peer.)
image=$(new_uuid)
sha=$(image_sha1 "$image")
make_original "$tmp/e3.raw" 24
peer_put "$peer_good" "$tmp/e3.raw" "$sha" "$image"
REMOTE_COWHERD=$(fake_send stalls 'sys.stdout.buffer.write(head + record(*recs[0])); sys.stdout.buffer.flush()
import os, select
parent = os.getppid()
while os.getppid() == parent:
    select.select([], [], [], 0.1)
out = b""') \
    use_sources "$(sftp_url "$peer_good")"
printf '[fetch]\nstall_timeout = 2\n' >>"$COWHERD_CONF"
fetch_refused "peer sftp://[^ ]*/peer-good/: no data from the peer for 2 s" --sha1 "$sha"
[ ! -e "$NOVA_BASE/$sha" ] || die "a base was published from a stalled stream"
[ "$(stat -c %s "$NOVA_BASE/.cowherd-tmp/$sha.download")" -gt 0 ] ||
    die "nothing of what arrived before the stall was kept"
use_sources "$(sftp_url "$peer_good")"
fetch_ok --sha1 "$sha"
cmp "$tmp/e3.raw" "$NOVA_BASE/$sha" || die "$NOVA_BASE/$sha differs from the peer's after the stall"
published+=("$sha")
assert_base

# f. The disk fills up: one line, nothing published, the partial dropped
# (as for Glance: _base usually shares its filesystem with the guests).
image=$(new_uuid)
sha=$(image_sha1 "$image")
make_original_full "$tmp/e4.raw" 24
peer_put "$peer_good" "$tmp/e4.raw" "$sha" "$image"
use_sources "$(sftp_url "$peer_good")"
mkdir "$tmp/small-base"
mount -t tmpfs -o size=16m cowherd-enospc "$tmp/small-base"
small_down() { if mountpoint -q "$tmp/small-base"; then umount "$tmp/small-base"; fi; }
cleanup_fn small_down
printf '[nova]\nbase_dir = %s\n' "$tmp/small-base" >>"$COWHERD_CONF"
fetch_refused "No space left on device" --sha1 "$sha"
left=$(find "$tmp/small-base" -mindepth 1 -not -name .cowherd-tmp -printf '%P ')
[ -z "$left" ] || die "left on the full disk: $left"
small_down
sed -i '/^base_dir = /d' "$COWHERD_CONF"

# g. A partial download that is not this file's start (another source's,
# or the peer's file changed since): the digest fails after resuming, and
# the peer's file is taken once more from its start.
image=$(new_uuid)
sha=$(image_sha1 "$image")
make_original "$tmp/e5.raw" 24
peer_put "$peer_good" "$tmp/e5.raw" "$sha" "$image"
use_sources "$(sftp_url "$peer_good")"
mkdir -p "$NOVA_BASE/.cowherd-tmp"
head -c 1048576 /dev/urandom >"$NOVA_BASE/.cowherd-tmp/$sha.download"
fetch_ok --sha1 "$sha"
cmp "$tmp/e5.raw" "$NOVA_BASE/$sha" || die "$NOVA_BASE/$sha differs from the peer's"
published+=("$sha")
assert_base
[ "$(log_count "fetch $sha: hash mismatch: .*; the peer's file again from its start")" = 1 ] ||
    { show_log; die "the wrong partial download was not started over"; }
