#!/usr/bin/env bash
# virsh migrate --live --copy-storage-inc from host A to host B, with
# cowherd's hook on both and B's _base empty: B's migrate hook learns each
# disk's chain, fetches or makes the bases, creates the empty tops, and the
# domain runs on B with chains that read as A's.  Once per source of chain
# knowledge: (a) cowherd annotate's metadata, (b) A's own qcow2 header over
# sftp, (c) Nova's metadata; then a legacy <sha1>_<GB> chain and a domain
# with root, ephemeral and swap disks.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/twohost.sh"
source "$(dirname "$0")/migrate.sh"
private_ns "$@"
requires qemu-img qemu-io "$PYTHON" blkid

mktempdir tmp
twohost_up "$tmp/hosts"
th_sshd_up_a
mig_setup
sftp_peer="sftp://root@$TH_A_ADDR:$TH_SSHD_PORT$NOVA_BASE/"
file_peer="file://$TH_A_DIR/lib-nova/instances/_base/"

# B's image sources.  Only sftp peers can show B the source's headers;
# with only the file peer (A's cache through the filesystem), (b) is out.
peers_b() {
    th_conf B <<EOF
[peers]
urls = $1
ssh_key = $TH_SSH_KEY
EOF
}

# migrate NAME: incremental live migration; B's hook must have said where
# each chain came from: check_origin NAME DEV ORIGIN-REGEX.
migrate() {
    local t0=$EPOCHREALTIME b0
    b0=$(th_veth_bytes)
    th_migrate "$1" --copy-storage-inc >/dev/null || { mig_log >&2; die "migrating $1 failed"; }
    note "$1: migrated in $(since_s "$t0") s, $(($(th_veth_bytes) - b0)) bytes over the veth"
    assert_runs_on_b "$1"
}
check_origin() {
    mig_log_has -E "domain $1: disk $2: create-top .* \(chain from $3[^)]*\)*\): done" ||
        { mig_log >&2; die "$1/$2: no top created with its chain from $3"; }
}

# ---- (a) cowherd's metadata ------------------------------------------------------
image=$(new_uuid)
sha=$(image_sha1 "$image")
th_seed_base "$sha" 64 "$image"
uuid=$(new_uuid)
top=$NOVA_INSTANCES/$uuid/disk
vm_top "$top" "$NOVA_BASE/$sha" 1G
vm_xml vm-meta "$uuid" - 0 0 "$top" >"$tmp/vm-meta.xml"
vm_start_a vm-meta "$tmp/vm-meta.xml"
out=$(th_a "$COWHERD_CLI" annotate vm-meta) || die "cowherd annotate failed"
[ "$out" = "vm-meta: disk vda: 1 backing level recorded" ] || die "annotate said: $out"
live=$(th_a virsh metadata vm-meta --uri http://cowherd.dev/xmlns/chains/1.0)
grep -q "<backing name=\"$NOVA_BASE/$sha\" format=\"raw\" size=\"67108864\"" <<<"$live" ||
    { printf '%s\n' "$live" >&2; die "the live definition lacks the chain"; }
config=$(th_a virsh metadata vm-meta --config --uri http://cowherd.dev/xmlns/chains/1.0)
grep -q "<disk dev=\"vda\" format=\"qcow2\" size=\"1073741824\">" <<<"$config" ||
    { printf '%s\n' "$config" >&2; die "the persistent definition lacks the chain"; }
peers_b "$file_peer"                          # no sftp: (b) cannot answer
migrate vm-meta
check_origin vm-meta vda "cowherd metadata"
th_same_disk "$top" || die "vm-meta: B's chain differs from A's"
[ -f "$(th_path B "$NOVA_BASE/$sha")" ] || die "B has no $sha"
# The top B made holds what A's top held, and only that crossed over.
qemu-io -r -U -c 'read -q -P 0x5a 0 4M' "json:$(th_chain_json B "$top")" ||
    die "vm-meta: B's disk lacks the data written on A"
[ -s "$(th_path B /run/libvirt/cowherd/incoming/"$uuid")" ] ||
    die "B keeps no record of the top it made"

# Stopped on B after it ran there: its disk stays, the record goes.
th_b virsh -q destroy vm-meta >/dev/null
[ -f "$(th_path B "$top")" ] || die "B's disk of vm-meta was removed after it ran on B"
[ ! -e "$(th_path B /run/libvirt/cowherd/incoming/"$uuid")" ] || die "B's record outlived the domain"
mig_log_has "domain vm-meta: it ran here: the incoming migration completed; its disks stay" ||
    { mig_log >&2; die "the stop of vm-meta on B was not logged"; }

# ---- (b) the source's header, over sftp ------------------------------------------
image=$(new_uuid)
sha=$(image_sha1 "$image")
th_seed_base "$sha" 48 "$image"
uuid=$(new_uuid)
top=$NOVA_INSTANCES/$uuid/disk
vm_top "$top" "$NOVA_BASE/$sha" 2G 8
vm_xml vm-peer "$uuid" - 0 0 "$top" >"$tmp/vm-peer.xml"
vm_start_a vm-peer "$tmp/vm-peer.xml"
peers_b "$sftp_peer"
migrate vm-peer
check_origin vm-peer vda "the source's header \(sftp://root@$TH_A_ADDR:$TH_SSHD_PORT$top\)"
th_same_disk "$top" || die "vm-peer: B's chain differs from A's"
[ "$(qemu-img info -U --output=json "$(th_path B "$top")" | "$PYTHON" -c \
    'import json,sys; print(json.load(sys.stdin)["virtual-size"])')" = $((2 << 30)) ] ||
    die "vm-peer: B's top has not the source's virtual size"

# ---- (c) Nova's metadata -----------------------------------------------------------
image=$(new_uuid)
sha=$(image_sha1 "$image")
th_seed_base "$sha" 32 "$image"
uuid=$(new_uuid)
top=$NOVA_INSTANCES/$uuid/disk
vm_top "$top" "$NOVA_BASE/$sha" 1G
vm_xml vm-nova "$uuid" "$image" 0 0 "$top" >"$tmp/vm-nova.xml"
vm_start_a vm-nova "$tmp/vm-nova.xml"
peers_b "$file_peer"
migrate vm-nova
check_origin vm-nova vda "Nova metadata"
th_same_disk "$top" || die "vm-nova: B's chain differs from A's"

# ---- a legacy chain: <sha1>_<GB> -----------------------------------------------------
image=$(new_uuid)
sha=$(image_sha1 "$image")
th_seed_base "$sha" 40 "$image"
cp --sparse=always "$(th_path A "$NOVA_BASE/$sha")" "$(th_path A "$NOVA_BASE/${sha}_1")"
truncate -s 1G "$(th_path A "$NOVA_BASE/${sha}_1")"
uuid=$(new_uuid)
top=$NOVA_INSTANCES/$uuid/disk
# Annotated while its top was still over the original; then the chain
# changed (as a resize rebases it) and nobody annotated again.  B, which
# can read A's header too, refuses the stale metadata up front.
vm_top "$top" "$NOVA_BASE/$sha" 1G
vm_xml vm-legacy "$uuid" "$image" 0 0 "$top" >"$tmp/vm-legacy.xml"
th_a virsh -q define "$tmp/vm-legacy.xml" >/dev/null
th_a "$COWHERD_CLI" annotate vm-legacy >/dev/null || die "cowherd annotate failed"
qemu-img rebase -q -u -f qcow2 -F raw -b "$NOVA_BASE/${sha}_1" "$(th_path A "$top")"
th_a virsh -q start vm-legacy >/dev/null
peers_b "$sftp_peer"
if th_migrate vm-legacy --copy-storage-inc >"$tmp/stale.out" 2>&1; then
    die "vm-legacy migrated with stale chain metadata"
fi
grep -q "cowherd: domain vm-legacy: disk vda: .*run \`cowherd annotate\` on the source again" \
    "$tmp/stale.out" || { cat "$tmp/stale.out" >&2; die "virsh did not print the hook's line"; }
[ ! -e "$(th_path B "$top")" ] || die "B made a top over a stale chain"
th_a "$COWHERD_CLI" annotate vm-legacy >/dev/null || die "cowherd annotate failed"
migrate vm-legacy
check_origin vm-legacy vda "cowherd metadata, as the source's header"
th_same_disk "$top" || die "vm-legacy: B's chain differs from A's"
mig_log_has "disk vda: copy-extend $NOVA_BASE/${sha}_1: done" ||
    die "vm-legacy: B did not rebuild ${sha}_1 from its original"

# ---- root + ephemeral + swap, from Nova's metadata -----------------------------------
image=$(new_uuid)
sha=$(image_sha1 "$image")
th_seed_base "$sha" 32 "$image"
eph=$NOVA_BASE/ephemeral_1_0706d66
swap=$NOVA_BASE/swap_64
truncate -s 1G "$(th_path A "$eph")"
mkfs.vfat -n ephemeral0 "$(th_path A "$eph")" >/dev/null 2>&1
truncate -s 64M "$(th_path A "$swap")"
mkswap "$(th_path A "$swap")" >/dev/null 2>&1
uuid=$(new_uuid)
dir=$NOVA_INSTANCES/$uuid
vm_top "$dir/disk" "$NOVA_BASE/$sha" 1G
vm_top "$dir/disk.eph0" "$eph" 1G 2
vm_top "$dir/disk.swap" "$swap" 64M 1
vm_xml vm-full "$uuid" "$image" 1 64 "$dir/disk" "$dir/disk.eph0" "$dir/disk.swap" \
    >"$tmp/vm-full.xml"
vm_start_a vm-full "$tmp/vm-full.xml"
peers_b "$file_peer"
# Nova's metadata does not say which filesystem the ephemeral disk has:
# without nova.conf's choice, and with no ephemeral base on B, B refuses.
if th_migrate vm-full --copy-storage-inc >"$tmp/eph.out" 2>&1; then
    die "vm-full migrated with a guessed ephemeral base"
fi
grep -q "cowherd: domain vm-full: disk vdb: .*set \[nova\] default_ephemeral_format" "$tmp/eph.out" ||
    { cat "$tmp/eph.out" >&2; die "virsh did not print the hook's line"; }
th_conf B <<EOF
[nova]
default_ephemeral_format = vfat
EOF
migrate vm-full
check_origin vm-full vda "Nova metadata"
check_origin vm-full vdb "Nova metadata"
check_origin vm-full vdc "Nova metadata"
th_same_disk "$dir/disk" || die "vm-full: B's root chain differs from A's"
# Ephemeral and swap bases are made on each host (mkfs and mkswap write
# their own serials, as Nova's do): the guest's own layer must match, and
# B's bases must be what Nova would make.
for d in disk.eph0 disk.swap; do
    qemu-img compare -q -U -f qcow2 -F qcow2 \
        "json:{\"driver\": \"qcow2\", \"file\": {\"driver\": \"file\", \"filename\": \"$(th_path A "$dir/$d")\"}, \"backing\": null}" \
        "json:{\"driver\": \"qcow2\", \"file\": {\"driver\": \"file\", \"filename\": \"$(th_path B "$dir/$d")\"}, \"backing\": null}" ||
        die "vm-full: B's top layer of $d differs from A's"
done
[ "$(blkid -o value -s TYPE "$(th_path B "$eph")")" = vfat ] || die "B's ephemeral base is not vfat"
[ "$(blkid -o value -s LABEL "$(th_path B "$eph")")" = ephemeral0 ] || die "B's ephemeral base label"
[ "$(blkid -o value -s TYPE "$(th_path B "$swap")")" = swap ] || die "B's swap base is not swap"
[ "$(stat -c %s "$(th_path B "$eph")")" = $((1 << 30)) ] || die "B's ephemeral base size"

# Nothing was created on A, and B's log tells each step.
for f in "$(th_path A "$NOVA_BASE")"/*; do
    case ${f##*/} in *.cowherd.json|ephemeral_1_0706d66|swap_64|*_1|????????????????????????????????????????) ;;
    *) die "unexpected file on A: $f" ;;
    esac
done
note "all five domains migrated incrementally; chains identical"
