# shellcheck shell=bash
# shellcheck disable=SC2034  # variables here are used by the sourcing tests
# shellcheck disable=SC2154  # _lv_mounts, _lv_names: functions.sh's
# shellcheck source=tests/integration/sshd.sh
source "$(dirname "${BASH_SOURCE[0]}")/sshd.sh"
# twohost.sh: two private libvirt hosts on one machine, A (migration source)
# and B (destination), each in its own network and mount namespace.
# Source it after functions.sh (and sshd.sh, if used):
#
#   source "$(dirname "$0")/functions.sh"
#   source "$(dirname "$0")/twohost.sh"
#   private_ns "$@"
#   mktempdir tmp
#   TH_B_HOOKS=("$tmp/recorder")     # optional: extra hooks for B's qemu.d
#   twohost_up "$tmp/hosts"
#   th_a virsh -q define "$tmp/vm1.xml"
#   th_migrate vm1 --copy-storage-inc
#
# A host is `ip netns exec NS unshare --mount --uts`, a veth to the other
# host (10.X.Y.1 is A, .2 is B) and lo, and the same private bind mounts as
# lvhost_up (_lv_mounts), backed by DIR/A/<name> and DIR/B/<name>
# (_lv_names): the test sees both trees there, each host sees its own at
# the real paths.  Both run virtlogd and libvirtd --listen (TCP, no auth).
# The bind mounts exist only in the host's mount namespace, which ends with
# its last process; teardown checks that no process is left in either
# host's namespaces.
#
# The API:
#   twohost_up DIR       start both; export TH_A_ADDR TH_B_ADDR, TH_A_DIR
#                        TH_B_DIR (host trees seen from the test), TH_A_PID
#                        TH_B_PID (libvirtd pids).  If $COWHERD_HOOK is set
#                        (non-empty), installs cowherd's hook and
#                        cowherd.conf (as lvhost_up) in both; the files in
#                        the arrays TH_A_HOOKS / TH_B_HOOKS (set after
#                        sourcing) go to that host's hooks/qemu.d.
#   th_a CMD... / th_b CMD...   run CMD in host A's / B's namespaces
#   th_migrate DOM [OPTS...]    virsh migrate --live OPTS DOM from A to B
#   th_veth_bytes        bytes that crossed the veth so far (tx + rx)
#   th_sshd_up_a         sshd in host A on TH_A_ADDR; export TH_SSHD_PORT,
#                        TH_SSH_KEY (client key, readable in both hosts)
#   th_ssh_from_b CMD... run CMD on A over ssh from B (a login check)
#   th_path A|B PATH     where the test sees a host's PATH
#   th_conf A|B          append stdin to that host's cowherd.conf
#   th_chain_json A|B PATH   json: name of PATH's whole chain on that host
#   th_same_disk PATH    qemu-img compare of A's and B's chains of PATH
#   th_seed_base NAME MIB [IMAGE_ID]   a base with a manifest in A's _base
#   twohost_down         stop everything (registered by twohost_up)

TH_A_HOOKS=()
TH_B_HOOKS=()
TH_DIR=
TH_UP=0
TH_A_ADDR=
TH_B_ADDR=
TH_A_DIR=
TH_B_DIR=
TH_A_PID=
TH_B_PID=
TH_SSHD_PID=
TH_SSHD_PORT=
TH_SSH_KEY=
_th_netns=()       # namespace names `ip netns add` made
_th_nsids=()       # "net:[inode]" / "mnt:[inode]" of the hosts' namespaces
_th_pids=()        # daemons and guests seen, checked gone at teardown
_th_veth="th-a"    # A's end of the veth (the name exists only inside A)

# twohost_up DIR: both hosts, state under DIR/A and DIR/B.  Registers
# twohost_down.
twohost_up() {
    local dir=$1 x y
    [ -n "${IN_NS:-}" ] || die "twohost_up outside the private namespace"
    requires ip nsenter unshare hostname libvirtd virtlogd virsh qemu-system-x86_64 mount
    [ -z "${COWHERD_HOOK:-}" ] || requires_built COWHERD_HOOK
    mkdir -p "$dir"
    TH_DIR=$(cd "$dir" && pwd)
    TH_A_DIR=$TH_DIR/A
    TH_B_DIR=$TH_DIR/B
    cleanup_fn twohost_down
    TH_UP=1

    # Only the two namespaces see the subnet, so any will do; one per pid
    # keeps concurrent tests' logs apart.
    x=$((($$ >> 8) % 256))
    y=$(($$ % 256))
    export TH_A_ADDR=10.$x.$y.1 TH_B_ADDR=10.$x.$y.2
    _th_netns_add "cowherd-$$-a"
    _th_netns_add "cowherd-$$-b"
    # Made inside A: the veth never appears in the test's own namespace.
    ip -n "cowherd-$$-a" link add "$_th_veth" type veth peer name th-b netns "cowherd-$$-b"
    ip -n "cowherd-$$-a" addr add "$TH_A_ADDR/24" dev "$_th_veth"
    ip -n "cowherd-$$-b" addr add "$TH_B_ADDR/24" dev th-b
    ip -n "cowherd-$$-a" link set "$_th_veth" up
    ip -n "cowherd-$$-b" link set th-b up

    _th_host_prepare "$TH_A_DIR" "${TH_A_HOOKS[@]}"
    _th_host_prepare "$TH_B_DIR" "${TH_B_HOOKS[@]}"
    export TH_A_DIR TH_B_DIR
    TH_A_PID=$(_th_host_start "cowherd-$$-a" "$TH_A_DIR" "th-a-$$")
    export TH_A_PID
    _th_nsids+=("$(readlink "/proc/$TH_A_PID/ns/mnt")")
    _th_wait_answer th_a
    # B reuses A's probe of qemu's capabilities (the same binaries): ~4 s.
    cp -a "$TH_A_DIR/cache-libvirt/." "$TH_B_DIR/cache-libvirt/"
    TH_B_PID=$(_th_host_start "cowherd-$$-b" "$TH_B_DIR" "th-b-$$")
    export TH_B_PID
    _th_nsids+=("$(readlink "/proc/$TH_B_PID/ns/mnt")")
    _th_wait_answer th_b
    note "two hosts up: A $TH_A_ADDR (libvirtd $TH_A_PID), B $TH_B_ADDR (libvirtd $TH_B_PID)"
}

_th_netns_add() {
    ip netns add "$1"
    _th_netns+=("$1")
    ip -n "$1" link set lo up
    _th_nsids+=("net:[$(stat -L -c %i "/run/netns/$1")]")
}

# _th_host_prepare HDIR [HOOK...]: the host's tree, configured as
# lvhost_up's, plus TCP listening and a host UUID of its own (libvirt
# refuses to migrate to a host with its own UUID).
_th_host_prepare() {
    local hdir=$1 n f
    shift
    for n in "${_lv_names[@]}"; do
        mkdir -p "$hdir/$n"
    done
    cp -a /etc/libvirt/. "$hdir/etc-libvirt/"
    _lv_configure "$hdir/etc-libvirt"
    cat >>"$hdir/etc-libvirt/libvirtd.conf" <<EOF
listen_tcp = 1
listen_tls = 0
auth_tcp = "none"
host_uuid = "$(new_uuid)"
EOF
    mkdir -p "$hdir/lib-nova/instances/_base" "$hdir/lib-nova/instances/locks"
    # Hooks must be in place before libvirtd starts: it looks for them once.
    if [ -n "${COWHERD_HOOK:-}" ]; then
        ln -s "$COWHERD_HOOK" "$hdir/etc-libvirt/hooks/qemu.d/cowherd"
        # Written at the path the host will see (the test's namespace is
        # private: the bind is visible to the test alone, and briefly).
        mkdir -p /etc/cowherd
        mount --bind "$hdir/etc-cowherd" /etc/cowherd
        write_cowherd_conf 60
        umount /etc/cowherd
    fi
    for f in "$@"; do
        install -m 0755 "$f" "$hdir/etc-libvirt/hooks/qemu.d/"
    done
}

# _th_host_start NETNS HDIR HOSTNAME: mount the tree and start the daemons
# in a new mount (and UTS) namespace inside NETNS, with a clean
# environment as lvhost_up's; prints libvirtd's pid.
_th_host_start() {
    local ns=$1 hdir=$2 name=$3 i binds=()
    for i in "${!_lv_mounts[@]}"; do
        binds+=("$hdir/${_lv_names[i]}" "${_lv_mounts[i]}")
    done
    # shellcheck disable=SC2016  # expanded by the inner shell
    _lv_env ip netns exec "$ns" unshare --mount --uts --propagation private bash -c '
        set -e
        hostname "$1"
        shift
        while [ "$#" -gt 0 ]; do
            mkdir -p "$2"
            mount --bind "$1" "$2"
            shift 2
        done
        virtlogd -d -p /run/libvirt/virtlogd.pid
        libvirtd -d --listen -p /run/libvirt/libvirtd.pid' th-boot "$name" "${binds[@]}" >&2 || {
        tail -n 20 "$hdir/log-libvirt/libvirtd.log" >&2 || true
        die "host $name failed to start"
    }
    _th_wait_pidfile "$hdir/run-libvirt/virtlogd.pid" >/dev/null
    _th_wait_pidfile "$hdir/run-libvirt/libvirtd.pid"
}

# _th_wait_pidfile FILE: wait (bounded) for a daemon's pid file; print the
# pid.  (Runs in a command substitution: _th_pids is refilled at teardown.)
_th_wait_pidfile() {
    local f=$1 i
    for ((i = 0; i < 100; i++)); do
        if [ -s "$f" ]; then
            cat "$f"
            return 0
        fi
        sleep 0.1
    done
    die "no pid file $f after 10 s"
}

_th_wait_answer() {
    local i
    for ((i = 0; i < 150; i++)); do
        if "$1" virsh version >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    "$1" virsh version || true
    die "libvirtd of $1 did not answer within 30 s"
}

# th_a CMD... / th_b CMD...: run CMD in that host's mount, network and UTS
# namespaces (those of its libvirtd).
th_a() {
    [ -n "$TH_A_PID" ] || die "th_a before twohost_up"
    nsenter -t "$TH_A_PID" -m -n -u env LIBVIRT_DEFAULT_URI=qemu:///system "$@"
}

th_b() {
    [ -n "$TH_B_PID" ] || die "th_b before twohost_up"
    nsenter -t "$TH_B_PID" -m -n -u env LIBVIRT_DEFAULT_URI=qemu:///system "$@"
}

# th_migrate DOM [OPTS...]: live-migrate DOM from A to B.  The migration
# URI is explicit: B's host name does not resolve in A.
th_migrate() {
    local dom=$1
    shift
    th_a virsh migrate --live "$@" "$dom" "qemu+tcp://$TH_B_ADDR/system" "tcp://$TH_B_ADDR"
}

# th_veth_bytes: bytes sent plus bytes received by A's end of the veth.
th_veth_bytes() {
    local tx rx
    tx=$(th_a cat "/sys/class/net/$_th_veth/statistics/tx_bytes")
    rx=$(th_a cat "/sys/class/net/$_th_veth/statistics/rx_bytes")
    printf '%s\n' "$((tx + rx))"
}

# ---- cowherd on the two hosts ---------------------------------------------------

# _th_dir A|B: that host's tree, as the test sees it.
_th_dir() {
    case $1 in
    A) printf '%s\n' "$TH_A_DIR" ;;
    B) printf '%s\n' "$TH_B_DIR" ;;
    *) die "no host '$1'" ;;
    esac
}

# th_path A|B PATH: where the test sees PATH (a path under /var/lib/nova,
# /var/log/libvirt or /run/libvirt as the host sees it).
th_path() {
    local d
    d=$(_th_dir "$1")
    case $2 in
    /var/lib/nova/*) printf '%s\n' "$d/lib-nova${2#/var/lib/nova}" ;;
    /var/log/libvirt/*) printf '%s\n' "$d/log-libvirt${2#/var/log/libvirt}" ;;
    /run/libvirt/*) printf '%s\n' "$d/run-libvirt${2#/run/libvirt}" ;;
    *) die "th_path: $2 is not in a host's private tree" ;;
    esac
}

# th_conf A|B: append standard input to that host's cowherd.conf (read by
# the hook at each call; a key given again replaces the earlier value).
th_conf() {
    cat >>"$(_th_dir "$1")/etc-cowherd/cowherd.conf"
}

# th_chain_json A|B PATH [FORMAT]: a json: file name spelling out the whole
# chain of PATH on that host (backing names resolved as QEMU does, in the
# host's tree), for qemu-img run by the test.
th_chain_json() {
    local host=$1 path=$2 fmt=${3:-qcow2} real info
    real=$(th_path "$host" "$path")
    printf '{"driver": "%s", "file": {"driver": "file", "filename": "%s"}' "$fmt" "$real"
    if [ "$fmt" = qcow2 ]; then
        info=$(qemu-img info -U --output=json -f qcow2 "$real")
        # shellcheck disable=SC2046  # two words: backing path and format
        set -- $("$PYTHON" -c '
import json, os, sys
i = json.loads(sys.argv[1])
b = i.get("backing-filename")
if b:
    print(os.path.normpath(os.path.join(os.path.dirname(sys.argv[2]), b)),
          i.get("backing-filename-format", "raw"))' "$info" "$path")
        if [ "$#" = 2 ]; then
            printf ', "backing": '
            th_chain_json "$host" "$1" "$2"
        else
            printf ', "backing": null'
        fi
    fi
    printf '}'
}

# th_same_disk PATH: A's and B's chains of disk PATH read the same.
th_same_disk() {
    qemu-img compare -q -U "json:$(th_chain_json A "$1")" "json:$(th_chain_json B "$1")"
}

# th_seed_base NAME MIB [IMAGE_ID]: on A, an original base NAME of MIB MiB
# (make_original's data, unless the file is there) with a manifest as cowherd writes one after
# fetching it, so that A serves it to B as a peer.
th_seed_base() {
    local name=$1 mib=$2 image=${3:-} f
    f=$TH_A_DIR/lib-nova/instances/_base/$name
    [ -e "$f" ] || make_original "$f" "$mib"
    "$PYTHON" - "$f" "$name" "$image" <<'PYEOF'
import hashlib, json, os, sys
path, name, image = sys.argv[1:4]
h = hashlib.sha256()
with open(path, "rb") as f:
    for b in iter(lambda: f.read(1 << 20), b""):
        h.update(b)
m = {"name": name, "size": os.path.getsize(path), "sha256": h.hexdigest(),
     "source": "http://glance.example:9292/v2/images/%s/file" % image}
if image:
    m["image_id"] = image
with open(path + ".cowherd.json", "w") as f:
    json.dump(m, f)
PYEOF
}

# ---- sshd in host A ------------------------------------------------------------

# th_sshd_up_a: an sshd in A's namespaces on TH_A_ADDR (sshd.sh's setup,
# which listens on 127.0.0.1 of the test's own namespace), so that B reads
# A's files over sftp at their real paths.  Everything lives in DIR/sshd,
# which both hosts see.  Registers th_sshd_down.
th_sshd_up_a() {
    local d=$TH_DIR/sshd sshd i
    [ "$TH_UP" = 1 ] || die "th_sshd_up_a before twohost_up"
    requires sshd ssh ssh-keygen
    sshd=$(command -v sshd)    # it re-executes itself: an absolute path
    mkdir -p "$d"
    SSHD_DIR=$d
    _sshd_keys
    export TH_SSH_KEY=$d/client_ed25519
    # A's network namespace is private: the standard port is free.
    _sshd_write_conf 22 "$TH_A_ADDR"
    export TH_SSHD_PORT=$SSHD_PORT
    # sshd.sh's reason: the privilege-separation directory Debian makes at boot.
    if [ ! -d /run/sshd ]; then
        mkdir -p /run/sshd
        chmod 0755 /run/sshd
    fi
    "$sshd" -t -f "$d/sshd_config" || die "sshd -t rejects $d/sshd_config"
    : >"$d/sshd.log"
    cleanup_fn th_sshd_down
    # nsenter execs sshd (no pid namespace, no fork): $! is sshd's pid.
    nsenter -t "$TH_A_PID" -m -n -u "$sshd" -D -f "$d/sshd_config" -E "$d/sshd.log" \
        </dev/null >"$d/sshd.out" 2>&1 &
    TH_SSHD_PID=$!
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "$TH_SSHD_PID" 2>/dev/null; then
            TH_SSHD_PID=
            tail -n 20 "$d/sshd.log" "$d/sshd.out" >&2 || true
            die "sshd in host A died"
        fi
        if grep -qF "Server listening on $TH_A_ADDR port $TH_SSHD_PORT" "$d/sshd.log"; then
            th_ssh_from_b true ||
                { tail -n 20 "$d/sshd.log" >&2; die "a login from B to A's sshd fails"; }
            note "sshd up in A at $TH_A_ADDR:$TH_SSHD_PORT (pid $TH_SSHD_PID)"
            return 0
        fi
        sleep 0.2
    done
    tail -n 20 "$d/sshd.log" >&2 || true
    die "sshd in host A did not listen within 20 s"
}

# th_ssh_from_b CMD...: run CMD on A as root over ssh from host B, by key,
# reading no ssh configuration and no known_hosts.
th_ssh_from_b() {
    [ -n "$TH_SSHD_PORT" ] || die "th_ssh_from_b before th_sshd_up_a"
    th_b ssh -F /dev/null -n -T -o BatchMode=yes -o IdentitiesOnly=yes -i "$TH_SSH_KEY" \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        -o ConnectTimeout=10 -p "$TH_SSHD_PORT" "root@$TH_A_ADDR" "$@"
}

# th_sshd_down: stop A's sshd by pid (its sessions end with it).  Safe to
# call twice.
th_sshd_down() {
    local pid=$TH_SSHD_PID
    [ -n "$pid" ] || return 0
    TH_SSHD_PID=
    kill -TERM "$pid" 2>/dev/null || true
    if ! _wait_pid_gone "$pid" 10; then
        echo "warning: sshd pid $pid still alive after 10 s, SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        _wait_pid_gone "$pid" 5 || { echo "error: sshd pid $pid survived" >&2; return 1; }
    fi
    wait "$pid" 2>/dev/null || true
}

# ---- teardown --------------------------------------------------------------------

# twohost_down: destroy and undefine every domain on both hosts, stop the
# daemons by pid, check that nothing is left in the hosts' namespaces
# (which takes their mounts with them), delete the network namespaces.
# Safe to call twice and after a partial twohost_up.
twohost_down() {
    local - pid ok=1 ns left
    set +e
    [ "$TH_UP" = 1 ] || return 0
    TH_UP=0
    th_sshd_down || ok=0
    _th_host_down th_a "$TH_A_PID" "$TH_A_DIR" || ok=0
    _th_host_down th_b "$TH_B_PID" "$TH_B_DIR" || ok=0
    for pid in "${_th_pids[@]}"; do
        _wait_pid_gone "$pid" 15 && continue
        echo "warning: pid $pid still alive after teardown, SIGKILL" >&2
        kill -KILL "$pid"
        _wait_pid_gone "$pid" 5 || ok=0
    done
    # Anything else in there (a hook's child, a guest libvirt lost track of)
    # would keep the namespaces and their mounts alive.
    left=$(_th_ns_pids)
    if [ -n "$left" ]; then
        echo "error: still in the hosts' namespaces: $(echo "$left" | tr '\n' ' ')" >&2
        ok=0
        for pid in $left; do
            kill -KILL "$pid"
            _wait_pid_gone "$pid" 5
        done
    fi
    for ns in "${_th_netns[@]}"; do
        ip netns del "$ns" || ok=0
    done
    _th_netns=()
    TH_A_PID=
    TH_B_PID=
    [ "$ok" = 1 ] || { echo "error: twohost teardown was not clean" >&2; return 1; }
}

# _th_host_down TH_FN PID HDIR: one host's domains and daemons.
_th_host_down() {
    local th=$1 pid=$2 hdir=$3 ok=1 dom f doms pids=()
    [ -n "$hdir" ] || return 0
    _th_note_guest_pids "$hdir"
    if [ -n "$pid" ] && "$th" virsh version >/dev/null 2>&1; then
        # In parallel: one destroy takes about 2 s here.
        mapfile -t doms < <("$th" virsh -q list --name --state-running --state-paused)
        for dom in "${doms[@]}"; do
            [ -n "$dom" ] || continue
            "$th" virsh -q destroy "$dom" >/dev/null &
            pids+=("$!")
        done
        [ "${#pids[@]}" = 0 ] || wait "${pids[@]}"
        mapfile -t doms < <("$th" virsh -q list --name --all)
        for dom in "${doms[@]}"; do
            [ -n "$dom" ] && { "$th" virsh -q undefine "$dom" >/dev/null || ok=0; }
        done
        [ -z "$("$th" virsh -q list --name --all)" ] || ok=0
    fi
    _th_note_guest_pids "$hdir"
    for f in "$hdir/run-libvirt/libvirtd.pid" "$hdir/run-libvirt/virtlogd.pid"; do
        [ -s "$f" ] || continue
        pid=$(<"$f")
        _th_pids+=("$pid")
        kill -TERM "$pid" 2>/dev/null || true
    done
    [ "$ok" = 1 ]
}

_th_note_guest_pids() {
    local f
    for f in "$1"/run-libvirt/qemu/*.pid; do
        [ -s "$f" ] && _th_pids+=("$(<"$f")")
    done
    return 0
}

# _th_ns_pids: pids of processes in any of the hosts' namespaces.
_th_ns_pids() {
    local p id want
    [ "${#_th_nsids[@]}" -gt 0 ] || return 0
    for p in /proc/[0-9]*; do
        for id in "$(readlink "$p/ns/net" 2>/dev/null)" "$(readlink "$p/ns/mnt" 2>/dev/null)"; do
            for want in "${_th_nsids[@]}"; do
                if [ "$id" = "$want" ]; then
                    echo "${p#/proc/}"
                    continue 3
                fi
            done
        done
    done
}
