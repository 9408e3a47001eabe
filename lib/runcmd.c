#include "runcmd.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"

#define STDERR_KEEP 1024

/* The last non-empty line of BUF (modified in place). */
static const char *
last_line (char *buf, size_t len)
{
  char *p;

  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
    len--;
  buf[len] = '\0';
  p = strrchr (buf, '\n');
  return p ? p + 1 : buf;
}

int
ch_run (char *const argv[])
{
  return ch_run_fd (argv, -1);
}

int
ch_run_fd (char *const argv[], int fd)
{
  return ch_run_fds (argv, &fd, fd >= 0 ? 1 : 0);
}

#define RUN_FDS_MAX 4

int
ch_run_status (char *const argv[], const int *fds, size_t n, int out_fd, char *line,
               size_t line_len)
{
  /* One malloc arena: the shim's work runs under Nova's prlimit of 1 GiB
   * of address space, where qemu-img's per-thread arenas can leave no room
   * for a new thread. */
  static char *const envp[] = {
    (char *) "LC_ALL=C", (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
    (char *) "MALLOC_ARENA_MAX=1", NULL
  };
  posix_spawn_file_actions_t fa;
  CLEANUP_CLOSE int rd = -1;
  int moved[RUN_FDS_MAX] = { -1, -1, -1, -1 };
  int pipefd[2], status, err;
  char buf[STDERR_KEEP + 1];
  size_t len = 0;
  pid_t pid;

  if (n > RUN_FDS_MAX) {
    ch_error ("%s: too many descriptors to pass", argv[0]);
    return -1;
  }
  /* Copies above the targets 3.. so that no dup2 overwrites a source, and
   * none is dup2'd onto itself (that would keep close-on-exec). */
  for (size_t i = 0; i < n; i++)
    if ((moved[i] = fcntl (fds[i], F_DUPFD_CLOEXEC, 10)) < 0) {
      ch_error ("dup: %m");
      for (size_t k = 0; k < i; k++)
        close (moved[k]);
      return -1;
    }
  if (pipe2 (pipefd, O_CLOEXEC) < 0) {
    ch_error ("pipe: %m");
    for (size_t k = 0; k < n; k++)
      close (moved[k]);
    return -1;
  }
  rd = pipefd[0];
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
  if (out_fd >= 0)
    posix_spawn_file_actions_adddup2 (&fa, out_fd, 1);
  else
    posix_spawn_file_actions_addopen (&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2 (&fa, pipefd[1], 2);
  for (size_t i = 0; i < n; i++)
    posix_spawn_file_actions_adddup2 (&fa, moved[i], 3 + (int) i);
  err = posix_spawn (&pid, argv[0], &fa, NULL, argv, envp);
  posix_spawn_file_actions_destroy (&fa);
  close (pipefd[1]);
  for (size_t k = 0; k < n; k++)
    close (moved[k]);
  if (err) {
    errno = err;
    ch_error ("%s: %m", argv[0]);
    return -1;
  }

  /* Keep the tail of stderr: the error is usually at the end. */
  for (;;) {
    char chunk[512];
    ssize_t r = read (rd, chunk, sizeof chunk);

    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    if (len + (size_t) r > STDERR_KEEP) {
      size_t drop = len + (size_t) r - STDERR_KEEP;

      memmove (buf, buf + drop, len - drop);
      len -= drop;
    }
    memcpy (buf + len, chunk, (size_t) r);
    len += (size_t) r;
  }
  while (waitpid (pid, &status, 0) < 0) {
    if (errno != EINTR) {
      ch_error ("waitpid %s: %m", argv[0]);
      return -1;
    }
  }
  if (!WIFEXITED (status)) {
    ch_error ("%s killed by signal %d", argv[0], WTERMSIG (status));
    return -1;
  }
  snprintf (line, line_len, "%s", last_line (buf, len));
  return WEXITSTATUS (status);
}

int
ch_run_fds (char *const argv[], const int *fds, size_t n)
{
  char line[STDERR_KEEP + 1];
  int status = ch_run_status (argv, fds, n, -1, line, sizeof line);

  if (status > 0)
    ch_error ("%s exited with status %d: %s", argv[0], status, line);
  return status == 0 ? 0 : -1;
}
