#!/usr/bin/env bash
# Locks interlock both ways.  Nova 26's own Qcow2(path).cache() of a root
# disk (fetch_func nova.virt.libvirt.utils.fetch_image, as the driver's
# spawn calls it) and cowherd's hook, rebuilding the same missing
# _base/<sha1> from Glance for a domain `virsh start` starts on a real
# libvirtd, need one base at once.  A: Nova holds locks/nova-<sha1> first,
# the hook's fetch waits for it; B: cowherd's fetch holds it first, Nova
# waits.  Each way Glance serves the image once, both finish, the base is
# the image byte for byte, Nova's disk is made over it and the domain runs.
#
# No timing is left to luck: whoever must go first is held where it holds
# the lock (glance-api stopped while it asks for the image, then the
# process itself stopped by pid once /proc/locks shows its lock), and the
# other is let go only once it is seen waiting for that lock: the hook's
# log line, or Nova's python with the lock file open after oslo.concurrency
# logged "Acquiring lock".
set -euo pipefail
source "$(dirname "$0")/../integration/functions.sh"
source "$(dirname "$0")/../integration/glance.sh"
source "$(dirname "$0")/nova.sh"
private_ns "$@"
requires qemu-img cmp stat awk fuser pgrep timeout virsh
requires_built COWHERD_HOOK COWHERD_CLI
nova_requires

ROOT_BYTES=$((1 << 30))         # the flavor's root disk (domain_xml: m1.tiny, 1 GB)

mktempdir tmp
glance_up "$tmp/glance"
lvhost_up "$tmp/host"
glance_configure
cli_exe=$(readlink -f "$COWHERD_CLI")

# ---- what the test observes ---------------------------------------------------

# lock_id FILE: FILE as /proc/locks names it, MAJOR:MINOR:INODE (device
# numbers in hex).
lock_id() {
    local maj min ino
    read -r maj min ino <<<"$(stat -c '%Hd %Ld %i' "$1")"
    printf '%02x:%02x:%s\n' "$maj" "$min" "$ino"
}

# write_locks FILE: one line "POSIX PID" (fcntl.lockf, oslo.concurrency's)
# or "OFDLCK -1" (cowherd's open-file-description lock) per write lock
# granted on FILE; waiters ("->" lines) are left out.
write_locks() {
    local id
    [ -e "$1" ] || return 0
    id=$(lock_id "$1")
    awk -v id="$id" '$2 != "->" && $4 == "WRITE" && $6 == id { print $2, $5 }' /proc/locks
}

# openers FILE: the pids that have FILE open, one a line.
openers() {
    local out
    out=$(fuser "$1" 2>/dev/null) || true
    tr -s ' ' '\n' <<<"$out" | grep -v '^$' || true
}

# started PID: when PID started (in clock ticks since boot), to tell it
# from a later process that gets its number.
started() {
    awk '{ print $22 }' "/proc/$1/stat" 2>/dev/null || true
}

# end_pid PID STARTED: let a process we stopped run again, then end it, if
# it is still that process.
end_pid() {
    [ "$(started "$1")" = "$2" ] || return 0
    kill -CONT "$1" 2>/dev/null || true
    kill_if_alive "$1"
    _wait_pid_gone "$1" 10 || kill -KILL "$1" 2>/dev/null || true
}

# resume PID: let a process we may have stopped run again.
resume() {
    kill -CONT "$1" 2>/dev/null || true
}

# ---- Nova's side -------------------------------------------------------------

# nova_ready CASE IMAGE DISK: Nova's cache() of DISK over IMAGE in the
# background (output in $tmp/CASE.nova), imported and configured, waiting
# for $tmp/CASE.go; sets NOVA_PID (its python) and NOVA_BG (bg_run's shell).
nova_ready() {
    local c=$1 i
    bg_run "$tmp/$c.nova" nova_py "$NOVA_DIR/qcow2_cache.py" "$GLANCE_URL" "$2" "$3" \
        "$ROOT_BYTES" "$tmp/$c.ready" "$tmp/$c.go"
    NOVA_BG=$BG_PID
    # nova_py's env execs python: bg_run's shell has that one child.
    NOVA_PID=
    for ((i = 0; i < 200; i++)); do
        NOVA_PID=$(pgrep -P "$NOVA_BG" || true)
        [ -z "$NOVA_PID" ] || break
        sleep 0.05
    done
    [ -n "$NOVA_PID" ] || die "Nova ($c) did not start"
    cleanup_fn end_pid "$NOVA_PID" "$(started "$NOVA_PID")"
    poll_until 120 "Nova ($c) ready" nova_is_ready "$c"
    [ "$(<"$tmp/$c.ready")" = "$NOVA_PID" ] ||
        die "Nova ($c) is pid $(<"$tmp/$c.ready"), not $NOVA_PID"
}

nova_is_ready() {
    [ ! -s "$tmp/$1.ready" ] || return 0
    [ -z "$(bg_status "$tmp/$1.nova")" ] || { cat "$tmp/$1.nova" >&2; die "Nova ($1) exited early"; }
    return 1
}

# nova_done CASE: wait for Nova's cache() to return; it must succeed.
nova_done() {
    wait "$NOVA_BG" || true
    [ "$(bg_status "$tmp/$1.nova")" = 0 ] || {
        tail -n 40 "$tmp/$1.nova" >&2
        die "Nova's cache() ($1) failed"
    }
}

# nova_holds LOCKFILE: Nova's python holds the lock (its fcntl.lockf).
nova_holds() {
    [ -z "$(bg_status "$tmp/$case.nova")" ] || { cat "$tmp/$case.nova" >&2; die "Nova ($case) exited"; }
    grep -qx "POSIX $NOVA_PID" <<<"$(write_locks "$1")"
}

# nova_waits LOCKFILE SHA: Nova asked oslo.concurrency for the lock on SHA
# and has its lock file open, but holds no lock on it: fasteners opens the
# file right before it tries the lock, and retries while it is taken.
nova_waits() {
    [ -z "$(bg_status "$tmp/$case.nova")" ] || { cat "$tmp/$case.nova" >&2; die "Nova ($case) exited"; }
    grep -qF "Acquiring lock \"$2\" by" "$tmp/$case.nova" &&
        grep -qx "$NOVA_PID" <<<"$(openers "$1")" &&
        ! grep -qx "POSIX $NOVA_PID" <<<"$(write_locks "$1")"
}

# fetch_holds LOCKFILE: cowherd's fetch (the hook's child) holds the lock;
# sets FETCH_PID.  Its OFD lock carries no pid in /proc/locks: the holder
# is the one process with the file open, and it must be the build's CLI.
fetch_holds() {
    local pids
    FETCH_PID=
    grep -qx "OFDLCK -1" <<<"$(write_locks "$1")" || return 1
    pids=$(openers "$1")
    [ "$(wc -l <<<"$pids")" = 1 ] && [ -n "$pids" ] || return 1
    [ "$(readlink "/proc/$pids/exe")" = "$cli_exe" ] || return 1
    FETCH_PID=$pids
}

# ---- the two cases -----------------------------------------------------------

make_original "$tmp/image.raw" 96

# setup_case CASE: an image in Glance, a domain over its missing base (the
# top made unsafe, as Nova left it) defined, Nova ready to cache() another
# instance's root disk over the same base.  Sets image sha orig lock disk.
setup_case() {
    local uuid
    case=$1
    image=$(glance_upload "$tmp/image.raw" raw)
    sha=$(image_sha1 "$image")
    orig=$NOVA_BASE/$sha
    lock=$NOVA_LOCKS/nova-$sha
    uuid=$(new_uuid)
    mkdir -p "$NOVA_INSTANCES/$uuid"
    make_overlay "$NOVA_INSTANCES/$uuid/disk" "$orig" 1G
    domain_xml "vm$case" "$uuid" "$image" 0 0 64 "$NOVA_INSTANCES/$uuid/disk" >"$tmp/vm$case.xml"
    virsh -q define "$tmp/vm$case.xml" >/dev/null
    disk=$NOVA_INSTANCES/$(new_uuid)/disk
    nova_ready "$case" "$image" "$disk"
    [ ! -e "$orig" ] && [ ! -e "$lock" ] || die "$case: the base or its lock exists already"
}

# check_case CASE: both finished and what is on disk is right.
check_case() {
    local n info
    wait "$START_BG" || true
    [ "$(bg_status "$tmp/$1.start")" = 0 ] || {
        cat "$tmp/$1.start" >&2
        show_log
        die "$1: virsh start vm$1 failed"
    }
    nova_done "$1"
    assert_running "vm$1"
    n=$(glance_count_downloads "$image")
    [ "$n" = 1 ] || die "$1: Glance served $image $n times, want once"
    cmp "$tmp/image.raw" "$orig" || die "$1: $orig differs from the image"
    [ ! -e "$orig.part" ] || die "$1: Nova's $orig.part is left"
    info=$(qemu-img info -U --output=json "$disk" | "$PYTHON" -c 'import json, sys
i = json.load(sys.stdin)
print(i["format"], i["virtual-size"], i.get("full-backing-filename"), i.get("backing-filename-format"))')
    [ "$info" = "qcow2 $ROOT_BYTES $orig raw" ] || die "$1: Nova's disk $disk: $info"
    qemu-img compare -U -q "$tmp/image.raw" "$disk" || die "$1: Nova's disk does not read as the image"
}

# A: Nova first.  glance-api is stopped, so Nova, once it has the lock,
# cannot get the image and holds the lock: it is stopped holding it (seen
# in /proc/locks), then glance-api goes on.
setup_case A
cleanup_fn resume "$GLANCE_PID"
kill -STOP "$GLANCE_PID"
touch "$tmp/A.go"
poll_until 60 "A: Nova holding $lock" nova_holds "$lock"
kill -STOP "$NOVA_PID"
nova_holds "$lock" || die "A: Nova let go of $lock"
kill -CONT "$GLANCE_PID"
bg_run "$tmp/A.start" timeout 120 virsh -q start vmA
START_BG=$BG_PID
wait_logged "waiting for lock $lock\$" 60
[ -z "$(bg_status "$tmp/A.start")" ] || die "A: virsh start ended while Nova held the lock: $(cat "$tmp/A.start")"
[ ! -e "$orig" ] || die "A: $orig appeared while Nova was stopped"
nova_holds "$lock" || die "A: Nova let go of $lock while stopped"
[ -z "$(ls -A "$COWHERD_TMP_DIR" 2>/dev/null)" ] || die "A: cowherd builds while Nova holds the lock"
kill -CONT "$NOVA_PID"
check_case A
[ "$(log_count "fetch $orig: image .* bytes: done in")" = 0 ] ||
    die "A: cowherd's fetch downloaded $orig too"
[ ! -e "$orig.cowherd.json" ] || die "A: cowherd wrote a manifest for a base it did not fetch"
grep -qF "$orig.part" "$tmp/A.nova" || die "A: Nova's own download is not in its log"
waited=$(grep -m 1 -o "Lock \"$sha\" acquired by \"[^\"]*fetch_func_sync\" :: waited [0-9.]*s" "$tmp/A.nova")
[ -n "$waited" ] || die "A: Nova did not log taking the lock"
note "A (Nova first): Nova (pid $NOVA_PID) took nova-$sha (${waited##*:: }) and was stopped holding it;" \
    "the hook's fetch logged 'waiting for lock' and built nothing; Nova went on: 1 download, by Nova;" \
    "cowherd's fetch found the base made; vmA runs; the base is the image; Nova's disk is a qcow2 over it"
shaA=$sha

# B: cowherd first.  glance-api is stopped, so the hook's fetch, once it has
# the lock, waits for its first answer and holds the lock: it is stopped
# holding it, then glance-api goes on.
setup_case B
kill -STOP "$GLANCE_PID"
bg_run "$tmp/B.start" timeout 120 virsh -q start vmB
START_BG=$BG_PID
poll_until 60 "B: cowherd's fetch holding $lock" fetch_holds "$lock"
cleanup_fn end_pid "$FETCH_PID" "$(started "$FETCH_PID")"
kill -STOP "$FETCH_PID"
fetch_holds "$lock" || die "B: cowherd's fetch let go of $lock"
[ "$FETCH_PID" != "$NOVA_PID" ] || die "B: confused Nova with the fetch"
kill -CONT "$GLANCE_PID"
touch "$tmp/B.go"
poll_until 60 "B: Nova waiting for $lock" nova_waits "$lock" "$sha"
[ ! -e "$orig" ] && [ ! -e "$orig.part" ] || die "B: Nova fetches while cowherd holds the lock"
[ -z "$(bg_status "$tmp/B.start")" ] || die "B: virsh start ended while its fetch was stopped"
kill -CONT "$FETCH_PID"
check_case B
[ "$(log_count "fetch $orig: image $image from .* bytes: done in")" = 1 ] ||
    { show_log; die "B: cowherd's fetch did not download $orig"; }
[ -f "$orig.cowherd.json" ] || die "B: no manifest beside $orig"
# Nova inspects what it downloads (qemu-img info on <sha1>.part): not here.
! grep -qF "$orig.part" "$tmp/B.nova" || die "B: Nova downloaded $orig.part too"
waited=$(grep -m 1 -o "Lock \"$sha\" acquired by \"[^\"]*fetch_func_sync\" :: waited [0-9.]*s" "$tmp/B.nova")
[ -n "$waited" ] || die "B: Nova did not log taking the lock"
note "B (cowherd first): the hook's fetch (pid $FETCH_PID) took nova-$sha and was stopped holding" \
    "it; Nova logged 'Acquiring lock' and had the lock file open, holding nothing; the fetch" \
    "went on: 1 download, by cowherd; Nova found the base (${waited##*:: }), made no .part; vmB runs;" \
    "the base is the image; Nova's disk is a qcow2 over it"

assert_base_files "$shaA" "$sha" "$sha.cowherd.json"
