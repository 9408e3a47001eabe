#!/usr/bin/env bash
# The server killed mid-download: glance-api is SIGKILLed (by the pid
# glance_up recorded) while `cowherd fetch` streams a 256 MiB image of
# non-zero data.  The fetch retries, then fails with one stderr line;
# nothing is published, and the partial file stays in cowherd's private
# build directory only.  A new glance-api on the same state (same sqlite
# database and file store) then serves the rest: the next fetch resumes
# with a Range request (glance-api logs one 206 for fewer bytes than the
# image), verifies and publishes.
#
# To kill glance-api while bytes are surely in flight on any machine, the
# client is stopped (SIGSTOP) once 32 MiB have arrived, glance-api is
# killed, and the client continued (SIGCONT): it then reads what the kernel
# had buffered and meets the closed connection, as it would on a host whose
# glance-api dies.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/glance.sh"
private_ns "$@"
requires cmp sha1sum stat "$PYTHON"
requires_built COWHERD_CLI

mib=256
mktempdir tmp
glance_up "$tmp/glance"
hookhost_up "$tmp/host"

# configure: cowherd.conf for the current $GLANCE_URL; one retry (it meets
# a closed connection, then a refused one, and gives up).
configure() {
    write_cowherd_conf 60
    glance_configure
    printf '[fetch]\nretries = 1\nstall_timeout = 10\n' >>"$COWHERD_CONF"
}
configure

make_original_full "$tmp/image.raw" "$mib"
image=$(glance_upload "$tmp/image.raw" raw)
sha=$(image_sha1 "$image")
part=$COWHERD_TMP_DIR/$sha.download

# assert_clean: _base holds nothing but cowherd's private dir, which holds
# nothing but the partial download (if any).
assert_clean() {
    local got
    got=$(find "$NOVA_BASE" -mindepth 1 -maxdepth 1 ! -name .cowherd-tmp -printf '%f ')
    [ -z "$got" ] || die "_base holds [ $got] after a failed fetch"
    if [ -d "$COWHERD_TMP_DIR" ]; then
        got=$(find "$COWHERD_TMP_DIR" -mindepth 1 ! -name "$sha.download" -printf '%f ')
        [ -z "$got" ] || die "$COWHERD_TMP_DIR holds [ $got] besides the partial download"
    fi
}

# stop_cli: at exit, end the background fetch if it is still ours to end.
cli=
stop_cli() {
    [ -n "$cli" ] || return 0
    kill -TERM "$cli" 2>/dev/null || true
    kill -CONT "$cli" 2>/dev/null || true
    wait "$cli" 2>/dev/null || true
}

# size_of FILE: its size in bytes, 0 if it does not exist.
size_of() {
    stat -c %s "$1" 2>/dev/null || echo 0
}

# ---- 1. glance-api dies mid-transfer ---------------------------------------

"$COWHERD_CLI" --config "$COWHERD_CONF" fetch "$image" >"$tmp/out1" 2>"$tmp/err1" &
cli=$!
cleanup_fn stop_cli
for ((i = 0; i < 6000; i++)); do
    (($(size_of "$part") >= 32 << 20)) && break
    kill -0 "$cli" 2>/dev/null || break
    sleep 0.01
done
kill -STOP "$cli" 2>/dev/null || die "cowherd fetch ended before 32 MiB had arrived: $(cat "$tmp/err1")"
got=$(size_of "$part")
(( got >= 32 << 20 && got < mib << 20 )) || {
    kill -CONT "$cli"
    die "the partial download has $got bytes, want between 32 MiB and $mib MiB"
}
note "killing glance-api (pid $GLANCE_PID) with $got bytes received"
kill -KILL "$GLANCE_PID"
wait "$GLANCE_PID" 2>/dev/null || true
GLANCE_PID=                       # reaped: glance_down must not signal it
kill -CONT "$cli"
rc=0
wait "$cli" || rc=$?
cli=
note "cowherd fetch: exit $rc: $(cat "$tmp/err1")"
[ "$rc" = 1 ] || die "fetch with glance-api killed: exit $rc, want 1"
[ "$(wc -l <"$tmp/err1")" = 1 ] || { cat "$tmp/err1" >&2; die "want one stderr line"; }
grep -qF "/v2/images/$image/file" "$tmp/err1" || die "the error does not name the download URL"
grep -qiE 'connect|closed|reset|partial|remaining' "$tmp/err1" ||
    die "the error does not say the server went away: $(cat "$tmp/err1")"
grep -qF "(2 attempts" "$tmp/err1" || die "the error does not count the 2 attempts"
[ ! -s "$tmp/out1" ] || die "a failed fetch wrote to stdout: $(cat "$tmp/out1")"
assert_clean
kept=$(size_of "$part")
(( kept >= got && kept < mib << 20 )) ||
    die "the partial download has $kept bytes, want at least the $got seen before the kill"
cmp -n "$kept" "$tmp/image.raw" "$part" || die "the partial download is not a prefix of the image"
note "nothing published; $kept bytes kept in $part"

# ---- 2. a new glance-api on the same state; the next fetch resumes -------------

glance_up "$tmp/glance"          # same DIR: same sqlite, same file store
configure
[ "$(glance_image status "$image")" = active ] || die "image $image is not active after the restart"
before=$(grep -cF "\"GET /v2/images/$image/file HTTP/1." "$GLANCE_LOG" || true)
rc=0
"$COWHERD_CLI" --config "$COWHERD_CONF" fetch "$image" >"$tmp/out2" 2>"$tmp/err2" || rc=$?
[ "$rc" = 0 ] || { cat "$tmp/err2" >&2; show_log; die "fetch after the restart: exit $rc"; }
[ -f "$NOVA_BASE/$sha" ] || die "the fetch after the restart published nothing"
cmp "$tmp/image.raw" "$NOVA_BASE/$sha" || die "$NOVA_BASE/$sha differs from the upload"
[ -f "$NOVA_BASE/$sha.cowherd.json" ] || die "no manifest beside $NOVA_BASE/$sha"
assert_base_files "$sha" "$sha.cowherd.json"

# What the new glance-api served: one GET .../file, a 206 for less than the
# image (the access line's size counts the headers too).
after=$(glance_count_downloads "$image")
[ $((after - before)) = 1 ] ||
    die "the new glance-api served $((after - before)) downloads of $image, want 1"
line=$(grep -F "\"GET /v2/images/$image/file HTTP/1." "$GLANCE_LOG" | tail -n 1)
read -r status bytes < <(sed -E 's/.*"GET [^"]*" ([0-9]{3}) ([0-9]+) .*/\1 \2/' <<<"$line")
[ "$status" = 206 ] || die "the download after the restart was answered $status, not 206: $line"
(( bytes < (mib << 20) - kept + 4096 )) ||
    die "the resumed download moved $bytes bytes; $((mib * 1048576 - kept)) were missing"
[ "$(log_count "$sha: resuming a partial download at $kept bytes")" = 1 ] ||
    { show_log; die "cowherd did not log resuming at $kept bytes"; }
note "resumed at $kept bytes: glance-api answered 206 with $bytes bytes (image: $((mib << 20)))"
