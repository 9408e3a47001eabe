# shellcheck shell=bash
# driver.sh: a long-lived python per host running Nova's code, driven by
# requests from the test (serve.py's loop): Nova 26's whole LibvirtDriver
# (driverhost.py: the driver against the test's libvirtd and glance-api,
# driverstubs.py's stand-ins for the database), or Nova's functions one by
# one (snapshot_nova.py).  Source it after nova.sh, then:
#
#   driver_host_up DIR [LOG]           glance-api, the test's libvirtd with
#                                       the hook, the shim first in Nova's
#                                       PATH (below)
#   driver_start a SCRIPT ARGS...      start SCRIPT ARGS (which imports
#                                       serve.py first and ends in its
#                                       serve(...)) as host "a",
#                                       with the words of the array
#                                       DRV_WRAP before it, if set (e.g. a
#                                       function entering another host's
#                                       namespaces); waits until it is ready
#                                       (driver_launch and driver_ready: the
#                                       two halves)
#   drv a VERB ARGS...                  one request; ANSWER is the answer
#                                       ("done [RESULT]" or "error ...")
#   drv_ok a VERB ARGS...               the request must succeed; RESULT
#                                       is what it returned
#   drv_send / drv_wait / drv_wait_ok   the halves of drv and drv_ok, for
#                                       requests to two hosts at once
#
# The driver's log (Nova's warnings and each failed request's traceback)
# is $DRV_DIR/<host>.err.  Each python is stopped by pid at exit, and
# waited for.

DRV_DIR=
DRV_REQ=0

# driver_host_up DIR [LOG]: one compute host for the driver: glance-api
# under DIR/glance, the test's libvirtd with cowherd's hook under
# DIR/host, cowherd's [glance] source, and cowherd's shim first in Nova's
# PATH (as cowherd-nova installs it).  With LOG, Nova's qemu-img calls are
# recorded there on their way to the shim (the hook runs under libvirtd's
# PATH and never shows in it).
driver_host_up() {
    glance_up "$1/glance"
    lvhost_up "$1/host"
    glance_configure
    touch "$COWHERD_LOG"
    nova_shim_on "$1"
    [ -n "${2:-}" ] || return 0
    : >"$2"
    qemu_img_recorder "$1/rec" "$2" "$COWHERD_SHIM"
    NOVA_PATH=$1/rec:$NOVA_PATH
}

# driver_requires: skip unless Nova's libvirt driver imports (python3-nova
# and python3-libvirt; scripts/setup.sh installs both).
driver_requires() {
    requires "$PYTHON"
    "$PYTHON" -c 'import libvirt, nova.virt.libvirt.driver' 2>/dev/null ||
        skip "Nova's libvirt driver does not import (install python3-nova, python3-libvirt)"
}

# driver_launch HOST SCRIPT ARGS...: start it, not waiting for Nova's
# import (driver_ready HOST waits); driver_start: both.
DRV_WRAP=()
driver_launch() {
    local h=$1
    shift
    [ -n "$DRV_DIR" ] || { DRV_DIR=$(mktemp -d); cleanup_fn rm -rf "$DRV_DIR"; }
    mkfifo "$DRV_DIR/$h.in"
    : >"$DRV_DIR/$h.out"
    "${DRV_WRAP[@]}" env -i PATH="$NOVA_PATH" LANG=C.UTF-8 PYTHONPATH="$NOVA_DIR" \
        PYTHONDONTWRITEBYTECODE=1 NOVA_INSTANCES="$NOVA_INSTANCES" "$PYTHON" "$@" \
        <>"$DRV_DIR/$h.in" >"$DRV_DIR/$h.out" 2>"$DRV_DIR/$h.err" &
    printf -v "DRV_BG_$h" '%s' "$!"
    cleanup_fn _drv_stop "$h"
}

driver_ready() {
    poll_until 120 "Nova's driver ($1) up" _drv_up "$1"
}

driver_start() {
    driver_launch "$@"
    driver_ready "$1"
}

_drv_up() {
    local bg=DRV_BG_$1
    grep -qx ready "$DRV_DIR/$1.out" && return 0
    kill -0 "${!bg}" 2>/dev/null || { cat "$DRV_DIR/$1.err" >&2; die "Nova's driver ($1) ended"; }
    return 1
}

# _drv_stop HOST: stop HOST's python by its pid (its first line; the job
# may be a wrapper entering another host's namespaces, which must be
# empty at teardown), wait until it is gone, reap the job.
_drv_stop() {
    local bg=DRV_BG_$1 pid
    pid=$(sed -n 's/^pid //p' "$DRV_DIR/$1.out")
    if [ -n "$pid" ]; then
        kill_if_alive "$pid"
        _wait_pid_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
    else
        kill_if_alive "${!bg}"
    fi
    wait "${!bg}" 2>/dev/null || true
}

_drv_answered() {
    local bg=DRV_BG_$1
    ANSWER=$(sed -n "s/^$2 //p" "$DRV_DIR/$1.out")
    [ -z "$ANSWER" ] || return 0
    kill -0 "${!bg}" 2>/dev/null || { cat "$DRV_DIR/$1.err" >&2; die "Nova's driver ($1) ended"; }
    return 1
}

# drv_send HOST VERB ARGS...: one request, not waiting; drv_wait HOST: its
# answer, in ANSWER (requests to other hosts may run meanwhile).
drv_send() {
    local h=$1
    shift
    DRV_REQ=$((DRV_REQ + 1))
    printf -v "DRV_LAST_$h" '%s' "r$DRV_REQ $*"
    printf 'r%s %s\n' "$DRV_REQ" "$*" >>"$DRV_DIR/$h.in"
}

drv_wait() {
    local last=DRV_LAST_$1
    poll_until 120 "Nova's driver ($1) answering ${!last#* }" _drv_answered "$1" "${!last%% *}"
}

# drv HOST VERB ARGS...: one request; sets ANSWER.
drv() {
    drv_send "$@"
    drv_wait "$1"
}

# drv_ok HOST VERB ARGS...: the request must succeed; sets RESULT.
# drv_wait_ok HOST: the same for drv_send's request.
drv_ok() {
    drv_send "$@"
    drv_wait_ok "$1"
}

drv_wait_ok() {
    local last=DRV_LAST_$1
    drv_wait "$1"
    case $ANSWER in
    done) RESULT= ;;
    "done "*) RESULT=${ANSWER#done } ;;
    *) tail -n 40 "$DRV_DIR/$1.err" >&2; die "Nova's driver ($1) ${!last#* }: $ANSWER" ;;
    esac
}
