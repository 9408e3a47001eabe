# shellcheck shell=bash
# bench/lib.sh: timing helpers shared by the bench scripts.  Numbers are
# printed with BENCH_DIGITS decimals (default 3).

# elapsed T0 T1: seconds between two $EPOCHREALTIME readings.
elapsed() {
    awk -v a="$1" -v b="$2" -v d="${BENCH_DIGITS:-3}" 'BEGIN { printf "%.*f", d, b - a }'
}

# median X...: the median of the numbers.
median() {
    printf '%s\n' "$@" | sort -g |
        awk -v d="${BENCH_DIGITS:-3}" '{ v[NR] = $1 }
            END { printf "%.*f", d, NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---- the private setting every root bench runs in -----------------------------
# The scripts define die (one line on stderr, exit 1) before calling these.

# bench_private_ns SCRIPT ARGS...: re-exec SCRIPT ARGS once in a private
# mount namespace (stdin from /dev/null); mounts made there vanish with it.
bench_private_ns() {
    [ -z "${COWHERD_BENCH_NS:-}" ] || return 0
    command -v unshare >/dev/null || die "unshare missing (util-linux)"
    exec env COWHERD_BENCH_NS=1 unshare --mount --propagation private bash "$@" </dev/null
}

BENCH_TMP=
BENCH_MOUNTS=()

# bench_cleanup: undo BENCH_MOUNTS (last first), remove BENCH_TMP.
bench_cleanup() {
    local i
    set +e
    cd /
    for ((i = ${#BENCH_MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${BENCH_MOUNTS[i]}" || echo "warning: umount ${BENCH_MOUNTS[i]} failed" >&2
    done
    [ -z "$BENCH_TMP" ] || rm -rf --one-file-system "$BENCH_TMP"
}

# bench_scratch TEMPLATE: a new scratch directory (mktemp -d TEMPLATE) in
# BENCH_TMP; it and every mount in BENCH_MOUNTS go at exit, on a signal too.
bench_scratch() {
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    BENCH_TMP=$(mktemp -d "$1")
}

# bench_etc_cowherd [DIR]: a private /etc/cowherd (inside the namespace):
# DIR bound over it, or an empty 1 MiB tmpfs.  Where the host has no
# /etc/cowherd, a private overlay over /etc makes the mount point.
bench_etc_cowherd() {
    if [ ! -d /etc/cowherd ]; then
        mkdir "$BENCH_TMP/etc-upper" "$BENCH_TMP/etc-work"
        mount -t overlay overlay \
            -o "lowerdir=/etc,upperdir=$BENCH_TMP/etc-upper,workdir=$BENCH_TMP/etc-work" /etc ||
            die "/etc/cowherd does not exist and a private overlay over /etc failed"
        BENCH_MOUNTS+=(/etc)
        mkdir /etc/cowherd
    fi
    if [ -n "${1:-}" ]; then
        mount --bind "$1" /etc/cowherd
    else
        mount -t tmpfs -o size=1m,mode=0755 cowherd-bench /etc/cowherd
    fi
    BENCH_MOUNTS+=(/etc/cowherd)
}

# bench_cowherd_conf INSTANCES LOG REAL_QEMU_IMG [FETCHER KEY_FILE]: the
# private /etc/cowherd/cowherd.conf: that instances_path, the log to a
# file, the real qemu-img; with FETCHER and KEY_FILE, the CLI the shim
# hands snapshots to and the snapshot key.
bench_cowherd_conf() {
    {
        printf '[nova]\ninstances_path = %s\n[log]\nsyslog = false\nfile = %s\n' "$1" "$2"
        printf '[tools]\nreal_qemu_img = %s\n' "$3"
        if [ -n "${4:-}" ]; then
            printf 'fetcher = %s\n[snapshot]\nkey_file = %s\n' "$4" "$5"
        fi
    } >/etc/cowherd/cowherd.conf
}
