#include "peerssh.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cleanup.h"
#include "error.h"
#include "extstream.h"
#include "hashpipe.h"
#include "io.h"
#include "log.h"

extern char **environ;

#define READ_BUF (1u << 20)
#define BLOCK 4096u
#define STDERR_KEEP 400
#define WRITEBACK_EVERY (32u << 20)

/* The parts of an sftp:// URL that ssh needs, decoded. */
struct target {
  char *user, *host, *port, *path;
};

static void
target_free (struct target *t)
{
  curl_free (t->user);
  curl_free (t->host);
  curl_free (t->port);
  curl_free (t->path);
}

/* A word the remote shell takes as it is: no quoting needed, no expansion. */
static bool
shell_safe (const char *s)
{
  if (*s == '\0' || *s == '-')
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          strchr ("_.,:/+=@%-", *s)))
      return false;
  return true;
}

static bool
parse_target (const char *peer, struct target *t, char *why, size_t len)
{
  CURLU *u = curl_url ();
  bool ok = u && curl_url_set (u, CURLUPART_URL, peer, 0) == CURLUE_OK &&
    curl_url_get (u, CURLUPART_HOST, &t->host, 0) == CURLUE_OK &&
    curl_url_get (u, CURLUPART_PATH, &t->path, CURLU_URLDECODE) == CURLUE_OK;

  if (ok && curl_url_get (u, CURLUPART_USER, &t->user, CURLU_URLDECODE) != CURLUE_OK)
    t->user = NULL;
  if (ok && curl_url_get (u, CURLUPART_PORT, &t->port, 0) != CURLUE_OK)
    t->port = NULL;
  curl_url_cleanup (u);
  if (!ok)
    return ch_why (why, len, "not a URL ssh can reach");
  /* [::1] in a URL, ::1 to ssh. */
  if (t->host[0] == '[') {
    size_t n = strlen (t->host);

    if (n < 3 || t->host[n - 1] != ']')
      return ch_why (why, len, "not a URL ssh can reach");
    memmove (t->host, t->host + 1, n - 2);
    t->host[n - 2] = '\0';
  }
  if (t->host[0] == '-' || (t->user && (t->user[0] == '-' || strchr (t->user, '@'))))
    return ch_why (why, len, "a user or host ssh would read as an option");
  return true;
}

/* The command the peer runs: "<remote_cowherd> send --from N -- <dir>/<name>",
 * every word checked, so the remote shell splits it as meant. */
static char *
remote_command (const struct ch_config *cfg, const struct target *t, const char *name,
                uint64_t from, char *why, size_t len)
{
  const char *dir = t->path;
  char *cmd = NULL, *path = NULL;
  bool home = strncmp (dir, "/~/", 3) == 0;

  if (home)
    dir += 3;                          /* sftp://host/~/x is x in the home directory */
  if (asprintf (&path, "%s%s%s%s", home ? "~/" : "", dir,
                dir[0] && dir[strlen (dir) - 1] != '/' ? "/" : "", name) < 0) {
    ch_why (why, len, "out of memory");
    return NULL;
  }
  if (!shell_safe (cfg->peer_remote_cowherd) || !shell_safe (path + (home ? 2 : 0)) ||
      !shell_safe (name) || (!home && path[0] != '/')) {
    ch_why (why, len, "the path %.200s or [peers] remote_cowherd holds characters that "
            "would need quoting on the peer", path);
    free (path);
    return NULL;
  }
  if (asprintf (&cmd, "%s send --from %" PRIu64 " -- %s", cfg->peer_remote_cowherd, from,
                path) < 0) {
    ch_why (why, len, "out of memory");
    cmd = NULL;
  }
  free (path);
  return cmd;
}

/* The receiving side, fed by the stream parser. */
struct rx {
  const struct ch_peer_expect *e;
  struct ch_peerssh_out *out;
  int fd;
  struct ch_hashpipe *hp;
  uint64_t from, done;
  uint64_t flushed;                    /* writeback started up to here */
  bool taken, corrupt, answered;
  char *why;
  size_t why_len;
  void (*progress) (void *, uint64_t, uint64_t);
  void *opaque;
};

static int
hash (struct rx *x, const void *p, size_t n)
{
  if (ch_hashpipe_update (x->hp, p, n) < 0)
    return -1;
  return 0;
}

/* Zeros for what no record covered, up to OFF. */
static int
hash_gap (struct rx *x, uint64_t off)
{
  if (x->done >= off)
    return 0;
  if (ch_hashpipe_zeros (x->hp, off - x->done) < 0)
    return -1;
  x->done = off;
  return 0;
}

/* What an earlier attempt left, [0, from): into the digest. */
static int
hash_existing (struct rx *x)
{
  CLEANUP_FREE uint8_t *buf = malloc (READ_BUF);
  uint64_t off = 0;

  if (buf == NULL) {
    ch_error ("out of memory");
    return -1;
  }
  while (off < x->from) {
    size_t want = x->from - off < READ_BUF ? (size_t) (x->from - off) : READ_BUF;
    ssize_t n = ch_read_full (x->fd, buf, want, (off_t) off);

    if (n != (ssize_t) want) {
      ch_error_as (CH_ERR_IO, "reading the partial download: %s",
                   n < 0 ? strerror (errno) : "short");
      return -1;
    }
    if (hash (x, buf, want) < 0)
      return -1;
    off += want;
  }
  x->done = x->flushed = x->from;
  return 0;
}

static int
on_manifest (void *opaque, const char *json, size_t len)
{
  struct rx *x = opaque;
  const char *algo, *hex;
  enum ch_peer_answer a;

  x->answered = true;
  if (json == NULL) {
    x->out->answer = CH_PEER_ABSENT;
    ch_why (x->why, x->why_len, "no manifest (none on the peer)");
    return 1;
  }
  a = ch_peer_manifest_check (json, len, x->e, &x->out->m, x->why, x->why_len);
  if (a != CH_PEER_HAS) {
    x->out->answer = a;
    return 1;
  }
  x->answered = false;
  if (x->from > x->out->m.size) {
    x->corrupt = true;
    ch_error_as (CH_ERR_CORRUPT, "the partial download is longer than the peer's file");
    return -1;
  }
  ch_manifest_digest (&x->out->m, &algo, &hex);
  if ((x->hp = ch_hashpipe_new (&algo, 1)) == NULL)
    return -1;
  x->taken = true;
  return hash_existing (x);
}

static int
on_size (void *opaque, uint64_t size)
{
  struct rx *x = opaque;

  if (size != x->out->m.size) {
    x->corrupt = true;
    ch_error_as (CH_ERR_CORRUPT, "size mismatch: the peer's file has %" PRIu64 " bytes, its "
                 "manifest says %" PRIu64, size, x->out->m.size);
    return -1;
  }
  return 0;
}

/* Write P (N bytes, the content at OFF), its zero blocks left as holes:
 * everything from OFF on is new to the file, so a hole reads right. */
static int
write_sparse (struct rx *x, uint64_t off, const uint8_t *p, size_t n)
{
  size_t i = 0;

  while (i < n) {
    size_t j = i, k;

    /* Runs of pieces split at the file's 4 KiB boundaries. */
    while (j < n) {
      k = j + (BLOCK - (off + j) % BLOCK);
      if (k > n)
        k = n;
      if (p[j] == 0 && memcmp (p + j, p + j + 1, k - j - 1) == 0)
        break;
      j = k;
    }
    if (j > i && ch_write_full (x->fd, p + i, j - i, (off_t) (off + i)) < 0) {
      ch_error_as (ch_err_of_io (errno), "write: %m");
      return -1;
    }
    /* Skip the zero pieces. */
    while (j < n) {
      k = j + (BLOCK - (off + j) % BLOCK);
      if (k > n)
        k = n;
      if (!(p[j] == 0 && memcmp (p + j, p + j + 1, k - j - 1) == 0))
        break;
      j = k;
    }
    i = j;
  }
  return 0;
}

static int
on_data (void *opaque, uint64_t off, const uint8_t *p, size_t n)
{
  struct rx *x = opaque;

  if (hash_gap (x, off) < 0 || write_sparse (x, off, p, n) < 0 || hash (x, p, n) < 0)
    return -1;
  x->done = off + n;
  /* Start writeback as data arrives: the fsync before publishing then has
   * little left to wait for.  Only a hint; fsync reports errors. */
  if (x->done - x->flushed >= WRITEBACK_EVERY) {
    (void) sync_file_range (x->fd, (off_t) x->flushed, (off_t) (x->done - x->flushed),
                            SYNC_FILE_RANGE_WRITE);
    x->flushed = x->done;
  }
  if (x->progress)
    x->progress (x->opaque, x->done, x->out->m.size);
  return 0;
}

static int
on_end (void *opaque)
{
  struct rx *x = opaque;
  const char *algo, *want;
  char got[1][129];

  if (hash_gap (x, x->out->m.size) < 0)
    return -1;
  if (ftruncate (x->fd, (off_t) x->out->m.size) < 0) {
    ch_error_as (ch_err_of_io (errno), "ftruncate: %m");
    return -1;
  }
  if (ch_hashpipe_final (x->hp, got) < 0)
    return -1;
  ch_manifest_digest (&x->out->m, &algo, &want);
  if (strcmp (got[0], want) != 0) {
    x->corrupt = true;
    ch_error_as (CH_ERR_CORRUPT, "hash mismatch: %s of what was received is %.16s..., the "
                 "manifest says %.16s...", algo, got[0], want);
    return -1;
  }
  snprintf (x->out->digest, sizeof x->out->digest, "%s", got[0]);
  if (x->progress)
    x->progress (x->opaque, x->out->m.size, x->out->m.size);
  return 0;
}

static const struct ch_xs_ops ops = {
  .manifest = on_manifest, .size = on_size, .data = on_data, .end = on_end,
};

/* ssh, its stdout on a pipe (*OUT), its stderr on another (*ERR,
 * non-blocking).  The pid, or -1. */
static pid_t
spawn_ssh (char *const argv[], int *out, int *err)
{
  posix_spawn_file_actions_t fa;
  int p[2], q[2], e;
  pid_t pid;

  if (pipe2 (p, O_CLOEXEC) < 0) {
    ch_error ("pipe: %m");
    return -1;
  }
  if (pipe2 (q, O_CLOEXEC) < 0) {
    ch_error ("pipe: %m");
    close (p[0]);
    close (p[1]);
    return -1;
  }
  /* Fewer, larger reads: the data is what the pipe carries. */
  (void) fcntl (p[0], F_SETPIPE_SZ, READ_BUF);
  (void) fcntl (q[0], F_SETFL, O_NONBLOCK);
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2 (&fa, p[1], 1);
  posix_spawn_file_actions_adddup2 (&fa, q[1], 2);
  e = posix_spawn (&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy (&fa);
  close (p[1]);
  close (q[1]);
  if (e != 0) {
    close (p[0]);
    close (q[0]);
    errno = e;
    ch_error ("%s: %m", argv[0]);
    return -1;
  }
  *out = p[0];
  *err = q[0];
  return pid;
}

/* The last bytes ssh wrote to stderr (its own errors, the remote
 * command's): bounded, whatever the peer writes there. */
struct tail {
  char buf[STDERR_KEEP + 1];
  size_t len;
};

/* Take what is waiting on FD.  0 more may come, 1 end of file. */
static int
drain (int fd, struct tail *t)
{
  char b[4096];

  for (;;) {
    ssize_t n = read (fd, b, sizeof b);

    if (n == 0)
      return 1;
    if (n < 0)
      return errno == EINTR ? 0 : errno == EAGAIN ? 0 : 1;
    if ((size_t) n >= STDERR_KEEP) {
      memcpy (t->buf, b + n - STDERR_KEEP, STDERR_KEEP);
      t->len = STDERR_KEEP;
    }
    else {
      size_t keep = t->len + (size_t) n > STDERR_KEEP ? STDERR_KEEP - (size_t) n : t->len;

      memmove (t->buf, t->buf + t->len - keep, keep);
      memcpy (t->buf + keep, b, (size_t) n);
      t->len = keep + (size_t) n;
    }
  }
}

/* ssh's last line on stderr, for a reason. */
static void
last_line (struct tail *t, char *out, size_t len)
{
  char *s, *nl;
  size_t n = t->len;

  t->buf[n] = '\0';
  while (n > 0 && (t->buf[n - 1] == '\n' || t->buf[n - 1] == '\r'))
    t->buf[--n] = '\0';
  s = (nl = strrchr (t->buf, '\n')) ? nl + 1 : t->buf;
  for (char *c = s; *c; c++)
    if ((unsigned char) *c < 0x20)
      *c = ' ';
  snprintf (out, len, "%s", s);
}

/* Reap ssh; with KILL_IT first stop it (it is only a client: nothing of
 * ours is left half-done by SIGKILL). */
static int
wait_child (pid_t pid, bool kill_it)
{
  int st;

  if (kill_it)
    kill (pid, SIGKILL);
  while (waitpid (pid, &st, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
}

/* One run of ssh and `cowherd send --from FROM`. */
static enum ch_peerssh_result
attempt (const struct ch_config *cfg, const struct target *t, const struct ch_peer_expect *e,
         int dst_fd, uint64_t from, void (*progress) (void *, uint64_t, uint64_t),
         void *opaque, struct ch_peerssh_out *out, bool *corrupt, char *why, size_t why_len)
{
  struct rx x = { .e = e, .out = out, .fd = dst_fd, .why = why, .why_len = why_len,
                  .progress = progress, .opaque = opaque, .from = from, .done = from,
                  .flushed = from };
  struct ch_xs_rx rx = { .from = from, .size_max = CH_IMAGE_SIZE_MAX,
                         .manifest_max = CH_MANIFEST_MAX };
  CLEANUP_FREE char *cmd = NULL;
  CLEANUP_FREE uint8_t *buf = NULL;
  CLEANUP_CLOSE int rd = -1, ed = -1;
  enum ch_peerssh_result res = CH_PEERSSH_FAILED;
  char timeout[32], alive[48], port[16], line[STDERR_KEEP + 1];
  struct tail tail = { .len = 0 };
  int r = 0, status;
  bool eof = false, err_eof = false;
  pid_t pid;

  memset (out, 0, sizeof *out);
  *corrupt = false;
  if ((cmd = remote_command (cfg, t, e->name, from, why, why_len)) == NULL)
    return CH_PEERSSH_UNSUPPORTED;
  if ((buf = malloc (READ_BUF)) == NULL) {
    ch_error ("out of memory");
    return CH_PEERSSH_FAILED;
  }
  snprintf (timeout, sizeof timeout, "ConnectTimeout=%d", cfg->connect_timeout);
  /* ssh gives up on a link that stopped answering; the poll below on a
   * peer that stopped sending. */
  snprintf (alive, sizeof alive, "ServerAliveInterval=%d",
            cfg->stall_timeout / 3 > 0 ? cfg->stall_timeout / 3 : 1);
  snprintf (port, sizeof port, "%s", t->port ? t->port : "22");
  {
    /* Host keys are not checked, as for sftp (http.c): what a peer serves
     * is taken only if it matches its manifest and Glance's hash.  No
     * connection sharing: nothing may outlive this ssh. */
    const char *argv[] = {
      cfg->ssh, "-T", "-x", "-a", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
      "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", timeout,
      "-o", alive, "-o", "ServerAliveCountMax=2", "-o", "IdentitiesOnly=yes",
      "-o", "ControlMaster=no", "-o", "ControlPath=none", "-p", port,
      /* AES-GCM first (AES-NI: about 1.7x chacha20-poly1305 here), the
       * defaults after it for peers without it. */
      "-o", "Ciphers=^aes128-gcm@openssh.com",
      NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    };
    size_t n = 28;

    if (cfg->peer_ssh_key) {
      argv[n++] = "-i";
      argv[n++] = cfg->peer_ssh_key;
    }
    if (t->user) {
      argv[n++] = "-l";
      argv[n++] = t->user;
    }
    argv[n++] = "--";
    argv[n++] = t->host;
    argv[n++] = cmd;
    if ((pid = spawn_ssh ((char *const *) argv, &rd, &ed)) < 0)
      return CH_PEERSSH_FAILED;
  }
  /* Read the stream until its end and then ssh's end of file; stderr as
   * it comes.  After a verified end nothing more is taken: a peer that
   * holds the session open is cut off after the stall timeout. */
  for (;;) {
    struct pollfd p[2] = { { .fd = rd, .events = POLLIN },
                           { .fd = err_eof ? -1 : ed, .events = POLLIN } };
    int pr = poll (p, 2, cfg->stall_timeout * 1000);
    ssize_t n;

    if (pr < 0 && errno == EINTR)
      continue;
    if (pr < 0) {
      ch_error ("poll: %m");
      r = -1;
      break;
    }
    if (pr == 0) {
      if (!rx.ended) {
        ch_error_as (CH_ERR_TIMED_OUT, "no data from the peer for %d s", cfg->stall_timeout);
        r = -1;
      }
      break;
    }
    if (p[1].revents && drain (ed, &tail) == 1)
      err_eof = true;
    if (!p[0].revents)
      continue;
    n = read (rd, buf, READ_BUF);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      ch_error ("read: %m");
      r = -1;
      break;
    }
    if (n == 0) {
      eof = true;
      break;
    }
    if (rx.ended)
      break;                           /* bytes after a verified end: not ours */
    if ((r = ch_xs_feed (&rx, buf, (size_t) n, &ops, &x)) < 0 || (r > 0 && !rx.ended))
      break;
  }
  status = wait_child (pid, !eof);
  drain (ed, &tail);
  last_line (&tail, line, sizeof line);
  if (out->digest[0])
    res = CH_PEERSSH_DONE;
  else if (x.answered)
    res = CH_PEERSSH_ANSWERED;          /* about the manifest; nothing written */
  else if (!ch_xs_started (&rx)) {
    /* No stream at all: no cowherd there (127), an older one, or ssh
     * itself failed (255).  sftp says which, as before. */
    ch_why (why, why_len, "no extent stream (ssh exit %d%s%s)", status, line[0] ? ": " : "",
            line);
    res = CH_PEERSSH_UNSUPPORTED;
  }
  else {
    if (r >= 0)
      ch_error ("the peer's stream ended early (ssh exit %d%s%s)", status,
                line[0] ? ": " : "", line);
    res = CH_PEERSSH_FAILED;
    /* Keep what is right for a later attempt, [0, done); a wrong file is
     * the caller's to discard.  After a malformed stream nothing this peer
     * said is worth keeping (its gaps were its word too). */
    if (x.taken && !x.corrupt &&
        ftruncate (dst_fd, ch_error_kind () == CH_ERR_REFUSED ? (off_t) from
                                                              : (off_t) x.done) < 0)
      ch_log (LOG_WARNING, "cannot truncate the partial download: %m");
  }
  *corrupt = x.corrupt;
  out->size = x.done;
  ch_hashpipe_free (x.hp);
  ch_xs_rx_free (&rx);
  return res;
}

enum ch_peerssh_result
ch_peerssh_fetch (const struct ch_config *cfg, const char *peer, const struct ch_peer_expect *e,
                  int dst_fd, void (*progress) (void *, uint64_t, uint64_t), void *opaque,
                  struct ch_peerssh_out *out, char *why, size_t why_len)
{
  struct target t = { 0 };
  enum ch_peerssh_result res;
  struct stat st;
  bool corrupt;

  why[0] = '\0';
  memset (out, 0, sizeof *out);
  if (!parse_target (peer, &t, why, why_len)) {
    target_free (&t);
    return CH_PEERSSH_UNSUPPORTED;
  }
  if (fstat (dst_fd, &st) < 0) {
    ch_error_as (CH_ERR_IO, "fstat: %m");
    target_free (&t);
    return CH_PEERSSH_FAILED;
  }
  res = attempt (cfg, &t, e, dst_fd, (uint64_t) st.st_size, progress, opaque, out, &corrupt,
                 why, why_len);
  /* A partial download another source left may not be this file's start:
   * once, from the beginning (as http.c does). */
  if (res == CH_PEERSSH_FAILED && corrupt && st.st_size > 0) {
    ch_log (LOG_INFO, "fetch %s: %s; the peer's file again from its start", e->name,
            ch_error_detail ());
    if (ftruncate (dst_fd, 0) < 0) {
      ch_error_as (ch_err_of_io (errno), "ftruncate: %m");
      target_free (&t);
      return CH_PEERSSH_FAILED;
    }
    res = attempt (cfg, &t, e, dst_fd, 0, progress, opaque, out, &corrupt, why, why_len);
  }
  target_free (&t);
  return res;
}
