#!/usr/bin/env bash
# `cowherd cache ls` and `cache verify` over a _base that domains of a real
# libvirtd use, at one level and deeper:
#
#   vm1 (defined, not running): disk over <a>_1, disk.eph0 over
#       ephemeral_1_0706d66, disk.swap over swap_64, booted from image a
#   vm2 (defined, not running): disk over <q>, a qcow2 entry that itself
#       stands on the original <c>: vm2 reaches <c> two levels down
#   unused: the original <b> (2 days old), <b>_10 (2 hours), notes.txt
#
# ls must say who uses what at any depth, and what Nova's cache manager
# does by its rules: <a> and the swap and ephemeral entries in use, <a>_1
# never touched (a 42-character name), <b> and <b>_10 removed at its next
# pass, <c> removed too although vm2 needs it (flagged), notes.txt never.
# verify re-hashes entries against their manifests: one right, one not.
# gc removes what cowherd left and nobody uses (an orphan manifest, build
# leftovers whose lock is free, a dead process's snapshot copy, the record
# of a domain that is gone, lock files of gone originals and resized
# entries, as Nova does) and keeps the rest (a build in progress, a live
# process's copy, a known domain's record, swap locks, entries that
# exist); --dry-run says the same and removes nothing; --unused-for
# removes unused entries old enough, never one a domain reaches at any
# depth.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
private_ns "$@"
requires qemu-img sha1sum sha256sum touch "$PYTHON"
requires_built COWHERD_CLI

mktempdir tmp
lvhost_up "$tmp/host"

a_id=$(new_uuid) b_id=$(new_uuid) c_id=$(new_uuid) q_id=$(new_uuid)
a=$(image_sha1 "$a_id") b=$(image_sha1 "$b_id") c=$(image_sha1 "$c_id") q=$(image_sha1 "$q_id")
make_original "$NOVA_BASE/$a" 16
cp --sparse=always "$NOVA_BASE/$a" "$NOVA_BASE/${a}_1"
truncate -s 1G "$NOVA_BASE/${a}_1"
truncate -s 64M "$NOVA_BASE/ephemeral_1_0706d66" "$NOVA_BASE/swap_64"
make_original "$NOVA_BASE/$b" 8
truncate -s 10G "$NOVA_BASE/${b}_10"
make_original "$NOVA_BASE/$c" 8
qemu-img create -q -f qcow2 -F raw -b "$NOVA_BASE/$c" "$NOVA_BASE/$q" 8M
echo "not an image" >"$NOVA_BASE/notes.txt"
# <s>: an image made whole from a COW-only snapshot over <a> (the shim
# marks it so); unused.
s_id=$(new_uuid)
s=$(image_sha1 "$s_id")
make_original "$NOVA_BASE/$s" 8
"$PYTHON" -c 'import os, sys; os.setxattr(sys.argv[1], "user.cowherd.snapshot-parent", sys.argv[2].encode())' \
    "$NOVA_BASE/$s" "$a"

make_instance vm1 "$(new_uuid)" "$a_id" 64 root eph swap >"$tmp/vm1.xml"
vm2_uuid=$(new_uuid)
make_instance vm2 "$vm2_uuid" "$q_id" 64 root >"$tmp/vm2.xml"
# vm2's disk over <q> itself (a qcow2 entry), not over <q>_1.
vm2_disk=$NOVA_INSTANCES/$vm2_uuid/disk
rm -f "$vm2_disk"
qemu-img create -q -f qcow2 -F qcow2 -b "$NOVA_BASE/$q" "$vm2_disk" 8M
virsh -q define "$tmp/vm1.xml" >/dev/null
virsh -q define "$tmp/vm2.xml" >/dev/null

# Ages, as Nova's cache manager reads them (mtime).
touch -d '2 days ago' "$NOVA_BASE/$b" "$NOVA_BASE/$c" "$NOVA_BASE/notes.txt" "$NOVA_BASE/$s"
touch -d '2 hours ago' "$NOVA_BASE/${b}_10"

"$COWHERD_CLI" --config "$COWHERD_CONF" cache ls --nova-conf /nonexistent-is-refused >"$tmp/out" 2>&1 &&
    die "an explicit --nova-conf that does not exist was accepted"
"$COWHERD_CLI" --config "$COWHERD_CONF" cache ls --json >"$tmp/ls.json" 2>"$tmp/err" ||
    { cat "$tmp/err" >&2; die "cache ls --json failed"; }
"$COWHERD_CLI" --config "$COWHERD_CONF" cache ls >"$tmp/ls.txt" 2>"$tmp/err" ||
    { cat "$tmp/err" >&2; die "cache ls failed"; }
cat "$tmp/ls.txt" >&2

# expect NAME KIND USERS NOVA: one entry of the JSON listing.
expect() {
    "$PYTHON" - "$tmp/ls.json" "$@" <<'EOF' || die "cache ls: $1 is not as expected"
import json, sys
doc = json.load(open(sys.argv[1]))
name, kind, users, nova = sys.argv[2:6]
e = [x for x in doc["entries"] if x["name"] == name]
if len(e) != 1:
    sys.exit("no entry %s" % name)
e = e[0]
got = (e["kind"], ",".join(sorted(e["used_by"])) or "-", e["nova"])
if got != (kind, users, nova):
    sys.exit("%s: got %r, want %r" % (name, got, (kind, users, nova)))
if nova == "remove" and e["nova_removes_in"] != 0:
    sys.exit("%s: removed in %s s, want at the next pass" % (name, e["nova_removes_in"]))
EOF
}
expect "$a" original - in-use
expect "${a}_1" resized vm1 never
expect ephemeral_1_0706d66 ephemeral vm1 in-use
expect swap_64 swap vm1 in-use
expect "$b" original - remove
expect "${b}_10" resized - remove
expect "$q" original vm2 in-use
expect "$c" original "_base/$q,vm2" remove
expect notes.txt unknown - never
expect "$s" snapshot - remove
"$PYTHON" - "$tmp/ls.json" <<'EOF' || die "cache ls: the listing has other entries, or wrong totals"
import json, sys
doc = json.load(open(sys.argv[1]))
if len(doc["entries"]) != 10:
    sys.exit("%d entries, want 10" % len(doc["entries"]))
total = sum(e["allocated"] for e in doc["entries"])
unused = sum(e["allocated"] for e in doc["entries"] if not e["used_by"])
if (doc["allocated"], doc["unused_allocated"]) != (total, unused):
    sys.exit("totals %r, want %r" % ((doc["allocated"], doc["unused_allocated"]), (total, unused)))
EOF
grep -q "^$c .*removed at its next pass (USED HERE)\$" "$tmp/ls.txt" ||
    die "cache ls does not flag $c, which Nova removes and vm2 needs"
grep -q "^10 entries, .* allocated, .* used by no domain (Nova's settings: its defaults)\$" "$tmp/ls.txt" ||
    die "cache ls: no totals line"
grep -q "^ *made whole from a COW-only snapshot over $a\$" "$tmp/ls.txt" ||
    die "cache ls does not say what $s was made over"

# Nova's settings from its nova.conf: removal off means never.
printf '[image_cache]\nremove_unused_base_images = false\n' >"$tmp/nova.conf"
"$COWHERD_CLI" --config "$COWHERD_CONF" cache ls --json --nova-conf "$tmp/nova.conf" >"$tmp/ls.json" ||
    die "cache ls --nova-conf failed"
expect "$b" original - never

# ---- verify ----------------------------------------------------------------------

manifest() {            # manifest NAME SHA256
    printf '{"name": "%s", "size": %s, "sha256": "%s", "source": "test"}\n' \
        "$1" "$(stat -c %s "$NOVA_BASE/$1")" "$2" >"$NOVA_BASE/$1.cowherd.json"
}
sum=$(sha256sum <"$NOVA_BASE/$a")
manifest "$a" "${sum%% *}"
manifest "$b" "$(printf '%064d' 0)"
"$COWHERD_CLI" --config "$COWHERD_CONF" cache verify "$a" >"$tmp/out" ||
    { cat "$tmp/out" >&2; die "cache verify of a good entry failed"; }
grep -qx "$a: ok (sha256)" "$tmp/out" || die "cache verify: $(cat "$tmp/out")"
rc=0
"$COWHERD_CLI" --config "$COWHERD_CONF" cache verify >"$tmp/out" || rc=$?
[ "$rc" = 1 ] || { cat "$tmp/out" >&2; die "cache verify with a bad entry: exit $rc, want 1"; }
grep -q "^$b: MISMATCH: " "$tmp/out" || die "cache verify did not report $b: $(cat "$tmp/out")"
grep -qx "2 checked, 1 bad" "$tmp/out" || die "cache verify: $(cat "$tmp/out")"
[ -f "$NOVA_BASE/$b" ] || die "cache verify removed $b"
rc=0
"$COWHERD_CLI" --config "$COWHERD_CONF" cache verify no-such-entry >"$tmp/out" 2>&1 || rc=$?
[ "$rc" = 1 ] || die "cache verify of a missing entry: exit $rc"

# ---- gc ------------------------------------------------------------------------

gone=$(image_sha1 "$(new_uuid)") gone2=$(image_sha1 "$(new_uuid)") busy=$(image_sha1 "$(new_uuid)")
vm1_uuid=$(virsh domuuid vm1)
printf '[hook]\nstate_dir = %s\n' "$tmp/state" >>"$COWHERD_CONF"
mkdir -p -m 0700 "$tmp/state/incoming"
: >"$tmp/state/incoming/$vm1_uuid"
: >"$tmp/state/incoming/$(new_uuid)"
touch -d '1 hour ago' "$tmp/state/incoming/"*
young=$(new_uuid)
: >"$tmp/state/incoming/$young"                # a migration's, just written: kept
manifest "$a" "${sum%% *}"                      # kept: the entry is there
printf '{}' >"$NOVA_BASE/$gone.cowherd.json"     # orphan
mkdir -p "$NOVA_BASE/.cowherd-tmp" "$NOVA_LOCKS"
head -c 4096 /dev/urandom >"$NOVA_BASE/.cowherd-tmp/$gone2.download"
head -c 4096 /dev/urandom >"$NOVA_BASE/.cowherd-tmp/$busy.download"
: >"$NOVA_BASE/.${busy}.part.cowherd-999999999"    # no such process
touch -d '2 hours ago' "$NOVA_BASE/.${busy}.part.cowherd-999999999"
: >"$NOVA_BASE/.${busy}.part.cowherd-$$"           # this shell: alive
: >"$NOVA_LOCKS/nova-$gone" ; : >"$NOVA_LOCKS/nova-${gone}_20" ; : >"$NOVA_LOCKS/nova-swap_4096"
: >"$NOVA_LOCKS/nova-$a"
hold_lock "$NOVA_LOCKS/nova-$busy" "$tmp/lock.out"

listing() { (cd "$NOVA_BASE" && find . "$NOVA_LOCKS" "$tmp/state" -mindepth 1 | sort); }
before=$(listing)
"$COWHERD_CLI" --config "$COWHERD_CONF" cache gc --dry-run >"$tmp/dry" 2>&1 ||
    { cat "$tmp/dry" >&2; die "cache gc --dry-run failed"; }
[ "$(listing)" = "$before" ] || die "cache gc --dry-run changed something"
"$COWHERD_CLI" --config "$COWHERD_CONF" cache gc >"$tmp/gc" 2>&1 ||
    { cat "$tmp/gc" >&2; die "cache gc failed"; }
cat "$tmp/gc" >&2
[ "$(sed 's/^would remove /removed /; s/^\([0-9]*\) to remove, /\1 removed, /' "$tmp/dry")" = "$(cat "$tmp/gc")" ] ||
    die "cache gc did other than --dry-run said: $(cat "$tmp/dry")"
for f in "$NOVA_BASE/$gone.cowherd.json" "$NOVA_BASE/.cowherd-tmp/$gone2.download" \
         "$NOVA_BASE/.${busy}.part.cowherd-999999999" "$NOVA_LOCKS/nova-$gone" \
         "$NOVA_LOCKS/nova-${gone}_20"; do
    [ ! -e "$f" ] || die "cache gc left $f"
done
for f in "$NOVA_BASE/$a.cowherd.json" "$NOVA_BASE/.cowherd-tmp/$busy.download" \
         "$NOVA_BASE/.${busy}.part.cowherd-$$" "$NOVA_LOCKS/nova-swap_4096" "$NOVA_LOCKS/nova-$a" \
         "$tmp/state/incoming/$vm1_uuid" "$tmp/state/incoming/$young" \
         "$NOVA_BASE/$b" "$NOVA_BASE/${b}_10"; do
    [ -e "$f" ] || die "cache gc removed $f"
done
[ "$(find "$tmp/state/incoming" -type f | wc -l)" = 2 ] || die "the gone domain's record was kept"
grep -q "^6 removed, " "$tmp/gc" || die "cache gc's summary: $(tail -n 1 "$tmp/gc")"
release_lock

# --unused-for: <b> (2 days, unused) goes with its manifest; <c> (2 days,
# vm2 needs it two levels down), <a>_1 (vm1's), <b>_10 (2 hours) stay, and
# so does <p> (2 days), under the disk of an instance whose domain is not
# defined yet (Nova makes the disk first).
p=$(image_sha1 "$(new_uuid)")
make_original "$NOVA_BASE/$p" 8
building=$NOVA_INSTANCES/$(new_uuid)
mkdir -p "$building"
qemu-img create -q -f qcow2 -F raw -b "$NOVA_BASE/$p" "$building/disk" 8M
touch -d '2 days ago' "$NOVA_BASE/$p"
# (--force: python3-nova's nova.conf is on this machine; this host runs no Nova.)
"$COWHERD_CLI" --config "$COWHERD_CONF" cache gc --unused-for 1d --force >"$tmp/gc" 2>&1 ||
    { cat "$tmp/gc" >&2; die "cache gc --unused-for 1d failed"; }
cat "$tmp/gc" >&2
[ ! -e "$NOVA_BASE/$b" ] && [ ! -e "$NOVA_BASE/$b.cowherd.json" ] ||
    die "cache gc --unused-for 1d kept $b or its manifest"
for f in "$c" "$q" "${a}_1" "$a" "${b}_10" "$p" notes.txt swap_64 ephemeral_1_0706d66; do
    [ -e "$NOVA_BASE/$f" ] || die "cache gc --unused-for 1d removed $f"
done
"$COWHERD_CLI" --config "$COWHERD_CONF" cache gc --unused-for 1h --force >"$tmp/gc" 2>&1 ||
    die "cache gc --unused-for 1h failed"
[ ! -e "$NOVA_BASE/${b}_10" ] || die "cache gc --unused-for 1h kept ${b}_10"
[ -e "$NOVA_BASE/$c" ] || die "cache gc --unused-for 1h removed $c, which vm2 needs"
rc=0
"$COWHERD_CLI" --config "$COWHERD_CONF" cache gc --unused-for soon >"$tmp/gc" 2>&1 || rc=$?
[ "$rc" = 2 ] || die "cache gc --unused-for soon: exit $rc, want 2"
rc=0
"$COWHERD_CLI" --config "$COWHERD_CONF" cache gc --unused-for 10m --force >"$tmp/gc" 2>&1 || rc=$?
[ "$rc" = 2 ] || die "cache gc --unused-for 10m: exit $rc, want 2 (shorter than Nova's ages)"

# A domain whose disk cannot be read: who uses what is not fully known, so
# --unused-for removes nothing (exit 1, one line saying why).
make_instance vm3 "$(new_uuid)" "$b_id" 64 root >"$tmp/vm3.xml"
vm3_disk=$("$PYTHON" -c 'import re, sys; print(re.findall(r"file=.([^\x27\x22]*/disk)", open(sys.argv[1]).read())[0])' "$tmp/vm3.xml")
rm -f "$vm3_disk"
virsh -q define "$tmp/vm3.xml" >/dev/null
touch -d '2 days ago' "$NOVA_BASE/$p"
rm -rf "$building"
rc=0
"$COWHERD_CLI" --config "$COWHERD_CONF" cache gc --unused-for 1d --force >"$tmp/gc" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$tmp/gc" >&2; die "cache gc --unused-for with an unreadable chain: exit $rc, want 1"; }
grep -q "^no unused entry removed: who uses what is not fully known (vm3: .*)\$" "$tmp/gc" ||
    die "cache gc did not say why it removed nothing: $(cat "$tmp/gc")"
[ -e "$NOVA_BASE/$p" ] || die "cache gc removed $p although it could not read every chain"
note "cache ls, verify and gc as expected"
