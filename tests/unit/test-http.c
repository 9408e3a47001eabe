/* Unit tests for fetch/http.c against real servers: Python's http.server
 * with a small handler that adds Range support and faults (written here,
 * started on 127.0.0.1 for the whole group), and file:// URLs. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "http.h"
#include "testutil.h"

#define PYTHON "/usr/bin/python3"
#define MiB (1024 * 1024)
#define SRC_SIZE (32 * MiB)
#define RESUME_AT (5 * MiB)

/* The server.  Paths are /MODE/REST: MODE files, noranges (ignores Range),
 * flaky (the first request for a path gets half the body, then the
 * connection closes; flaky503 the same, then 503 for ever), stall (headers, then nothing), nolength (no
 * Content-Length, ends by closing) serve the file REST of the directory;
 * status/N answers N; big/N sends N bytes; echo returns the token it got;
 * redirect/P and xredirect/P (to another origin, localhost) redirect to /P;
 * fileredirect goes to a file:// URL, loop to itself.  Every request is
 * logged as "METHOD PATH RANGE TOKEN".  Given a certificate and key, it
 * speaks TLS. */
static const char server_py[] =
  "import http.server, json, os, re, sys, threading, time\n"
  "root, portfile, logfile = sys.argv[1:4]\n"
  "lock = threading.Lock()\n"
  "seen = set()\n"
  "\n"
  "def log(line):\n"
  "    with lock, open(logfile, 'a') as f:\n"
  "        f.write(line + '\\n')\n"
  "\n"
  "class H(http.server.BaseHTTPRequestHandler):\n"
  "    protocol_version = 'HTTP/1.1'\n"
  "\n"
  "    def log_message(self, *a):\n"
  "        pass\n"
  "\n"
  "    def reply(self, code, body, headers=()):\n"
  "        self.send_response(code)\n"
  "        self.send_header('Content-Length', str(len(body)))\n"
  "        for k, v in headers:\n"
  "            self.send_header(k, v)\n"
  "        self.end_headers()\n"
  "        self.wfile.write(body)\n"
  "\n"
  "    def do_POST(self):\n"
  "        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))\n"
  "        log('POST %s - %s' % (self.path, self.headers.get('X-Auth-Token', '-')))\n"
  "        self.reply(201, body, [('X-Subject-Token', 'tok' + self.path)])\n"
  "\n"
  "    def do_GET(self):\n"
  "        rng = self.headers.get('Range')\n"
  "        log('GET %s %s %s' % (self.path, rng or '-', self.headers.get('X-Auth-Token', '-')))\n"
  "        mode, _, rest = self.path[1:].partition('/')\n"
  "        here = 'http://localhost:%d' % self.server.server_port\n"
  "        if mode == 'status':\n"
  "            return self.reply(int(rest), b'{\"status\": %s}' % rest.encode())\n"
  "        if mode == 'big':\n"
  "            return self.reply(200, b' ' * int(rest))\n"
  "        if mode == 'echo':\n"
  "            body = json.dumps({'token': self.headers.get('X-Auth-Token')})\n"
  "            return self.reply(200, body.encode())\n"
  "        if mode == 'redirect':\n"
  "            return self.reply(302, b'moved', [('Location', '/' + rest)])\n"
  "        if mode == 'xredirect':\n"
  "            return self.reply(302, b'moved', [('Location', here + '/' + rest)])\n"
  "        if mode == 'fileredirect':\n"
  "            return self.reply(302, b'moved', [('Location', 'file:///etc/passwd')])\n"
  "        if mode == 'loop':\n"
  "            return self.reply(302, b'', [('Location', '/loop/')])\n"
  "        if mode == 'flaky503' and self.path in seen:\n"
  "            return self.reply(503, b'busy')\n"
  "        try:\n"
  "            f = open(os.path.join(root, rest), 'rb')\n"
  "        except OSError:\n"
  "            return self.reply(404, b'not found')\n"
  "        with f:\n"
  "            size = os.fstat(f.fileno()).st_size\n"
  "            start, code, headers = 0, 200, []\n"
  "            m = re.fullmatch(r'bytes=(\\d+)-', rng or '')\n"
  "            if m and mode != 'noranges':\n"
  "                start = int(m.group(1))\n"
  "                if start >= size:\n"
  "                    return self.reply(416, b'', [('Content-Range', 'bytes */%d' % size)])\n"
  "                code = 206\n"
  "                headers = [('Content-Range', 'bytes %d-%d/%d' % (start, size - 1, size))]\n"
  "            length = cut = size - start\n"
  "            if mode in ('flaky', 'flaky503') and self.path not in seen:\n"
  "                seen.add(self.path)\n"
  "                cut = length // 2\n"
  "            elif mode == 'stall':\n"
  "                cut = 0\n"
  "            self.send_response(code)\n"
  "            if mode == 'nolength':\n"
  "                headers.append(('Connection', 'close'))\n"
  "            else:\n"
  "                headers.append(('Content-Length', str(length)))\n"
  "            for k, v in headers:\n"
  "                self.send_header(k, v)\n"
  "            self.end_headers()\n"
  "            f.seek(start)\n"
  "            while cut > 0:\n"
  "                b = f.read(min(cut, 1 << 20))\n"
  "                self.wfile.write(b)\n"
  "                cut -= len(b)\n"
  "            if mode == 'stall':\n"
  "                time.sleep(60)\n"
  "            if mode in ('flaky', 'flaky503', 'nolength'):\n"
  "                self.close_connection = True\n"
  "\n"
  "s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
  "s.daemon_threads = True\n"
  "if len(sys.argv) > 5:\n"
  "    import ssl\n"
  "    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
  "    ctx.load_cert_chain(sys.argv[4], sys.argv[5])\n"
  "    s.socket = ctx.wrap_socket(s.socket, server_side=True)\n"
  "with open(portfile + '.tmp', 'w') as f:\n"
  "    f.write(str(s.server_port))\n"
  "os.rename(portfile + '.tmp', portfile)\n"
  "s.serve_forever()\n";

static pid_t server = -1, tls_server = -1;
static char base[64];                  /* http://127.0.0.1:PORT */
static char tls_base[64];              /* https://127.0.0.1:PORT */
static char src_sha512[129], src_sha256[65], src_md5[33];
static struct ch_http h;
static int first_free_fd;

static int
free_fd (void)
{
  int fd = open ("/dev/null", O_RDONLY);

  if (fd >= 0)
    close (fd);
  return fd;
}

/* BASE + PATH, from a small ring of buffers. */
static const char *
url (const char *path)
{
  static char ring[4][256];
  static size_t next;
  char *p = ring[next++ % 4];

  snprintf (p, sizeof ring[0], "%s%s", base, path);
  return p;
}

static void
write_file (const char *path, const void *data, size_t len)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

  assert_true (fd >= 0);
  assert_int_equal (write (fd, data, len), (ssize_t) len);
  close (fd);
}

/* Data at three places (one not block aligned), holes between and at the
 * end: what a sparse raw image looks like. */
static void
make_source (const char *path)
{
  static const struct { off_t off; size_t len; } runs[] = {
    { 0, MiB }, { 10 * MiB + 123, 300 * 1024 }, { 31 * MiB, MiB / 2 },
  };
  unsigned char *buf = malloc (MiB);
  uint64_t x = 88172645463325252ull;
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

  assert_non_null (buf);
  assert_true (fd >= 0);
  for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
    for (size_t i = 0; i < runs[r].len; i++) {
      x ^= x << 13; x ^= x >> 7; x ^= x << 17;
      buf[i] = (unsigned char) (x | 1);
    }
    assert_int_equal (pwrite (fd, buf, runs[r].len, runs[r].off), (ssize_t) runs[r].len);
  }
  assert_int_equal (ftruncate (fd, SRC_SIZE), 0);
  close (fd);
  free (buf);
}

/* The hex digest coreutils computes, for an independent opinion. */
static void
digest_of (const char *tool, const char *path, char *out, size_t len)
{
  char cmd[512];
  FILE *p;

  snprintf (cmd, sizeof cmd, "/usr/bin/%s %s", tool, path);
  p = popen (cmd, "r");
  assert_non_null (p);
  assert_non_null (fgets (out, (int) len, p));
  pclose (p);
  out[strcspn (out, " ")] = '\0';
  assert_int_equal (strlen (out), len - 1);
}

/* Start the server (TLS if CERT) writing its port to tmpdir/NAME.port
 * and its log to tmpdir/NAME.log; *PID and BASE_URL are filled. */
static int
start_server (const char *name, const char *cert, const char *key, pid_t *pid,
              char *base_url, size_t len)
{
  char port_file[64], log_file[64], port[16] = "";
  FILE *f;

  snprintf (port_file, sizeof port_file, "%s.port", name);
  snprintf (log_file, sizeof log_file, "%s.log", name);
  snprintf (port_file, sizeof port_file, "%s", tpath (port_file));
  snprintf (log_file, sizeof log_file, "%s", tpath (log_file));
  *pid = fork ();
  if (*pid < 0)
    return -1;
  if (*pid == 0) {
    int null = open ("/dev/null", O_RDWR);
    int err = open (tpath ("server.err"), O_WRONLY | O_CREAT | O_APPEND, 0644);

    dup2 (null, 0);
    dup2 (null, 1);
    dup2 (err, 2);
    execl (PYTHON, PYTHON, tpath ("server.py"), tmpdir, port_file, log_file,
           cert, key, (char *) NULL);
    _exit (127);
  }
  for (int i = 0; i < 1000 && access (port_file, F_OK) < 0; i++)
    usleep (10000);
  f = fopen (port_file, "r");
  if (f == NULL)
    return -1;
  if (fgets (port, sizeof port, f) == NULL)
    port[0] = '\0';
  fclose (f);
  snprintf (base_url, len, "%s://127.0.0.1:%s", cert ? "https" : "http", port);
  return port[0] ? 0 : -1;
}

/* A throwaway certificate for 127.0.0.1, its own CA. */
static int
make_cert (void)
{
  char cmd[1024];

  snprintf (cmd, sizeof cmd, "/usr/bin/openssl req -x509 -newkey ec "
            "-pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=127.0.0.1 "
            "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s 2>/dev/null",
            tpath ("key.pem"), tpath ("cert.pem"));
  return system (cmd) == 0 ? 0 : -1;
}

static int
group_setup (void **state)
{
  (void) state;
  if (tu_tmpdir_make ("test-http") < 0)
    return -1;
  make_source (tpath ("src"));
  digest_of ("sha512sum", tpath ("src"), src_sha512, sizeof src_sha512);
  digest_of ("md5sum", tpath ("src"), src_md5, sizeof src_md5);
  digest_of ("sha256sum", tpath ("src"), src_sha256, sizeof src_sha256);
  if (symlink ("src", tpath ("src-b")) < 0 || symlink ("src", tpath ("src-c")) < 0)
    return -1;
  write_file (tpath ("doc.json"), "{\"id\": \"x/y\"}\n", 14);
  write_file (tpath ("server.py"), server_py, sizeof server_py - 1);
  if (make_cert () < 0)
    return -1;
  if (start_server ("tls", tpath ("cert.pem"), tpath ("key.pem"), &tls_server,
                    tls_base, sizeof tls_base) < 0)
    return -1;
  return start_server ("plain", NULL, NULL, &server, base, sizeof base);
}

static int
group_teardown (void **state)
{
  (void) state;
  for (pid_t *p = (pid_t[]) { server, tls_server }, *e = p + 2; p < e; p++)
    if (*p > 0) {
      kill (*p, SIGTERM);
      waitpid (*p, NULL, 0);
    }
  return tu_tmpdir_remove ();
}

static int
setup (void **state)
{
  (void) state;
  h = (struct ch_http) { .connect_timeout = 5, .stall_timeout = 10, .retries = 2 };
  ch_error_clear ();
  if (truncate (tpath ("plain.log"), 0) < 0 && errno != ENOENT)
    return -1;
  unlink (tpath ("dst"));
  first_free_fd = free_fd ();
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  if (free_fd () != first_free_fd) {
    fprintf (stderr, "file descriptor leaked\n");
    return -1;
  }
  return 0;
}

/* Lines of the server's log containing FRAG. */
static int
logged (const char *frag)
{
  FILE *f = fopen (tpath ("plain.log"), "r");
  char line[512];
  int n = 0;

  assert_non_null (f);
  while (fgets (line, sizeof line, f))
    if (strstr (line, frag))
      n++;
  fclose (f);
  return n;
}

/* Success, or fail the test with cowherd's error. */
static void
ok (int r)
{
  if (r != 0)
    fail_msg ("%s", ch_last_error ());
}

static double
now_s (void)
{
  struct timespec t;

  clock_gettime (CLOCK_MONOTONIC, &t);
  return (double) t.tv_sec + t.tv_nsec / 1e9;
}

static int
download (const char *u, struct ch_download *d)
{
  int fd = open (tpath ("dst"), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  int r;

  assert_true (fd >= 0);
  d->url = u;
  r = ch_http_download (&h, d, fd);
  close (fd);
  return r;
}

static struct ch_download
sha512_of_src (void)
{
  return (struct ch_download) {
    .expect_size = SRC_SIZE, .max_size = 64 * MiB,
    .hash_algo = "sha512", .expect_hash = src_sha512,
  };
}

/* dst must be src, byte for byte. */
static void
assert_same_as_src (void)
{
  int a = open (tpath ("src"), O_RDONLY), b = open (tpath ("dst"), O_RDONLY);
  char *x = malloc (MiB), *y = malloc (MiB);
  ssize_t n, m;

  assert_true (a >= 0 && b >= 0 && x && y);
  do {
    n = read (a, x, MiB);
    m = read (b, y, MiB);
    assert_int_equal (n, m);
    assert_memory_equal (x, y, (size_t) n);
  } while (n > 0);
  close (a);
  close (b);
  free (x);
  free (y);
}

/* Extents of data in dst: the source's three, if holes were kept. */
static int
data_extents (void)
{
  int fd = open (tpath ("dst"), O_RDONLY);
  off_t off = 0, data;
  int n = 0;

  assert_true (fd >= 0);
  while ((data = lseek (fd, off, SEEK_DATA)) >= 0) {
    n++;
    off = lseek (fd, data, SEEK_HOLE);
  }
  close (fd);
  return n;
}

static off_t
allocated (const char *path)
{
  struct stat st;

  assert_int_equal (stat (path, &st), 0);
  return st.st_blocks * 512;
}

/* The first N bytes of src as dst, the leftover of a broken transfer. */
static void
partial_dst (off_t n, int fill)
{
  int a = open (tpath ("src"), O_RDONLY);
  int b = open (tpath ("dst"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  char *buf = malloc ((size_t) n);

  assert_true (a >= 0 && b >= 0 && buf);
  if (fill < 0)
    assert_int_equal (read (a, buf, (size_t) n), n);
  else
    memset (buf, fill, (size_t) n);
  assert_int_equal (write (b, buf, (size_t) n), n);
  close (a);
  close (b);
  free (buf);
}

struct progress {
  int calls;
  uint64_t first, done, total;
  bool backwards;
};

static void
on_progress (void *opaque, uint64_t done, uint64_t total)
{
  struct progress *p = opaque;

  if (p->calls == 0)
    p->first = done;
  p->backwards |= done < p->done;
  p->calls++;
  p->done = done;
  p->total = total;
}

static void
test_sparse_download (void **state)
{
  struct ch_download d = sha512_of_src ();
  struct progress p = { 0 };
  double t0 = now_s ();

  (void) state;
  d.progress = on_progress;
  d.opaque = &p;
  d.want_sha256 = true;
  ok (download (url ("/files/src"), &d));
  assert_int_equal (d.got_size, SRC_SIZE);
  assert_string_equal (d.got_hash, src_sha512);
  assert_string_equal (d.got_sha256, src_sha256);
  assert_same_as_src ();
  assert_int_equal (data_extents (), 3);
  assert_true (allocated (tpath ("dst")) < 3 * MiB);
  assert_true (p.calls >= 1);
  assert_false (p.backwards);
  assert_int_equal (p.done, SRC_SIZE);
  assert_int_equal (p.total, SRC_SIZE);
  assert_true (p.calls <= (now_s () - t0) * 10 + 2);
  assert_int_equal (logged ("GET /files/src - -"), 1);
}

static void
test_md5_computed_only (void **state)
{
  struct ch_download d = { .hash_algo = "md5" };

  (void) state;
  ok (download (url ("/files/src"), &d));
  assert_string_equal (d.got_hash, src_md5);
  assert_int_equal (d.got_size, SRC_SIZE);
}

static void
test_no_hash (void **state)
{
  struct ch_download d = { .max_size = SRC_SIZE };

  (void) state;
  ok (download (url ("/files/src"), &d));
  assert_string_equal (d.got_hash, "");
  assert_string_equal (d.got_sha256, "");
  assert_int_equal (d.got_size, SRC_SIZE);
  assert_same_as_src ();
}

static void
test_hash_mismatch (void **state)
{
  struct ch_download d = sha512_of_src ();
  char want[200];

  (void) state;
  d.expect_hash = "00000000000000000000000000000000000000000000000000000000000000000000"
                  "000000000000000000000000000000000000000000000000000000000000";
  assert_int_equal (download (url ("/files/src"), &d), -1);
  snprintf (want, sizeof want, "GET %s: hash mismatch: sha512 of what was received is "
            "%.16s..., the source says 0000000000000000...", url ("/files/src"), src_sha512);
  assert_string_equal (ch_last_error (), want);
  /* Callers act on the kind, and show the reason without the URL. */
  assert_int_equal (ch_error_kind (), CH_ERR_CORRUPT);
  assert_string_equal (ch_error_detail (), want + strlen ("GET ") + strlen (url ("/files/src"))
                       + strlen (": "));
  assert_string_equal (d.got_hash, src_sha512);
  assert_int_equal (d.got_size, SRC_SIZE);
}

/* This host's side failing is its own kind: no other source would help. */
static void
test_local_write_fails (void **state)
{
  struct ch_download d = sha512_of_src ();
  int fd;

  (void) state;
  d.url = url ("/files/src");
  fd = open ("/dev/full", O_WRONLY | O_CLOEXEC);
  assert_true (fd >= 0);
  assert_int_equal (ch_http_download (&h, &d, fd), -1);
  close (fd);
  assert_int_equal (ch_error_kind (), CH_ERR_NO_SPACE);
  assert_error_contains ("write: No space left on device");
  close (open (tpath ("dst"), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  fd = open (tpath ("dst"), O_RDONLY | O_CLOEXEC);
  assert_true (fd >= 0);
  assert_int_equal (ch_http_download (&h, &d, fd), -1);
  close (fd);
  assert_int_equal (ch_error_kind (), CH_ERR_IO);
}

static void
test_unknown_algorithm (void **state)
{
  struct ch_download d = { .hash_algo = "sha7" };

  (void) state;
  assert_int_equal (download (url ("/files/src"), &d), -1);
  assert_error_contains ("unknown hash algorithm sha7");
  assert_int_equal (logged ("GET"), 0);
}

static void
test_404_not_retried (void **state)
{
  struct ch_download d = sha512_of_src ();
  char want[200];

  (void) state;
  assert_int_equal (download (url ("/files/missing"), &d), -1);
  snprintf (want, sizeof want, "GET %s: HTTP 404", url ("/files/missing"));
  assert_string_equal (ch_last_error (), want);
  assert_int_equal (ch_error_kind (), CH_ERR_NOT_FOUND);
  assert_int_equal (logged ("GET /files/missing"), 1);
  assert_int_equal (allocated (tpath ("dst")), 0);
}

static void
test_5xx_retried (void **state)
{
  struct ch_download d = sha512_of_src ();

  (void) state;
  h.retries = 1;
  assert_int_equal (download (url ("/status/503"), &d), -1);
  assert_error_contains ("HTTP 503 (2 attempts)");
  assert_int_equal (logged ("GET /status/503"), 2);
}

static void
test_resume (void **state)
{
  struct ch_download d = sha512_of_src ();
  struct progress p = { 0 };

  (void) state;
  d.progress = on_progress;
  d.opaque = &p;
  d.want_sha256 = true;
  partial_dst (RESUME_AT, -1);
  ok (download (url ("/files/src"), &d));
  /* Both digests cover the bytes an earlier attempt left. */
  assert_string_equal (d.got_sha256, src_sha256);
  assert_int_equal (logged ("GET /files/src bytes=5242880- -"), 1);
  assert_int_equal (logged ("GET"), 1);
  /* Counted from the start of the file, not of the request. */
  assert_true (p.first >= RESUME_AT);
  assert_false (p.backwards);
  assert_int_equal (p.done, SRC_SIZE);
  assert_int_equal (p.total, SRC_SIZE);
  assert_string_equal (d.got_hash, src_sha512);
  assert_same_as_src ();
}

static void
test_resume_without_ranges (void **state)
{
  struct ch_download d = sha512_of_src ();

  (void) state;
  d.want_sha256 = true;
  partial_dst (RESUME_AT, -1);
  ok (download (url ("/noranges/src"), &d));
  /* Started over: what was hashed of the partial file is forgotten. */
  assert_string_equal (d.got_sha256, src_sha256);
  assert_int_equal (logged ("GET /noranges/src bytes=5242880- -"), 1);
  assert_int_equal (logged ("GET /noranges/src - -"), 1);
  assert_string_equal (d.got_hash, src_sha512);
  assert_same_as_src ();
  assert_int_equal (data_extents (), 3);
}

/* A leftover that is not a prefix of the body: the hash says so, and the
 * transfer starts over once. */
static void
test_resume_wrong_prefix (void **state)
{
  struct ch_download d = sha512_of_src ();

  (void) state;
  partial_dst (RESUME_AT, 0xaa);
  ok (download (url ("/files/src"), &d));
  assert_int_equal (logged ("GET /files/src bytes=5242880- -"), 1);
  assert_int_equal (logged ("GET /files/src - -"), 1);
  assert_same_as_src ();
}

static void
test_resume_complete (void **state)
{
  struct ch_download d = sha512_of_src ();

  (void) state;
  partial_dst (SRC_SIZE, -1);
  ok (download (url ("/files/src"), &d));
  assert_int_equal (logged ("GET"), 0);         /* the size was known */

  /* Size unknown: the server answers 416 and it starts over. */
  d.expect_size = 0;
  ok (download (url ("/files/src"), &d));
  assert_int_equal (logged ("GET /files/src bytes=33554432- -"), 1);
  assert_int_equal (logged ("GET /files/src - -"), 1);
  assert_same_as_src ();
}

static void
test_server_closes_midway (void **state)
{
  struct ch_download d = sha512_of_src ();

  (void) state;
  h.retries = 1;
  ok (download (url ("/flaky/src"), &d));
  assert_int_equal (logged ("GET /flaky/src - -"), 1);
  assert_int_equal (logged ("GET /flaky/src bytes=16777216- -"), 1);
  assert_string_equal (d.got_hash, src_sha512);
  assert_same_as_src ();
  assert_int_equal (data_extents (), 3);
}

/* After retries the error names the last failure and the first, which is
 * usually the cause (here: the connection lost, then a busy server). */
static void
test_first_failure_kept (void **state)
{
  struct ch_download d = sha512_of_src ();

  (void) state;
  h.retries = 2;
  assert_int_equal (download (url ("/flaky503/src"), &d), -1);
  assert_error_contains ("HTTP 503 (3 attempts; the first: transfer closed with ");
  /* A 503 to a Range request is a busy server, not a reason to start over. */
  assert_int_equal (logged ("GET /flaky503/src bytes=16777216-"), 2);
  assert_int_equal (logged ("GET /flaky503/src"), 3);
}

/* Without retries the call fails, leaving what it got; the next resumes. */
static void
test_broken_then_resumed (void **state)
{
  struct ch_download d = sha512_of_src ();
  struct stat st;

  (void) state;
  h.retries = 0;
  assert_int_equal (download (url ("/flaky/src-b"), &d), -1);
  assert_error_contains ("transfer closed");
  assert_int_equal (stat (tpath ("dst"), &st), 0);
  assert_int_equal (st.st_size, SRC_SIZE / 2);
  ok (download (url ("/flaky/src-b"), &d));
  assert_int_equal (logged ("GET /flaky/src-b bytes=16777216- -"), 1);
  assert_same_as_src ();
}

static void
test_max_size (void **state)
{
  struct ch_download d = { .max_size = MiB };
  struct stat st;

  (void) state;
  assert_int_equal (download (url ("/files/src"), &d), -1);
  assert_error_contains ("/files/src: larger than 1048576 bytes");
  assert_int_equal (ch_error_kind (), CH_ERR_CORRUPT);
  /* No Content-Length: stopped as the body passes the limit. */
  assert_int_equal (download (url ("/nolength/src"), &d), -1);
  assert_error_contains ("/nolength/src: larger than 1048576 bytes");
  assert_int_equal (stat (tpath ("dst"), &st), 0);
  assert_true (st.st_size <= MiB);
}

static void
test_size_mismatch (void **state)
{
  struct ch_download d = sha512_of_src ();

  (void) state;
  d.expect_size = SRC_SIZE + 1;
  assert_int_equal (download (url ("/files/src"), &d), -1);
  assert_error_contains ("size mismatch: the source has 33554432 bytes, expected 33554433");
  unlink (tpath ("dst"));
  assert_int_equal (download (url ("/nolength/src"), &d), -1);
  assert_error_contains ("size mismatch: received 33554432 bytes, the source says 33554433");
  assert_int_equal (ch_error_kind (), CH_ERR_CORRUPT);
  unlink (tpath ("dst"));
  d.expect_size = SRC_SIZE - 1;
  assert_int_equal (download (url ("/nolength/src"), &d), -1);
  assert_error_contains ("larger than the expected 33554431 bytes");
  assert_int_equal (ch_error_kind (), CH_ERR_CORRUPT);
}

static void
test_stall (void **state)
{
  struct ch_download d = sha512_of_src ();

  (void) state;
  h.stall_timeout = 2;
  h.retries = 0;
  assert_int_equal (download (url ("/stall/src"), &d), -1);
  assert_error_contains ("stalled below 1 KiB/s for 2 s");
  assert_int_equal (ch_error_kind (), CH_ERR_TIMED_OUT);
}

static void
test_file_url (void **state)
{
  struct ch_download d = sha512_of_src ();
  char u[128];

  (void) state;
  snprintf (u, sizeof u, "file://%s", tpath ("src"));
  ok (download (u, &d));
  assert_same_as_src ();
  assert_int_equal (data_extents (), 3);

  partial_dst (RESUME_AT, -1);
  ok (download (u, &d));
  assert_same_as_src ();

  unlink (tpath ("dst"));
  snprintf (u, sizeof u, "file://%s", tpath ("nothing"));
  assert_int_equal (download (u, &d), -1);
  assert_error_contains ("nothing: Couldn't open file");
}

static void
test_redirects (void **state)
{
  struct ch_download d = sha512_of_src ();
  char want[200];

  (void) state;
  h.token = "secret";
  ok (download (url ("/redirect/files/src"), &d));
  assert_same_as_src ();
  assert_int_equal (logged ("GET /files/src - secret"), 1);
  unlink (tpath ("dst"));

  /* The token does not follow a redirect to another origin. */
  ok (download (url ("/xredirect/files/src-c"), &d));
  assert_int_equal (logged ("GET /xredirect/files/src-c - secret"), 1);
  assert_int_equal (logged ("GET /files/src-c - -"), 1);

  unlink (tpath ("dst"));
  assert_int_equal (download (url ("/fileredirect/"), &d), -1);
  snprintf (want, sizeof want, "GET %s: redirect to file:///etc/passwd refused: "
            "only http and https", url ("/fileredirect/"));
  assert_string_equal (ch_last_error (), want);

  assert_int_equal (download (url ("/loop/"), &d), -1);
  assert_error_contains ("more than 3 redirects");
  assert_int_equal (logged ("GET /loop/"), 4);
}

static void
test_tls (void **state)
{
  struct ch_download d = sha512_of_src ();
  char u[128], *body = NULL;
  long status;

  (void) state;
  snprintf (u, sizeof u, "%s/files/src", tls_base);
  /* Verified by default: a self-signed server is refused. */
  assert_int_equal (download (u, &d), -1);
  assert_error_contains ("SSL certificate problem");
  assert_int_equal (ch_http_get (&h, u, &body, &status), -1);
  assert_error_contains ("SSL certificate problem");

  h.ca_file = tpath ("cert.pem");
  ok (download (u, &d));
  assert_same_as_src ();

  unlink (tpath ("dst"));
  h.ca_file = NULL;
  h.insecure = true;
  ok (download (u, &d));
  assert_same_as_src ();

  /* The token travels over the verified connection. */
  h.token = "secret";
  snprintf (u, sizeof u, "%s/echo/", tls_base);
  ok (ch_http_get (&h, u, &body, &status));
  assert_string_equal (body, "{\"token\": \"secret\"}");
  free (body);
}

/* A port nobody listens on. */
static int
closed_port (void)
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof a;
  int s = socket (AF_INET, SOCK_STREAM, 0);

  assert_true (s >= 0);
  assert_int_equal (bind (s, (struct sockaddr *) &a, sizeof a), 0);
  assert_int_equal (getsockname (s, (struct sockaddr *) &a, &len), 0);
  close (s);
  return ntohs (a.sin_port);
}

static void
test_refused_not_retried (void **state)
{
  struct ch_download d = sha512_of_src ();
  char u[64];

  (void) state;
  h.retries = 3;
  snprintf (u, sizeof u, "http://127.0.0.1:%d/x", closed_port ());
  assert_int_equal (download (u, &d), -1);
  assert_error_contains ("Couldn't connect");
  /* Retries would say how many attempts were made. */
  if (strstr (ch_last_error (), "attempts") != NULL)
    fail_msg ("retried: %s", ch_last_error ());
}

static void
test_protocols (void **state)
{
  struct ch_download d = sha512_of_src ();
  char *body;
  long status;

  (void) state;
  assert_int_equal (download ("ftp://127.0.0.1/x", &d), -1);
  assert_error_contains ("ftp://127.0.0.1/x: ");
  assert_int_equal (ch_http_get (&h, "dict://127.0.0.1/x", &body, &status), -1);
  assert_error_contains ("dict://127.0.0.1/x: ");
  h.token = "a\r\nX-Evil: 1";
  assert_int_equal (ch_http_get (&h, url ("/echo/"), &body, &status), -1);
  assert_error_contains ("line break");
}

static void
test_get_json (void **state)
{
  char *body = NULL, u[128];
  long status;

  (void) state;
  ok (ch_http_get (&h, url ("/files/doc.json"), &body, &status));
  assert_int_equal (status, 200);
  assert_string_equal (body, "{\"id\": \"x/y\"}\n");
  free (body);

  ok (ch_http_get (&h, url ("/status/404"), &body, &status));
  assert_int_equal (status, 404);
  assert_string_equal (body, "{\"status\": 404}");
  free (body);

  ok (ch_http_get (&h, url ("/redirect/status/401"), &body, &status));
  assert_int_equal (status, 401);
  assert_string_equal (body, "{\"status\": 401}");
  free (body);

  /* file:// gets statuses too, so a peer's manifest reads the same way. */
  snprintf (u, sizeof u, "file://%s", tpath ("doc.json"));
  ok (ch_http_get (&h, u, &body, &status));
  assert_int_equal (status, 200);
  assert_string_equal (body, "{\"id\": \"x/y\"}\n");
  free (body);
  snprintf (u, sizeof u, "file://%s", tpath ("nothing.json"));
  ok (ch_http_get (&h, u, &body, &status));
  assert_int_equal (status, 404);
  assert_string_equal (body, "");
  free (body);
}

static void
test_get_token (void **state)
{
  char *body = NULL;
  long status;

  (void) state;
  h.token = "gAAAA-token";
  ok (ch_http_get (&h, url ("/echo/"), &body, &status));
  assert_int_equal (status, 200);
  assert_string_equal (body, "{\"token\": \"gAAAA-token\"}");
  free (body);
}

static void
test_get_oversize (void **state)
{
  char *body = NULL;
  long status;
  char want[128];

  (void) state;
  ok (ch_http_get (&h, url ("/big/1048576"), &body, &status));
  assert_int_equal (strlen (body), CH_HTTP_JSON_MAX);
  free (body);
  body = NULL;
  assert_int_equal (ch_http_get (&h, url ("/big/1048577"), &body, &status), -1);
  snprintf (want, sizeof want, "GET %s: response larger than 1 MiB", url ("/big/1048577"));
  assert_string_equal (ch_last_error (), want);
  /* The server's doing: a peer answering this way is refused, not down. */
  assert_int_equal (ch_error_kind (), CH_ERR_REFUSED);
  assert_string_equal (ch_error_detail (), "response larger than 1 MiB");
  assert_null (body);
  assert_int_equal (logged ("GET /big/1048577"), 1);
}

static void
test_get_refused (void **state)
{
  char *body = NULL, u[64];
  long status;

  (void) state;
  snprintf (u, sizeof u, "http://127.0.0.1:%d/x", closed_port ());
  assert_int_equal (ch_http_get (&h, u, &body, &status), -1);
  assert_error_contains ("Couldn't connect");
  assert_int_equal (ch_error_kind (), CH_ERR_FAILED);
  assert_null (body);
}

static void
test_post_json (void **state)
{
  static const char json[] = "{\"auth\": {\"identity\": {\"methods\": [\"password\"]}}}";
  char *body = NULL, *value = NULL;
  long status;

  (void) state;
  ok (ch_http_post_json (&h, url ("/v3/auth/tokens"), json,
                         "x-subject-token", &value, &body, &status));
  assert_int_equal (status, 201);
  assert_string_equal (body, json);
  assert_string_equal (value, "tok/v3/auth/tokens");
  free (body);
  free (value);

  ok (ch_http_post_json (&h, url ("/v3/auth/tokens"), json,
                         "X-Missing", &value, &body, &status));
  assert_null (value);
  free (body);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown (f, setup, teardown)
    T (test_sparse_download),
    T (test_md5_computed_only),
    T (test_no_hash),
    T (test_hash_mismatch),
    T (test_local_write_fails),
    T (test_unknown_algorithm),
    T (test_404_not_retried),
    T (test_5xx_retried),
    T (test_resume),
    T (test_resume_without_ranges),
    T (test_resume_wrong_prefix),
    T (test_resume_complete),
    T (test_server_closes_midway),
    T (test_first_failure_kept),
    T (test_broken_then_resumed),
    T (test_max_size),
    T (test_size_mismatch),
    T (test_stall),
    T (test_file_url),
    T (test_redirects),
    T (test_tls),
    T (test_refused_not_retried),
    T (test_protocols),
    T (test_get_json),
    T (test_get_token),
    T (test_get_oversize),
    T (test_get_refused),
    T (test_post_json),
#undef T
  };

  tu_require (PYTHON, "python3");
  tu_require ("/usr/bin/openssl", "openssl");
  return tu_run_group_tests (tests, group_setup, group_teardown);
}
