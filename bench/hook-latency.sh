#!/bin/bash
# hook-latency.sh [BUILDDIR]: whole-process latency of cowherd-hook, side by
# side with an empty C program (the floor) and a minimal Python hook that
# only parses the domain XML.  Prints one table (median, p10, p90 in ms and
# the ratios to the floor and to the Python hook).
#
#   sudo bench/hook-latency.sh [BUILDDIR]
#
# BUILDDIR (or $BUILDDIR; default: build/ next to bench/) must be configured
# with -DCMAKE_INSTALL_PREFIX=/usr, so that the hook reads
# /etc/cowherd/cowherd.conf.  The script re-executes itself in a private
# mount namespace and puts a temp dir over /etc/cowherd there, so the host's
# /etc and Nova cache are never touched (if /etc/cowherd does not exist, a
# private overlay over /etc provides it; nothing is created on the host).
#
# Environment: RUNS (300), WARMUP (20), TIMER=loop|hyperfine (loop).
#   loop       bench/spawn-timer.c: posix_spawn + wait4, commands interleaved
#              round-robin so drift on a shared machine hits all alike;
#   hyperfine  hyperfine -N --input (needs hyperfine >= 1.16; Debian 12 has
#              1.15, which lacks --input), commands run one after another.
# KEEP_JSON=FILE copies the raw timings (hyperfine's JSON shape) to FILE.
# BASELINE=DIR adds the hook of another build (an earlier version, say) to
# the same round-robin, as "(baseline)" rows: a change's cost, side by side.
#
# Not part of the test suite: the numbers depend on the machine.
set -euo pipefail

self=$(readlink -f "$0")
here=$(dirname "$self")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
builddir=${1:-${BUILDDIR:-$here/../build}}
runs=${RUNS:-300}
warmup=${WARMUP:-20}
timer=${TIMER:-loop}
pyhost=/usr/bin/python3          # Debian's, as a hook would name it

die() {
    echo "hook-latency: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || die "must run as root (it uses a private mount namespace)"

# ---- outside: re-exec in a private mount namespace --------------------------
bench_private_ns "$self" "$@"

# ---- inside the namespace ----------------------------------------------------
for c in gcc qemu-img truncate mount umount; do
    command -v "$c" >/dev/null || die "$c missing"
done
[ -x "$pyhost" ] || die "$pyhost missing (apt-get install python3)"
builddir=$(readlink -f "$builddir") || die "no build dir $builddir"
hook=$builddir/hooks/cowherd-hook
[ -x "$hook" ] || die "$hook not built (cmake --build $builddir)"
for d in "$builddir" ${BASELINE:+"$BASELINE"}; do
    [ -x "$d/hooks/cowherd-hook" ] || die "$d/hooks/cowherd-hook not built"
    grep -q '"/etc/cowherd/cowherd.conf"' "$d/cowherd-build.h" ||
        die "$d was not configured with -DCMAKE_INSTALL_PREFIX=/usr" \
            "(the hook must read /etc/cowherd/cowherd.conf)"
done
case $timer in
loop) ;;
hyperfine)
    command -v hyperfine >/dev/null || die "hyperfine missing (apt-get install -y hyperfine)"
    grep -q -- '--input' <<<"$(hyperfine --help)" ||
        die "$(hyperfine --version) has no --input (needs >= 1.16); use TIMER=loop"
    ;;
*) die "TIMER must be loop or hyperfine" ;;
esac

bench_scratch /tmp/cowherd-bench.XXXXXX
tmp=$BENCH_TMP

# A private /etc/cowherd.  Mounts made here stay in this namespace.
mkdir "$tmp/etc-cowherd"
bench_etc_cowherd "$tmp/etc-cowherd"

# ---- the Nova instance: 4 file disks, chains whole ---------------------------
inst=$tmp/nova/instances
base=$inst/_base
uuid=8a3c1e4f-6b2d-4c5e-9f10-2b3a4c5d6e7f
name=instance-0000002a
sha1=$(printf '%s' cowherd-bench-root | sha1sum | cut -c1-40)
vm=$inst/$uuid
mkdir -p "$base" "$inst/locks" "$vm" "$tmp/log"

truncate -s 112M "$base/$sha1"                  # the original, kept by Nova
truncate -s 1G "$base/${sha1}_1"                # root, resized to the flavor
truncate -s 1G "$base/ephemeral_1_0706d66"
truncate -s 64M "$base/swap_64"
qemu-img create -q -f qcow2 -F raw -b "$base/${sha1}_1" "$vm/disk" 1G
qemu-img create -q -f qcow2 -F raw -b "$base/ephemeral_1_0706d66" "$vm/disk.eph0" 1G
qemu-img create -q -f qcow2 -F raw -b "$base/swap_64" "$vm/disk.swap" 64M
truncate -s 460K "$vm/disk.config"

cat >/etc/cowherd/cowherd.conf <<EOF
[nova]
instances_path = $inst
[log]
syslog = false
file = $tmp/log/cowherd.log
EOF

xml=$tmp/domain.xml
cat >"$xml" <<EOF
<domain type='kvm' id='3'>
  <name>$name</name>
  <uuid>$uuid</uuid>
  <metadata>
    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
      <nova:package version="27.1.0"/>
      <nova:name>vm1</nova:name>
      <nova:creationTime>2024-01-01 00:00:00</nova:creationTime>
      <nova:flavor name="m1.tiny.eph">
        <nova:memory>2048</nova:memory>
        <nova:disk>1</nova:disk>
        <nova:swap>64</nova:swap>
        <nova:ephemeral>1</nova:ephemeral>
        <nova:vcpus>1</nova:vcpus>
      </nova:flavor>
      <nova:owner>
        <nova:user uuid="u">admin</nova:user>
        <nova:project uuid="p">admin</nova:project>
      </nova:owner>
      <nova:root type="image" uuid="155d900f-4e14-4e4c-a73d-069cbf4541e6"/>
    </nova:instance>
  </metadata>
  <memory unit='KiB'>2097152</memory>
  <currentMemory unit='KiB'>2097152</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <cputune>
    <shares>1024</shares>
  </cputune>
  <resource>
    <partition>/machine</partition>
  </resource>
  <sysinfo type='smbios'>
    <system>
      <entry name='manufacturer'>OpenStack Foundation</entry>
      <entry name='product'>OpenStack Nova</entry>
      <entry name='version'>27.1.0</entry>
      <entry name='serial'>$uuid</entry>
      <entry name='uuid'>$uuid</entry>
      <entry name='family'>Virtual Machine</entry>
    </system>
  </sysinfo>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <boot dev='hd'/>
    <smbios mode='sysinfo'/>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <cpu mode='host-model' check='partial'>
    <topology sockets='1' dies='1' cores='1' threads='1'/>
  </cpu>
  <clock offset='utc'>
    <timer name='pit' tickpolicy='delay'/>
    <timer name='rtc' tickpolicy='catchup'/>
    <timer name='hpet' present='no'/>
  </clock>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='$vm/disk' index='4'/>
      <backingStore type='file' index='5'>
        <format type='raw'/>
        <source file='$base/${sha1}_1'/>
        <backingStore/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
      <alias name='virtio-disk0'/>
      <address type='pci' domain='0x0000' bus='0x03' slot='0x00' function='0x0'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='$vm/disk.eph0' index='3'/>
      <backingStore type='file' index='6'>
        <format type='raw'/>
        <source file='$base/ephemeral_1_0706d66'/>
        <backingStore/>
      </backingStore>
      <target dev='vdb' bus='virtio'/>
      <alias name='virtio-disk1'/>
      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='$vm/disk.swap' index='2'/>
      <backingStore type='file' index='7'>
        <format type='raw'/>
        <source file='$base/swap_64'/>
        <backingStore/>
      </backingStore>
      <target dev='vdc' bus='virtio'/>
      <alias name='virtio-disk2'/>
      <address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file='$vm/disk.config' index='1'/>
      <backingStore/>
      <target dev='sda' bus='sata'/>
      <readonly/>
      <alias name='sata0-0-0'/>
      <address type='drive' controller='0' bus='0' target='0' unit='0'/>
    </disk>
    <controller type='sata' index='0'>
      <alias name='ide'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x1f' function='0x2'/>
    </controller>
    <controller type='pci' index='0' model='pcie-root'>
      <alias name='pcie.0'/>
    </controller>
    <interface type='bridge'>
      <mac address='fa:16:3e:12:34:56'/>
      <source bridge='br-int'/>
      <virtualport type='openvswitch'>
        <parameters interfaceid='0b7e4f2c-1d3a-4e5f-8a9b-0c1d2e3f4a5b'/>
      </virtualport>
      <target dev='tap0b7e4f2c-1d'/>
      <model type='virtio'/>
      <mtu size='1450'/>
      <alias name='net0'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </interface>
    <serial type='pty'>
      <source path='/dev/pts/1'/>
      <log file='$vm/console.log' append='off'/>
      <target type='isa-serial' port='0'>
        <model name='isa-serial'/>
      </target>
      <alias name='serial0'/>
    </serial>
    <input type='tablet' bus='usb'>
      <alias name='input0'/>
      <address type='usb' bus='0' port='1'/>
    </input>
    <graphics type='vnc' port='5900' autoport='yes' listen='0.0.0.0'>
      <listen type='address' address='0.0.0.0'/>
    </graphics>
    <video>
      <model type='virtio' heads='1' primary='yes'/>
      <alias name='video0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'/>
    </video>
    <memballoon model='virtio'>
      <stats period='10'/>
      <alias name='balloon0'/>
      <address type='pci' domain='0x0000' bus='0x07' slot='0x00' function='0x0'/>
    </memballoon>
  </devices>
  <seclabel type='dynamic' model='apparmor' relabel='yes'>
    <label>libvirt-$uuid</label>
    <imagelabel>libvirt-$uuid</imagelabel>
  </seclabel>
</domain>
EOF

# ---- the contestants ----------------------------------------------------------
printf 'int main(void){return 0;}\n' >"$tmp/empty.c"
gcc -O2 -o "$tmp/empty" "$tmp/empty.c"

# What a trivial Python hook does at minimum; run through its #! line as
# libvirt runs hooks.
cat >"$tmp/python-hook" <<EOF
#!$pyhost
import sys, xml.etree.ElementTree as ET
ET.parse(sys.stdin)
EOF
chmod +x "$tmp/python-hook"

# libvirt gives hooks a small environment (LC_ALL=C, PATH, ...); so do we.
cleanenv=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C)

# ---- check each does what it is timed doing -----------------------------------
chain_bases=("$base/${sha1}_1" "$base/ephemeral_1_0706d66" "$base/swap_64")
listing() { find "$base" -mindepth 1 -printf '%f\n' | LC_ALL=C sort | tr '\n' ' '; }
before=$(listing)

check_hook() {          # check_hook OP SUBOP: exit 0, silent, bases marked
    local op=$1 subop=$2 f err
    touch -d '2001-01-01 00:00:00' "$base"/*
    err=$("${cleanenv[@]}" "$hook" "$name" "$op" "$subop" - <"$xml" 2>&1 >/dev/null) ||
        die "cowherd-hook $op failed: $err"
    [ -z "$err" ] || die "cowherd-hook $op wrote to stderr: $err"
    for f in "${chain_bases[@]}"; do
        [ "$(stat -c %Y "$f")" -gt 1000000000 ] || die "cowherd-hook $op did not mark $f"
    done
    [ "$(stat -c %Y "$base/$sha1")" -lt 1000000000 ] ||
        die "cowherd-hook $op marked $base/$sha1, which no chain uses"
}
check_hook started begin
check_hook prepare begin
if [ -n "${BASELINE:-}" ]; then
    hook_now=$hook hook=$(readlink -f "$BASELINE")/hooks/cowherd-hook
    check_hook started begin
    check_hook prepare begin
    baseline_hook=$hook hook=$hook_now
fi
touch -d '2001-01-01 00:00:00' "$base"/*
"${cleanenv[@]}" "$hook" "$name" stopped end - <"$xml" >/dev/null ||
    die "cowherd-hook stopped failed"
[ "$(stat -c %Y "$base/${sha1}_1")" -lt 1000000000 ] || die "cowherd-hook stopped marked"
[ "$(listing)" = "$before" ] || die "cowherd-hook created or removed cache entries"
"${cleanenv[@]}" "$tmp/python-hook" "$name" started begin - <"$xml" ||
    die "the Python hook failed"

# ---- measure -------------------------------------------------------------------
labels=("empty C program (floor)"
        "python3 hook: ET.parse(stdin)"
        "cowherd-hook started begin"
        "cowherd-hook prepare begin"
        "cowherd-hook stopped end")
cmds=("$tmp/empty $name started begin -"
      "$tmp/python-hook $name started begin -"
      "$hook $name started begin -"
      "$hook $name prepare begin -"
      "$hook $name stopped end -")
if [ -n "${BASELINE:-}" ]; then
    labels+=("cowherd-hook started begin (baseline)" "cowherd-hook prepare begin (baseline)")
    cmds+=("$baseline_hook $name started begin -" "$baseline_hook $name prepare begin -")
fi
json=$tmp/times.json

echo "hook-latency: $runs runs (+$warmup warmup) of each, timer: $timer ..." >&2
if [ "$timer" = loop ]; then
    gcc -O2 -Wall -o "$tmp/spawn-timer" "$here/spawn-timer.c"
    argv=()
    for c in "${cmds[@]}"; do
        [ ${#argv[@]} = 0 ] || argv+=("::")
        read -r -a words <<<"$c"
        argv+=("${words[@]}")
    done
    "${cleanenv[@]}" "$tmp/spawn-timer" -w "$warmup" -r "$runs" -i "$xml" -o "$json" \
        "${argv[@]}"
else
    "${cleanenv[@]}" "$(command -v hyperfine)" -N --style none --warmup "$warmup" \
        --runs "$runs" --input "$xml" --export-json "$json" "${cmds[@]}" >/dev/null
fi
[ -z "${KEEP_JSON:-}" ] || cp "$json" "$KEEP_JSON"

# ---- report ----------------------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "machine: $(nproc) CPUs ($cpu), Linux $(uname -r), $(date -u +%Y-%m-%d)"
echo "timer: $timer, $runs runs + $warmup warmup per command; domain: 4 file disks" \
     "(3 qcow2 over raw _base entries + raw config drive), XML $(wc -c <"$xml") bytes"
echo
"$pyhost" - "$json" "${labels[@]}" <<'EOF'
import json, sys

path, labels = sys.argv[1], sys.argv[2:]
results = json.load(open(path))["results"]
assert len(results) == len(labels)

def pct(v, p):                  # linear interpolation, as numpy's default
    v = sorted(v)
    k = (len(v) - 1) * p / 100
    i = int(k)
    return v[i] if i + 1 >= len(v) else v[i] + (v[i + 1] - v[i]) * (k - i)

rows = []
for label, r in zip(labels, results):
    ms = [t * 1e3 for t in r["times"]]
    rows.append((label, pct(ms, 50), pct(ms, 10), pct(ms, 90)))
floor, py = rows[0][1], rows[1][1]

print("| command | median ms | p10 ms | p90 ms | x floor | x python |")
print("|---|---:|---:|---:|---:|---:|")
for label, med, p10, p90 in rows:
    print(f"| {label} | {med:.2f} | {p10:.2f} | {p90:.2f} | {med / floor:.2f} | {med / py:.3f} |")

print()
print("targets (set where the floor was 0.65 ms; here it is %.2f ms):" % floor)
for label, med, _, _ in rows[2:]:
    ok_abs = med < 2.5
    speedup = py / med
    ok_py = speedup >= 10
    print(f"  {label}: median {med:.2f} ms "
          f"{'<' if ok_abs else '>='} 2.5 ms: {'met' if ok_abs else 'MISSED'}; "
          f"{speedup:.1f}x faster than the python hook "
          f"({'>=' if ok_py else '<'} 10x): {'met' if ok_py else 'MISSED'}; "
          f"{med / floor:.2f}x floor (2.5 ms there was {2.5 / 0.65:.2f}x floor)")
EOF
