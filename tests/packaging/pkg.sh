# shellcheck shell=bash
# shellcheck disable=SC2034  # variables here are used by the sourcing tests
# pkg.sh: helpers for the packaging tests (tests/packaging/test-*.sh).
#
# Installing a package changes the whole system, so the tests install into
# a throwaway root: in the test's private mount namespace, an overlayfs
# whose lower layer is the host's / and whose upper layer is a tmpfs, with
# its own /proc, /dev, /sys and an empty /run, entered with chroot.  The
# host's dpkg database, /etc, /usr and libvirt see none of it; it all goes
# when the namespace does.  A test has two stages in one script:
#
#   source "$(dirname "$0")/pkg.sh"
#   if [ -z "${IN_ROOT:-}" ]; then       # on the host, in a private namespace
#       private_ns "$@"
#       mktempdir tmp
#       build_packages "$tmp/dist" --deb
#       root_up "$tmp"
#       root_run "$0" "$tmp"            # the same script again, in the root
#       exit 0
#   fi
#   tmp=$1                               # in the root: apt-get, dpkg, libvirtd
#
# $tmp is on the host's / and made before the overlay, so both stages see
# it at the same path; what the second stage writes there stays in the
# root.  Packages are built by scripts/package.sh from a clean copy of the
# tree, outside the root.

source "$(dirname "${BASH_SOURCE[0]}")/../integration/functions.sh"

PKG_SRCDIR=${SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# The upstream version, as scripts/package.sh reads it.
PKG_VERSION=$(sed -n 's/^project(cowherd VERSION \([0-9][0-9.]*\)[ )].*/\1/p' "$PKG_SRCDIR/CMakeLists.txt")
ROOT=
ROOT_HOST=/run/cowherd-host   # in the root: the host's / (the lower layer), read-only

# build_packages OUTDIR ARGS...: scripts/package.sh --no-check ARGS into
# OUTDIR; its output goes to OUTDIR.log (shown on failure).
build_packages() {
    local out=$1 t0
    shift
    requires dpkg-buildpackage dpkg-parsechangelog dh cmake
    t0=$EPOCHREALTIME
    mkdir -p "$out"
    "$PKG_SRCDIR/scripts/package.sh" --no-check --outdir "$out" "$@" >"$out.log" 2>&1 || {
        cat "$out.log" >&2
        die "scripts/package.sh $* failed"
    }
    note "built $(cd "$out" && ls cowherd[-_]*[bm] | tr '\n' ' ')in $(since_s "$t0") s"
}

# root_up DIR: the throwaway root at DIR/root (sets ROOT).  Registers its
# teardown, which also ends, by pid, any process still running in it.
root_up() {
    local dir=$1
    [ -n "${IN_NS:-}" ] || die "root_up outside the private namespace"
    requires mount umount chroot
    ROOT=$dir/root
    mkdir -p "$dir/layers" "$ROOT"
    # The upper layer on a tmpfs of its own: the lower layer (/) must not
    # hold it, and nothing of it outlives the test.
    mount -t tmpfs -o mode=0755,size=4g cowherd-root-upper "$dir/layers"
    cleanup_fn root_down "$dir"
    mkdir "$dir/layers/upper" "$dir/layers/work"
    mount -t overlay cowherd-root \
        -o "lowerdir=/,upperdir=$dir/layers/upper,workdir=$dir/layers/work" "$ROOT" ||
        die "cannot mount an overlay over / at $ROOT"
    mount -t proc proc "$ROOT/proc"
    mount --rbind /dev "$ROOT/dev"
    mount --rbind /sys "$ROOT/sys"
    mount -t tmpfs -o mode=0755 cowherd-root-run "$ROOT/run"
    mkdir -p "$ROOT/run/lock" "$ROOT$ROOT_HOST"
    # The lower layer as it is, read-only, for system_changes.
    mount --bind / "$ROOT$ROOT_HOST"
    mount -o remount,bind,ro "$ROOT$ROOT_HOST"
    # This host is a container whose policy-rc.d forbids every service
    # action (Docker's); the root stands for a host where they are
    # allowed, as on a compute node.
    rm -f "$ROOT/usr/sbin/policy-rc.d"
    note "throwaway root: overlay of / at $ROOT (upper layer on a tmpfs)"
}

# root_pids: pids of the processes whose root directory is $ROOT.
root_pids() {
    local p r
    [ -n "$ROOT" ] || return 0
    for p in /proc/[0-9]*; do
        r=$(readlink "$p/root" 2>/dev/null) || continue
        [ "$r" = "$ROOT" ] && printf '%s\n' "${p#/proc/}"
    done
    return 0
}

root_down() {
    local dir=$1 pid ok=1
    for pid in $(root_pids); do
        echo "warning: pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) still runs in the root; SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        _wait_pid_gone "$pid" 5 || ok=0
    done
    umount -R "$ROOT" || ok=0
    umount "$dir/layers" || ok=0
    [ "$ok" = 1 ] || { echo "error: the throwaway root was not torn down cleanly" >&2; return 1; }
}

# root_run SCRIPT ARGS...: run SCRIPT in the root (IN_ROOT=1), with a
# clean environment as dpkg and systemd give one; its exit status.  Any
# process it leaves in the root is a failure.
root_run() {
    local rc=0 left script
    script=$(realpath "$1")
    shift
    chroot "$ROOT" /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive \
        IN_NS=1 IN_ROOT=1 SRCDIR="$PKG_SRCDIR" PKG_DEBUG="${PKG_DEBUG:-}" \
        bash "$script" "$@" </dev/null || rc=$?
    left=$(root_pids | tr '\n' ' ')
    if [ -n "$left" ]; then
        echo "FAIL: processes left running in the root: $left" >&2
        [ "$rc" != 0 ] || rc=1
    fi
    return "$rc"
}

# ---- in the root -------------------------------------------------------------

# apt_install ARGS...: apt-get install, output shown on failure.  Every
# dependency of the packages is installed on the host, so in the root:
# apt installs the given files and nothing else (checked: the summary
# line counts no more packages than files given), and downloads nothing.
apt_install() {
    local out summary n
    out=$(apt-get install -y --no-install-recommends "$@" 2>&1) || {
        printf '%s\n' "$out" >&2
        die "apt-get install $* failed"
    }
    summary=$(sed -n 's/^\([0-9]* upgraded, [0-9]* newly installed\).*/\1/p' <<<"$out")
    n=$(awk '{print $1 + $3}' <<<"$summary")
    [ "$n" -le "$#" ] || { printf '%s\n' "$out" >&2; die "apt-get install $* pulled in more packages"; }
    note "apt-get install $*: $summary"
    [ -z "${PKG_DEBUG:-}" ] || printf '%s\n' "$out" >&2
}

# dpkg_run ARGS...: dpkg, output shown on failure.
dpkg_run() {
    local out
    out=$(dpkg "$@" 2>&1) || {
        printf '%s\n' "$out" >&2
        die "dpkg $* failed"
    }
    [ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/    dpkg: /' >&2
}

# pkg_version PACKAGE: the installed version, empty if not installed.
pkg_version() {
    dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' "$1" 2>/dev/null |
        sed -n 's/^ii  *//p'
}

# system_listing OUT [TOP]: every path under the system's directories
# (of TOP, default /), sorted; left out: what dpkg, apt and man-db keep
# about themselves (their databases, caches and logs), libvirt's own
# state, Nova's directories (the test's instances, checked on their own)
# and /tmp.
system_listing() {
    local top=${2:-} d dirs=() prune=() first=1
    for d in /etc /usr /var /opt /srv /boot /root; do
        dirs+=("$top$d")
    done
    for d in /var/lib/dpkg /var/lib/apt /var/cache /var/log/apt /var/log/dpkg.log \
        /var/lib/libvirt /var/log/libvirt /var/lib/nova /etc/ld.so.cache; do
        [ "$first" = 1 ] || prune+=(-o)
        prune+=(-path "$top$d")
        first=0
    done
    find "${dirs[@]}" -xdev \( "${prune[@]}" \) -prune -o -print |
        sed "s|^$top||" | LC_ALL=C sort >"$1"
}

# system_snapshot NAME: the listings of the root (DIR/NAME.root) and of
# the host's / under it (DIR/NAME.host), DIR being $tmp; "before" lists
# the host first, anything else the root first, so a host change between
# two snapshots is in both diffs whenever it is in the root's.
system_snapshot() {
    if [ "$1" = before ]; then
        system_listing "$tmp/$1.host" "$ROOT_HOST"
        system_listing "$tmp/$1.root"
    else
        system_listing "$tmp/$1.root"
        system_listing "$tmp/$1.host" "$ROOT_HOST"
    fi
}

# system_changes A B: what changed in the root from snapshot A to B
# ("+path", "-path"), less what changed on the live host meanwhile
# (another test's mount point, a .pyc written by Python): the overlay's
# lower layer is the host's /, and shows through.
system_changes() {
    comm -23 <(_listing_diff "$tmp/$1.root" "$tmp/$2.root") \
        <(_listing_diff "$tmp/$1.host" "$tmp/$2.host")
}

_listing_diff() {
    diff "$1" "$2" | sed -n -e 's/^< /-/p' -e 's/^> /+/p' | LC_ALL=C sort
}

# ---- the root's libvirtd -----------------------------------------------------

DAEMON_HOOK_LOG=/run/cowherd-test-daemon-hook.log

# root_libvirt_up: libvirtd (and virtlogd) in the root, started by hand as
# on a host without systemd: daemonized, pid in its default pid file
# (/run/libvirtd.pid), which is where cowherd's maintainer scripts look.
# No qemu hook yet.  A daemon hook logs each daemon event, so a test can
# see a reload (SIGHUP) done: libvirt re-reads its hook directories before
# it runs that hook.
root_libvirt_up() {
    requires libvirtd virtlogd virsh qemu-system-x86_64
    [ -n "${IN_ROOT:-}" ] || die "root_libvirt_up outside the root"
    _lv_configure /etc/libvirt
    rmdir /etc/libvirt/hooks/qemu.d      # the package brings it
    cat >/etc/libvirt/hooks/daemon <<EOF
#!/bin/sh
echo "\$*" >>$DAEMON_HOOK_LOG
EOF
    chmod 755 /etc/libvirt/hooks/daemon
    mkdir -p "$NOVA_BASE" "$NOVA_LOCKS"
    cleanup_fn root_libvirt_down
    _lv_env virtlogd -d || die "virtlogd failed to start"
    _lv_wait_pidfile /run/virtlogd.pid
    _lv_env libvirtd -d || {
        tail -n 20 /var/log/libvirt/libvirtd.log >&2 || true
        die "libvirtd failed to start"
    }
    _lv_wait_pidfile /run/libvirtd.pid
    _lv_wait_answer
    poll_until 30 "libvirtd's daemon hook (start)" daemon_hook_seen start
    note "libvirtd $(libvirtd_pid) up in the root, no qemu hook"
}

libvirtd_pid() {
    cat /run/libvirtd.pid
}

# daemon_hook_count OP: how many times libvirt ran the daemon hook for OP.
daemon_hook_count() {
    [ -f "$DAEMON_HOOK_LOG" ] || { echo 0; return 0; }
    grep -c -- "^- $1 " "$DAEMON_HOOK_LOG" || true
}

daemon_hook_seen() {
    [ "$(daemon_hook_count "$1")" -gt 0 ]
}

# reloaded_since N: libvirtd has handled a reload beyond the N counted.
reloaded_since() {
    [ "$(daemon_hook_count reload)" -gt "$1" ]
}

root_libvirt_down() {
    local - dom pid doms ok=1
    set +e
    if virsh version >/dev/null 2>&1; then
        _lv_note_guest_pids
        mapfile -t doms < <(virsh -q list --name --state-running)
        for dom in "${doms[@]}"; do
            [ -n "$dom" ] && virsh -q destroy "$dom" >/dev/null
        done
        mapfile -t doms < <(virsh -q list --name --all)
        for dom in "${doms[@]}"; do
            [ -n "$dom" ] && virsh -q undefine "$dom" >/dev/null
        done
    fi
    _lv_note_guest_pids
    _lv_kill_pidfile /run/libvirtd.pid
    _lv_kill_pidfile /run/virtlogd.pid
    for pid in "${_lv_pids[@]}"; do
        _wait_pid_gone "$pid" 15 && continue
        echo "warning: pid $pid still alive after teardown, SIGKILL" >&2
        kill -KILL "$pid"
        _wait_pid_gone "$pid" 5 || ok=0
    done
    [ "$ok" = 1 ] || { echo "error: libvirt teardown in the root was not clean" >&2; return 1; }
}

