# shellcheck shell=bash
# shellcheck disable=SC2034  # variables here are used by the sourcing tests
# keystone.sh: a real OpenStack Keystone (Debian's keystone package) for
# cowherd's integration tests.  Source it after functions.sh and glance.sh:
#
#   source "$(dirname "$0")/functions.sh"
#   source "$(dirname "$0")/glance.sh"
#   source "$(dirname "$0")/keystone.sh"
#   private_ns "$@"
#   mktempdir tmp
#   keystone_up "$tmp/keystone"
#   keystone_endpoint image public RegionOne "$GLANCE_URL"
#   keystone_user cowherd "$password" service
#
# Keystone is served the way the package serves it (/etc/init.d/keystone):
# the WSGI application /usr/bin/keystone-wsgi-public under uWSGI's python3
# plugin (uwsgi_python3, --http-socket), here with a private ini on
# 127.0.0.1 and a free port.  One worker process with one thread (the tests
# need no concurrency): with several threads, Keystone on sqlite logs
# "SQLite objects created in a thread can only be used in that same thread"
# as the garbage collector closes connections in other threads, and answers
# 500 ("database is locked"); see _ks_wal for the lock.  The configuration, the
# sqlite database, the fernet and credential keys, the log and uWSGI's
# output all live under the DIR given to keystone_up; /etc/keystone,
# /var/lib/keystone and /var/log/keystone are not used (the WSGI app gets
# its config file from OS_KEYSTONE_CONFIG_FILES, keystone-manage from
# --config-file).  Everything runs as root and is stopped by pid.
#
# The API used here:
#   keystone_up DIR                 db_sync, fernet/credential keys, bootstrap
#                                   (admin, RegionOne, the identity endpoints),
#                                   serve; export KEYSTONE_URL (.../v3)
#   keystone_token USER PW PROJECT  a project-scoped token (Default domain)
#   keystone_project NAME           the project's id (created if missing)
#   keystone_user NAME PW PROJECT [ROLE]
#                                   create a user with ROLE (member) on PROJECT
#   keystone_endpoint TYPE IFACE REGION URL
#                                   add an endpoint (service and region made
#                                   if missing); prints its id
#   keystone_endpoint_delete ID
#   keystone_configure USER PW PROJECT [KEY=VALUE...]
#                                   append [keystone] to $COWHERD_CONF, the
#                                   password in a 0600 file under DIR
#   keystone_down                   stop it (registered by keystone_up)

KEYSTONE_DIR=
KEYSTONE_URL=
KEYSTONE_PID=
KEYSTONE_CONF=
KEYSTONE_LOG=
KEYSTONE_ADMIN_PASSWORD=
KEYSTONE_ADMIN_TOKEN=
KEYSTONE_START_TIMEOUT=${KEYSTONE_START_TIMEOUT:-90}
_ks_worker_pids=()

# keystone_up DIR: set up and start Keystone on 127.0.0.1 on a free port,
# state under DIR; returns once it answers and issued the admin a token.
# Registers keystone_down.
keystone_up() {
    local dir=$1 try port t0 pid pids
    requires keystone-manage uwsgi_python3 curl ss "$PYTHON"
    [ -f /usr/bin/keystone-wsgi-public ] || skip "/usr/bin/keystone-wsgi-public missing (install keystone)"
    mkdir -p "$dir"
    KEYSTONE_DIR=$(cd "$dir" && pwd)
    KEYSTONE_CONF=$KEYSTONE_DIR/keystone.conf
    KEYSTONE_LOG=$KEYSTONE_DIR/keystone.log
    mkdir -p "$KEYSTONE_DIR"/{fernet-keys,credential-keys,lock}
    chmod 700 "$KEYSTONE_DIR"/fernet-keys "$KEYSTONE_DIR"/credential-keys
    KEYSTONE_ADMIN_PASSWORD=$(new_uuid)
    cleanup_fn keystone_down
    _ks_write_conf
    t0=$EPOCHREALTIME
    # The key setups do not touch the database: run them beside db_sync.
    _ks_manage fernet_setup --keystone-user root --keystone-group root &
    pids=("$!")
    _ks_manage credential_setup --keystone-user root --keystone-group root &
    pids+=("$!")
    _ks_manage db_sync
    for pid in "${pids[@]}"; do
        wait "$pid" || die "keystone-manage failed"
    done
    _ks_wal
    note "keystone-manage db_sync, fernet_setup, credential_setup took $(since_s "$t0") s"
    # A port found free can be taken before uWSGI binds it: retry (the
    # identity endpoints name the port, so bootstrap again; it updates them).
    for try in 1 2 3; do
        port=$(free_port)
        export KEYSTONE_URL=http://127.0.0.1:$port/v3
        t0=$EPOCHREALTIME
        _ks_manage bootstrap --bootstrap-password "$KEYSTONE_ADMIN_PASSWORD" \
            --bootstrap-username admin --bootstrap-project-name admin \
            --bootstrap-role-name admin --bootstrap-service-name keystone \
            --bootstrap-admin-url "$KEYSTONE_URL" --bootstrap-public-url "$KEYSTONE_URL" \
            --bootstrap-internal-url "$KEYSTONE_URL" --bootstrap-region-id RegionOne
        note "keystone-manage bootstrap took $(since_s "$t0") s"
        _ks_write_uwsgi_ini "$port"
        if _ks_start "$port"; then
            KEYSTONE_ADMIN_TOKEN=$(keystone_token admin "$KEYSTONE_ADMIN_PASSWORD" admin) ||
                die "keystone: the admin cannot get a token"
            return 0
        fi
        grep -q "Address already in use" "$KEYSTONE_DIR/uwsgi.out" || break
        note "keystone: port $port taken, trying another"
    done
    tail -n 30 "$KEYSTONE_DIR/uwsgi.out" "$KEYSTONE_LOG" >&2 || true
    die "keystone did not start"
}

# _ks_manage COMMAND ARGS...: keystone-manage with the private config;
# output in DIR/keystone-manage-COMMAND.out, shown if it fails.
_ks_manage() {
    local out=$KEYSTONE_DIR/keystone-manage-$1.out
    keystone-manage --config-file "$KEYSTONE_CONF" "$@" </dev/null >"$out" 2>&1 || {
        tail -n 20 "$out" >&2 || true
        die "keystone-manage $1 failed (log: $KEYSTONE_LOG)"
    }
}

# _ks_wal: put the sqlite database in WAL mode (kept in the file).
# Keystone 22 leaves some requests' read transactions open until the garbage
# collector closes their connection (POST /auth/tokens does, for one): in
# sqlite's default rollback-journal mode that reader's SHARED lock makes the
# next write wait out its busy timeout and fail with "database is locked"
# (HTTP 500).  In WAL mode readers do not block a writer.
_ks_wal() {
    local mode
    mode=$("$PYTHON" -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("PRAGMA journal_mode=WAL").fetchone()[0])
db.close()' "$KEYSTONE_DIR/keystone.sqlite") || die "keystone: cannot set WAL mode"
    [ "$mode" = wal ] || die "keystone: the database is in journal mode '$mode', not wal"
}

# _ks_write_conf: the private keystone.conf.  Fernet tokens (the default
# provider, set explicitly), keys under DIR; no cache, no notifications.
_ks_write_conf() {
    local d=$KEYSTONE_DIR
    cat >"$KEYSTONE_CONF" <<EOF
[DEFAULT]
debug = false
use_stderr = false
log_file = $KEYSTONE_LOG

[cache]
enabled = false

[credential]
key_repository = $d/credential-keys/

[database]
connection = sqlite:///$d/keystone.sqlite

[fernet_receipts]
key_repository = $d/fernet-keys/

[fernet_tokens]
key_repository = $d/fernet-keys/

[oslo_concurrency]
lock_path = $d/lock

[oslo_messaging_notifications]
driver = noop

[token]
provider = fernet
EOF
}

# _ks_write_uwsgi_ini PORT: as /etc/keystone/keystone-uwsgi.ini, less the
# apparmor profile, the keystone user, the log file and the 8 x 32 workers.
_ks_write_uwsgi_ini() {
    cat >"$KEYSTONE_DIR/uwsgi.ini" <<EOF
[uwsgi]
http-socket = 127.0.0.1:$1
buffer-size = 65535
master = true
plugins = python3
lazy-apps = true
paste-logger = true
no-orphans = true
die-on-term = true
# The worker's Py_Finalize crashes in greenlet's teardown (SIGSEGV, a
# backtrace in uwsgi.out) on every stop: exiting without it is cleaner.
skip-atexit-teardown = true
enable-threads = true
processes = 1
threads = 1
listen = 100
name = keystone-api
chdir = $KEYSTONE_DIR
wsgi-file = /usr/bin/keystone-wsgi-public
env = OS_KEYSTONE_CONFIG_FILES=$KEYSTONE_CONF
EOF
}

# _ks_start PORT: start uWSGI in the background and wait (bounded) until
# Keystone answers GET /v3.  1 if it died (output in DIR/uwsgi.out).
_ks_start() {
    local port=$1 i t0=$EPOCHREALTIME out=$KEYSTONE_DIR/uwsgi.out
    uwsgi_python3 --ini "$KEYSTONE_DIR/uwsgi.ini" </dev/null >"$out" 2>&1 &
    KEYSTONE_PID=$!
    _ks_worker_pids=()
    for ((i = 0; i < KEYSTONE_START_TIMEOUT * 5; i++)); do
        # Its own lines first: whatever else might answer on that port.
        if grep -qF "bound to TCP address 127.0.0.1:$port " "$out" 2>/dev/null &&
            grep -qF "spawned uWSGI master process (pid: $KEYSTONE_PID)" "$out" &&
            grep -q "WSGI app 0 (mountpoint='') ready" "$out" &&
            grep -qF '"id": "v3.' <<<"$(curl -sf --max-time 10 "$KEYSTONE_URL" 2>/dev/null)"; then
            mapfile -t _ks_worker_pids < <(sed -n 's/^spawned uWSGI worker [0-9]* (pid: \([0-9]*\),.*/\1/p' "$out")
            note "keystone up at $KEYSTONE_URL (uWSGI pid $KEYSTONE_PID," \
                "worker ${_ks_worker_pids[*]}), answering after $(since_s "$t0") s"
            return 0
        fi
        if ! kill -0 "$KEYSTONE_PID" 2>/dev/null; then
            wait "$KEYSTONE_PID" || true
            KEYSTONE_PID=
            return 1
        fi
        sleep 0.2
    done
    keystone_down
    tail -n 30 "$out" "$KEYSTONE_LOG" >&2 || true
    die "keystone did not answer within $KEYSTONE_START_TIMEOUT s"
}

# keystone_down: stop uWSGI by pid (SIGTERM: die-on-term) and wait for it
# and its worker; SIGKILL after 15 s.  Safe to call twice.
keystone_down() {
    local pid=$KEYSTONE_PID p ok=0
    [ -n "$pid" ] || return 0
    KEYSTONE_PID=
    kill -TERM "$pid" 2>/dev/null || true
    for p in "$pid" "${_ks_worker_pids[@]}"; do
        _wait_pid_gone "$p" 15 && continue
        echo "warning: keystone (uWSGI) pid $p still alive after 15 s, SIGKILL" >&2
        kill -KILL "$p" 2>/dev/null || true
        _wait_pid_gone "$p" 5 || { echo "error: keystone pid $p survived" >&2; ok=1; }
    done
    wait "$pid" 2>/dev/null || true
    _ks_worker_pids=()
    return "$ok"
}

# ---- requests ----------------------------------------------------------------

# _ks_json EXPR ARG...: print json.dumps of a Python expression over the
# arguments (a list, a[0] is the first ARG): request bodies are never made
# by pasting strings together.
_ks_json() {
    "$PYTHON" -c 'import json, sys
a = sys.argv[2:]
print(json.dumps(eval(sys.argv[1])))' "$@"
}

# _ks_get EXPR [ARG...]: evaluate a Python expression over the JSON document
# on stdin (bound to d; ARGs in a); print it.
_ks_get() {
    "$PYTHON" -c 'import json, sys
d = json.load(sys.stdin)
a = sys.argv[2:]
print(eval(sys.argv[1]))' "$@"
}

# _ks_curl METHOD PATH [BODY]: a request as the admin; the body on stdout.
# Fails (status and body on stderr) unless the status is 2xx.
_ks_curl() {
    local method=$1 path=$2 out status data=()
    [ $# -lt 3 ] || data=(-H 'Content-Type: application/json' --data-binary "$3")
    out=$(mktemp "$KEYSTONE_DIR/curl.XXXXXX")
    status=$(curl -sS -o "$out" -w '%{http_code}' --max-time 60 -X "$method" \
        -H "X-Auth-Token: $KEYSTONE_ADMIN_TOKEN" "${data[@]}" "$KEYSTONE_URL$path") || {
        rm -f "$out"
        echo "keystone: $method $path: curl failed" >&2
        return 1
    }
    if [ "${status:0:1}" != 2 ]; then
        echo "keystone: $method $path: HTTP $status: $(head -c 500 "$out")" >&2
        rm -f "$out"
        return 1
    fi
    cat "$out"
    rm -f "$out"
}

# keystone_token USER PASSWORD PROJECT: a token scoped to PROJECT (user and
# project in the Default domain), the X-Subject-Token of POST /auth/tokens.
keystone_token() {
    local body hdr status token
    body=$(_ks_json '{"auth": {"identity": {"methods": ["password"], "password": {"user":
        {"name": a[0], "domain": {"id": "default"}, "password": a[1]}}},
        "scope": {"project": {"name": a[2], "domain": {"id": "default"}}}}}' "$1" "$2" "$3")
    hdr=$(mktemp "$KEYSTONE_DIR/hdr.XXXXXX")
    status=$(curl -sS -o /dev/null -D "$hdr" -w '%{http_code}' --max-time 60 \
        -H 'Content-Type: application/json' --data-binary "$body" \
        "$KEYSTONE_URL/auth/tokens") || status=curl-failed
    token=$(sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: *\([^[:space:]]*\).*/\1/p' "$hdr")
    rm -f "$hdr"
    if [ "$status" != 201 ] || [ -z "$token" ]; then
        echo "keystone: no token for $1 in project $3: HTTP $status" >&2
        return 1
    fi
    printf '%s\n' "$token"
}

# keystone_project NAME: the id of project NAME in the Default domain,
# created if missing.
keystone_project() {
    local id
    id=$(_ks_curl GET "/projects?name=$1&domain_id=default" |
        _ks_get '" ".join(p["id"] for p in d["projects"])') || die "keystone: listing projects failed"
    if [ -z "$id" ]; then
        id=$(_ks_curl POST /projects "$(_ks_json '{"project": {"name": a[0],
            "domain_id": "default", "description": "cowherd tests"}}' "$1")" |
            _ks_get 'd["project"]["id"]') || die "keystone: creating project $1 failed"
    fi
    printf '%s\n' "$id"
}

# keystone_user NAME PASSWORD PROJECT [ROLE]: a user of the Default domain
# with ROLE (default member, which bootstrap made) on PROJECT; prints its id.
keystone_user() {
    local name=$1 pw=$2 project role=${4:-member} uid rid
    project=$(keystone_project "$3")
    uid=$(_ks_curl POST /users "$(_ks_json '{"user": {"name": a[0], "password": a[1],
        "domain_id": "default", "default_project_id": a[2], "enabled": True}}' \
        "$name" "$pw" "$project")" | _ks_get 'd["user"]["id"]') ||
        die "keystone: creating user $name failed"
    rid=$(_ks_curl GET "/roles?name=$role" | _ks_get '" ".join(r["id"] for r in d["roles"])') ||
        die "keystone: listing roles failed"
    if [ -z "$rid" ] || [ "$rid" != "${rid%% *}" ]; then
        die "keystone: no single role named $role"
    fi
    _ks_curl PUT "/projects/$project/users/$uid/roles/$rid" >/dev/null ||
        die "keystone: granting $role on $3 to $name failed"
    printf '%s\n' "$uid"
}

# _ks_service TYPE: the id of the one service of TYPE, created if missing
# (named glance for image, else TYPE).
_ks_service() {
    local type=$1 ids name
    ids=$(_ks_curl GET "/services?type=$type" |
        _ks_get '" ".join(s["id"] for s in d["services"])') || die "keystone: listing services failed"
    if [ -z "$ids" ]; then
        name=$type
        [ "$type" != image ] || name=glance
        ids=$(_ks_curl POST /services "$(_ks_json '{"service": {"type": a[0], "name": a[1],
            "enabled": True}}' "$type" "$name")" | _ks_get 'd["service"]["id"]') ||
            die "keystone: creating service $type failed"
    fi
    [ "$ids" = "${ids%% *}" ] || die "keystone: several services of type $type"
    printf '%s\n' "$ids"
}

# _ks_region ID: make sure region ID exists.
_ks_region() {
    _ks_curl GET "/regions/$1" >/dev/null 2>&1 && return 0
    _ks_curl POST /regions "$(_ks_json '{"region": {"id": a[0]}}' "$1")" >/dev/null ||
        die "keystone: creating region $1 failed"
}

# keystone_endpoint TYPE INTERFACE REGION URL: add an endpoint to the
# catalog; prints its id.
keystone_endpoint() {
    local type=$1 iface=$2 region=$3 url=$4 sid id
    sid=$(_ks_service "$type")
    _ks_region "$region"
    id=$(_ks_curl POST /endpoints "$(_ks_json '{"endpoint": {"service_id": a[0],
        "interface": a[1], "region_id": a[2], "url": a[3], "enabled": True}}' \
        "$sid" "$iface" "$region" "$url")" | _ks_get 'd["endpoint"]["id"]') ||
        die "keystone: creating the $iface $type endpoint in $region failed"
    note "keystone: $type endpoint $iface $region $url ($id)"
    printf '%s\n' "$id"
}

# keystone_endpoint_delete ID
keystone_endpoint_delete() {
    _ks_curl DELETE "/endpoints/$1" >/dev/null || die "keystone: deleting endpoint $1 failed"
}

# ---- cowherd's side ----------------------------------------------------------

# keystone_configure USER PASSWORD PROJECT [KEY=VALUE...]: append a
# [keystone] section to $COWHERD_CONF (after write_cowherd_conf or
# hookhost_up wrote it): auth_url, username, password_file (PASSWORD in a
# new 0600 file under DIR, one line), project_name, then any further keys
# (region_name=..., interface=...).  Like glance_configure, points
# [tools] fetcher at the build's CLI.
keystone_configure() {
    local user=$1 pw=$2 project=$3 kv pwfile fetcher=${COWHERD_FETCH:-${COWHERD_CLI:-}}
    shift 3
    [ -n "$KEYSTONE_URL" ] || die "keystone_configure before keystone_up"
    [ -f "$COWHERD_CONF" ] || die "keystone_configure: no $COWHERD_CONF yet"
    pwfile=$(mktemp "$KEYSTONE_DIR/password.XXXXXX")
    chmod 600 "$pwfile"
    printf '%s\n' "$pw" >"$pwfile"
    {
        printf '[keystone]\nauth_url = %s\nusername = %s\npassword_file = %s\nproject_name = %s\n' \
            "$KEYSTONE_URL" "$user" "$pwfile" "$project"
        for kv in "$@"; do
            [[ "$kv" == *=* ]] || die "keystone_configure: $kv is not KEY=VALUE"
            printf '%s = %s\n' "${kv%%=*}" "${kv#*=}"
        done
        if [ -n "$fetcher" ]; then
            printf '[tools]\nfetcher = %s\n' "$fetcher"
        fi
    } >>"$COWHERD_CONF"
}
