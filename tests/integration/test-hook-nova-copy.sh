#!/usr/bin/env bash
# Nova builds a legacy <sha1>_<GB> by copying the original to the final name
# without taking the lock, then extends it.  A hook that runs meanwhile must
# not let libvirt open the half-made base: it waits until the entry has its
# full size, and gives up (one clear line) if it never does.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
private_ns "$@"
requires qemu-img truncate
requires_built COWHERD_HOOK

mktempdir tmp
hookhost_up "$tmp/host" 30

IMAGE=$(new_uuid)
SHA=$(image_sha1 "$IMAGE")
make_original "$NOVA_BASE/$SHA" 16
make_instance vm-copy "$(new_uuid)" "$IMAGE" 64 root >"$tmp/dom.xml"

# Nova's cp has finished, its extend has not run yet.
cp "$NOVA_BASE/$SHA" "$NOVA_BASE/${SHA}_1"
"$COWHERD_HOOK" vm-copy prepare begin - <"$tmp/dom.xml" >"$tmp/out" 2>"$tmp/err" &
hook=$!
cleanup_fn kill_if_alive "$hook"
wait_logged "$NOVA_BASE/${SHA}_1 is $((16 << 20)) bytes of $((1 << 30)): waiting" ||
    { cat "$tmp/err"; die "the hook did not wait for Nova's copy"; }
kill -0 "$hook" 2>/dev/null || { cat "$tmp/err"; die "the hook did not wait for Nova's copy"; }
[ "$(stat -c %s "$NOVA_BASE/${SHA}_1")" = $((16 << 20)) ] || die "the hook touched Nova's copy"

# Nova extends it: the hook proceeds.
truncate -s 1G "$NOVA_BASE/${SHA}_1"
rc=0
wait "$hook" || rc=$?
[ "$rc" = 0 ] || { cat "$tmp/err"; die "prepare failed after Nova finished: exit $rc"; }
[ ! -s "$tmp/out" ] || die "hook wrote to stdout"
assert_base_files "$SHA" "${SHA}_1"
note "waited for Nova's copy, then went on"

# A copy that never completes: the hook gives up at the timeout.
write_cowherd_conf 1
truncate -s 16M "$NOVA_BASE/${SHA}_1"
rc=0
"$COWHERD_HOOK" vm-copy prepare begin - <"$tmp/dom.xml" >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] || die "prepare over a copy that never finished: exit $rc"
[ "$(wc -l <"$tmp/err")" = 1 ] || { cat "$tmp/err"; die "want one stderr line"; }
grep -q "did not grow for 1 s" "$tmp/err" || die "unclear: $(cat "$tmp/err")"
[ "$(stat -c %s "$NOVA_BASE/${SHA}_1")" = $((16 << 20)) ] || die "the hook touched Nova's copy"
note "$(cat "$tmp/err")"
