#!/usr/bin/env bash
# Thirty-two processes need the same missing original at once, half of them
# hooks preparing a domain over it, half `cowherd fetch` by hand: all
# succeed, and Glance serves the image exactly once (the others wait on
# Nova's lock for the base, then use it).  Counted from glance-api's own
# request log.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/glance.sh"
private_ns "$@"
requires qemu-img cmp sha1sum timeout "$PYTHON"
requires_built COWHERD_HOOK COWHERD_CLI

n=32
mktempdir tmp
glance_up "$tmp/glance"
hookhost_up "$tmp/host" 120
glance_configure

# Big enough that the download is still running when the last one starts.
make_original "$tmp/image.raw" 128
image=$(glance_upload "$tmp/image.raw" raw)
sha=$(image_sha1 "$image")
orig=$NOVA_BASE/$sha
resized=$NOVA_BASE/${sha}_1
make_instance vm-conc "$(new_uuid)" "$image" 64 root >"$tmp/dom.xml"

# run_one I: odd I a hook's prepare, even I a fetch by hand.
run_one() {
    if (($1 % 2)); then
        timeout 300 "$COWHERD_HOOK" vm-conc prepare begin - <"$tmp/dom.xml"
    else
        timeout 300 "$COWHERD_CLI" --config "$COWHERD_CONF" fetch "$image"
    fi
}

pids=()
for ((i = 1; i <= n; i++)); do
    bg_run "$tmp/run$i.out" run_one "$i"
    pids+=("$BG_PID")
done
failed=0
for ((i = 1; i <= n; i++)); do
    wait "${pids[i - 1]}"
    rc=$(bg_status "$tmp/run$i.out")
    kind=fetch
    if ((i % 2)); then kind=hook; fi
    if [ "$rc" != 0 ]; then
        echo "run $i ($kind): exit $rc:" >&2
        cat "$tmp/run$i.out" >&2
        failed=$((failed + 1))
    elif [ "$kind" = hook ] && [ -s "$tmp/run$i.out" ]; then
        # Stdout must stay empty, and a hook that succeeds says nothing.
        cat "$tmp/run$i.out" >&2
        die "hook run $i wrote output"
    fi
done
show_log
[ "$failed" = 0 ] || die "$failed of $n concurrent runs failed"

downloads=$(glance_count_downloads "$image")
[ "$downloads" = 1 ] || die "glance served $image $downloads times, want once"
cmp "$tmp/image.raw" "$orig" || die "$orig differs from the upload"
[ -f "$orig.cowherd.json" ] || die "no manifest beside $orig"
builds=$(log_count "copy-extend $resized: done in [0-9]+ ms\$")
[ "$builds" = 1 ] || die "$resized was built $builds times, want once"
assert_resized_base "$orig" "$resized" 1
if [ -e "$resized.cowherd.json" ]; then
    assert_base_files "$sha" "$sha.cowherd.json" "${sha}_1" "${sha}_1.cowherd.json"
else
    assert_base_files "$sha" "$sha.cowherd.json" "${sha}_1"
fi
note "$n concurrent runs, one download"
