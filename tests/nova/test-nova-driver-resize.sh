#!/usr/bin/env bash
# Resize / cold migration between two hosts (twohost.sh), each with its
# own instances_path, cowherd's hook in its libvirtd and cowherd's qemu-img
# shim first in Nova's PATH, run by Nova 26's own LibvirtDriver on both
# (driver_resize.py: one long-lived python per host, in the host's
# namespaces).  The instance starts on B and moves to A: the source copies
# to the destination over ssh, and A has the sshd (th_sshd_up_a).
#
# Nova's source calls `ssh -o BatchMode=yes DEST ...` and `scp -r` (or
# `rsync -r --sparse`) with DEST = the destination's [DEFAULT] my_ip
# (migration.dest_host), as the user nova-compute runs as: B's Nova gets
# root's ~/.ssh (key, A's host key in known_hosts) from a private /root.
# Glance listens on the test's loopback; a relay gives it at the same
# address in both hosts' network namespaces.
#
# 1. Spawn from a Glance image on B (root 1 GB, ephemeral 1 GB, swap 16 MB),
#    not powered on; data written into its root and ephemeral disks, then
#    powered on.
# 2. migrate_disk_and_power_off to A over scp: B keeps <uuid>_resize, A
#    gets disk, disk.local and disk.info only (no disk.swap, no _base entry).
# 3. finish_migration on A, root grown to 2 GB, A's _base empty: Nova
#    itself rebuilds every entry (root base from Glance, ephemeral and swap
#    bases with mkfs/mkswap) before it defines the domain; cowherd's hook
#    then finds the chains whole and does nothing.  The guest runs on A and
#    its disks read as before the move (qemu-img compare).
# 4. Revert: destroy on A, finish_revert_migration on B: runs on B, reads
#    as before, nothing left on A.
# 5. Again over rsync, A's _base emptied again, then confirm: B keeps
#    nothing, the guest runs on A and reads as before.
set -euo pipefail
source "$(dirname "$0")/../integration/functions.sh"
source "$(dirname "$0")/../integration/twohost.sh"
source "$(dirname "$0")/../integration/glance.sh"
source "$(dirname "$0")/nova.sh"
source "$(dirname "$0")/driver.sh"
private_ns "$@"
requires qemu-img qemu-io cmp blkid mkfifo unshare mount nsenter ssh scp rsync mkfs.vfat mkswap
requires_built COWHERD_HOOK COWHERD_SHIM
driver_requires

t_start=$EPOCHREALTIME
mktempdir tmp
twohost_up "$tmp/hosts"

INST=$NOVA_INSTANCES                       # as the hosts see it
A_INST=$TH_A_DIR/lib-nova/instances        # as the test sees them
B_INST=$TH_B_DIR/lib-nova/instances
A_LOG=$TH_A_DIR/log-libvirt/cowherd-test.log
# What "the hook had nothing to do" rests on: it is in A's libvirtd.
[ -L "$TH_A_DIR/etc-libvirt/hooks/qemu.d/cowherd" ] || die "cowherd's hook is not installed in A"

# Nova's PATH: ssh, scp and rsync behind recorders (one line per call in
# $tmp/transport.log), then the shim.
nova_shim_on "$tmp"
mkdir -p "$tmp/transport-bin"
for t in ssh scp rsync; do
    cat >"$tmp/transport-bin/$t" <<EOF
#!/bin/bash
printf '%s\n' "$t \$*" >>"$tmp/transport.log"
exec /usr/bin/$t "\$@"
EOF
    chmod +x "$tmp/transport-bin/$t"
done
NOVA_PATH=$tmp/transport-bin:$NOVA_PATH
: >"$tmp/transport.log"

# ---- Nova on each host ---------------------------------------------------------

# Each host's driver_resize.py in its namespaces, B's with a private /root
# (its ~/.ssh); Nova imports itself while the rest is set up.
mkdir -p "$tmp/b-home/.ssh"
DRV_WRAP=(th_a)
driver_launch a "$NOVA_DIR/driver_resize.py"
# shellcheck disable=SC2016  # expanded by the inner shell
DRV_WRAP=(th_b unshare --mount --propagation private bash -c
          'mount --bind "$1" /root || exit 1; shift; exec "$@"' nova-b "$tmp/b-home")
driver_launch b "$NOVA_DIR/driver_resize.py"
DRV_WRAP=()

# ---- Glance, reachable from both hosts, and A's sshd ------------------------------

glance_up "$tmp/glance"
glance_relay "$TH_A_PID" "$TH_B_PID"

th_sshd_up_a
# B's Nova logs in as root with the key; A's host key is known, as an
# operator sets it up between compute hosts.
cp "$TH_SSH_KEY" "$tmp/b-home/.ssh/id_ed25519"
chmod 0600 "$tmp/b-home/.ssh/id_ed25519"
printf '%s %s\n' "$TH_A_ADDR" "$(cut -d' ' -f1,2 "${TH_SSH_KEY%/*}/host_ed25519_key.pub")" \
    >"$tmp/b-home/.ssh/known_hosts"

make_original "$tmp/image.raw" 16
image=$(glance_upload "$tmp/image.raw" raw)
sha=$(image_sha1 "$image")

driver_ready a
driver_ready b
drv_send a setup "$GLANCE_URL" host-a "$TH_A_ADDR"
drv_send b setup "$GLANCE_URL" host-b "$TH_B_ADDR"
drv_wait_ok a
drv_wait_ok b
note "Nova up on both hosts ($(since_s "$t_start") s since the start)"

# ---- checks ------------------------------------------------------------------------

uuid=$(new_uuid)
OLD=1,1,16       # flavors: root GB, ephemeral GB, swap MB
NEW=2,1,16
GIB=$((1 << 30))

# state HOST: the domain's state on host HOST (a or b), "none" if undefined.
state() {
    local out
    if out=$("th_$1" virsh domstate "$uuid" 2>&1); then
        printf '%s\n' "$out"
    else
        case $out in
        *"failed to get domain"*) echo none ;;
        *) die "virsh domstate on $1: $out" ;;
        esac
    fi
}

# files DIR: the names in DIR, sorted, space-separated ("-" if no DIR).
files() {
    [ -d "$1" ] || { echo -; return 0; }
    find "$1" -mindepth 1 -maxdepth 1 -printf '%f\n' | LC_ALL=C sort | tr '\n' ' '
}

# sorted WORD...: the words as files prints names.
sorted() {
    printf '%s\n' "$@" | LC_ALL=C sort | tr '\n' ' '
}

# past4m FILE: a json: name for FILE's bytes from 4 MiB on, as raw.
past4m() {
    printf '{"driver": "raw", "offset": %d, "file": {"driver": "file", "filename": "%s"}}' \
        $((4 << 20)) "$1"
}

# eph_expected CASE: what the ephemeral disk reads on A: what it read on B,
# but over A's ephemeral base, which Nova made anew with mkfs.vfat: a new
# volume serial (blkid UUID) and label-entry time, nothing else (at most
# 16 bytes, all in the first 4 MiB: the boot sector, its backup, the root
# directory).  The bytes that differ are patched into $tmp/eph.expect.
eph_expected() {
    local c=$1 eph=_base/ephemeral_1_0706d66 diff
    [ "$(blkid -p -o value -s UUID "$A_INST/$eph")" != "$(blkid -p -o value -s UUID "$B_INST/$eph")" ] ||
        die "$c: A's ephemeral base has B's volume serial"
    [ "$(fs_type "$A_INST/$eph") $(fs_label "$A_INST/$eph")" = "vfat ephemeral0" ] ||
        die "$c: A's ephemeral base: $(fs_type "$A_INST/$eph") $(fs_label "$A_INST/$eph")"
    # cmp reads every byte, holes too: past 4 MiB, qemu-img compares.
    qemu-img compare -q -f raw -F raw "json:$(past4m "$B_INST/$eph")" "json:$(past4m "$A_INST/$eph")" ||
        die "$c: the ephemeral bases differ past their first 4 MiB"
    diff=$(cmp -l -n $((4 << 20)) "$B_INST/$eph" "$A_INST/$eph" || true)
    cp --sparse=always "$tmp/eph.before" "$tmp/eph.expect"
    "$PYTHON" -c 'import sys
d = [l.split() for l in sys.argv[2].splitlines()]
if not 0 < len(d) <= 16 or any(int(o) > 4 << 20 for o, _, _ in d):
    sys.exit("the ephemeral bases differ in: %s" % sys.argv[2].replace("\n", ";"))
with open(sys.argv[1], "r+b") as f:
    for o, _, new in d:
        f.seek(int(o) - 1)
        f.write(bytes([int(new, 8)]))' "$tmp/eph.expect" "$diff" || die "$c"
    EPH_DIFF=$(wc -l <<<"$diff")
}

# reads_as HOST CASE VSIZE: the instance's root and ephemeral disks on
# HOST (a or b) read as before the move (the ephemeral disk on A: over
# A's new base, eph_expected), the root disk VSIZE bytes over the image's
# base.
reads_as() {
    local h=$1 c=$2 vsize=$3 d=$INST/$uuid eph=$tmp/eph.before info
    "th_$h" qemu-img compare -U -f raw -F qcow2 "$tmp/root.before" "$d/disk" >/dev/null ||
        die "$c: the root disk on $h reads otherwise than before the move"
    if [ "$h" = a ]; then
        eph_expected "$c"
        eph=$tmp/eph.expect
    fi
    "th_$h" qemu-img compare -U -f raw -F qcow2 "$eph" "$d/disk.local" >/dev/null ||
        die "$c: the ephemeral disk on $h reads otherwise than before the move"
    info=$("th_$h" qemu-img info -U -f qcow2 --output=json "$d/disk")
    "$PYTHON" -c 'import json, sys
i = json.loads(sys.argv[1])
want = (int(sys.argv[2]), sys.argv[3])
got = (i["virtual-size"], i.get("backing-filename"))
sys.exit(0 if got == want else "root disk: %r, want %r" % (got, want))' "$info" "$vsize" \
        "$NOVA_BASE/$sha" || die "$c: on $h"
}

# a_bases_rebuilt CASE DOWNLOADS: A's _base holds what Nova made itself:
# the root base fetched from Glance (DOWNLOADS fetches of the image so
# far), the ephemeral and swap bases; no manifest of cowherd's, and the
# hook logged no rebuild.
a_bases_rebuilt() {
    local c=$1
    [ "$(files "$A_INST/_base")" = "$(sorted "$sha" ephemeral_1_0706d66 swap_16)" ] ||
        die "$c: A's _base holds $(files "$A_INST/_base")"
    cmp "$tmp/image.raw" "$A_INST/_base/$sha" || die "$c: A's root base is not the image"
    [ "$(glance_count_downloads "$image")" = "$2" ] ||
        die "$c: Glance served the image $(glance_count_downloads "$image") times, want $2"
    if [ -f "$A_LOG" ] && grep -E "chains whole|fetch " "$A_LOG" >&2; then
        die "$c: cowherd's hook on A rebuilt something (above)"
    fi
}

# ---- 1. spawn on B, data written --------------------------------------------------

t0=$EPOCHREALTIME
drv_ok b spawn "$uuid" "$image" "$OLD"
[ "$(state b)" = "shut off" ] || die "1: B's domain is '$(state b)' after spawn, want shut off"
[ "$(files "$B_INST/_base")" = "$(sorted "$sha" ephemeral_1_0706d66 swap_16)" ] ||
    die "1: B's _base holds $(files "$B_INST/_base")"
# Over the base's data, half a cluster, past the base's end; and in the
# ephemeral disk.
th_b qemu-io -f qcow2 -c "write -P 0xa1 0 64k" -c "write -P 0xa2 5M 32k" \
    -c "write -P 0xa3 600M 1M" "$INST/$uuid/disk" >/dev/null
th_b qemu-io -f qcow2 -c "write -P 0xb1 100M 1M" "$INST/$uuid/disk.local" >/dev/null
th_b qemu-img convert -f qcow2 -O raw "$INST/$uuid/disk" "$tmp/root.before"
th_b qemu-img convert -f qcow2 -O raw "$INST/$uuid/disk.local" "$tmp/eph.before"
drv_ok b on "$uuid"
[ "$(state b)" = running ] || die "1: not running on B after power_on: $(state b)"
note "1 spawned on B from image $image, data written, running ($(since_s "$t0") s)"

# ---- 2. migrate_disk_and_power_off over scp ------------------------------------------

t0=$EPOCHREALTIME
drv_ok b migrate "$uuid" "$TH_A_ADDR" host-a "$NEW" "$tmp/info1"
[ "$(state b)" = "shut off" ] || die "2: B's domain is '$(state b)', want shut off"
if [ -e "$B_INST/$uuid" ] ||
    [ "$(files "$B_INST/${uuid}_resize")" != "console.log disk disk.info disk.local disk.swap " ]; then
    die "2: B's instance dir was not renamed to ${uuid}_resize: $(files "$B_INST")"
fi
[ "$(files "$A_INST/$uuid")" = "disk disk.info disk.local " ] ||
    die "2: A's instance dir holds $(files "$A_INST/$uuid")"
[ "$(files "$A_INST/_base")" = "" ] || die "2: A's _base holds $(files "$A_INST/_base")"
# What Nova ran: the scp of each disk file (qcow2: no -C) and of
# disk.info, to the destination's my_ip; never a _base file.
from=$INST/${uuid}_resize
to=$TH_A_ADDR:$INST/$uuid
for want in "ssh -o BatchMode=yes $TH_A_ADDR mkdir -p $INST/$uuid" \
    "scp -r $from/disk $to/disk" "scp -r $from/disk.local $to/disk.local" \
    "scp -C -r $from/disk.info $to/disk.info"; do
    grep -qxF -- "$want" "$tmp/transport.log" ||
        { cat "$tmp/transport.log" >&2; die "2: Nova did not run: $want"; }
done
if grep -F _base "$tmp/transport.log" >&2; then die "2: Nova copied a _base file"; fi
note "2 migrate_disk_and_power_off B -> A over scp ($(since_s "$t0") s): A got" \
    "$(files "$A_INST/$uuid"); Nova ran: $(sed 's/$/;/' "$tmp/transport.log" | tr '\n' ' ')"

# ---- 3. finish_migration on A ------------------------------------------------------------

t0=$EPOCHREALTIME
drv_ok a finish "$uuid" "$image" "$OLD" "$NEW" host-b "$tmp/info1"
[ "$(state a)" = running ] || die "3: not running on A: $(state a)"
a_bases_rebuilt 3 2
[ "$(files "$A_INST/$uuid")" = "console.log disk disk.info disk.local disk.swap " ] ||
    die "3: A's instance dir holds $(files "$A_INST/$uuid")"
reads_as a 3 $((2 * GIB))
note "3 finish_migration on A ($(since_s "$t0") s): Nova fetched $sha from Glance and made" \
    "ephemeral_1_0706d66 and swap_16 itself; cowherd's hook had nothing to do;" \
    "root grown to 2 GiB and reads as before the move; the ephemeral disk too, but for" \
    "$EPH_DIFF bytes of the new base's mkfs.vfat (volume serial, label time)"

# ---- 4. revert ---------------------------------------------------------------------------

t0=$EPOCHREALTIME
drv_ok a revert_dest "$uuid"
drv_ok b revert_source "$uuid"
[ "$(state b)" = running ] || die "4: not running on B after the revert: $(state b)"
[ "$(state a)" = none ] || die "4: A still has the domain: $(state a)"
[ "$(files "$A_INST/$uuid")" = - ] || die "4: A kept $(files "$A_INST/$uuid")"
[ ! -e "$B_INST/${uuid}_resize" ] || die "4: B kept ${uuid}_resize"
reads_as b 4 $GIB
note "4 reverted ($(since_s "$t0") s): running on B at 1 GiB, reads as before, nothing left on A"

# ---- 5. again over rsync, then confirm ------------------------------------------------

t0=$EPOCHREALTIME
rm -f "$A_INST/_base/"*
: >"$tmp/transport.log"
drv_ok b transport rsync
drv_ok b migrate "$uuid" "$TH_A_ADDR" host-a "$NEW" "$tmp/info2"
for want in "rsync -r --sparse $from/disk $to/disk" \
    "rsync -r --sparse $from/disk.local $to/disk.local" \
    "rsync -r --sparse $from/disk.info $to/disk.info --compress"; do
    grep -qxF -- "$want" "$tmp/transport.log" ||
        { cat "$tmp/transport.log" >&2; die "5: Nova did not run: $want"; }
done
drv_ok a finish "$uuid" "$image" "$OLD" "$NEW" host-b "$tmp/info2"
[ "$(state a)" = running ] || die "5: not running on A: $(state a)"
a_bases_rebuilt 5 3
drv_ok b confirm "$uuid"
[ "$(state b)" = none ] || die "5: B still has the domain after confirm: $(state b)"
[ "$(files "$B_INST")" = "_base locks " ] || die "5: B's instances dir holds $(files "$B_INST")"
[ "$(state a)" = running ] || die "5: not running on A after confirm: $(state a)"
reads_as a 5 $((2 * GIB))
note "5 over rsync, A's _base emptied again, confirmed ($(since_s "$t0") s): Nova refetched" \
    "from Glance; runs on A only, reads as before"

note "all cases as expected in $(since_s "$t_start") s"
