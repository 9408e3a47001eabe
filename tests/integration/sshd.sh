# shellcheck shell=bash
# shellcheck disable=SC2034  # variables here are used by the sourcing tests
# sshd.sh: a real OpenSSH sshd on loopback, for cowherd's sftp peers.
# Source it after functions.sh (and glance.sh, if the test uses Glance):
#
#   source "$(dirname "$0")/functions.sh"
#   source "$(dirname "$0")/sshd.sh"
#   private_ns "$@"
#   mktempdir tmp
#   sshd_up "$tmp/sshd"
#   url=sftp://root@127.0.0.1:$SSHD_PORT/$tmp/peer-base/
#
# Everything lives under the DIR given to sshd_up: the config, the host key,
# a throwaway ed25519 client key and its authorized_keys, the pid file and
# the log.  /etc/ssh is not read (`sshd -f`), no host key is made in
# /etc/ssh (no `ssh-keygen -A`), ~/.ssh is not touched.  The key is ed25519:
# Debian's libssh2 (which libcurl uses for sftp) cannot sign with rsa-sha2,
# which OpenSSH 9 insists on for RSA keys.  Tests run as root, so the login
# is root's, by key only (PermitRootLogin prohibit-password).  sshd runs in
# the foreground (-D) as a child of the test and is stopped by its pid.
#
# The API used here:
#   sshd_up DIR        start sshd on 127.0.0.1:<free port>; export SSHD_PORT,
#                      SSH_KEY (the client's private key file)
#   sshd_ssh CMD...    run CMD over ssh as root with SSH_KEY (a login check)
#   sshd_down          stop it (registered by sshd_up)

SSHD_DIR=
SSHD_PID=
SSHD_PORT=
SSH_KEY=
SSHD_LOG=
SSHD_START_TIMEOUT=${SSHD_START_TIMEOUT:-20}

# sshd_up DIR: start sshd, state under DIR; returns once a login with
# SSH_KEY works.  Registers sshd_down.
sshd_up() {
    local dir=$1 sshd try
    requires sshd ssh ssh-keygen ss "$PYTHON"
    # sshd re-executes itself and insists on an absolute path.
    sshd=$(command -v sshd)
    mkdir -p "$dir"
    SSHD_DIR=$(cd "$dir" && pwd)
    SSHD_LOG=$SSHD_DIR/sshd.log
    _sshd_keys
    export SSH_KEY=$SSHD_DIR/client_ed25519
    # The privilege-separation directory sshd checks for (Debian's package
    # makes it at boot through tmpfiles.d, root 0755).
    if [ ! -d /run/sshd ]; then
        mkdir -p /run/sshd
        chmod 0755 /run/sshd
    fi
    cleanup_fn sshd_down
    # A port found free can be taken before sshd binds it: retry.
    for try in 1 2 3; do
        _sshd_write_conf "$(free_port)"
        "$sshd" -t -f "$SSHD_DIR/sshd_config" ||
            die "sshd -t rejects $SSHD_DIR/sshd_config"
        _sshd_start "$sshd" && return 0
        grep -q "Address already in use\|Cannot bind" "$SSHD_LOG" "$SSHD_DIR/sshd.out" || break
        note "sshd: port taken, trying another"
    done
    tail -n 30 "$SSHD_LOG" "$SSHD_DIR/sshd.out" >&2 || true
    die "sshd did not start"
}

# _sshd_keys: throwaway host and client keys in SSHD_DIR, the client's
# authorized.
_sshd_keys() {
    ssh-keygen -q -t ed25519 -N '' -C cowherd-test-host -f "$SSHD_DIR/host_ed25519_key"
    ssh-keygen -q -t ed25519 -N '' -C cowherd-test-client -f "$SSHD_DIR/client_ed25519"
    cp "$SSHD_DIR/client_ed25519.pub" "$SSHD_DIR/authorized_keys"
}

# _sshd_write_conf PORT [ADDR]: the private sshd_config in SSHD_DIR,
# listening on ADDR (default 127.0.0.1).
_sshd_write_conf() {
    local d=$SSHD_DIR
    export SSHD_PORT=$1
    cat >"$d/sshd_config" <<EOF
# cowherd integration tests: a private sshd (see sshd.sh)
ListenAddress ${2:-127.0.0.1}
Port $SSHD_PORT
HostKey $d/host_ed25519_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PermitTTY no
PrintMotd no
LogLevel VERBOSE
Subsystem sftp internal-sftp
EOF
}

# _sshd_start SSHD: run it in the foreground, in the background of this
# shell, and wait (bounded) until a login works.  1 if it died.
_sshd_start() {
    local sshd=$1 i
    : >"$SSHD_LOG"
    "$sshd" -D -f "$SSHD_DIR/sshd_config" -E "$SSHD_LOG" </dev/null >"$SSHD_DIR/sshd.out" 2>&1 &
    SSHD_PID=$!
    for ((i = 0; i < SSHD_START_TIMEOUT * 5; i++)); do
        if ! kill -0 "$SSHD_PID" 2>/dev/null; then
            wait "$SSHD_PID" || true
            SSHD_PID=
            return 1
        fi
        if grep -qF "Server listening on 127.0.0.1 port $SSHD_PORT" "$SSHD_LOG"; then
            sshd_ssh true ||
                { tail -n 20 "$SSHD_LOG" >&2; die "sshd is up but a login with $SSH_KEY fails"; }
            note "sshd up at 127.0.0.1:$SSHD_PORT (pid $SSHD_PID)"
            return 0
        fi
        sleep 0.2
    done
    sshd_down
    tail -n 30 "$SSHD_LOG" >&2 || true
    die "sshd did not listen within $SSHD_START_TIMEOUT s"
}

# sshd_ssh CMD...: run CMD on the private sshd as root, by key, without
# reading ~/.ssh or /etc/ssh/ssh_config and without a known_hosts file.
sshd_ssh() {
    [ -n "$SSHD_PORT" ] || die "sshd_ssh before sshd_up"
    ssh -F /dev/null -n -T -o BatchMode=yes -o IdentitiesOnly=yes -i "$SSH_KEY" \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        -o ConnectTimeout=10 -p "$SSHD_PORT" root@127.0.0.1 "$@"
}

# sshd_down: stop sshd by pid and wait for it (its session children end
# with their connections); SIGKILL after 10 s.  Safe to call twice.
sshd_down() {
    local pid=$SSHD_PID
    [ -n "$pid" ] || return 0
    SSHD_PID=
    kill -TERM "$pid" 2>/dev/null || true
    if ! _wait_pid_gone "$pid" 10; then
        echo "warning: sshd pid $pid still alive after 10 s, SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        _wait_pid_gone "$pid" 5 || { echo "error: sshd pid $pid survived" >&2; return 1; }
    fi
    wait "$pid" 2>/dev/null || true
}
