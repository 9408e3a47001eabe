#!/usr/bin/env bash
# An incoming migration that does not complete leaves the destination as it
# found it, bases aside: cancelled mid-copy (virsh domjobabort on A), the
# top B's hook made and its instance directory go at stopped; refused up
# front (B cannot get the base), nothing is made and virsh prints the
# hook's one line.  A's domain keeps running, its files untouched.  A
# plain start of a domain whose top is missing still fails on B.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/twohost.sh"
source "$(dirname "$0")/migrate.sh"
private_ns "$@"
requires qemu-img qemu-io "$PYTHON" sha256sum

mktempdir tmp
twohost_up "$tmp/hosts"
mig_setup
th_conf B <<EOF
[peers]
urls = file://$TH_A_DIR/lib-nova/instances/_base/
EOF

# A's files of a domain, as a checksum list, to show they were not touched.
a_sums() {
    (cd "$(th_path A "$NOVA_INSTANCES")" && find "$1" -type f -print0 | sort -z |
        xargs -0 sha256sum)
}

# ---- cancelled mid-copy ------------------------------------------------------------
image=$(new_uuid)
sha=$(image_sha1 "$image")
th_seed_base "$sha" 64 "$image"
uuid=$(new_uuid)
top=$NOVA_INSTANCES/$uuid/disk
vm_top "$top" "$NOVA_BASE/$sha" 1G 256
vm_xml vm-abort "$uuid" "$image" 0 0 "$top" >"$tmp/vm-abort.xml"
vm_start_a vm-abort "$tmp/vm-abort.xml"
th_a virsh -q suspend vm-abort >/dev/null     # A's files stay still: compare later
sums=$(a_sums "$uuid")

# 5 MiB/s: the 256 MiB take long enough to abort in the middle.
th_migrate vm-abort --copy-storage-inc --bandwidth 5 >"$tmp/abort.out" 2>&1 &
mig=$!
b_top=$(th_path B "$top")
for ((i = 0; i < 300; i++)); do
    # The copy is under way once B's top holds some of the data.
    if [ -f "$b_top" ] && [ "$(stat -c %s "$b_top")" -gt $((8 << 20)) ]; then
        break
    fi
    sleep 0.1
done
[ -f "$b_top" ] || { wait "$mig" || true; cat "$tmp/abort.out" >&2; die "B never got a top"; }
note "B's top is $(stat -c %s "$b_top") bytes: aborting the migration"
th_a virsh -q domjobabort vm-abort
if wait "$mig"; then
    die "the migration completed in spite of domjobabort"
fi
grep -q "canceled by client" "$tmp/abort.out" || { cat "$tmp/abort.out" >&2; die "no cancel message"; }

# B's stopped hook runs when libvirt tears the incoming domain down.
for ((i = 0; i < 100; i++)); do
    [ -e "$(th_path B "$NOVA_INSTANCES/$uuid")" ] || break
    sleep 0.1
done
[ ! -e "$(th_path B "$NOVA_INSTANCES/$uuid")" ] ||
    { ls -l "$(th_path B "$NOVA_INSTANCES/$uuid")" >&2; mig_log >&2; die "B kept the instance directory"; }
[ -f "$(th_path B "$NOVA_BASE/$sha")" ] || die "B lost the base (it is cache)"
[ ! -e "$(th_path B /run/libvirt/cowherd/incoming/"$uuid")" ] || die "B kept its record"
mig_log_has "domain vm-abort: $top: removed (the incoming migration did not complete)" ||
    { mig_log >&2; die "the removal was not logged"; }
[ -z "$(th_b virsh -q list --all --name)" ] || die "B still knows vm-abort"
[ "$(th_a virsh domstate vm-abort)" = paused ] || die "vm-abort left its state on A"
th_a virsh -q resume vm-abort >/dev/null
[ "$(th_a virsh domstate vm-abort)" = running ] || die "vm-abort does not run on A"
[ "$(a_sums "$uuid")" = "$sums" ] || die "A's files changed"

# ---- refused up front: no source for the base ----------------------------------------
th_conf B <<'EOF'
[peers]
urls =
EOF
image=$(new_uuid)
sha=$(image_sha1 "$image")
th_seed_base "$sha" 16 "$image"
uuid=$(new_uuid)
top=$NOVA_INSTANCES/$uuid/disk
vm_top "$top" "$NOVA_BASE/$sha" 1G
vm_xml vm-refused "$uuid" "$image" 0 0 "$top" >"$tmp/vm-refused.xml"
vm_start_a vm-refused "$tmp/vm-refused.xml"
sums=$(a_sums "$uuid")
if th_migrate vm-refused --copy-storage-inc >"$tmp/refused.out" 2>&1; then
    die "the migration went ahead without the base"
fi
want="cowherd: domain vm-refused: disk vda: $NOVA_BASE/$sha: original image missing; no image source is configured"
grep -qF "$want" "$tmp/refused.out" || { cat "$tmp/refused.out" >&2; die "virsh did not print the hook's line"; }
note "virsh: $(grep -F "$want" "$tmp/refused.out" | sed 's/.*: \(cowherd: \)/\1/')"
[ ! -e "$(th_path B "$NOVA_INSTANCES/$uuid")" ] || die "B made files for a refused migration"
[ ! -e "$(th_path B "$NOVA_BASE/$sha")" ] || die "B has the base it said it cannot get"
[ ! -e "$(th_path B /run/libvirt/cowherd/incoming/"$uuid")" ] || die "B recorded a refused migration"
[ "$(th_a virsh domstate vm-refused)" = running ] || die "vm-refused does not run on A"
[ "$(a_sums "$uuid")" = "$sums" ] || die "A's files changed"

# ---- never on a plain start ----------------------------------------------------------
uuid=$(new_uuid)
vm_xml vm-plain "$uuid" "$image" 0 0 "$NOVA_INSTANCES/$uuid/disk" >"$tmp/vm-plain.xml"
cp "$tmp/vm-plain.xml" "$(th_path B "$NOVA_INSTANCES")/vm-plain.xml"
th_b virsh -q define "$NOVA_INSTANCES/vm-plain.xml" >/dev/null
if th_b virsh -q start vm-plain >"$tmp/plain.out" 2>&1; then
    die "a plain start got a blank disk"
fi
grep -q "disk vda: $NOVA_INSTANCES/$uuid/disk: disk image missing; cowherd never creates a top image on prepare" \
    "$tmp/plain.out" || { cat "$tmp/plain.out" >&2; die "the plain start's refusal"; }
[ ! -e "$(th_path B "$NOVA_INSTANCES/$uuid")" ] || die "a plain start made an instance directory"
note "cancelled and refused migrations leave B clean; A untouched"
