#!/usr/bin/env bash
# Disk full: _base is a 16 MiB tmpfs (mounted in this test's private mount
# namespace only) and the image has 64 MiB of real data.  `cowherd fetch`
# fails at once (no retries: a full disk is not transient) with one line
# saying "No space left on device"; nothing is published, and the partial
# download is dropped so the filesystem (which usually holds the instances'
# disks too) has its room back.  Once there is room, the next fetch
# downloads again and publishes.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/glance.sh"
private_ns "$@"
requires mount umount findmnt qemu-img cmp sha1sum stat df "$PYTHON"
requires_built COWHERD_CLI

mktempdir tmp
glance_up "$tmp/glance"
hookhost_up "$tmp/host"
glance_configure

make_original_full "$tmp/image.raw" 64
image=$(glance_upload "$tmp/image.raw" raw)
sha=$(image_sha1 "$image")

# _base as nova-compute leaves it (owner and mode kept), on a 16 MiB tmpfs.
owner=$(stat -c %u:%g "$NOVA_BASE")
mode=$(stat -c %a "$NOVA_BASE")
mount -t tmpfs -o size=16m,mode="$mode" cowherd-enospc "$NOVA_BASE"
cleanup_fn umount "$NOVA_BASE"
chown "$owner" "$NOVA_BASE"
[ "$(findmnt -n -o FSTYPE "$NOVA_BASE")" = tmpfs ] || die "$NOVA_BASE is not the test's tmpfs"

# ---- 1. the disk fills up ------------------------------------------------------

t0=$EPOCHREALTIME
rc=0
"$COWHERD_CLI" --config "$COWHERD_CONF" fetch "$image" >"$tmp/out" 2>"$tmp/err" || rc=$?
note "fetch onto a 16 MiB _base: exit $rc after $(since_s "$t0") s: $(cat "$tmp/err")"
[ "$rc" = 1 ] || { show_log; die "fetch onto a full disk: exit $rc, want 1"; }
[ "$(wc -l <"$tmp/err")" = 1 ] || { cat "$tmp/err" >&2; die "want one stderr line"; }
grep -qF "No space left on device" "$tmp/err" || die "unclear error: $(cat "$tmp/err")"
grep -qF "/v2/images/$image/file" "$tmp/err" || die "the error does not name the download"
[ ! -s "$tmp/out" ] || die "a failed fetch wrote to stdout: $(cat "$tmp/out")"
[ "$(glance_count_downloads "$image")" = 1 ] ||
    die "glance served $(glance_count_downloads "$image") downloads, want 1 (ENOSPC is not retried)"

# The tmpfs: nothing but the private build dir, empty, and the space the
# download took is free again.
got=$(find "$NOVA_BASE" -mindepth 1 -maxdepth 1 ! -name .cowherd-tmp -printf '%f ')
[ -z "$got" ] || die "_base holds [ $got] after ENOSPC"
[ "$(stat -c '%U %a' "$COWHERD_TMP_DIR")" = "root 700" ] ||
    die "$COWHERD_TMP_DIR is $(stat -c '%U %a' "$COWHERD_TMP_DIR")"
got=$(find "$COWHERD_TMP_DIR" -mindepth 1 -printf '%f ')
[ -z "$got" ] || die "$COWHERD_TMP_DIR holds [ $got] after ENOSPC"
used=$(df --output=used -B1 "$NOVA_BASE" | tail -n 1)
((used < 1 << 20)) || die "the tmpfs still has $used bytes used after ENOSPC"
note "left on the tmpfs: $used bytes used"

# ---- 2. room again: the next fetch downloads -------------------------------------

mount -o remount,size=128m "$NOVA_BASE"
rc=0
"$COWHERD_CLI" --config "$COWHERD_CONF" fetch "$image" >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 0 ] || { cat "$tmp/err" >&2; show_log; die "fetch with room again: exit $rc"; }
cmp "$tmp/image.raw" "$NOVA_BASE/$sha" || die "$NOVA_BASE/$sha differs from the upload"
assert_base_files "$sha" "$sha.cowherd.json"
[ "$(log_count "$sha: resuming a partial download")" = 0 ] ||
    { show_log; die "cowherd resumed a partial download that ENOSPC should have dropped"; }
[ "$(glance_count_downloads "$image")" = 2 ] ||
    die "glance served $(glance_count_downloads "$image") downloads, want 2"
note "with room again: downloaded again and published"

# ---- 3. the disk fills up while converting a qcow2 image to raw ----------------

# 32 MiB of data as qcow2: the download fits in 48 MiB, the raw copy beside
# it does not.
make_original_full "$tmp/conv.raw" 32
qemu-img convert -q -f raw -O qcow2 "$tmp/conv.raw" "$tmp/conv.qcow2"
image3=$(glance_upload "$tmp/conv.qcow2" qcow2)
sha3=$(image_sha1 "$image3")
umount "$NOVA_BASE"
mount -t tmpfs -o size=48m,mode="$mode" cowherd-enospc "$NOVA_BASE"
chown "$owner" "$NOVA_BASE"
rc=0
"$COWHERD_CLI" --config "$COWHERD_CONF" fetch "$image3" >"$tmp/out" 2>"$tmp/err" || rc=$?
note "qcow2 converted onto a 48 MiB _base: exit $rc: $(cat "$tmp/err")"
[ "$rc" = 1 ] || { show_log; die "conversion onto a full disk: exit $rc, want 1"; }
[ "$(wc -l <"$tmp/err")" = 1 ] || { cat "$tmp/err" >&2; die "want one stderr line"; }
grep -qF "No space left on device" "$tmp/err" || die "unclear error: $(cat "$tmp/err")"
grep -qF "$sha3: converting the qcow2 image to raw" "$tmp/err" || die "the error does not name the image and the step: $(cat "$tmp/err")"
got=$(find "$NOVA_BASE" -mindepth 1 -maxdepth 1 ! -name .cowherd-tmp -printf '%f ')
[ -z "$got" ] || die "_base holds [ $got] after ENOSPC in the conversion"
got=$(find "$COWHERD_TMP_DIR" -mindepth 1 ! -name "$sha3.download" -printf '%f ')
[ -z "$got" ] || die "$COWHERD_TMP_DIR holds [ $got] besides the downloaded qcow2"
note "left on the tmpfs: $(find "$NOVA_BASE" -mindepth 1 -printf '%P (%s bytes) ' | sort)"
