#!/usr/bin/env bash
# cowherd takes Nova's lock on the base it builds: while another process
# (Python's fcntl.lockf, as oslo.concurrency does) holds
# locks/nova-<sha1>_1, `virsh start` waits and builds nothing; once the
# lock is released the start succeeds.  With [locks] timeout = 1 and the
# lock held, the start fails saying the lock timed out.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
private_ns "$@"
requires qemu-img du sha1sum timeout "$PYTHON"

mktempdir tmp
lvhost_up "$tmp/host"

# new_domain NAME: an instance whose resized base is missing; sets SHA.
new_domain() {
    local image
    image=$(new_uuid)
    SHA=$(image_sha1 "$image")
    make_original "$NOVA_BASE/$SHA" 64
    make_instance "$1" "$(new_uuid)" "$image" 64 root >"$tmp/$1.xml"
    virsh -q define "$tmp/$1.xml" >/dev/null
}

# 1. The start waits for the lock, then succeeds.
new_domain vm1
sha1=$SHA
hold_lock "$NOVA_LOCKS/nova-${sha1}_1" "$tmp/lock1.out"
bg_run "$tmp/start1.out" timeout 300 virsh -q start vm1
start_pid=$BG_PID
wait_logged "waiting for lock $NOVA_LOCKS/nova-${sha1}_1"
rc=$(bg_status "$tmp/start1.out")
[ -z "$rc" ] || die "virsh start returned ($rc) while the lock was held: $(cat "$tmp/start1.out")"
[ ! -e "$NOVA_BASE/${sha1}_1" ] || die "${sha1}_1 was built while Nova held its lock"
assert_base_files "$sha1"
release_lock
wait "$start_pid"
rc=$(bg_status "$tmp/start1.out")
[ "$rc" = 0 ] || { show_log; die "virsh start vm1 failed after the lock was released: $(cat "$tmp/start1.out")"; }
assert_running vm1
assert_resized_base "$NOVA_BASE/$sha1" "$NOVA_BASE/${sha1}_1" 1
assert_logged vm1 vda copy-extend "$NOVA_BASE/${sha1}_1"

# 2. timeout = 1 and the lock held: the start fails, the lock named.
write_cowherd_conf 1
new_domain vm2
sha2=$SHA
hold_lock "$NOVA_LOCKS/nova-${sha2}_1" "$tmp/lock2.out"
t0=$SECONDS
if timeout 120 virsh -q start vm2 >"$tmp/start2.out" 2>&1; then
    die "virsh start vm2 succeeded while the lock was held"
fi
elapsed=$((SECONDS - t0))
note "virsh start vm2 failed after ${elapsed} s as expected:"
cat "$tmp/start2.out" >&2
grep -qiE 'lock.*(timed? ?out|timeout)|(timed? ?out|timeout).*lock' "$tmp/start2.out" ||
    die "the error does not say the lock timed out"
[ "$elapsed" -lt 30 ] || die "the 1 s lock timeout took $elapsed s"
state=$(virsh domstate vm2)
[ "$state" = "shut off" ] || die "vm2 is '$state', want 'shut off'"
release_lock
show_log
assert_base_files "$sha1" "${sha1}_1" "$sha2"
