#!/usr/bin/env bash
# Hostile input to the hook: malicious or broken XML and image headers.
# Each case must fail with exit 1, one clear stderr line, nothing on stdout,
# and nothing created or changed anywhere.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
private_ns "$@"
requires qemu-img python3
requires_built COWHERD_HOOK

mktempdir tmp
hookhost_up "$tmp/host" 5
mkdir -p "$NOVA_INSTANCES/u" "$tmp/outside"

I=$NOVA_INSTANCES
SHA=$(image_sha1 "155d900f-4e14-4e4c-a73d-069cbf4541e6")

domain_xml() {   # domain_xml TOP [FORMAT]
    cat <<XML
<domain type='qemu'><name>hostile</name><devices>
<disk type='file' device='disk'><driver name='qemu' type='${2:-qcow2}'/>
<source file='$1'/><target dev='vda' bus='virtio'/></disk>
</devices></domain>
XML
}

snapshot() {
    find /var/lib/nova "$tmp/outside" -printf '%p %y %s %T@\n' | sort
}

# hostile NAME FRAGMENT: feed stdin to the hook's prepare; expect a clean
# refusal mentioning FRAGMENT and no change on disk.
hostile() {
    local name=$1 fragment=$2 rc=0 before after
    before=$(snapshot)
    timeout 20 "$COWHERD_HOOK" hostile prepare begin - \
        >"$tmp/out" 2>"$tmp/err" || rc=$?
    after=$(snapshot)
    [ "$rc" = 1 ] || { cat "$tmp/err"; die "$name: exit $rc, want 1"; }
    [ ! -s "$tmp/out" ] || die "$name: hook wrote to stdout"
    [ "$(wc -l <"$tmp/err")" = 1 ] || { cat "$tmp/err"; die "$name: want one stderr line"; }
    grep -qF -- "$fragment" "$tmp/err" ||
        die "$name: stderr lacks '$fragment': $(cat "$tmp/err")"
    [ "$before" = "$after" ] || { diff <(echo "$before") <(echo "$after") || true; die "$name: files changed"; }
    note "$name: $(cat "$tmp/err")"
}

# ---- XML ---------------------------------------------------------------------
hostile "internal entity" "DTD" <<'XML'
<?xml version="1.0"?>
<!DOCTYPE domain [<!ENTITY x "hostile">]>
<domain><name>&x;</name></domain>
XML

hostile "external DTD" "DTD" <<'XML'
<?xml version="1.0"?>
<!DOCTYPE domain SYSTEM "http://127.0.0.1:9/evil.dtd">
<domain><name>x</name></domain>
XML

hostile "external entity" "DTD" <<'XML'
<?xml version="1.0"?>
<!DOCTYPE domain [<!ENTITY x SYSTEM "file:///etc/shadow">]>
<domain><name>&x;</name></domain>
XML

python3 - >"$tmp/laughs.xml" <<'PY'
print('<?xml version="1.0"?>\n<!DOCTYPE domain [\n <!ENTITY l0 "lol">')
for i in range(1, 10):
    print(' <!ENTITY l%d "%s">' % (i, ('&l%d;' % (i - 1)) * 10))
print(']>\n<domain><name>&l9;</name></domain>')
PY
hostile "billion laughs" "DTD" <"$tmp/laughs.xml"

{ printf '<domain><name>big</name><!-- '; head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' 'x'; printf ' --></domain>'; } >"$tmp/big.xml"
hostile "10 MiB XML" "larger than" <"$tmp/big.xml"

printf '<domain><name>\xff\xfe\xc3</name></domain>' | hostile "non-UTF-8" "domain XML"
echo '<foo><name>x</name></foo>' | hostile "wrong root" "root element"
echo '<domain><name>x</name>' | hostile "truncated XML" "domain XML"

# ---- image headers -----------------------------------------------------------
qemu-img create -q -f qcow2 "$tmp/full.qcow2" 1G
head -c 50 "$tmp/full.qcow2" >"$I/u/truncated"
domain_xml "$I/u/truncated" | hostile "truncated qcow2 header" "truncated"

# A v2 header whose backing name is 64 KiB long.
python3 - "$I/u/longname" <<'PY'
import struct, sys
name = b"a" * 65536
hdr = struct.pack(">IIQIIQIIQQIIQ", 0x514649fb, 2, 72, len(name), 16, 1 << 30,
                  0, 0, 0, 0, 0, 0, 0)
open(sys.argv[1], "wb").write(hdr + name)
PY
domain_xml "$I/u/longname" | hostile "backing name 64 KiB" "too long"

qemu-img create -q -f qcow2 -F qcow2 -b "$I/u/loopB" -u "$I/u/loopA" 1G
qemu-img create -q -f qcow2 -F qcow2 -b "$I/u/loopA" -u "$I/u/loopB" 1G
domain_xml "$I/u/loopA" | hostile "backing loop A->B->A" "loop"

prev=""
for i in $(seq 0 99); do
    if [ -z "$prev" ]; then
        qemu-img create -q -f qcow2 "$I/u/depth$i" 1G
    else
        qemu-img create -q -f qcow2 -F qcow2 -b "$prev" "$I/u/depth$i" 1G
    fi
    prev="$I/u/depth$i"
done
domain_xml "$prev" | hostile "depth 100" "deeper than 16"

# ---- names that would leave the cache or go through symlinks -----------------
qemu-img create -q -f qcow2 -F raw -b "../_base/../_base/swap_64" -u "$I/u/dotdot" 64M
domain_xml "$I/u/dotdot" | hostile "backing name with .." "'..'"

qemu-img create -q -f qcow2 -F raw -b "$tmp/outside/swap_64" -u "$I/u/outside" 64M
domain_xml "$I/u/outside" | hostile "backing outside _base" "not an entry of the image cache"

qemu-img create -q -f qcow2 -F raw -b "/etc/../$I/_base/swap_64" -u "$I/u/etc" 64M
domain_xml "$I/u/etc" | hostile "absolute name with .." "'..'"

ln -s "$tmp/outside/target" "$I/_base/swap_128"
qemu-img create -q -f qcow2 -F raw -b "$I/_base/swap_128" -u "$I/u/symlinked" 128M
domain_xml "$I/u/symlinked" | hostile "dangling symlinked base" "symlink"
[ ! -e "$tmp/outside/target" ] || die "created through a symlink"

truncate -s 1M "$tmp/outside/original"
ln -s "$tmp/outside/original" "$I/_base/$SHA"
qemu-img create -q -f qcow2 -F raw -b "$I/_base/${SHA}_1" -u "$I/u/symorig" 1G
domain_xml "$I/u/symorig" | hostile "symlinked original" "symlink"

mkfifo "$I/u/fifo"
qemu-img create -q -f qcow2 -F raw -b "$I/u/fifo" -u "$I/u/tofifo" 1G
domain_xml "$I/u/tofifo" | hostile "FIFO as backing file" "fifo"

domain_xml "$I/u/does-not-exist" | hostile "missing top image" "never creates a top image"

note "all hostile inputs refused cleanly"
