#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cleanup.h"
#include "error.h"
#include "hashpipe.h"
#include "io.h"

#define USER_AGENT "cowherd/0.1"
#define MAX_HOPS 3
#define BLOCK 4096                     /* the unit of holes */
#define RECV_BUF (128 * 1024)          /* curl's receive buffer, as curl -o's */
#define WRITEBACK_EVERY (32u << 20)
#define READBACK_BUF (128 * 1024)
#define PROGRESS_NS 100000000L         /* at most ten reports a second */

/* One curl handle and what a request needs across redirect hops. */
struct req {
  CURL *c;
  struct curl_slist *hdrs;
  const struct ch_http *h;
  char *url;                           /* the current hop */
  bool json;                           /* Accept: application/json */
  bool post;
  bool token;                          /* still sending X-Auth-Token */
  void (*on_hop) (void *);             /* forget a redirect's body */
  void *hop_opaque;
  char err[CURL_ERROR_SIZE];
};

static void
global_init (void)
{
  static bool done;

  if (done)
    return;
  done = true;
  curl_global_init (CURL_GLOBAL_DEFAULT);
  /* The programs are single-threaded; this keeps valgrind quiet too. */
  atexit (curl_global_cleanup);
}

static bool
is_http (CURL *c)
{
  char *scheme = NULL;

  curl_easy_getinfo (c, CURLINFO_SCHEME, &scheme);
  return scheme != NULL && strncasecmp (scheme, "http", 4) == 0;
}

static int
set_headers (struct req *r)
{
  CLEANUP_FREE char *tok = NULL;
  struct curl_slist *l = NULL, *n;
  const char *fixed[3];
  size_t nfixed = 0;

  if (r->json)
    fixed[nfixed++] = "Accept: application/json";
  if (r->post) {
    fixed[nfixed++] = "Content-Type: application/json";
    fixed[nfixed++] = "Expect:";     /* no 100-continue round trip */
  }
  if (r->token && asprintf (&tok, "X-Auth-Token: %s", r->h->token) < 0) {
    tok = NULL;
    ch_error ("asprintf: %m");
    return -1;
  }
  for (size_t i = 0; i <= nfixed; i++) {
    const char *s = i < nfixed ? fixed[i] : tok;

    if (s == NULL)
      continue;
    n = curl_slist_append (l, s);
    if (n == NULL) {
      curl_slist_free_all (l);
      ch_error ("out of memory");
      return -1;
    }
    l = n;
  }
  curl_easy_setopt (r->c, CURLOPT_HTTPHEADER, l);
  curl_slist_free_all (r->hdrs);
  r->hdrs = l;
  return 0;
}

static void
req_close (struct req *r)
{
  if (r->c)
    curl_easy_cleanup (r->c);
  curl_slist_free_all (r->hdrs);
  free (r->url);
  r->c = NULL;
  r->hdrs = NULL;
  r->url = NULL;
}

/* The options every request shares: timeouts, protocols, TLS, SSH, token. */
static int
req_open (struct req *r, const struct ch_http *h, const char *url, bool json, bool post)
{
  CURL *c;

  global_init ();
  memset (r, 0, sizeof *r);
  r->h = h;
  r->json = json;
  r->post = post;
  r->token = h->token != NULL;
  if (h->token && strpbrk (h->token, "\r\n")) {
    ch_error ("the auth token contains a line break");
    return -1;
  }
  r->url = strdup (url);
  r->c = c = curl_easy_init ();
  if (r->url == NULL || c == NULL) {
    req_close (r);
    ch_error ("%s: cannot set up a transfer: out of memory", url);
    return -1;
  }
  curl_easy_setopt (c, CURLOPT_URL, url);
  curl_easy_setopt (c, CURLOPT_ERRORBUFFER, r->err);
  curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (c, CURLOPT_USERAGENT, USER_AGENT);
  curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "http,https,sftp,file");
  curl_easy_setopt (c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  /* Redirects are followed by hand (perform), so the token never goes to
   * another origin: curl would send a custom header anywhere. */
  curl_easy_setopt (c, CURLOPT_FOLLOWLOCATION, 0L);
  if (h->connect_timeout > 0)
    curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT, h->connect_timeout);
  if (h->stall_timeout > 0) {
    curl_easy_setopt (c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt (c, CURLOPT_LOW_SPEED_TIME, h->stall_timeout);
  }
  curl_easy_setopt (c, CURLOPT_SSL_VERIFYPEER, h->insecure ? 0L : 1L);
  curl_easy_setopt (c, CURLOPT_SSL_VERIFYHOST, h->insecure ? 0L : 2L);
  if (h->ca_file)
    curl_easy_setopt (c, CURLOPT_CAINFO, h->ca_file);
  curl_easy_setopt (c, CURLOPT_SSH_AUTH_TYPES, (long) CURLSSH_AUTH_PUBLICKEY);
  if (h->ssh_key) {
    curl_easy_setopt (c, CURLOPT_SSH_PRIVATE_KEYFILE, h->ssh_key);
    /* "": libssh2 derives the public key from the private one. */
    curl_easy_setopt (c, CURLOPT_SSH_PUBLIC_KEYFILE, "");
  }
  /* Peers' host keys are not checked: what a peer serves is accepted only
   * when it matches its manifest and the hash Glance recorded, so a
   * spoofed host can waste a transfer but not plant an image. */
  curl_easy_setopt (c, CURLOPT_SSH_KNOWNHOSTS, NULL);
  if (set_headers (r) < 0) {
    req_close (r);
    return -1;
  }
  return 0;
}

/* "scheme://host:port" of URL, malloc'd; NULL if it does not parse. */
static char *
origin (const char *url)
{
  CURLU *u = curl_url ();
  char *s = NULL, *host = NULL, *port = NULL, *o = NULL;

  if (u && curl_url_set (u, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_get (u, CURLUPART_SCHEME, &s, 0) == CURLUE_OK &&
      curl_url_get (u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get (u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    if (asprintf (&o, "%s://%s:%s", s, host, port) < 0)
      o = NULL;
  }
  curl_free (s);
  curl_free (host);
  curl_free (port);
  curl_url_cleanup (u);
  return o;
}

static bool
same_origin (const char *a, const char *b)
{
  CLEANUP_FREE char *oa = origin (a);
  CLEANUP_FREE char *ob = origin (b);

  return oa && ob && strcasecmp (oa, ob) == 0;
}

/* Point the handle at the redirect target LOC.  CURLE_OK, or an error code
 * with r->err saying why the redirect is not followed. */
static CURLcode
next_hop (struct req *r, const char *loc)
{
  char *copy;

  if (strncasecmp (loc, "http://", 7) != 0 && strncasecmp (loc, "https://", 8) != 0) {
    snprintf (r->err, sizeof r->err, "redirect to %.200s refused: only http and https", loc);
    return CURLE_UNSUPPORTED_PROTOCOL;
  }
  if (r->token && !same_origin (r->url, loc)) {
    r->token = false;
    if (set_headers (r) < 0) {
      snprintf (r->err, sizeof r->err, "%s", ch_last_error ());
      return CURLE_OUT_OF_MEMORY;
    }
  }
  copy = strdup (loc);
  if (copy == NULL) {
    snprintf (r->err, sizeof r->err, "out of memory");
    return CURLE_OUT_OF_MEMORY;
  }
  free (r->url);
  r->url = copy;
  curl_easy_setopt (r->c, CURLOPT_URL, r->url);
  return CURLE_OK;
}

/* Run the request, following up to MAX_HOPS redirects (GET only).  *CODE
 * gets the final HTTP status, 0 for sftp and file. */
static CURLcode
perform (struct req *r, long *code)
{
  for (int hops = 0;; hops++) {
    CURLcode rc;
    char *loc = NULL;

    r->err[0] = '\0';
    *code = 0;
    rc = curl_easy_perform (r->c);
    if (rc != CURLE_OK || !is_http (r->c))
      return rc;
    curl_easy_getinfo (r->c, CURLINFO_RESPONSE_CODE, code);
    if (*code < 300 || *code > 399 || r->post)
      return CURLE_OK;
    curl_easy_getinfo (r->c, CURLINFO_REDIRECT_URL, &loc);
    if (loc == NULL)
      return CURLE_OK;                 /* 304 and the like: the caller judges */
    if (hops == MAX_HOPS) {
      snprintf (r->err, sizeof r->err, "more than %d redirects", MAX_HOPS);
      return CURLE_TOO_MANY_REDIRECTS;
    }
    rc = next_hop (r, loc);
    if (rc != CURLE_OK)
      return rc;
    if (r->on_hop)
      r->on_hop (r->hop_opaque);
  }
}

/* Failures worth another attempt.  Refused connections count only once the
 * server has been seen (restarting), not for a host that is simply down. */
static bool
transient (CURLcode rc, bool seen)
{
  switch (rc) {
  case CURLE_COULDNT_CONNECT:
    return seen;
  case CURLE_PARTIAL_FILE:
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_GOT_NOTHING:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_SSH:
    return true;
  default:
    return false;
  }
}

static void
backoff (int attempt)
{
  sleep (attempt < 3 ? 1u << attempt : 8u);
}

/* Why the transfer failed, for the one-line error; its kind. */
static enum ch_err
describe (const struct req *r, CURLcode rc, char *out, size_t len)
{
  curl_off_t pretransfer = 0;

  /* No overall timeout is set: a timeout once the connection (and the
   * protocol's handshake) is up can only be the low-speed limit. */
  if (rc == CURLE_OPERATION_TIMEDOUT &&
      curl_easy_getinfo (r->c, CURLINFO_PRETRANSFER_TIME_T, &pretransfer) == CURLE_OK &&
      pretransfer > 0) {
    snprintf (out, len, "stalled below 1 KiB/s for %ld s", r->h->stall_timeout);
    return CH_ERR_TIMED_OUT;
  }
  snprintf (out, len, "%s", r->err[0] ? r->err : curl_easy_strerror (rc));
  return rc == CURLE_OPERATION_TIMEDOUT ? CH_ERR_TIMED_OUT : CH_ERR_FAILED;
}

/* Small bodies (JSON). */

struct body {
  char *buf;
  size_t len, cap;
  bool too_big;
};

static size_t
on_json (char *p, size_t size, size_t n, void *opaque)
{
  struct body *b = opaque;
  size_t len = size * n;

  if (len > CH_HTTP_JSON_MAX - b->len) {
    b->too_big = true;
    return 0;
  }
  if (b->len + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 16384;
    char *nb;

    while (cap < b->len + len + 1)
      cap *= 2;
    if (cap > CH_HTTP_JSON_MAX + 1)
      cap = CH_HTTP_JSON_MAX + 1;
    nb = realloc (b->buf, cap);
    if (nb == NULL)
      return 0;
    b->buf = nb;
    b->cap = cap;
  }
  memcpy (b->buf + b->len, p, len);
  b->len += len;
  b->buf[b->len] = '\0';
  return len;
}

static void
body_reset (void *opaque)
{
  struct body *b = opaque;

  b->len = 0;
  if (b->buf)
    b->buf[0] = '\0';
}

/* Keeps one response header's value (of the last response). */
struct header {
  const char *name;
  char *value;
};

static size_t
on_header (char *p, size_t size, size_t n, void *opaque)
{
  struct header *hd = opaque;
  size_t len = size * n, nl = strlen (hd->name);

  if (len >= 5 && strncmp (p, "HTTP/", 5) == 0) {
    free (hd->value);                  /* a new response begins */
    hd->value = NULL;
  }
  else if (len > nl && p[nl] == ':' && strncasecmp (p, hd->name, nl) == 0) {
    const char *v = p + nl + 1, *end = p + len;

    while (v < end && (*v == ' ' || *v == '\t'))
      v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
      end--;
    free (hd->value);
    hd->value = strndup (v, (size_t) (end - v));
    if (hd->value == NULL)
      return 0;
  }
  return len;
}

/* GET or POST a small document.  For sftp and file, which have no status,
 * a missing file is reported as 404 and success as 200, so callers can
 * treat every kind of source alike. */
static int
small_request (const struct ch_http *h, const char *url, const char *json,
               const char *header_name, char **header_value,
               char **body, long *status)
{
  const char *method = json ? "POST" : "GET";
  struct req r;
  struct body b = { 0 };
  struct header hd = { .name = header_name };
  CURLcode rc = CURLE_OK;
  long code = 0;
  int tries = json ? 1 : 1 + (h->retries > 0 ? h->retries : 0);
  bool seen = false;

  *body = NULL;
  *status = 0;
  if (header_value)
    *header_value = NULL;
  if (req_open (&r, h, url, true, json != NULL) < 0)
    return -1;
  r.on_hop = body_reset;
  r.hop_opaque = &b;
  curl_easy_setopt (r.c, CURLOPT_WRITEFUNCTION, on_json);
  curl_easy_setopt (r.c, CURLOPT_WRITEDATA, &b);
  if (json) {
    curl_easy_setopt (r.c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt (r.c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen (json));
  }
  if (header_name && header_value) {
    curl_easy_setopt (r.c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt (r.c, CURLOPT_HEADERDATA, &hd);
  }
  for (int attempt = 0; attempt < tries; attempt++) {
    if (attempt > 0)
      backoff (attempt - 1);
    body_reset (&b);
    rc = perform (&r, &code);
    if (rc == CURLE_OK || b.too_big || !transient (rc, seen))
      break;
    seen = seen || code != 0 || b.len > 0;
  }
  if (rc == CURLE_FILE_COULDNT_READ_FILE || rc == CURLE_REMOTE_FILE_NOT_FOUND) {
    rc = CURLE_OK;
    code = 404;
    body_reset (&b);
  }
  else if (rc == CURLE_OK && code == 0)
    code = 200;
  if (rc != CURLE_OK) {
    char why[CURL_ERROR_SIZE + 64];
    enum ch_err kind = CH_ERR_REFUSED;

    if (b.too_big)
      snprintf (why, sizeof why, "response larger than %d MiB", CH_HTTP_JSON_MAX >> 20);
    else
      kind = describe (&r, rc, why, sizeof why);
    ch_error_as (kind, "%s", why);
    ch_error_prefix ("%s %s", method, url);
    req_close (&r);
    free (b.buf);
    free (hd.value);
    return -1;
  }
  req_close (&r);
  if (b.buf == NULL && (b.buf = calloc (1, 1)) == NULL) {
    free (hd.value);
    ch_error ("calloc: %m");
    return -1;
  }
  *body = b.buf;
  *status = code;
  if (header_value)
    *header_value = hd.value;
  else
    free (hd.value);
  return 0;
}

int
ch_http_get (const struct ch_http *h, const char *url, char **body, long *status)
{
  return small_request (h, url, NULL, NULL, NULL, body, status);
}

struct head {
  unsigned char *buf;
  size_t len, max;
};

static size_t
on_head (char *p, size_t size, size_t n, void *opaque)
{
  struct head *hb = opaque;
  size_t len = size * n, take = len < hb->max - hb->len ? len : hb->max - hb->len;

  memcpy (hb->buf + hb->len, p, take);
  hb->len += take;
  return hb->len == hb->max ? 0 : len;   /* enough: stop the transfer */
}

static void
head_reset (void *opaque)
{
  ((struct head *) opaque)->len = 0;
}

long
ch_http_get_head (const struct ch_http *h, const char *url, unsigned char *buf, size_t max)
{
  struct req r;
  struct head hb = { .buf = buf, .max = max };
  char range[48];
  CURLcode rc;
  long code = 0;

  if (max == 0 || max > CH_HTTP_JSON_MAX) {
    ch_error ("%s: head of %zu bytes requested", url, max);
    return -1;
  }
  if (req_open (&r, h, url, false, false) < 0)
    return -1;
  r.on_hop = head_reset;
  r.hop_opaque = &hb;
  snprintf (range, sizeof range, "0-%zu", max - 1);
  curl_easy_setopt (r.c, CURLOPT_RANGE, range);
  curl_easy_setopt (r.c, CURLOPT_WRITEFUNCTION, on_head);
  curl_easy_setopt (r.c, CURLOPT_WRITEDATA, &hb);
  rc = perform (&r, &code);
  if (rc == CURLE_WRITE_ERROR && hb.len == max)
    rc = CURLE_OK;                 /* cut off on purpose */
  if (rc == CURLE_FILE_COULDNT_READ_FILE || rc == CURLE_REMOTE_FILE_NOT_FOUND ||
      (rc == CURLE_OK && code == 404)) {
    req_close (&r);
    return 0;
  }
  if (rc != CURLE_OK || (code != 0 && code != 200 && code != 206)) {
    char why[CURL_ERROR_SIZE + 64];
    enum ch_err kind = CH_ERR_FAILED;

    if (rc != CURLE_OK)
      kind = describe (&r, rc, why, sizeof why);
    else
      snprintf (why, sizeof why, "HTTP %ld", code);
    ch_error_as (kind, "%s", why);
    ch_error_prefix ("GET %s", url);
    req_close (&r);
    return -1;
  }
  req_close (&r);
  if (hb.len == 0) {
    ch_error_as (CH_ERR_REFUSED, "empty file");
    ch_error_prefix ("GET %s", url);
    return -1;
  }
  return (long) hb.len;
}

int
ch_http_post_json (const struct ch_http *h, const char *url, const char *json,
                   const char *header_name, char **header_value,
                   char **body, long *status)
{
  return small_request (h, url, json, header_name, header_value, body, status);
}

/* Downloads. */

struct dl {
  struct req r;
  struct ch_download *d;
  int fd;
  struct ch_hashpipe *hp;              /* NULL: nothing to hash */
  uint64_t max;                        /* d->max_size, 0 read as no limit */
  uint64_t off;                        /* body bytes received so far */
  uint64_t start;                      /* where this attempt began */
  uint64_t flushed;                    /* writeback started up to here */
  unsigned char part[BLOCK];           /* [off - part_len, off): the block */
  size_t part_len;                     /* being received, not yet written */
  bool checked;                        /* this response's status was seen */
  bool bad_status;                     /* aborted on an HTTP error status */
  bool seen;                           /* some attempt got a response */
  bool write_failed;                   /* the file is right up to bad_at */
  uint64_t bad_at;
  struct timespec last_progress;
  char why[256];                       /* the write side's reason to abort */
  enum ch_err why_kind;
};

/* Keep the first reason: what follows an abort is only its consequence. */
static void __attribute__((format (printf, 3, 4)))
set_why (struct dl *x, enum ch_err kind, const char *fmt, ...)
{
  va_list ap;

  if (x->why[0])
    return;
  va_start (ap, fmt);
  vsnprintf (x->why, sizeof x->why, fmt, ap);
  va_end (ap);
  x->why_kind = kind;
}

static bool
all_zero (const unsigned char *p, size_t len)
{
  return len == 0 || (p[0] == 0 && memcmp (p, p + 1, len - 1) == 0);
}

static int
write_all (struct dl *x, const unsigned char *p, size_t len, uint64_t at)
{
  if (ch_write_full (x->fd, p, len, (off_t) at) == 0)
    return 0;
  set_why (x, ch_err_of_io (errno), "write: %m");
  /* Part of the run may be on disk: it is right up to the run's start. */
  if (!x->write_failed || at < x->bad_at)
    x->bad_at = at;
  x->write_failed = true;
  return -1;
}

/* Write whole blocks at x->off (aligned), leaving zero blocks as holes and
 * writing each run of data blocks with one call. */
static int
write_blocks (struct dl *x, const unsigned char *p, size_t len)
{
  size_t i = 0;

  while (i < len) {
    size_t j;

    while (i < len && all_zero (p + i, BLOCK))
      i += BLOCK;
    for (j = i; j < len && !all_zero (p + j, BLOCK); j += BLOCK)
      ;
    if (j > i && write_all (x, p + i, j - i, x->off + i) < 0)
      return -1;
    i = j;
  }
  x->off += len;
  return 0;
}

static int
flush_part (struct dl *x)
{
  size_t n = x->part_len;

  x->part_len = 0;
  if (all_zero (x->part, n))
    return 0;
  return write_all (x, x->part, n, x->off - n);
}

/* Take LEN body bytes.  Pieces short of a block boundary wait in x->part,
 * so whether a block is all zeros is judged on whole blocks. */
static int
sink (struct dl *x, const unsigned char *p, size_t len)
{
  while (len > 0) {
    size_t room = BLOCK - x->off % BLOCK, n;

    if (x->off % BLOCK == 0 && len >= BLOCK) {
      n = len - len % BLOCK;
      if (write_blocks (x, p, n) < 0)
        return -1;
    }
    else {
      n = len < room ? len : room;
      memcpy (x->part + x->part_len, p, n);
      x->part_len += n;
      x->off += n;
      if (x->off % BLOCK == 0 && flush_part (x) < 0)
        return -1;
    }
    p += n;
    len -= n;
  }
  return 0;
}

/* Throw away what was received and start over from byte 0. */
static int
restart (struct dl *x)
{
  x->off = x->start = x->part_len = 0;
  if (ftruncate (x->fd, 0) < 0) {
    set_why (x, ch_err_of_io (errno), "ftruncate: %m");
    return -1;
  }
  if (x->hp && ch_hashpipe_reset (x->hp) < 0) {
    set_why (x, ch_error_kind (), "%s", ch_last_error ());
    return -1;
  }
  return 0;
}

/* First bytes of a response: anything but 200/206 is not the body. */
static int
check_response (struct dl *x)
{
  curl_off_t cl = -1;
  long code = 0;

  if (is_http (x->r.c)) {
    curl_easy_getinfo (x->r.c, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200 && code != 206) {
      x->bad_status = true;
      return -1;
    }
    /* curl refuses a 200 to a Range request; in case it lets one by. */
    if (code == 200 && x->off > 0 && restart (x) < 0)
      return -1;
  }
  curl_easy_getinfo (x->r.c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
  if (cl >= 0 && x->off + (uint64_t) cl > x->max) {
    set_why (x, CH_ERR_CORRUPT, "larger than %" PRIu64 " bytes", x->max);
    return -1;
  }
  if (cl >= 0 && x->d->expect_size && x->off + (uint64_t) cl != x->d->expect_size) {
    set_why (x, CH_ERR_CORRUPT, "size mismatch: the source has %" PRIu64 " bytes, expected %" PRIu64,
             x->off + (uint64_t) cl, x->d->expect_size);
    return -1;
  }
  return 0;
}

static size_t
on_data (char *p, size_t size, size_t n, void *opaque)
{
  struct dl *x = opaque;
  size_t len = size * n;

  if (!x->checked) {
    long code = 0;

    curl_easy_getinfo (x->r.c, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 300 && code <= 399 && is_http (x->r.c))
      return len;                      /* a redirect's own page */
    x->checked = true;
    if (check_response (x) < 0)
      return 0;
  }
  x->seen = true;
  if (len > x->max - x->off) {
    set_why (x, CH_ERR_CORRUPT, "larger than %" PRIu64 " bytes", x->max);
    return 0;
  }
  if (x->d->expect_size && len > x->d->expect_size - x->off) {
    set_why (x, CH_ERR_CORRUPT, "larger than the expected %" PRIu64 " bytes", x->d->expect_size);
    return 0;
  }
  if (x->hp && ch_hashpipe_update (x->hp, p, len) < 0) {
    set_why (x, ch_error_kind (), "%s", ch_last_error ());
    return 0;
  }
  if (sink (x, (const unsigned char *) p, len) < 0)
    return 0;
  /* Start writeback as the body arrives, so that the fsync before the
   * file is published has little left to wait for (only a hint: fsync
   * reports the errors). */
  if (x->off < x->flushed)
    x->flushed = 0;                    /* started over */
  if (x->off - x->flushed >= WRITEBACK_EVERY) {
    (void) sync_file_range (x->fd, (off_t) x->flushed, (off_t) (x->off - x->flushed),
                            SYNC_FILE_RANGE_WRITE);
    x->flushed = x->off;
  }
  return len;
}

static int
on_progress (void *opaque, curl_off_t dltotal, curl_off_t dlnow,
             curl_off_t ultotal, curl_off_t ulnow)
{
  struct dl *x = opaque;
  struct timespec now;
  uint64_t total = dltotal > 0 ? x->start + (uint64_t) dltotal : x->d->expect_size;

  (void) dlnow; (void) ultotal; (void) ulnow;
  clock_gettime (CLOCK_MONOTONIC, &now);
  if ((now.tv_sec - x->last_progress.tv_sec) * 1000000000L +
      (now.tv_nsec - x->last_progress.tv_nsec) < PROGRESS_NS)
    return 0;
  x->last_progress = now;
  x->d->progress (x->d->opaque, x->off, total);
  return 0;
}

/* Hash the N bytes an earlier attempt left (holes read as zeros). */
static int
hash_existing (struct dl *x, uint64_t n)
{
  CLEANUP_FREE unsigned char *buf = NULL;

  if (x->hp == NULL)
    return 0;
  buf = malloc (READBACK_BUF);
  if (buf == NULL) {
    set_why (x, CH_ERR_FAILED, "malloc: %m");
    return -1;
  }
  for (uint64_t at = 0; at < n; ) {
    size_t want = n - at < READBACK_BUF ? (size_t) (n - at) : READBACK_BUF;
    ssize_t r = ch_read_full (x->fd, buf, want, (off_t) at);

    if (r <= 0) {
      set_why (x, r < 0 ? ch_err_of_io (errno) : CH_ERR_IO, "reading back the partial file: %s",
               r < 0 ? strerror (errno) : "it shrank");
      return -1;
    }
    if (ch_hashpipe_update (x->hp, buf, (size_t) r) < 0) {
      set_why (x, ch_error_kind (), "%s", ch_last_error ());
      return -1;
    }
    at += (uint64_t) r;
  }
  return 0;
}

enum outcome { DONE, FAILED, TRANSIENT, RESTART };

/* Whatever the attempt received stays on disk with the file ending where
 * it ended, so the next attempt (or call) resumes from the file's size. */
static int
settle (struct dl *x)
{
  int r = x->write_failed ? -1 : flush_part (x);

  /* After a failed write (ENOSPC) the file ends before the first byte
   * that may be missing, never with a gap a resume would trust. */
  if (x->write_failed) {
    x->off = x->bad_at;
    x->part_len = 0;
  }
  if (ftruncate (x->fd, (off_t) x->off) < 0) {
    set_why (x, ch_err_of_io (errno), "ftruncate: %m");
    return -1;
  }
  return r;
}

static enum outcome
judge_status (struct dl *x, long code)
{
  if (code == 200 || code == 206)
    return DONE;
  set_why (x, code == 404 ? CH_ERR_NOT_FOUND : CH_ERR_FAILED, "HTTP %ld", code);
  if (code == 416 && x->start > 0)
    return RESTART;                    /* what we hold is not a prefix */
  return code >= 500 && code <= 599 ? TRANSIENT : FAILED;
}

static enum outcome
attempt (struct dl *x)
{
  CURLcode rc;
  long code = 0;
  bool wrote_fail;

  x->start = x->off;
  x->checked = x->bad_status = false;
  x->why[0] = '\0';
  curl_easy_setopt (x->r.c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t) x->off);
  rc = perform (&x->r, &code);
  wrote_fail = x->why[0] != '\0';
  if (settle (x) < 0 || wrote_fail)
    return FAILED;                     /* size, disk full, hash */
  if (is_http (x->r.c))
    curl_easy_getinfo (x->r.c, CURLINFO_RESPONSE_CODE, &code);
  /* An error status is the answer, even where curl saw a failed resume. */
  if (x->bad_status || code >= 400)
    return judge_status (x, code);
  if (rc == CURLE_OK)
    return is_http (x->r.c) ? judge_status (x, code) : DONE;
  x->why_kind = describe (&x->r, rc, x->why, sizeof x->why);
  if ((rc == CURLE_RANGE_ERROR || rc == CURLE_BAD_DOWNLOAD_RESUME) && x->start > 0)
    return RESTART;                    /* no ranges there, or a shorter file */
  return transient (rc, x->seen) ? TRANSIENT : FAILED;
}

/* Attempts until one completes or the retries are spent. */
static int
transfer (const struct ch_http *h, struct dl *x)
{
  bool restarted = false;
  int failures = 0;
  char first[sizeof x->why] = "";

  for (;;) {
    switch (attempt (x)) {
    case DONE:
      return 0;
    case FAILED:
      return -1;
    case RESTART:
      x->why[0] = '\0';
      if (restarted || restart (x) < 0)
        return -1;
      restarted = true;
      continue;
    case TRANSIENT:
      if (failures >= h->retries) {
        size_t l = strlen (x->why);

        /* The first failure is often the cause; later ones its echo. */
        if (failures > 0 && first[0] && strcmp (first, x->why) != 0)
          snprintf (x->why + l, sizeof x->why - l, " (%d attempts; the first: %s)",
                    failures + 1, first);
        else if (failures > 0)
          snprintf (x->why + l, sizeof x->why - l, " (%d attempts)", failures + 1);
        return -1;
      }
      if (failures == 0)
        snprintf (first, sizeof first, "%s", x->why);
      backoff (failures++);
      continue;
    }
  }
}

/* Size and hash of what arrived, against what the source promised. */
static int
verify (struct dl *x)
{
  struct ch_download *d = x->d;

  d->got_size = x->off;
  d->got_hash[0] = d->got_sha256[0] = '\0';
  if (x->hp) {
    char h[2][129];

    if (ch_hashpipe_final (x->hp, h) < 0) {
      set_why (x, ch_error_kind (), "%s", ch_last_error ());
      return -1;
    }
    if (d->hash_algo)
      snprintf (d->got_hash, sizeof d->got_hash, "%s", h[0]);
    if (d->want_sha256)
      snprintf (d->got_sha256, sizeof d->got_sha256, "%.64s", h[d->hash_algo ? 1 : 0]);
  }
  if (d->expect_size && x->off != d->expect_size) {
    set_why (x, CH_ERR_CORRUPT, "size mismatch: received %" PRIu64 " bytes, the source says %" PRIu64,
             x->off, d->expect_size);
    return -1;
  }
  if (d->hash_algo && d->expect_hash && strcasecmp (d->got_hash, d->expect_hash) != 0) {
    set_why (x, CH_ERR_CORRUPT, "hash mismatch: %s of what was received is %.16s..., the source says %.16s...",
             d->hash_algo, d->got_hash, d->expect_hash);
    return -1;
  }
  return 0;
}

static int
download (const struct ch_http *h, struct dl *x)
{
  struct ch_download *d = x->d;
  struct stat st;
  bool resumed;

  if (fstat (x->fd, &st) < 0) {
    set_why (x, ch_err_of_io (errno), "fstat: %m");
    return -1;
  }
  x->off = (uint64_t) st.st_size;
  /* A partial file longer than the body can only be wrong. */
  if (x->off > x->max || (d->expect_size && x->off > d->expect_size))
    if (restart (x) < 0)
      return -1;
  if (x->off > 0 && hash_existing (x, x->off) < 0)
    return -1;
  resumed = x->off > 0;
  for (;;) {
    /* A complete earlier attempt needs only checking (a Range request
     * past the end would be answered 416). */
    bool complete = resumed && x->off == d->expect_size;

    if (!complete && transfer (h, x) < 0)
      return -1;
    if (d->progress)
      d->progress (d->opaque, x->off, x->off);
    if (verify (x) == 0)
      return 0;
    if (!resumed)
      return -1;
    /* The partial file was not a prefix of this body: once from scratch. */
    resumed = false;
    x->why[0] = '\0';
    if (restart (x) < 0)
      return -1;
  }
}

int
ch_http_download (const struct ch_http *h, struct ch_download *d, int dst_fd)
{
  struct dl x = { .d = d, .fd = dst_fd, .max = d->max_size ? d->max_size : UINT64_MAX };
  int r;

  d->got_hash[0] = d->got_sha256[0] = '\0';
  d->got_size = 0;
  if (d->hash_algo || d->want_sha256) {
    const char *algos[2];
    size_t n = 0;

    if (d->hash_algo)
      algos[n++] = d->hash_algo;
    if (d->want_sha256)
      algos[n++] = "sha256";
    if ((x.hp = ch_hashpipe_new (algos, n)) == NULL) {
      ch_error_prefix ("GET %s", d->url);
      return -1;
    }
  }
  if (req_open (&x.r, h, d->url, false, false) < 0) {
    ch_hashpipe_free (x.hp);
    return -1;
  }
  curl_easy_setopt (x.r.c, CURLOPT_BUFFERSIZE, (long) RECV_BUF);
  curl_easy_setopt (x.r.c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt (x.r.c, CURLOPT_WRITEDATA, &x);
  if (d->progress) {
    curl_easy_setopt (x.r.c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt (x.r.c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt (x.r.c, CURLOPT_XFERINFODATA, &x);
  }
  r = download (h, &x);
  if (r < 0) {
    ch_error_as (x.why_kind, "%s", x.why);
    ch_error_prefix ("GET %s", d->url);
  }
  req_close (&x.r);
  ch_hashpipe_free (x.hp);
  return r;
}
