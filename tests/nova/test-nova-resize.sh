#!/usr/bin/env bash
# Resize as Nova does it.  Nova 26's own Qcow2(path).cache() (fetch_func
# nova.virt.libvirt.utils.fetch_image, a real glance-api) makes instance
# disks; cowherd's hook, run by a private libvirtd for `virsh start`,
# rebuilds what is missing under them.
#
# (a) Nova's disk over _base/<sha1>, its base then removed as the image
#     cache manager does: the hook fetches it again; the domain runs and the
#     base is the image byte for byte (a raw and a qcow2 image, the latter
#     converted to raw by both).
# (b) A legacy disk over _base/<sha1>_1.  Nova's Qcow2.create_image copies
#     <sha1> to <sha1>_1 with cp, WITHOUT a lock, and extends it; the hook
#     rebuilds the same <sha1>_1 for a starting domain.  Each interleaving
#     is set up exactly: processes are held inside a system call by
#     gate.py (fanotify) or stopped by pid at a point the test observes,
#     and let go once the other side has logged or shown its state:
#       b0 Nova alone, then the hook;
#       b1 Nova's cp under way (<sha1>_1 empty) when the hook looks;
#       b2 the same after the hook fetched <sha1> itself, Nova waiting for
#          the lock on it meanwhile;
#       b3 the hook done before Nova, which found <sha1> missing, goes on;
#       b4 Nova's copy made while the hook builds its own;
#       b5 as b1 with force_raw_images off (qcow2 bases).
#     In every case the domain must end up running over a whole <sha1>_1
#     (1 GiB, the image's bytes then zeros), and must never have opened a
#     <sha1>_1 shorter than that: the hook waits for Nova's copy.
#
# Nova 26.2.2 as Debian ships it cannot make a legacy <sha1>_1 from a raw
# original at all (its disk.extend runs `qemu-img resize -f qcow2` on the
# raw copy, fails, and removes the copy): the test notes what Nova said.
# The cases of (b) are all run, each over its own image; the test fails at
# the end, listing every case whose outcome was wrong.
set -euo pipefail
source "$(dirname "$0")/../integration/functions.sh"
source "$(dirname "$0")/../integration/glance.sh"
source "$(dirname "$0")/nova.sh"
private_ns "$@"
requires qemu-img cmp stat mkfifo timeout virsh readlink
requires_built COWHERD_HOOK COWHERD_CLI
nova_requires

GIB=$((1 << 30))
mktempdir tmp
glance_up "$tmp/glance"

# Nova: one python process (importing Nova takes seconds; it starts now and
# touches /var/lib/nova only when asked) serving cache() requests from a
# FIFO, one at a time (resize_cache.py); its answers go to $tmp/nova.out.
mkfifo "$tmp/nova.in"
exec {NOVA_IN}<>"$tmp/nova.in"
nova_py "$NOVA_DIR/resize_cache.py" "$GLANCE_URL" <"$tmp/nova.in" >"$tmp/nova.out" 2>&1 &
cleanup_fn kill_if_alive "$!"

lvhost_up "$tmp/host"
glance_configure
hook_exe=$(readlink -f "$COWHERD_HOOK")

# ---- helpers -----------------------------------------------------------------

# end_pid PID: continue a process we may have stopped, then end it.
end_pid() {
    kill -CONT "$1" 2>/dev/null || true
    kill_if_alive "$1"
}

failed=()
# bad CASE MESSAGE...: the case's outcome is wrong; the test goes on with
# the next case and fails at the end.
bad() {
    failed+=("$1: ${*:2}")
    echo "FAIL: $1: ${*:2}" >&2
}

NOVA_PID=
nova_up() {
    grep -q '^ready ' "$tmp/nova.out" || return 1
    NOVA_PID=$(sed -n 's/^ready //p' "$tmp/nova.out")
}

# nova_cache DISK SHA1 IMAGE FORCE_RAW: ask Nova for Qcow2(DISK).cache() of
# a 1 GiB root disk over _base/SHA1 (the image IMAGE); returns at once.
nova_cache() {
    printf '%s %s %s %s %s\n' "$1" "$2" "$3" "$GIB" "$4" >&"$NOVA_IN"
}

# nova_answer DISK: wait for Nova's answer about DISK; sets NOVA_ANSWER.
_nova_answered() {
    NOVA_ANSWER=$(grep -E "^(done|error) $1(:|\$)" "$tmp/nova.out" | tail -n 1) || true
    [ -n "$NOVA_ANSWER" ]
}
nova_answer() {
    poll_until 90 "Nova's answer for $1" _nova_answered "$1"
}

# nova_waits_for LOCKFILE: Nova's python has LOCKFILE open.  While the test
# holds that lock, this means Nova is in oslo.concurrency's acquire loop
# (fasteners opens the file, then tries the lock until it gets it).
nova_waits_for() {
    local f
    for f in /proc/"$NOVA_PID"/fd/*; do
        [ "$(readlink "$f" 2>/dev/null)" != "$1" ] || return 0
    done
    return 1
}

# nova_stopped_waiting SHA1 CMD...: hold Nova's lock on SHA1, run CMD (a
# nova_cache request), wait until Nova is seen waiting for that lock, stop
# Nova by pid and release the lock.  Nova has then found _base/SHA1 missing
# and takes the lock first thing when continued.
nova_stopped_waiting() {
    local lock=$NOVA_LOCKS/nova-$1
    shift
    hold_lock "$lock" "$tmp/lock.out"
    "$@"
    poll_until 60 "Nova waiting for $lock" nova_waits_for "$lock"
    kill -STOP "$NOVA_PID"
    release_lock
}

# gate_up OUT DIR NAME EVENT WHO [IF_EXISTS]: gate.py holding the first
# matching open or read of DIR/NAME; sets GATE_PID once it is armed.
gate_up() {
    local out=$1
    shift
    "$PYTHON" "$NOVA_DIR/gate.py" "$@" >"$out" 2>&1 &
    GATE_PID=$!
    cleanup_fn kill_if_alive "$GATE_PID"
    poll_until 30 "gate $*" _gate_says "$out" ready "$GATE_PID"
}
_gate_says() {
    ! grep -q "^$2" "$1" || return 0
    kill -0 "$3" 2>/dev/null || { cat "$1" >&2; die "gate.py ($1) ended"; }
    return 1
}

# gate_held OUT PID: wait until that gate holds a call.
gate_held() {
    poll_until 60 "a call held by gate $1" _gate_says "$1" held "$2"
}

# gate_release OUT PID: let the held call go on; the gate ends.
gate_release() {
    kill -USR1 "$2"
    wait "$2" || die "gate $1 failed: $(cat "$1")"
    [ "$(tail -n 1 "$1")" = released ] || die "gate $1: $(cat "$1")"
}

# start_bg DOM: `virsh start DOM` in the background; sets START_BG.
start_bg() {
    bg_run "$tmp/$1.start" timeout 120 virsh -q start "$1"
    START_BG=$BG_PID
}

# started DOM: virsh start DOM has ended.
started() {
    [ -n "$(bg_status "$tmp/$1.start")" ]
}

# opened DOM PATH: "INODE SIZE" of PATH as the domain's qemu has it open
# now, "deleted" after them if it was removed since; empty if it has not.
opened() {
    local pid f l
    pid=$(cat "/run/libvirt/qemu/$1.pid" 2>/dev/null) || return 0
    for f in /proc/"$pid"/fd/*; do
        l=$(readlink "$f" 2>/dev/null) || continue
        case $l in
        "$2") stat -L -c '%i %s' "$f" ;;
        "$2 (deleted)") echo "$(stat -L -c '%i %s' "$f") deleted" ;;
        esac
    done
}

# hook_says DOM: what the hook logged for DOM, one line.
hook_says() {
    grep -F "domain $1:" "$COWHERD_LOG" | sed 's/^.*domain [^:]*: //' | tr '\n' ';' || true
}

disk_info() {   # disk_info DISK: format, virtual size, backing file and its format
    qemu-img info -U --output=json "$1" | "$PYTHON" -c 'import json, sys
i = json.load(sys.stdin)
print(i["format"], i["virtual-size"], i.get("full-backing-filename"), i.get("backing-filename-format"))'
}

poll_until 120 "Nova imported" nova_up
cleanup_fn end_pid "$NOVA_PID"

# ---- (a) Nova's disk over <sha1>; the base removed; the hook fetches it ---------

make_original "$tmp/a.raw" 48
qemu-img convert -f raw -O qcow2 "$tmp/a.raw" "$tmp/a.qcow2"
for fmt in raw qcow2; do
    image=$(glance_upload "$tmp/a.$fmt" "$fmt")
    sha=$(image_sha1 "$image")
    orig=$NOVA_BASE/$sha
    uuid=$(new_uuid)
    disk=$NOVA_INSTANCES/$uuid/disk
    nova_cache "$disk" "$sha" "$image" 1
    nova_answer "$disk"
    [ "$NOVA_ANSWER" = "done $disk" ] || die "a/$fmt: Nova's cache(): $NOVA_ANSWER"
    [ "$(disk_info "$disk")" = "qcow2 $GIB $orig raw" ] ||
        die "a/$fmt: Nova's disk is $(disk_info "$disk")"
    cmp "$tmp/a.raw" "$orig" || die "a/$fmt: Nova's $orig is not the image"
    cp --sparse=always "$orig" "$tmp/a.$fmt.nova-base"
    # The image cache manager's removal: the base, then its lock file.
    rm "$orig" "$NOVA_LOCKS/nova-$sha"
    domain_xml "vm-a-$fmt" "$uuid" "$image" 0 0 64 "$disk" >"$tmp/vm-a-$fmt.xml"
    virsh -q define "$tmp/vm-a-$fmt.xml" >/dev/null
    virsh -q start "vm-a-$fmt" >"$tmp/vm-a-$fmt.start" 2>&1 ||
        { cat "$tmp/vm-a-$fmt.start" >&2; show_log; die "a/$fmt: virsh start failed"; }
    assert_running "vm-a-$fmt"
    cmp "$tmp/a.raw" "$orig" || die "a/$fmt: the base cowherd fetched is not the image"
    cmp "$tmp/a.$fmt.nova-base" "$orig" || die "a/$fmt: the base differs from the one Nova made"
    [ -f "$orig.cowherd.json" ] || die "a/$fmt: no manifest beside $orig"
    assert_logged "vm-a-$fmt" vda fetch "$orig"
    [ "$(opened "vm-a-$fmt" "$orig")" = "$(stat -c '%i %s' "$orig")" ] ||
        die "a/$fmt: the domain does not have $orig open"
    note "a/$fmt: Nova made $disk over _base/$sha from a $fmt image (fetch_image, raw base);" \
        "base removed; virsh start: the hook fetched it again, the domain runs, the base is the" \
        "image and Nova's own base byte for byte"
done

# ---- (b) a legacy disk over <sha1>_1: Nova's copy and the hook's -------------------

make_original "$tmp/b.raw" 32
qemu-img convert -f raw -O qcow2 "$tmp/b.raw" "$tmp/b.qcow2"
B_BYTES=$((32 << 20))

# legacy_case CASE [qcow2]: a new image in Glance (raw, or qcow2 for a
# host with force_raw_images off), nothing of it in _base, and a domain
# vm-CASE defined over a legacy disk: a qcow2 over _base/<sha1>_1, as Nova
# made them before Folsom.  Sets c bfmt image sha orig resized disk dom.
legacy_case() {
    local uuid
    c=$1
    bfmt=${2:-raw}
    image=$(glance_upload "$tmp/b.$bfmt" "$bfmt")
    sha=$(image_sha1 "$image")
    orig=$NOVA_BASE/$sha
    resized=${orig}_1
    uuid=$(new_uuid)
    dom=vm-$c
    disk=$NOVA_INSTANCES/$uuid/disk
    if [ "$bfmt" = raw ]; then
        make_instance "$dom" "$uuid" "$image" 64 root >"$tmp/$dom.xml"
    else
        mkdir -p "${disk%/disk}"
        qemu-img create -q -f qcow2 -F qcow2 -b "$resized" -u "$disk" 1G
        domain_xml "$dom" "$uuid" "$image" 0 0 64 "$disk" >"$tmp/$dom.xml"
    fi
    virsh -q define "$tmp/$dom.xml" >/dev/null
}

# nova_legacy_answer: Nova's answer for the case's disk, as a note
# (NOVA_SAID): "done", or one of the two ways Nova 26.2.2's legacy branch
# fails and removes its copy of <sha1>_1: disk.extend runs `qemu-img
# resize -f qcow2` on the raw copy ("not in qcow2 format"), or, when a
# domain already has the copy open, cannot get qemu's write lock on it.
# Anything else fails the test.
nova_legacy_answer() {
    local gone=", and removed it"
    nova_answer "$disk"
    [ ! -e "$resized" ] || gone=", but ${sha}_1 is there"
    case $NOVA_ANSWER in
    "done $disk") NOVA_SAID="Nova's cache() succeeded" ;;
    "error $disk: ProcessExecutionError: "*"Image is not in qcow2 format"*)
        NOVA_SAID="Nova's cache() failed: qemu-img resize -f qcow2 of its raw copy ${sha}_1: not in qcow2 format$gone" ;;
    "error $disk: ProcessExecutionError: "*'Failed to get "write" lock'*)
        NOVA_SAID="Nova's cache() failed: qemu-img resize of its copy ${sha}_1: no write lock, a domain has it open$gone" ;;
    *) die "$c: Nova's cache(): $NOVA_ANSWER" ;;
    esac
}

# vsize FILE FMT: the virtual size qemu-img reads in FILE.
vsize() {
    qemu-img info -U -f "$2" --output=json "$1" |
        "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["virtual-size"])'
}

# check_legacy: the domain started and runs over a whole <sha1>_1 (1 GiB,
# the image then zeros), the one in _base now, which it had open, as it is
# now, when virsh start returned; nothing left in the hook's build
# directory.  Records what is wrong with bad.
check_legacy() {
    local rc now held
    wait "$START_BG" || true
    rc=$(bg_status "$tmp/$dom.start")
    [ "$rc" = 0 ] || { bad "$c" "virsh start failed: $(tr '\n' ' ' <"$tmp/$dom.start")"; return 0; }
    assert_running "$dom"
    [ -f "$resized" ] || { bad "$c" "$dom runs, but there is no ${sha}_1"; return 0; }
    now=$(stat -c '%i %s' "$resized")
    [ "$(vsize "$resized" "$bfmt")" = "$GIB" ] ||
        { bad "$c" "${sha}_1 reads as $(vsize "$resized" "$bfmt") bytes, not $GIB"; return 0; }
    [ "$OPENED" = "$now" ] ||
        { bad "$c" "when virsh start returned, $dom had ${sha}_1 open as [inode size] [$OPENED]; ${sha}_1 is [$now] now"; return 0; }
    held=$(opened "$dom" "$resized")
    [ "$held" = "$now" ] || { bad "$c" "$dom has ${sha}_1 open as [$held], _base has [$now]"; return 0; }
    if [ "$bfmt" = raw ]; then
        cmp -n "$B_BYTES" "$tmp/b.raw" "$resized" || { bad "$c" "${sha}_1 does not begin with the image"; return 0; }
    fi
    qemu-img compare -q -f raw -F "$bfmt" "$tmp/b.raw" "$resized" ||
        { bad "$c" "${sha}_1 is not the image then zeros"; return 0; }
    qemu-img compare -q -f raw -F "$bfmt" "$tmp/b.raw" "$orig" || { bad "$c" "$sha is not the image"; return 0; }
    [ ! -e "$COWHERD_TMP_DIR/${sha}_1" ] || { bad "$c" "the hook left .cowherd-tmp/${sha}_1"; return 0; }
    return 0
}

# start_and_wait: virsh start the case's domain; wait for it; remember what
# the domain had open at that moment.
start_and_wait() {
    start_bg "$dom"
    wait "$START_BG" || true
    OPENED=$(opened "$dom" "$resized")
}

# waits_for_nova: the hook has been let go while Nova's copy of <sha1>_1
# is held.  Wait until the hook logs that it waits for that copy, or virsh
# start ends.  The latter is wrong (the hook went on over Nova's unfinished
# copy): recorded, with what the domain opened, and EARLY set to virsh
# start's exit status.
_waiting_or_started() {
    started "$dom" || [ "$(log_count "$resized .*waiting")" != 0 ]
}
waits_for_nova() {
    local size o
    size=$(stat -c %s "$resized" 2>/dev/null || echo none)
    EARLY=
    poll_until 60 "$c: the hook waiting or virsh start ending" _waiting_or_started
    started "$dom" || return 0
    EARLY=$(bg_status "$tmp/$dom.start")
    o=$(opened "$dom" "$resized")
    if [ -n "$o" ]; then
        bad "$c" "the hook did not wait for Nova's copy: virsh start returned with Nova held" \
            "and ${sha}_1 at $size bytes; $dom opened it as [inode size] [$o], a torn base"
    else
        bad "$c" "the hook did not wait for Nova's copy: virsh start ended (exit $EARLY) with" \
            "Nova held and ${sha}_1 at $size bytes: $(tr '\n' ' ' <"$tmp/$dom.start")"
    fi
}

# finish: Nova's answer, then (unless the hook already went wrong) virsh
# start's outcome and what the domain runs over.
finish() {
    nova_legacy_answer
    [ -z "$EARLY" ] || return 0
    wait "$START_BG" || true
    OPENED=$(opened "$dom" "$resized")
    check_legacy
}

# what_hook_did: for the notes.
what_hook_did() {
    if [ -n "$EARLY" ]; then
        echo "the hook did not wait: virsh start ended (exit $EARLY) while Nova was held"
    else
        echo "the hook waited; virsh start: exit $(bg_status "$tmp/$dom.start")"
    fi
}

# b0. Nova alone, then the hook.
legacy_case b0-nova-alone
nova_cache "$disk" "$sha" "$image" 1
nova_legacy_answer
[ ! -e "$resized" ] || [ "$NOVA_ANSWER" = "done $disk" ] || die "$c: Nova failed but left ${sha}_1"
start_and_wait
check_legacy
note "$c: $NOVA_SAID; then virsh start: $(hook_says "$dom")"

# b1. Nova copying: its cp has made <sha1>_1 and is held at its first read
# of <sha1>.  The hook (the original present) must wait for Nova's copy;
# once Nova is done with it (made it, or failed and removed it) the domain
# must run over a whole <sha1>_1.
legacy_case b1-nova-copying
gate_up "$tmp/$c.gate" "$NOVA_BASE" "$sha" read comm=cp
g=$GATE_PID
nova_cache "$disk" "$sha" "$image" 1
gate_held "$tmp/$c.gate" "$g"
size=$(stat -c %s "$resized")
start_bg "$dom"
waits_for_nova
gate_release "$tmp/$c.gate" "$g"
finish
note "$c: Nova's cp held with ${sha}_1 at $size bytes; $(what_hook_did);" \
    "cp let go: $NOVA_SAID; hook: $(hook_says "$dom")"

# b2. The hook fetched the original itself (Nova, having found it missing,
# waits for its lock); the hook is held before it looks at <sha1>_1 (at
# its open of Nova's lock file for it); Nova goes on and its cp is held
# with <sha1>_1 empty; then the hook looks.  It must wait, not hand libvirt
# Nova's unfinished copy.
legacy_case b2-fetched-then-copying
nova_stopped_waiting "$sha" nova_cache "$disk" "$sha" "$image" 1
gate_up "$tmp/$c.gate1" "$NOVA_LOCKS" "nova-${sha}_1" open "exe=$hook_exe"
g1=$GATE_PID
start_bg "$dom"
gate_held "$tmp/$c.gate1" "$g1"
[ -f "$orig" ] || die "$c: the hook is at ${sha}_1 but $sha is not fetched"
gate_up "$tmp/$c.gate2" "$NOVA_BASE" "$sha" read comm=cp
g2=$GATE_PID
kill -CONT "$NOVA_PID"
gate_held "$tmp/$c.gate2" "$g2"
size=$(stat -c %s "$resized")
gate_release "$tmp/$c.gate1" "$g1"
waits_for_nova
gate_release "$tmp/$c.gate2" "$g2"
finish
note "$c: the hook fetched $sha; Nova then began its copy; the hook looked at ${sha}_1 at" \
    "$size bytes: $(what_hook_did); $NOVA_SAID; hook: $(hook_says "$dom")"

# b3. The hook first: Nova found <sha1> missing and waits for its lock; the
# hook fetches it and builds <sha1>_1; the domain runs; then Nova goes on,
# finds both and must leave <sha1>_1 alone.
legacy_case b3-hook-first
nova_stopped_waiting "$sha" nova_cache "$disk" "$sha" "$image" 1
start_and_wait
before=$(stat -c '%i %s %.9Y %.9Z' "$resized" 2>/dev/null || true)
kill -CONT "$NOVA_PID"
nova_legacy_answer
check_legacy
[ "$(stat -c '%i %s %.9Y %.9Z' "$resized" 2>/dev/null || true)" = "$before" ] ||
    bad "$c" "Nova changed ${sha}_1 after the hook made it"
note "$c: the hook fetched $sha and built ${sha}_1, the domain runs; Nova went on: $NOVA_SAID;" \
    "${sha}_1 untouched; hook: $(hook_says "$dom")"

# b4. The hook building: held inside its build of <sha1>_1 (its temp file
# made, opening <sha1> to copy it) while Nova copies <sha1> to <sha1>_1;
# Nova is held before it extends the copy (its first qemu-img on it).  The
# hook then finishes its build and finds Nova's <sha1>_1 in place: it must
# wait for Nova as when it finds the copy before building, not fail.
legacy_case b4-hook-building
nova_stopped_waiting "$sha" nova_cache "$disk" "$sha" "$image" 1
gate_up "$tmp/$c.gate1" "$NOVA_BASE" "$sha" open "exe=$hook_exe" "$COWHERD_TMP_DIR/${sha}_1"
g1=$GATE_PID
start_bg "$dom"
gate_held "$tmp/$c.gate1" "$g1"
gate_up "$tmp/$c.gate2" "$NOVA_BASE" "${sha}_1" open comm=qemu-img
g2=$GATE_PID
kill -CONT "$NOVA_PID"
gate_held "$tmp/$c.gate2" "$g2"
size=$(stat -c %s "$resized")
gate_release "$tmp/$c.gate1" "$g1"
waits_for_nova
gate_release "$tmp/$c.gate2" "$g2"
finish
note "$c: the hook held mid-build; Nova's cp made ${sha}_1 ($size bytes) meanwhile, Nova held;" \
    "the hook let go: $(what_hook_did); $NOVA_SAID; hook: $(hook_says "$dom")"

# b5. As b1 on a host with force_raw_images off: a qcow2 image, so the
# original and Nova's <sha1>_1 are qcow2, and Nova's legacy branch works
# (it extends its copy with qemu-img resize -f qcow2).  Nova's cp is held
# with <sha1>_1 empty; the hook must wait until Nova's copy reads as 1 GiB.
legacy_case b5-qcow2-nova-copying qcow2
gate_up "$tmp/$c.gate" "$NOVA_BASE" "$sha" read comm=cp
g=$GATE_PID
nova_cache "$disk" "$sha" "$image" 0
gate_held "$tmp/$c.gate" "$g"
size=$(stat -c %s "$resized")
start_bg "$dom"
waits_for_nova
gate_release "$tmp/$c.gate" "$g"
finish
note "$c: Nova's cp held with the qcow2 ${sha}_1 at $size bytes; $(what_hook_did);" \
    "cp let go: $NOVA_SAID; hook: $(hook_says "$dom")"

if [ "${#failed[@]}" != 0 ]; then
    show_log
    printf 'FAIL: %s\n' "${failed[@]}" >&2
    die "${#failed[@]} case(s) of (b) ended wrong"
fi
note "all cases as expected"
