# shellcheck shell=bash
# shellcheck disable=SC2034  # variables here are used by the sourcing tests
# glance.sh: a real OpenStack Glance v2 (Debian's glance-api) for cowherd's
# integration tests.  Source it after functions.sh:
#
#   source "$(dirname "$0")/functions.sh"
#   source "$(dirname "$0")/glance.sh"
#   private_ns "$@"
#   mktempdir tmp
#   glance_up "$tmp/glance"
#   id=$(glance_upload disk.raw raw image_id_sha1="$sha")
#
# No Keystone: `[paste_deploy] flavor =` (empty) selects the pipeline with
# the unauthenticated-context filter, so every request runs as admin.  The
# database (sqlite), the file store, locks, the task work dir and the log
# all live under the DIR given to glance_up; /etc/glance, /var/lib/glance
# and /var/log/glance are not used.  glance-api runs as one process
# (workers = 0), as root, and is stopped by pid.
#
# The API used here:
#   glance_up DIR                     start glance-api, export GLANCE_URL
#   glance_upload FILE FMT [K=V...]   create + upload, wait for active, print id
#   glance_image FIELD ID             one field of GET /v2/images/ID
#   glance_image_file_path ID         the stored file in the fs store
#   glance_delete ID                  DELETE /v2/images/ID
#   glance_tamper ID [OFFSET]         flip one byte of the stored file
#   glance_configure                  add [glance] url and [tools] fetcher to cowherd.conf
#   glance_count_downloads ID         GET .../ID/file requests in the log
#   glance_relay PID...               $GLANCE_URL also in those pids' network namespaces
#   glance_down                       stop it (registered by glance_up)

GLANCE_DIR=
GLANCE_URL=
GLANCE_PID=
GLANCE_CONF=
GLANCE_LOG=
GLANCE_START_TIMEOUT=${GLANCE_START_TIMEOUT:-60}
GLANCE_NETRELAY=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/netrelay.py

# glance_up DIR: start glance-api on 127.0.0.1 on a free port, state under
# DIR; returns once GET /v2/images answers.  Registers glance_down.
glance_up() {
    local dir=$1 try t0
    requires glance-api glance-manage curl ss "$PYTHON"
    mkdir -p "$dir"
    GLANCE_DIR=$(cd "$dir" && pwd)
    GLANCE_CONF=$GLANCE_DIR/glance-api.conf
    GLANCE_LOG=$GLANCE_DIR/glance-api.log
    mkdir -p "$GLANCE_DIR"/{images,lock,work,staging,cache}
    cp /etc/glance/glance-api-paste.ini "$GLANCE_DIR/"
    cleanup_fn glance_down
    # A port found free can be taken before glance-api binds it: retry.
    for try in 1 2 3; do
        _glance_write_conf "$(free_port)"
        if [ "$try" = 1 ]; then
            t0=$EPOCHREALTIME
            glance-manage --config-file "$GLANCE_CONF" db_sync \
                >"$GLANCE_DIR/db_sync.log" 2>&1 || {
                tail -n 20 "$GLANCE_DIR/db_sync.log" >&2
                die "glance-manage db_sync failed"
            }
            note "glance-manage db_sync took $(since_s "$t0") s"
        fi
        _glance_start && return 0
        grep -q "Address already in use\|Could not bind" "$GLANCE_DIR/glance-api.out" ||
            break
        note "glance-api: port taken, trying another"
    done
    tail -n 30 "$GLANCE_DIR/glance-api.out" "$GLANCE_LOG" >&2 || true
    die "glance-api did not start"
}

# _glance_write_conf PORT: the private glance-api.conf.  Access lines come
# from the logger eventlet.wsgi.server at INFO, which oslo.log's default
# levels leave at INFO; it is set explicitly so a changed default cannot
# silence the lines glance_count_downloads counts.
_glance_write_conf() {
    local port=$1 d=$GLANCE_DIR
    export GLANCE_URL=http://127.0.0.1:$port
    cat >"$GLANCE_CONF" <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $port
workers = 0
debug = false
use_stderr = false
log_file = $GLANCE_LOG
default_log_levels = eventlet.wsgi.server=INFO,sqlalchemy=WARN,stevedore=WARN,routes.middleware=WARN,oslo_policy=INFO,keystonemiddleware=WARN,urllib3.connectionpool=WARN,iso8601=WARN,taskflow=WARN
image_cache_dir = $d/cache
node_staging_uri = file://$d/staging

[database]
connection = sqlite:///$d/glance.sqlite

[glance_store]
stores = file
default_store = file
filesystem_store_datadir = $d/images/

[oslo_concurrency]
lock_path = $d/lock

[paste_deploy]
flavor =
config_file = $d/glance-api-paste.ini

[task]
work_dir = $d/work
EOF
}

# _glance_start: start glance-api in the background and wait (bounded)
# until it answers.  1 if it died (output in glance-api.out).
_glance_start() {
    local i t0=$EPOCHREALTIME
    glance-api --config-file "$GLANCE_CONF" </dev/null >"$GLANCE_DIR/glance-api.out" 2>&1 &
    GLANCE_PID=$!
    for ((i = 0; i < GLANCE_START_TIMEOUT * 5; i++)); do
        # Its own line first: whatever else might answer on that port.
        if grep -qF "($GLANCE_PID) wsgi starting up on $GLANCE_URL" "$GLANCE_LOG" 2>/dev/null &&
            curl -sf -o /dev/null --max-time 5 "$GLANCE_URL/v2/images"; then
            note "glance-api up at $GLANCE_URL (pid $GLANCE_PID)," \
                "answering after $(since_s "$t0") s"
            return 0
        fi
        if ! kill -0 "$GLANCE_PID" 2>/dev/null; then
            wait "$GLANCE_PID" || true
            GLANCE_PID=
            return 1
        fi
        sleep 0.2
    done
    glance_down
    tail -n 30 "$GLANCE_DIR/glance-api.out" "$GLANCE_LOG" >&2 || true
    die "glance-api did not answer within $GLANCE_START_TIMEOUT s"
}

# glance_down: stop glance-api by pid and wait for it; SIGKILL after 15 s.
# Safe to call twice.
glance_down() {
    local pid=$GLANCE_PID
    [ -n "$pid" ] || return 0
    GLANCE_PID=
    kill -TERM "$pid" 2>/dev/null || true
    if ! _wait_pid_gone "$pid" 15; then
        echo "warning: glance-api pid $pid still alive after 15 s, SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        _wait_pid_gone "$pid" 5 || { echo "error: glance-api pid $pid survived" >&2; return 1; }
    fi
    wait "$pid" 2>/dev/null || true
}

# glance_relay PID...: make $GLANCE_URL answer at the same address in the
# network namespace of each PID (another host's, which has its own
# loopback): a relay (netrelay.py) listens there and forwards to
# glance-api.  Returns once it listens; registers its stop (by pid).
glance_relay() {
    local hp=${GLANCE_URL#http://} out pid
    [ -n "$GLANCE_URL" ] || die "glance_relay before glance_up"
    [ "$#" -gt 0 ] || die "glance_relay: no pid"
    out=$(mktemp "$GLANCE_DIR/relay.XXXXXX")
    "$PYTHON" "$GLANCE_NETRELAY" "${hp%:*}" "${hp##*:}" "$@" </dev/null >"$out" 2>&1 &
    pid=$!
    cleanup_fn _glance_relay_stop "$pid"
    poll_until 20 "the Glance relay listening" _glance_relay_up "$pid" "$out"
    note "Glance relayed into the network namespaces of $* (relay pid $pid)"
}

_glance_relay_up() {
    grep -qx ready "$2" && return 0
    kill -0 "$1" 2>/dev/null || { cat "$2" >&2; die "the Glance relay ended"; }
    return 1
}

_glance_relay_stop() {
    kill_if_alive "$1"
    wait "$1" 2>/dev/null || true
}

# ---- requests ----------------------------------------------------------------

# _glance_curl METHOD PATH [CURL ARGS...]: the body on stdout; fails (with
# the status and body on stderr) unless the status is 2xx.
_glance_curl() {
    local method=$1 path=$2 out status
    shift 2
    out=$(mktemp "$GLANCE_DIR/curl.XXXXXX")
    status=$(curl -sS -o "$out" -w '%{http_code}' -X "$method" "$@" "$GLANCE_URL$path") || {
        rm -f "$out"
        echo "glance: $method $path: curl failed" >&2
        return 1
    }
    if [ "${status:0:1}" != 2 ]; then
        echo "glance: $method $path: HTTP $status: $(head -c 500 "$out")" >&2
        rm -f "$out"
        return 1
    fi
    cat "$out"
    rm -f "$out"
}

# _glance_json EXPR [ARG...]: evaluate a Python expression over the JSON
# document on stdin (bound to d; ARGs in sys.argv[2:]); prints it.
_glance_json() {
    "$PYTHON" -c 'import json, sys
d = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$@"
}

# _glance_create_json NAME DISK_FORMAT [K=V...]: the body of POST /v2/images.
_glance_create_json() {
    "$PYTHON" -c 'import json, sys
body = {"name": sys.argv[1], "disk_format": sys.argv[2], "container_format": "bare"}
for kv in sys.argv[3:]:
    k, sep, v = kv.partition("=")
    if not sep:
        sys.exit("glance_upload: %r is not PROP=VALUE" % kv)
    body[k] = v
print(json.dumps(body))' "$@"
}

# glance_upload FILE DISK_FORMAT [PROP=VALUE...]: create an image (container
# bare, private, extra string properties), upload FILE's bytes, check it is
# active and has FILE's size; print its id.
glance_upload() {
    local file=$1 fmt=$2 body id status size
    shift 2
    [ -f "$file" ] || die "glance_upload: no file $file"
    body=$(_glance_create_json "${file##*/}" "$fmt" "$@") || die "glance_upload: bad properties"
    id=$(_glance_curl POST /v2/images -H 'Content-Type: application/json' -d "$body" |
        _glance_json 'd["id"]') || die "glance_upload: creating the image failed"
    _glance_curl PUT "/v2/images/$id/file" -H 'Content-Type: application/octet-stream' \
        -T "$file" >/dev/null || die "glance_upload: uploading $file to $id failed"
    status=$(glance_image status "$id")
    [ "$status" = active ] || die "glance_upload: image $id is '$status' after upload, not active"
    size=$(glance_image size "$id")
    [ "$size" = "$(stat -c %s "$file")" ] ||
        die "glance_upload: image $id has size $size, $file $(stat -c %s "$file")"
    printf '%s\n' "$id"
}

# glance_image FIELD ID: one field of GET /v2/images/ID ("None" if null).
glance_image() {
    _glance_curl GET "/v2/images/$2" | _glance_json "d.get(sys.argv[2])" "$1"
}

# glance_image_file_path ID: the path of the image's data in the fs store
# (its one location, file:///...), so a test can tamper with it.
glance_image_file_path() {
    local path
    path=$("$PYTHON" - "$GLANCE_DIR/glance.sqlite" "$1" <<'EOF'
import sqlite3, sys, urllib.parse
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
rows = db.execute("SELECT value FROM image_locations WHERE image_id = ? "
                  "AND deleted = 0 AND status = 'active'", (sys.argv[2],)).fetchall()
if len(rows) != 1:
    sys.exit("image %s has %d active locations, want 1" % (sys.argv[2], len(rows)))
url = urllib.parse.urlparse(rows[0][0])
if url.scheme != "file":
    sys.exit("image %s is not in the file store: %s" % (sys.argv[2], rows[0][0]))
print(url.path)
EOF
    ) || die "glance_image_file_path $1 failed"
    [ -f "$path" ] || die "glance_image_file_path: $path (of image $1) is not a file"
    printf '%s\n' "$path"
}

# glance_delete ID
glance_delete() {
    _glance_curl DELETE "/v2/images/$1" >/dev/null || die "glance_delete $1 failed"
}

# glance_count_downloads ID: how many GET /v2/images/ID/file requests
# glance-api has answered.  Each request, whatever its status (200, a 206
# resume, 416, a transfer the client broke off), gives one access line from
# the logger eventlet.wsgi.server, written when the response ends:
#   ... INFO eventlet.wsgi.server [None req-... - - - - - -] 127.0.0.1 - -
#   [22/Nov/2026 04:20:07] "GET /v2/images/ID/file HTTP/1.1" 200 16777451 0.22
# (one line; the size counts headers too).  The pattern counted is the
# fixed string  "GET /v2/images/ID/file HTTP/1.  (a query string would not
# match).  A client can see the whole body before that line is written, so
# first wait until a marker request made now has been logged.
glance_count_downloads() {
    _glance_log_sync
    grep -cF "\"GET /v2/images/$1/file HTTP/1." "$GLANCE_LOG" || true
}

# _glance_log_sync: make a request with a unique marker and wait (bounded)
# until glance-api has logged it, so requests answered before are logged.
_glance_log_sync() {
    local tag i
    tag=cowherd_log_sync=$(new_uuid)
    curl -s -o /dev/null --max-time 10 "$GLANCE_URL/v2/images?$tag" || true
    for ((i = 0; i < 100; i++)); do
        grep -qF "$tag" "$GLANCE_LOG" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "warning: glance-api did not log the marker request within 10 s" >&2
}

# glance_tamper ID [OFFSET]: flip one byte (default at 1 MiB + 100) of the
# image's stored file, behind Glance's back: size and recorded hashes stay.
glance_tamper() {
    local path
    path=$(glance_image_file_path "$1")
    "$PYTHON" - "$path" "${2:-1048676}" <<'EOF' || die "glance_tamper $1 failed"
import sys
off = int(sys.argv[2])
with open(sys.argv[1], "r+b") as f:
    f.seek(off)
    b = f.read(1)
    if len(b) != 1:
        sys.exit("offset %d is past the end" % off)
    f.seek(off)
    f.write(bytes([b[0] ^ 0xff]))
EOF
}

# ---- cowherd's side ----------------------------------------------------------

# glance_configure: append the [glance] source to $COWHERD_CONF (after
# write_cowherd_conf, hookhost_up or lvhost_up wrote it).  The hook fetches
# by running `FETCHER fetch --sha1 NAME` ([tools] fetcher, by default the
# installed CLI): point it at the build's CLI, or at $COWHERD_FETCH if set.
glance_configure() {
    local fetcher=${COWHERD_FETCH:-${COWHERD_CLI:-}}
    [ -n "$GLANCE_URL" ] || die "glance_configure before glance_up"
    [ -f "$COWHERD_CONF" ] || die "glance_configure: no $COWHERD_CONF yet"
    cat >>"$COWHERD_CONF" <<EOF
[glance]
url = $GLANCE_URL
EOF
    if [ -n "$fetcher" ]; then
        printf '[tools]\nfetcher = %s\n' "$fetcher" >>"$COWHERD_CONF"
    fi
}

