#!/usr/bin/env bash
# Sixteen domains over the same image, whose resized base is missing, start
# at once: every start succeeds and the base is built exactly once (the
# hooks serialise on Nova's lock file).
set -euo pipefail
source "$(dirname "$0")/functions.sh"
private_ns "$@"
requires qemu-img du sha1sum timeout "$PYTHON"

n=16
mktempdir tmp
lvhost_up "$tmp/host"

image_fixture 64
for ((i = 1; i <= n; i++)); do
    make_instance "vm$i" "$(new_uuid)" "$image" 32 root >"$tmp/vm$i.xml"
    virsh -q define "$tmp/vm$i.xml" >/dev/null
done

pids=()
for ((i = 1; i <= n; i++)); do
    bg_run "$tmp/start-vm$i.out" timeout 300 virsh -q start "vm$i"
    pids+=("$BG_PID")
done
failed=0
for ((i = 1; i <= n; i++)); do
    wait "${pids[i - 1]}"
    rc=$(bg_status "$tmp/start-vm$i.out")
    if [ "$rc" != 0 ]; then
        echo "virsh start vm$i: exit $rc:" >&2
        cat "$tmp/start-vm$i.out" >&2
        failed=$((failed + 1))
    fi
done
show_log
[ "$failed" = 0 ] || die "$failed of $n concurrent starts failed"

for ((i = 1; i <= n; i++)); do
    assert_running "vm$i"
done
builds=$(log_count "copy-extend $resized: done in [0-9]+ ms\$")
[ "$builds" = 1 ] || die "$resized was built $builds times, want once"
assert_resized_base "$orig" "$resized" 1
assert_base_files "$sha" "${sha}_1"
