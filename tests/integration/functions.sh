# shellcheck shell=bash
# shellcheck disable=SC2034  # variables here are used by the sourcing tests
# functions.sh: shared helpers for cowherd's integration tests (nbdkit style).
#
# Source it right after `set -euo pipefail`, then call `private_ns "$@"`:
#
#   source "$(dirname "$0")/functions.sh"
#   private_ns "$@"
#   requires virsh qemu-img
#   mktempdir tmp
#   lvhost_up "$tmp/host"
#
# Exit codes: 0 pass, 1 fail, 77 skip.  Every test runs in its own mount
# namespace with a private libvirtd, so nothing touches the host's libvirt,
# /etc or Nova cache.  Cleanups pushed with cleanup_fn run from one EXIT trap,
# last pushed first, also when a test fails midway.

# Fixed Nova layout inside the namespace.
NOVA_INSTANCES=/var/lib/nova/instances
NOVA_BASE=$NOVA_INSTANCES/_base
NOVA_LOCKS=$NOVA_INSTANCES/locks
COWHERD_CONF=/etc/cowherd/cowherd.conf
COWHERD_LOG=/var/log/libvirt/cowherd-test.log
COWHERD_TMP_DIR=$NOVA_BASE/.cowherd-tmp   # where the hook builds entries
PYTHON=/usr/bin/python3
export LIBVIRT_DEFAULT_URI=qemu:///system

# ---- messages and assertions ----------------------------------------------

die() {
    echo "FAIL: $*" >&2
    exit 1
}

skip() {
    echo "" >&2
    echo "*** SKIP: $* ***" >&2
    echo "" >&2
    exit 77
}

note() {
    echo "--- $*" >&2
}

# expect_fail CMD ARGS...: CMD must exit non-zero (its output is shown).
expect_fail() {
    if "$@"; then
        die "expected failure but succeeded: $*"
    fi
}

# ---- manifests -------------------------------------------------------------

# json_field FILE KEY: one top-level field of a JSON file ("" if absent).
json_field() {
    "$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' \
        "$1" "$2"
}

# assert_manifest_digest MANIFEST FILE ALGO: MANIFEST records ALGO (sha256
# or sha512) of FILE's content and no other digest (one pass per byte).
assert_manifest_digest() {
    local m=$1 f=$2 algo=$3 other=sha256 sum
    [ "$algo" = sha256 ] && other=sha512
    sum=$("${algo}sum" <"$f")
    [ "$(json_field "$m" "$algo")" = "${sum%% *}" ] ||
        die "$m: $algo '$(json_field "$m" "$algo")', the file's is ${sum%% *}"
    [ -z "$(json_field "$m" "$other")" ] || die "$m: records a $other as well"
}

# ---- requirements ----------------------------------------------------------

# requires CMD...: skip (77) unless root and every CMD is on PATH (or is an
# executable path).
requires() {
    local c
    [ "$(id -u)" = 0 ] || skip "must run as root"
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || skip "$c missing (install its package)"
    done
}

# requires_built VAR...: each VAR names a built binary from ctest's
# environment.  A missing build is a failure, not a skip.
requires_built() {
    local v
    for v in "$@"; do
        [ -n "${!v:-}" ] || die "\$$v not set (run through ctest)"
        [ -x "${!v}" ] || die "\$$v=${!v} is not an executable (not built?)"
    done
}

# ---- cleanup stack ---------------------------------------------------------

# Entries are kept flat, without eval: argument counts in _cl_argc and all
# arguments, in push order, in _cl_argv.
_cl_argc=()
_cl_argv=()

# cleanup_fn CMD ARGS...: run CMD ARGS at exit (LIFO).
cleanup_fn() {
    _cl_argc+=("$#")
    _cl_argv+=("$@")
}

_run_cleanups() {
    local rc=$? i off=0
    local -a offs=()
    trap - EXIT ERR
    set +e
    for i in "${!_cl_argc[@]}"; do
        offs+=("$off")
        off=$((off + _cl_argc[i]))
    done
    for ((i = ${#_cl_argc[@]} - 1; i >= 0; i--)); do
        "${_cl_argv[@]:offs[i]:_cl_argc[i]}" ||
            echo "warning: cleanup failed: ${_cl_argv[*]:offs[i]:_cl_argc[i]}" >&2
    done
    exit "$rc"
}
trap _run_cleanups EXIT

# Say where set -e stopped the test: once, at the innermost failure, and
# only in the test's own shell (not in subshells, e.g. `yes` in a process
# substitution dying of SIGPIPE).
_err_seen=0
_on_err() {
    [ "$_err_seen" = 0 ] && [ "$BASHPID" = "$$" ] || return 0
    _err_seen=1
    echo "FAIL: ${BASH_SOURCE[1]##*/} line $1: '$2' exited with status $3" >&2
}
set -E
trap '_on_err "$LINENO" "$BASH_COMMAND" "$?"' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# mktempdir VAR: make a fresh temp dir, store its path in VAR; it is
# removed at exit, after everything pushed later (e.g. mounts inside it).
mktempdir() {
    local d
    d=$(mktemp -d /tmp/cowherd-test.XXXXXX)
    cleanup_fn rm -rf --one-file-system "$d"
    printf -v "$1" '%s' "$d"
}

# ---- private mount namespace -----------------------------------------------

# private_ns "$@": re-exec the calling script in a private mount namespace
# (no stdin: tests never read it).
private_ns() {
    if [ -z "${IN_NS:-}" ]; then
        requires unshare
        exec env IN_NS=1 unshare --mount --propagation private bash "$0" "$@" </dev/null
    fi
}

# ---- the private libvirt host ------------------------------------------------

# Directories hidden behind private copies; index-aligned with their names
# under the host's state dir.
_lv_mounts=(/etc/libvirt /etc/cowherd /run/libvirt /var/lib/libvirt
            /var/cache/libvirt /var/log/libvirt /var/lib/nova)
_lv_names=(etc-libvirt etc-cowherd run-libvirt lib-libvirt
           cache-libvirt log-libvirt lib-nova)
_lv_mounted=()     # what lvhost_up mounted, in order
_lv_pids=()        # daemons and guests seen, checked gone at teardown
LV_DIR=
LV_UP=0

# lvhost_up DIR: start a private libvirtd with cowherd's hook installed,
# state under DIR.  Registers lvhost_down.
lvhost_up() {
    local dir=$1 i
    [ -n "${IN_NS:-}" ] || die "lvhost_up outside the private namespace"
    requires libvirtd virtlogd virsh qemu-system-x86_64 mount umount
    requires_built COWHERD_HOOK
    LV_DIR=$dir
    mkdir -p "$dir"
    cleanup_fn lvhost_down
    LV_UP=1

    for i in "${!_lv_mounts[@]}"; do
        mkdir -p "$dir/${_lv_names[i]}"
    done
    cp -a /etc/libvirt/. "$dir/etc-libvirt/"
    _lv_configure "$dir/etc-libvirt"
    mkdir -p "$dir/lib-nova/instances/_base" "$dir/lib-nova/instances/locks"
    for i in "${!_lv_mounts[@]}"; do
        _lv_bind "$dir/${_lv_names[i]}" "${_lv_mounts[i]}"
    done
    ln -s "$COWHERD_HOOK" /etc/libvirt/hooks/qemu.d/cowherd
    write_cowherd_conf 60

    # Both return once the daemon is up (or failed).  A clean environment,
    # as systemd gives them: hooks get libvirtd's PATH.
    _lv_env virtlogd -d -p /run/libvirt/virtlogd.pid || die "virtlogd failed to start"
    _lv_wait_pidfile /run/libvirt/virtlogd.pid
    _lv_env libvirtd -d -p /run/libvirt/libvirtd.pid || {
        tail -n 20 /var/log/libvirt/libvirtd.log >&2 || true
        die "libvirtd failed to start"
    }
    _lv_wait_pidfile /run/libvirt/libvirtd.pid
    _lv_wait_answer
}

# The private qemu.conf: root guests, no security driver, no cgroups and
# no per-guest /dev namespace (this container has neither to spare); no
# autostarted networks (they would add bridges to the host).
_lv_configure() {
    local etc=$1
    rm -f "$etc"/qemu/networks/autostart/*.xml "$etc"/qemu/autostart/*.xml
    rm -rf "$etc/hooks"
    mkdir -p "$etc/hooks/qemu.d"
    cat >>"$etc/qemu.conf" <<'EOF'

# cowherd integration tests (private copy)
security_driver = "none"
user = "root"
group = "root"
dynamic_ownership = 0
cgroup_controllers = [ ]
namespaces = [ ]
EOF
    cat >>"$etc/libvirtd.conf" <<'EOF'

# cowherd integration tests (private copy)
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
}

_lv_env() {
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

# A missing mount point is created on the host and left there, empty:
# removing it would detach the same mount in any other test namespace.
_lv_bind() {
    local src=$1 dst=$2
    mkdir -p "$dst"
    mount --bind "$src" "$dst"
    _lv_mounted+=("$dst")
}

# _lv_wait_pidfile FILE: wait (bounded) for a daemon's pid file.
_lv_wait_pidfile() {
    local f=$1 i pid
    for ((i = 0; i < 100; i++)); do
        if [ -s "$f" ]; then
            pid=$(<"$f")
            _lv_pids+=("$pid")
            return 0
        fi
        sleep 0.1
    done
    die "no pid file $f after 10 s"
}

_lv_wait_answer() {
    local i
    for ((i = 0; i < 150; i++)); do
        if virsh version >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    virsh version || true
    die "libvirtd did not answer within 30 s"
}

# lvhost_down: destroy and undefine every domain, stop the daemons by pid,
# check nothing survived, unmount.  Safe to call twice and after a partial
# lvhost_up.
lvhost_down() {
    local - dom pid i ok=1 doms pids
    set +e
    [ "$LV_UP" = 1 ] || return 0
    LV_UP=0
    if [ -s /run/libvirt/libvirtd.pid ] && virsh version >/dev/null 2>&1; then
        _lv_note_guest_pids
        # In parallel: one destroy takes about 2 s here.
        mapfile -t doms < <(virsh -q list --name --state-running)
        pids=()
        for dom in "${doms[@]}"; do
            [ -n "$dom" ] || continue
            virsh -q destroy "$dom" >/dev/null &
            pids+=("$!")
        done
        [ "${#pids[@]}" = 0 ] || wait "${pids[@]}"
        mapfile -t doms < <(virsh -q list --name --all)
        for dom in "${doms[@]}"; do
            [ -n "$dom" ] && { virsh -q undefine "$dom" >/dev/null || ok=0; }
        done
        [ -z "$(virsh -q list --name --all)" ] || ok=0
    fi
    _lv_note_guest_pids
    _lv_kill_pidfile /run/libvirt/libvirtd.pid
    _lv_kill_pidfile /run/libvirt/virtlogd.pid
    for pid in "${_lv_pids[@]}"; do
        _wait_pid_gone "$pid" 15 && continue
        echo "warning: pid $pid still alive after teardown, SIGKILL" >&2
        kill -KILL "$pid"
        _wait_pid_gone "$pid" 5 || ok=0
    done
    for ((i = ${#_lv_mounted[@]} - 1; i >= 0; i--)); do
        umount "${_lv_mounted[i]}" || ok=0
    done
    _lv_mounted=()
    [ "$ok" = 1 ] || { echo "error: lvhost teardown was not clean" >&2; return 1; }
}

# Remember the pid of every guest libvirt started (qemu's pid files).
_lv_note_guest_pids() {
    local f
    for f in /run/libvirt/qemu/*.pid; do
        [ -s "$f" ] && _lv_pids+=("$(<"$f")")
    done
    return 0
}

_lv_kill_pidfile() {
    local f=$1 pid
    [ -s "$f" ] || return 0
    pid=$(<"$f")
    kill -TERM "$pid" 2>/dev/null || true
}

# _wait_pid_gone PID SECONDS: 0 once PID is gone (or a zombie), 1 on timeout.
_wait_pid_gone() {
    local pid=$1 secs=$2 i state
    for ((i = 0; i < secs * 10; i++)); do
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 0
        [ "$state" = Z ] && return 0
        sleep 0.1
    done
    return 1
}

# lvhost_pids: the pids teardown checks (daemons and guests seen).
lvhost_pids() {
    _lv_note_guest_pids
    printf '%s\n' "${_lv_pids[@]}" | sort -un
}

# ---- cowherd configuration ---------------------------------------------------

# check_config_path: the build's hook must read $COWHERD_CONF, the file
# the tests write (a /usr/local prefix makes it /usr/local/etc/...).
check_config_path() {
    local h=${BUILDDIR:-}/cowherd-build.h
    [ -f "$h" ] || return 0
    grep -qF "COWHERD_CONFIG_PATH \"$COWHERD_CONF\"" "$h" ||
        die "the hook in $BUILDDIR reads $(grep -o '"[^"]*conf"' "$h"), not $COWHERD_CONF:" \
            "configure with -DCMAKE_INSTALL_PREFIX=/usr (as scripts/setup.sh does)"
}

# write_cowherd_conf [LOCK_TIMEOUT]: the private /etc/cowherd/cowherd.conf.
write_cowherd_conf() {
    local timeout=${1:-60}
    check_config_path
    cat >"$COWHERD_CONF" <<EOF
[nova]
instances_path = $NOVA_INSTANCES
[locks]
timeout = $timeout
[log]
syslog = false
file = $COWHERD_LOG
EOF
}

# ---- servers the tests start -----------------------------------------------

# free_port: a TCP port nothing listens on at 127.0.0.1.
free_port() {
    local port i
    for ((i = 0; i < 20; i++)); do
        port=$("$PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
        if [ -z "$(ss -Hltn "sport = :$port")" ]; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    die "no free TCP port found"
}

# since_s T0: seconds since T0 (an $EPOCHREALTIME), to 0.1 s.
since_s() {
    "$PYTHON" -c 'import sys; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' \
        "$1" "$EPOCHREALTIME"
}

# ---- Nova-like fixtures ----------------------------------------------------

# hookhost_up DIR [TIMEOUT]: private /etc/cowherd and /var/lib/nova without a
# libvirtd, for tests that run the hook directly.
hookhost_up() {
    local dir=$1
    _lv_mounted=()
    mkdir -p "$dir/etc" "$dir/nova/instances/_base" "$dir/log"
    _lv_bind "$dir/etc" /etc/cowherd
    _lv_bind "$dir/nova" /var/lib/nova
    _lv_bind "$dir/log" /var/log/libvirt      # where the test's log goes
    cleanup_fn umount /etc/cowherd
    cleanup_fn umount /var/lib/nova
    cleanup_fn umount /var/log/libvirt
    write_cowherd_conf "${2:-60}"
}

# image_fixture MIB [full]: a new image id; sets image, sha, orig (its
# original in _base, MIB MiB, made sparse or, with "full", all data) and
# resized (the missing <sha1>_1 an m1.tiny root disk backs onto).
image_fixture() {
    image=$(new_uuid)
    sha=$(image_sha1 "$image")
    orig=$NOVA_BASE/$sha
    resized=$NOVA_BASE/${sha}_1
    if [ "${2:-}" = full ]; then
        make_original_full "$orig" "$1"
    else
        make_original "$orig" "$1"
    fi
}

new_uuid() {
    cat /proc/sys/kernel/random/uuid
}

# image_sha1 IMAGE_UUID: Nova's original base name for an image.
image_sha1() {
    local sum
    sum=$(printf '%s' "$1" | sha1sum)
    printf '%s\n' "${sum%% *}"
}

# make_original PATH MIB: a sparse raw image with recognisable data at a
# few offsets (first and last MiB, some in between) and holes elsewhere.
make_original() {
    local path=$1 mib=$2 off
    truncate -s "${mib}M" "$path"
    for off in 0 1 $((mib / 3)) $((mib / 2 + 1)) $((mib - 1)); do
        head -c 65536 < <(yes "cowherd original block at MiB $off") |
            dd of="$path" bs=64k seek=$((off * 16)) conv=notrunc status=none
    done
}

# make_original_full PATH MIB: a raw image fully written with non-zero data.
make_original_full() {
    local path=$1 mib=$2
    head -c "$((mib * 1024 * 1024))" < <(yes "cowherd full original") >"$path"
}

# make_overlay TOP BACKING SIZE: a qcow2 over a raw backing file, which may
# not exist yet (then -u; SIZE is always explicit).
make_overlay() {
    local top=$1 backing=$2 size=$3 unsafe=()
    [ -e "$backing" ] || unsafe=(-u)
    qemu-img create -q -f qcow2 -F raw -b "$backing" "${unsafe[@]}" "$top" "$size"
}

# make_instance NAME UUID IMAGE_UUID MEM_MIB DISKS...: the instance dir with
# one overlay per disk (root, eph, swap: vda, vdb, vdc in that order) and
# disk.info; prints the domain XML.  Sizes as m1.tiny: root 1 GB,
# ephemeral 1 GB, swap 64 MB.  Missing bases stay missing.
make_instance() {
    local name=$1 uuid=$2 image=$3 mem=$4
    shift 4
    local dir=$NOVA_INSTANCES/$uuid sha d eph=0 swap=0 paths=()
    sha=$(image_sha1 "$image")
    mkdir -p "$dir"
    for d in "$@"; do
        case $d in
        root)
            make_overlay "$dir/disk" "$NOVA_BASE/${sha}_1" 1G
            paths+=("$dir/disk") ;;
        eph)
            eph=1
            make_overlay "$dir/disk.eph0" "$NOVA_BASE/ephemeral_1_0706d66" 1G
            paths+=("$dir/disk.eph0") ;;
        swap)
            swap=64
            make_overlay "$dir/disk.swap" "$NOVA_BASE/swap_64" 64M
            paths+=("$dir/disk.swap") ;;
        *) die "make_instance: unknown disk $d" ;;
        esac
    done
    _disk_info "$dir" "$@"
    domain_xml "$name" "$uuid" "$image" "$eph" "$swap" "$mem" "${paths[@]}"
}

# domain_xml NAME UUID IMAGE|- EPH_GB SWAP_MB MEM_MIB DISK...: a TCG domain
# (no OS) over the qcow2 file disks DISK (vda, vdb, ...), with Nova's
# metadata (flavor m1.tiny, 1 GB root) when IMAGE is not "-".
domain_xml() {
    local name=$1 uuid=$2 image=$3 eph=$4 swap=$5 mem=$6 d meta="" disks=""
    local devs=(vda vdb vdc vdd)
    shift 6
    for d in "$@"; do
        disks+=$(_disk_xml "$d" "${devs[0]}")
        devs=("${devs[@]:1}")
    done
    if [ "$image" != - ]; then
        meta="
  <metadata>
    <nova:instance xmlns:nova=\"http://openstack.org/xmlns/libvirt/nova/1.1\">
      <nova:name>$name</nova:name>
      <nova:flavor name=\"m1.tiny\">
        <nova:memory>$mem</nova:memory>
        <nova:disk>1</nova:disk>
        <nova:swap>$swap</nova:swap>
        <nova:ephemeral>$eph</nova:ephemeral>
        <nova:vcpus>1</nova:vcpus>
      </nova:flavor>
      <nova:root type=\"image\" uuid=\"$image\"/>
    </nova:instance>
  </metadata>"
    fi
    cat <<EOF
<domain type='qemu'>
  <name>$name</name>
  <uuid>$uuid</uuid>$meta
  <memory unit='MiB'>$mem</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <boot dev='hd'/>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>$disks
    <graphics type='vnc' listen='127.0.0.1' autoport='yes'/>
  </devices>
</domain>
EOF
}

_disk_xml() {
    printf "\n    <disk type='file' device='disk'>\n"
    printf "      <driver name='qemu' type='qcow2'/>\n"
    printf "      <source file='%s'/>\n" "$1"
    printf "      <target dev='%s' bus='virtio'/>\n" "$2"
    printf "    </disk>"
}

# disk.info as Nova writes it: one JSON object {path: format}.
_disk_info() {
    local dir=$1 d sep="" out="{"
    shift
    for d in "$@"; do
        case $d in
        root) d=disk ;;
        eph) d=disk.eph0 ;;
        swap) d=disk.swap ;;
        esac
        out+="$sep\"$dir/$d\": \"qcow2\""
        sep=", "
    done
    printf '%s}\n' "$out" >"$dir/disk.info"
}

# ---- checks on the result ----------------------------------------------------

# assert_running DOMAIN...
assert_running() {
    local dom state
    for dom in "$@"; do
        state=$(virsh domstate "$dom" 2>&1) || die "domstate $dom: $state"
        [ "$state" = running ] || die "domain $dom is '$state', not running"
    done
}

# raw_virtual_size FILE: virtual size per qemu-img (format forced raw).
raw_virtual_size() {
    qemu-img info -U -f raw --output=json "$1" |
        "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["virtual-size"])'
}

# allocated FILE: bytes allocated on disk (du), data and fs metadata.
allocated() {
    local out
    out=$(du --block-size=1 "$1")
    printf '%s\n' "${out%%[[:space:]]*}"
}

# data_bytes FILE: bytes in the file's data extents (SEEK_DATA/SEEK_HOLE, via
# qemu-img map).  Unlike du it leaves out ext4's extent-tree blocks, which
# du counts once a file has more than 4 extents and its delayed allocation
# has been written: that differs between two files with identical holes.
data_bytes() {
    qemu-img map -U -f raw --output=json "$1" |
        "$PYTHON" -c 'import json, sys; print(sum(e["length"] for e in json.load(sys.stdin) if e["data"]))'
}

# assert_resized_base ORIGINAL RESIZED GB: the copy-extend result is right.
assert_resized_base() {
    local orig=$1 resized=$2 gb=$3 size a_orig a_res
    [ -f "$resized" ] || die "$resized was not created"
    size=$(raw_virtual_size "$resized")
    [ "$size" = $((gb * 1024 * 1024 * 1024)) ] ||
        die "$resized: virtual size $size, want $gb GiB"
    # Shorter first: compare requires the longer one's tail to be zeros.
    qemu-img compare -U -q -f raw -F raw "$orig" "$resized" ||
        die "$resized differs from $orig"
    a_orig=$(data_bytes "$orig")
    a_res=$(data_bytes "$resized")
    note "data extents: original $a_orig bytes, resized $a_res bytes" \
        "(du: $(allocated "$orig") / $(allocated "$resized"))"
    [ "$a_res" -le "$a_orig" ] ||
        die "$resized has $a_res bytes of data extents, more than the original's $a_orig"
}

# assert_base_files NAME...: _base holds exactly these entries, the hook's
# private build directory (if any) is empty and root's alone, and every
# entry belongs to _base's owner (so nothing is left half-built, and Nova
# can still manage what cowherd made).
assert_base_files() {
    local want got n owner
    want=$(for n in "$@"; do printf '%s\n' "$n"; done | sort | tr '\n' ' ')
    got=$(ls -A "$NOVA_BASE" | grep -vxF .cowherd-tmp | sort | tr '\n' ' ' || true)
    [ "$want" = "$got" ] || die "_base holds [ $got], want [ $want]"
    if [ -e "$COWHERD_TMP_DIR" ]; then
        [ -z "$(ls -A "$COWHERD_TMP_DIR")" ] ||
            die "leftovers in $COWHERD_TMP_DIR: $(ls -A "$COWHERD_TMP_DIR" | tr '\n' ' ')"
        [ "$(stat -c '%U %a' "$COWHERD_TMP_DIR")" = "root 700" ] ||
            die "$COWHERD_TMP_DIR is $(stat -c '%U %a' "$COWHERD_TMP_DIR"), want root 700"
    fi
    owner=$(stat -c %u:%g "$NOVA_BASE")
    for n in "$@"; do
        [ "$(stat -c %u:%g "$NOVA_BASE/$n")" = "$owner" ] ||
            die "$n is owned by $(stat -c %u:%g "$NOVA_BASE/$n"), _base by $owner"
    done
}

# fs_type FILE / fs_label FILE: what blkid sees in a raw image.
fs_type() {
    blkid -p -o value -s TYPE "$1" || true
}

fs_label() {
    blkid -p -o value -s LABEL "$1" || true
}

# log_count REGEX: lines of the cowherd log matching an extended regex.
log_count() {
    [ -f "$COWHERD_LOG" ] || { echo 0; return 0; }
    grep -cE -- "$1" "$COWHERD_LOG" || true
}

# poll_until SECONDS WHAT CMD...: run CMD every 50 ms until it succeeds;
# fail after SECONDS.
poll_until() {
    local secs=$1 what=$2 i
    shift 2
    for ((i = 0; i < secs * 20; i++)); do
        "$@" && return 0
        sleep 0.05
    done
    die "$what: not within $secs s"
}

# wait_logged REGEX [SECONDS]: wait (bounded, default 60 s) until a line of
# the cowherd log matches: a process has reached the state it logs.
wait_logged() {
    local i
    for ((i = 0; i < ${2:-60} * 10; i++)); do
        [ "$(log_count "$1")" = 0 ] || return 0
        sleep 0.1
    done
    die "nothing matching '$1' logged within ${2:-60} s"
}

# assert_logged DOMAIN DEV ACTION PATH [COUNT]: the hook logged ACTION on
# PATH for this disk exactly COUNT (default 1) times.
assert_logged() {
    local dom=$1 dev=$2 action=$3 path=$4 want=${5:-1} n
    n=$(log_count "domain $dom: disk $dev: $action $path: done in [0-9]+ ms$")
    [ "$n" = "$want" ] ||
        die "log has $n '$action $path' lines for $dom/$dev, want $want"
}

show_log() {
    note "cowherd log ($COWHERD_LOG):"
    if [ -f "$COWHERD_LOG" ]; then cat "$COWHERD_LOG" >&2; fi
}

# kill_if_alive PID: SIGTERM PID unless it is already gone.
kill_if_alive() {
    if kill -0 "$1" 2>/dev/null; then
        kill "$1" 2>/dev/null || true
    fi
}

# bg_run OUT CMD ARGS...: run CMD in the background, output to OUT, exit
# status to OUT.rc when it ends; sets BG_PID.
bg_run() {
    local out=$1
    shift
    (
        rc=0
        "$@" >"$out" 2>&1 || rc=$?
        echo "$rc" >"$out.rc"
    ) &
    BG_PID=$!
}

# bg_status OUT: the exit status bg_run recorded (empty if still running).
bg_status() {
    if [ -f "$1.rc" ]; then cat "$1.rc"; fi
}

# ---- cowherd fetch by hand -------------------------------------------------

# fetch ARGS...: run `cowherd fetch ARGS` with the test's config; output in
# $tmp/out and $tmp/err (tmp from mktempdir); sets rc.
fetch() {
    rc=0
    "$COWHERD_CLI" --config "$COWHERD_CONF" fetch "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}

# fetch_ok ARGS...: the fetch must succeed.
fetch_ok() {
    fetch "$@"
    [ "$rc" = 0 ] || { cat "$tmp/err" >&2; show_log; die "fetch $*: exit $rc"; }
    [ ! -s "$tmp/out" ] || note "$(cat "$tmp/out")"
}

# fetch_refused REGEX ARGS...: the fetch must exit 1 with one stderr line
# matching REGEX (extended, case-insensitive).
fetch_refused() {
    local re=$1
    shift
    fetch "$@"
    [ "$rc" = 1 ] || { cat "$tmp/err" >&2; show_log; die "fetch $*: exit $rc, want 1"; }
    [ "$(wc -l <"$tmp/err")" = 1 ] || { cat "$tmp/err" >&2; die "fetch $*: want one stderr line"; }
    grep -qiE -- "$re" "$tmp/err" || die "fetch $*: unclear error: $(cat "$tmp/err")"
    note "refused: $(cat "$tmp/err")"
}

# ---- Nova's locks ------------------------------------------------------------

# hold_lock FILE OUT: a Python process holding Nova's lock on FILE, as
# oslo.concurrency takes it; sets LOCK_PID once the lock is held.
hold_lock() {
    local file=$1 out=$2 i
    "$PYTHON" -c '
import fcntl, os, sys, time
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
f = open(sys.argv[1], "a")
fcntl.lockf(f, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(3600)
' "$file" >"$out" 2>&1 &
    LOCK_PID=$!
    cleanup_fn kill_if_alive "$LOCK_PID"
    for ((i = 0; i < 100; i++)); do
        grep -qx locked "$out" && return 0
        kill -0 "$LOCK_PID" || die "lock holder died: $(cat "$out")"
        sleep 0.1
    done
    die "lock holder did not take $file within 10 s"
}

# release_lock: end the lock holder by its pid.
release_lock() {
    kill "$LOCK_PID"
    wait "$LOCK_PID" || true
}
