#!/usr/bin/env bash
# The hook's contract per libvirt op, run directly (no libvirtd) and under
# valgrind: prepare rebuilds, started marks, migrate makes what an incoming
# migration needs and records it, stopped takes it away, stopped/release/
# unknown without a record return at once, stdout always stays empty, and
# a broken chain is one stderr line.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
private_ns "$@"
requires qemu-img valgrind mkfs.vfat mkswap setpriv
requires_built COWHERD_HOOK

mktempdir tmp
hookhost_up "$tmp/host" 10

IMAGE=$(new_uuid)
SHA=$(image_sha1 "$IMAGE")
make_original "$NOVA_BASE/$SHA" 32
UUID=$(new_uuid)
make_instance vm-ops "$UUID" "$IMAGE" 64 root eph swap >"$tmp/dom.xml"
# Nova's files belong to the nova user (here: nobody); what the hook,
# running as root, creates among them must stay nova's to lock and remove.
chown -R nobody:nogroup /var/lib/nova/instances

# Under valgrind, except in the ASan build, whose sanitizers do that job.
VG=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect)
[ "${COWHERD_SANITIZED:-0}" = 0 ] || VG=()

# hook OP SUBOP: run the hook under valgrind; $rc, $tmp/out, $tmp/err.
hook() {
    rc=0
    "${VG[@]}" "$COWHERD_HOOK" vm-ops "$1" "$2" - <"$tmp/dom.xml" >"$tmp/out" 2>"$tmp/err" || rc=$?
    [ "$rc" != 99 ] || { cat "$tmp/err"; die "$1: valgrind found errors"; }
    [ ! -s "$tmp/out" ] || die "$1: hook wrote to stdout"
}

# Ops that must do nothing at all: no file appears.
for op in "stopped end" "release end -" "start begin" "bogus op"; do
    # shellcheck disable=SC2086
    hook $op
    [ "$rc" = 0 ] || die "$op: exit $rc"
    [ ! -s "$tmp/err" ] || die "$op: wrote to stderr"
    [ ! -e "$NOVA_BASE/${SHA}_1" ] || die "$op created a base"
done

# started on an incomplete chain: marks what exists, never fails.
touch -d '2 days ago' "$NOVA_BASE/$SHA"
hook started begin
[ "$rc" = 0 ] || die "started: exit $rc"
[ ! -e "$NOVA_BASE/${SHA}_1" ] || die "started created a base"

# prepare rebuilds all three, then marks.
hook prepare begin
[ "$rc" = 0 ] || { cat "$tmp/err"; die "prepare: exit $rc"; }
assert_base_files "$SHA" "${SHA}_1" ephemeral_1_0706d66 swap_64
[ "$(fs_type "$NOVA_BASE/ephemeral_1_0706d66")" = vfat ] || die "ephemeral not vfat"
[ "$(fs_type "$NOVA_BASE/swap_64")" = swap ] || die "swap base not swap"
assert_logged vm-ops vda copy-extend "$NOVA_BASE/${SHA}_1"
# Nova (oslo.concurrency) opens its lock files for writing, as nova.
for l in "$NOVA_LOCKS"/nova-*; do
    [ "$(stat -c %U "$l")" = nobody ] || die "$l is owned by $(stat -c %U "$l")"
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$PYTHON" -c 'import sys; open(sys.argv[1], "a").close()' "$l" ||
        die "nova cannot open its lock file $l"
done
# The original it was copied from is marked in use (mtime refreshed).
age=$(( $(date +%s) - $(stat -c %Y "$NOVA_BASE/$SHA") ))
[ "$age" -lt 3600 ] || die "original not marked in use (age $age s)"

# started on a whole chain refreshes the bases' mtime.
touch -d '2 days ago' "$NOVA_BASE/${SHA}_1" "$NOVA_BASE/swap_64"
hook started begin
[ "$rc" = 0 ] || die "started: exit $rc"
for b in "${SHA}_1" swap_64; do
    age=$(( $(date +%s) - $(stat -c %Y "$NOVA_BASE/$b") ))
    [ "$age" -lt 3600 ] || die "$b not marked in use by started"
done

# migrate (an incoming migration) with every top here: rebuilds like
# prepare (through the CLI), prints no XML, and leaves a record that
# prepare and stopped read.
printf '[tools]\nfetcher = %s\n[hook]\nstate_dir = %s\n' "$COWHERD_CLI" "$tmp/state" \
    >>/etc/cowherd/cowherd.conf
rm "$NOVA_BASE/swap_64"
hook migrate begin
[ "$rc" = 0 ] || { cat "$tmp/err"; die "migrate: exit $rc"; }
[ -f "$NOVA_BASE/swap_64" ] || die "migrate did not rebuild swap_64"
record=$tmp/state/incoming/$UUID
boot_id=$(cat /proc/sys/kernel/random/boot_id)
[ "$(sed -n 1,3p "$record")" = "$(printf 'cowherd incoming 4\nstage migrate\nboot %s' "$boot_id")" ] &&
    grep -qx 'since [1-9][0-9]*' <<<"$(sed -n 4p "$record")" && [ "$(wc -l <"$record")" = 4 ] ||
    die "migrate's record: $(cat "$record")"
hook prepare begin
[ "$rc" = 0 ] || { cat "$tmp/err"; die "prepare after migrate: exit $rc"; }
[ "$(sed -n 2p "$record")" = "stage prepare" ] || die "prepare did not note itself: $(cat "$record")"
hook stopped end
[ "$rc" = 0 ] || die "stopped: exit $rc"
[ ! -e "$tmp/state/incoming/$UUID" ] || die "stopped kept the record"
[ -f "$NOVA_INSTANCES/$UUID/disk" ] || die "stopped removed a top migrate did not make"

# A top that is missing is made empty over its chain (from Nova's metadata
# here) and recorded; stopped takes it away again: with no status from
# libvirt to say whether the domain ran here, because it holds no data.
mv "$NOVA_INSTANCES/$UUID/disk.swap" "$tmp/disk.swap"
hook migrate begin
[ "$rc" = 0 ] || { cat "$tmp/err"; die "migrate with a missing top: exit $rc"; }
[ "$(qemu-img info --output=json "$NOVA_INSTANCES/$UUID/disk.swap" |
     "$PYTHON" -c 'import json,sys; i=json.load(sys.stdin); print(i["virtual-size"], i["backing-filename"])')" \
    = "$((64 << 20)) $NOVA_BASE/swap_64" ] || die "migrate made the wrong top"
[ "$(stat -c %U "$NOVA_INSTANCES/$UUID/disk.swap")" = nobody ] || die "the top is not nova's"
grep -q "^top [0-9]* [0-9]* [0-9]*\.[0-9]\{9\} $NOVA_INSTANCES/$UUID/disk.swap\$" "$tmp/state/incoming/$UUID" ||
    die "the top is not recorded: $(cat "$tmp/state/incoming/$UUID")"
hook stopped end
[ "$rc" = 0 ] || die "stopped: exit $rc"
[ ! -e "$NOVA_INSTANCES/$UUID/disk.swap" ] || die "stopped kept the empty top it recorded"
[ -f "$NOVA_INSTANCES/$UUID/disk" ] || die "stopped removed a top migrate did not make"

# Only the migration's own prepare makes tops.  After it, a second prepare
# (a plain start) with the top gone fails as any plain start does.
hook migrate begin
[ "$rc" = 0 ] || { cat "$tmp/err"; die "migrate: exit $rc"; }
hook prepare begin
[ "$rc" = 0 ] || { cat "$tmp/err"; die "prepare after migrate: exit $rc"; }
rm "$NOVA_INSTANCES/$UUID/disk.swap"
hook prepare begin
[ "$rc" = 1 ] || die "a second prepare made a top: exit $rc"
grep -q "never creates a top image on prepare" "$tmp/err" || die "unclear: $(cat "$tmp/err")"
[ ! -e "$NOVA_INSTANCES/$UUID/disk.swap" ] || die "a plain start made a top"
hook stopped end

# libvirt gives up on some migrations after migrate ran and before QEMU
# starts (cookie, storage, --offline), and then runs no stopped.  The
# record left behind is no licence for a later plain start: outside its
# window, counted on the boot clock of the boot that wrote it, prepare
# takes the empty top away and fails.  A record another boot wrote (a
# state_dir that outlived a reboot) is the case any machine can show,
# however long it has been up; the unit tests count the window itself.
hook migrate begin
[ "$rc" = 0 ] || { cat "$tmp/err"; die "migrate: exit $rc"; }
[ -f "$NOVA_INSTANCES/$UUID/disk.swap" ] || die "migrate made no top"
sed -i "3s/.*/boot 00000000-0000-4000-8000-000000000000/" "$record"
stale_log='an incoming migration left a record this boot did not write'
touch "$record"     # the wall clock says new: it is not what counts
: >"$COWHERD_LOG"
hook prepare begin
[ "$rc" = 1 ] || die "prepare with a stale record: exit $rc"
grep -q "never creates a top image on prepare" "$tmp/err" || die "unclear: $(cat "$tmp/err")"
[ ! -e "$NOVA_INSTANCES/$UUID/disk.swap" ] || die "the stale migration's empty top stayed"
[ ! -e "$record" ] || die "the stale record stayed"
grep -q "$stale_log" "$COWHERD_LOG" || die "not logged: $(cat "$COWHERD_LOG")"

# The next migrate clears what such a migration left before it starts:
# the leftover top goes and a new one is made and recorded.
: >"$COWHERD_LOG"
hook migrate begin
[ "$rc" = 0 ] || { cat "$tmp/err"; die "migrate: exit $rc"; }
ino=$(stat -c %i "$NOVA_INSTANCES/$UUID/disk.swap")
qemu-io -c 'write -q -P 7 0 64k' -f qcow2 "$NOVA_INSTANCES/$UUID/disk.swap" >/dev/null
hook migrate begin
[ "$rc" = 0 ] || { cat "$tmp/err"; die "migrate over a leftover: exit $rc"; }
[ "$(stat -c %i "$NOVA_INSTANCES/$UUID/disk.swap")" = "$ino" ] ||
    die "a leftover top holding data was replaced"
grep -q "holds data cowherd did not write" "$COWHERD_LOG" || die "keeping it was not logged"
rm "$NOVA_INSTANCES/$UUID/disk.swap"
hook migrate begin
: >"$COWHERD_LOG"
hook migrate begin
[ "$rc" = 0 ] || { cat "$tmp/err"; die "migrate over a leftover: exit $rc"; }
[ "$(grep -c disk.swap "$record")" = 1 ] || die "record: $(cat "$record")"
grep -q "disk.swap: removed" "$COWHERD_LOG" || die "the leftover top was not removed"
hook stopped end

# A record cowherd cannot read steers nothing: it is set aside.
hook migrate begin
printf 'cowherd incoming 4\nstage migrate\nboot %s\nsince 5\ntop 1 2 3.0 /etc/passwd\n' \
    "$boot_id" >"$record"
hook stopped end
[ ! -e "$record" ] && [ -f "$record.bad" ] || die "a malformed record was not set aside"
[ -f "$NOVA_INSTANCES/$UUID/disk.swap" ] || die "a malformed record removed a top"
rm "$record.bad"

# A migrate that fails leaves no record, even when it made nothing: the
# next prepare is a plain start.
rm -f "$NOVA_INSTANCES/$UUID/disk.swap" "$NOVA_BASE/swap_64"
rm -rf "$COWHERD_TMP_DIR"
mkdir -m 777 "$COWHERD_TMP_DIR"
hook migrate begin
rmdir "$COWHERD_TMP_DIR"
[ "$rc" = 1 ] || die "migrate with a shared build directory: exit $rc"
grep -q "not a private directory" "$tmp/err" || die "unclear: $(cat "$tmp/err")"
[ ! -e "$record" ] || die "a failed migrate left a record: $(cat "$record")"
[ ! -e "$NOVA_INSTANCES/$UUID/disk.swap" ] || die "a failed migrate left a top"
mv "$tmp/disk.swap" "$NOVA_INSTANCES/$UUID/disk.swap"
hook prepare begin
[ "$rc" = 0 ] || { cat "$tmp/err"; die "prepare: exit $rc"; }

# restore behaves as prepare and prints no XML.
rm "$NOVA_BASE/swap_64"
hook restore begin
[ "$rc" = 0 ] || { cat "$tmp/err"; die "restore: exit $rc"; }
[ -f "$NOVA_BASE/swap_64" ] || die "restore did not rebuild swap_64"

# The build directory must be root's alone: one nova could write to is
# refused, and nothing is built.
rm -rf "$COWHERD_TMP_DIR"
mkdir -m 777 "$COWHERD_TMP_DIR"
rm -f "$NOVA_BASE/swap_64"
hook prepare begin
[ "$rc" = 1 ] || die "prepare with a shared build directory: exit $rc"
grep -q "not a private directory" "$tmp/err" || die "unclear: $(cat "$tmp/err")"
[ ! -e "$NOVA_BASE/swap_64" ] || die "built in a shared directory"
rmdir "$COWHERD_TMP_DIR"

# A _base that is a symlink (nova could point it anywhere) is refused.
mv "$NOVA_BASE" "$NOVA_INSTANCES/real_base"
ln -s "$NOVA_INSTANCES/real_base" "$NOVA_BASE"
hook prepare begin
[ "$rc" = 1 ] || die "prepare through a symlinked _base: exit $rc"
grep -q "is a symlink" "$tmp/err" || die "unclear: $(cat "$tmp/err")"
rm "$NOVA_BASE"
mv "$NOVA_INSTANCES/real_base" "$NOVA_BASE"

# A chain that cannot be made whole: one line naming domain, disk, file, why.
rm "$NOVA_BASE/$SHA" "$NOVA_BASE/${SHA}_1"
hook prepare begin
[ "$rc" = 1 ] || die "prepare with the original missing: exit $rc"
[ "$(wc -l <"$tmp/err")" = 1 ] || { cat "$tmp/err"; die "want one stderr line"; }
grep -q "domain vm-ops: disk vda: $NOVA_BASE/$SHA: original image missing" "$tmp/err" ||
    die "unclear error: $(cat "$tmp/err")"
note "$(cat "$tmp/err")"
# ... and started still never fails.
hook started begin
[ "$rc" = 0 ] || die "started failed on a broken chain"

# A broken configuration refuses prepare with the config's message.
echo "[nova]" >/etc/cowherd/cowherd.conf
echo "instances_path = relative" >>/etc/cowherd/cowherd.conf
hook prepare begin
[ "$rc" = 1 ] || die "bad config: exit $rc"
grep -q "cowherd.conf.*absolute" "$tmp/err" || die "bad config: $(cat "$tmp/err")"
note "hook ops behave"
