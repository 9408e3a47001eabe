#!/usr/bin/env bash
# cowherd demo: a Nova-like VM whose root, ephemeral and swap bases are all
# missing from Nova's image cache starts anyway, because cowherd's libvirt
# hook rebuilds them on `prepare begin`.
#
# Run as root: ./scripts/demo.sh (it runs scripts/setup.sh first).
# Everything happens in a private mount namespace with its own libvirtd and
# its own /etc/libvirt, /etc/cowherd and /var/lib/nova; the host's are not
# touched, and all of it is torn down at the end.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=$repo/build
export COWHERD_HOOK=${COWHERD_HOOK:-$build/hooks/cowherd-hook}
export COWHERD_CLI=${COWHERD_CLI:-$build/cli/cowherd}

if [ -z "${IN_NS:-}" ]; then
    [ "$(id -u)" = 0 ] || { echo "demo.sh: run me as root" >&2; exit 1; }
    # Packages and the build (prefix /usr: the hook reads /etc/cowherd).
    "$repo/scripts/setup.sh"
fi

source "$repo/tests/integration/functions.sh"
private_ns "$@"
requires qemu-img blkid sha1sum "$PYTHON"

now_ms() {
    local t
    t=$(date +%s%N)
    echo $((t / 1000000))
}

section() {
    printf '\n== %s\n' "$*"
}

# show_base NAME: qemu-img's view of a rebuilt base, plus its filesystem.
show_base() {
    local f=$NOVA_BASE/$1 fs label
    echo "$1:"
    qemu-img info -U -f raw "$f" | grep -E '^(virtual size|disk size):' | sed 's/^/    /'
    fs=$(fs_type "$f")
    label=$(fs_label "$f")
    if [ -n "$fs" ]; then
        echo "    filesystem: $fs${label:+, label $label}"
    fi
}

t_begin=$(now_ms)
mktempdir tmp
lvhost_up "$tmp/host"
t_host=$(now_ms)

# The cache: only the original image (256 MiB raw, 96 MiB of it data).
image=$(new_uuid)
sha=$(image_sha1 "$image")
truncate -s 256M "$NOVA_BASE/$sha"
for off in 0 96 192; do
    head -c 32M < <(yes "demo image data at MiB $off") |
        dd of="$NOVA_BASE/$sha" bs=1M seek="$off" conv=notrunc iflag=fullblock status=none
done
make_instance demo "$(new_uuid)" "$image" 64 root eph swap >"$tmp/demo.xml"
virsh -q define "$tmp/demo.xml" >/dev/null

echo "cowherd demo: a Nova VM whose image-cache bases are missing"
echo "private libvirtd up in $((t_host - t_begin)) ms (its own /etc/libvirt, /var/lib/nova)"
echo "image $image -> original base $sha"
echo "disks: vda over ${sha}_1, vdb over ephemeral_1_0706d66, vdc over swap_64"
echo "_base holds only: $(ls "$NOVA_BASE" | tr '\n' ' ')"

section "cowherd inspect (the plan, before starting)"
"$COWHERD_CLI" --config "$COWHERD_CONF" inspect "$tmp/demo.xml"

section "virsh start demo"
t0=$(now_ms)
if ! virsh -q start demo; then
    show_log
    die "virsh start failed"
fi
t1=$(now_ms)
echo "virsh start took $((t1 - t0)) ms (hook, bases and QEMU included)"

section "what the hook did (its log)"
sed 's/^[^ ]* [^ ]*: //' "$COWHERD_LOG"

section "rebuilt bases"
for base in "${sha}_1" ephemeral_1_0706d66 swap_64; do
    show_base "$base"
done

section "result"
echo "domain state: $(virsh domstate demo)"
echo "_base now: $(ls "$NOVA_BASE" | tr '\n' ' ')"
echo "total $(($(now_ms) - t_begin)) ms; tearing down the private libvirt host"
