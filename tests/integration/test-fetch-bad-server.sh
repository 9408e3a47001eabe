#!/usr/bin/env bash
# A server that answers badly: a small Python HTTP server on 127.0.0.1
# stands where [glance] url points and answers GET /v2/images/ID with
#   - 2 MiB of valid JSON (with a Content-Length, and chunked without one),
#   - {"id": 5},
#   - a body that is not JSON, and JSON nested far too deep,
#   - 401 Unauthorized (what keystonemiddleware sends for a bad token),
# and GET /v2/images?image_id_sha1=... with {"images": "nope"}.  Each fetch
# exits 1 with one clear stderr line, asks once (none of these is worth a
# retry), sends the configured token, and leaves _base as it was.
set -euo pipefail
source "$(dirname "$0")/functions.sh"
private_ns "$@"
requires sha1sum "$PYTHON"
requires_built COWHERD_CLI

mktempdir tmp
hookhost_up "$tmp/host"

cat >"$tmp/server.py" <<'EOF'
import http.server, json, sys

PORT_FILE, LOG = sys.argv[1], sys.argv[2]
MIB = 1 << 20


def image(id_, **extra):
    d = {"id": id_, "status": "active", "disk_format": "raw", "container_format": "bare",
         "size": MIB, "os_hash_algo": "sha512", "os_hash_value": "ab" * 64,
         "checksum": "cd" * 16}
    d.update(extra)
    return d


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, code, body, ctype="application/json", chunked=False, headers=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 65536):
                piece = body[i:i + 65536]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_GET(self):
        with open(LOG, "a") as f:
            f.write("%s %s token=%s\n" % (self.command, self.path,
                                          self.headers.get("X-Auth-Token")))
        path = self.path
        if path.startswith("/v2/images?"):
            return self.send(200, json.dumps({"images": "nope"}).encode())
        id_ = path[len("/v2/images/"):] if path.startswith("/v2/images/") else ""
        if id_ in ("fault-huge-json", "fault-huge-chunked"):
            body = json.dumps(image(id_, padding="x" * (2 * MIB))).encode()
            return self.send(200, body, chunked=id_ == "fault-huge-chunked")
        if id_ == "fault-id-not-string":
            return self.send(200, b'{"id": 5}')
        if id_ == "fault-not-json":
            return self.send(200, b"<html><body>Service Unavailable</body></html>",
                             ctype="text/html")
        if id_ == "fault-deep-json":
            return self.send(200, b'{"a": ' * 10000 + b"1" + b"}" * 10000)
        if id_ == "fault-unauthorized":
            body = json.dumps({"error": {"code": 401, "title": "Unauthorized",
                               "message": "The request you have made requires "
                                          "authentication."}}).encode()
            return self.send(401, body, headers=[
                ("WWW-Authenticate", "Keystone uri='http://127.0.0.1:5000'")])
        return self.send(404, b'{"message": "not found"}')


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write("%d\n" % srv.server_address[1])
import os
os.rename(PORT_FILE + ".tmp", PORT_FILE)
srv.serve_forever()
EOF

server=
stop_server() {
    [ -n "$server" ] || return 0
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
}
cleanup_fn stop_server
"$PYTHON" "$tmp/server.py" "$tmp/port" "$tmp/requests.log" </dev/null >"$tmp/server.out" 2>&1 &
server=$!
for ((i = 0; i < 100; i++)); do
    [ -s "$tmp/port" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$tmp/server.out" >&2; die "the test server died"; }
    sleep 0.1
done
[ -s "$tmp/port" ] || die "the test server did not start"
url=http://127.0.0.1:$(<"$tmp/port")
token=cowherd-test-token-$(new_uuid)
printf '%s\n' "$token" >/etc/cowherd/glance-token
cat >>"$COWHERD_CONF" <<EOF
[glance]
url = $url
token_file = /etc/cowherd/glance-token
[fetch]
retries = 3
EOF
note "test server at $url (pid $server)"

# refused REGEX FETCH-ARGS...: exit 1, one stderr line matching REGEX, one
# request with the token, and _base untouched.
refused() {
    local re=$1 rc=0 n bad
    shift
    : >"$tmp/requests.log"
    "$COWHERD_CLI" --config "$COWHERD_CONF" fetch "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    note "fetch $*: exit $rc: $(cat "$tmp/err")"
    [ "$rc" = 1 ] || die "fetch $*: exit $rc, want 1"
    [ "$(wc -l <"$tmp/err")" = 1 ] || { cat "$tmp/err" >&2; die "fetch $*: want one stderr line"; }
    grep -qiE -- "$re" "$tmp/err" || die "fetch $*: unclear error: $(cat "$tmp/err")"
    [ ! -s "$tmp/out" ] || die "fetch $*: wrote to stdout: $(cat "$tmp/out")"
    n=$(wc -l <"$tmp/requests.log")
    [ "$n" = 1 ] || { cat "$tmp/requests.log" >&2; die "fetch $*: $n requests, want 1"; }
    bad=$(grep -vcF "token=$token" "$tmp/requests.log" || true)
    [ "$bad" = 0 ] || die "fetch $*: the token was not sent: $(cat "$tmp/requests.log")"
    [ -z "$(ls -A "$NOVA_BASE")" ] || die "fetch $*: _base holds $(ls -A "$NOVA_BASE")"
}

refused 'fault-huge-json.*response larger than 1 MiB' fault-huge-json
refused 'fault-huge-chunked.*response larger than 1 MiB' fault-huge-chunked
refused 'image fault-id-not-string: "id" is not a string' fault-id-not-string
refused 'image fault-not-json: not a JSON object' fault-not-json
refused 'image fault-deep-json: not a JSON object' fault-deep-json
refused '/v2/images/fault-unauthorized: HTTP 401' fault-unauthorized
refused 'image list: no "images" array' --sha1 "$(image_sha1 "$(new_uuid)")"
