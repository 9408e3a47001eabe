# shellcheck shell=bash
# driver.sh: Nova 26's whole LibvirtDriver as a long-lived python per host
# (driverhost.py: the driver against the test's libvirtd and glance-api,
# driverstubs.py's stand-ins for the database), driven by requests from
# the test.  Source it after nova.sh, then:
#
#   driver_start a SCRIPT ARGS...      start SCRIPT ARGS (which ends in
#                                       driverhost.serve(...)) as host "a",
#                                       with the words of the array
#                                       DRV_WRAP before it, if set (e.g. a
#                                       function entering another host's
#                                       namespaces); waits until it is ready
#   drv a VERB ARGS...                  one request; ANSWER is the answer
#                                       ("done [RESULT]" or "error ...")
#   drv_ok a VERB ARGS...               the request must succeed; RESULT
#                                       is what it returned
#
# The driver's log (Nova's warnings and each failed request's traceback)
# is $DRV_DIR/<host>.err.  Each python is stopped by pid at exit.

DRV_DIR=
DRV_REQ=0

# driver_requires: skip unless Nova's libvirt driver imports (python3-nova
# and python3-libvirt; scripts/setup.sh installs both).
driver_requires() {
    requires "$PYTHON"
    "$PYTHON" -c 'import libvirt, nova.virt.libvirt.driver' 2>/dev/null ||
        skip "Nova's libvirt driver does not import (install python3-nova, python3-libvirt)"
}

# driver_start HOST SCRIPT ARGS...
DRV_WRAP=()
driver_start() {
    local h=$1 pid
    shift
    [ -n "$DRV_DIR" ] || { DRV_DIR=$(mktemp -d); cleanup_fn rm -rf "$DRV_DIR"; }
    mkfifo "$DRV_DIR/$h.in"
    : >"$DRV_DIR/$h.out"
    "${DRV_WRAP[@]}" env -i PATH="$NOVA_PATH" LANG=C.UTF-8 PYTHONPATH="$NOVA_DIR" \
        PYTHONDONTWRITEBYTECODE=1 NOVA_INSTANCES="$NOVA_INSTANCES" "$PYTHON" "$@" \
        <>"$DRV_DIR/$h.in" >"$DRV_DIR/$h.out" 2>"$DRV_DIR/$h.err" &
    pid=$!
    cleanup_fn kill_if_alive "$pid"
    printf -v "DRV_BG_$h" '%s' "$pid"
    poll_until 120 "Nova's driver ($h) up" _drv_up "$h"
    pid=$(sed -n 's/^ready //p' "$DRV_DIR/$h.out")
    cleanup_fn kill_if_alive "$pid"
    printf -v "DRV_PID_$h" '%s' "$pid"
}

_drv_up() {
    local bg=DRV_BG_$1
    grep -q '^ready ' "$DRV_DIR/$1.out" && return 0
    kill -0 "${!bg}" 2>/dev/null || { cat "$DRV_DIR/$1.err" >&2; die "Nova's driver ($1) ended"; }
    return 1
}

_drv_answered() {
    local pid=DRV_PID_$1
    ANSWER=$(sed -n "s/^$2 //p" "$DRV_DIR/$1.out")
    [ -z "$ANSWER" ] || return 0
    kill -0 "${!pid}" 2>/dev/null || { cat "$DRV_DIR/$1.err" >&2; die "Nova's driver ($1) ended"; }
    return 1
}

# drv HOST VERB ARGS...: one request; sets ANSWER.
drv() {
    local h=$1
    shift
    DRV_REQ=$((DRV_REQ + 1))
    printf 'r%s %s\n' "$DRV_REQ" "$*" >>"$DRV_DIR/$h.in"
    poll_until 120 "Nova's driver ($h) answering $*" _drv_answered "$h" "r$DRV_REQ"
}

# drv_ok HOST VERB ARGS...: the request must succeed; sets RESULT.
drv_ok() {
    drv "$@"
    case $ANSWER in
    done) RESULT= ;;
    "done "*) RESULT=${ANSWER#done } ;;
    *) tail -n 40 "$DRV_DIR/$1.err" >&2; die "Nova's driver ($1) $2 ${*:3}: $ANSWER" ;;
    esac
}
