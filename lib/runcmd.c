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
  static char *const envp[] = {
    (char *) "LC_ALL=C", (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL
  };
  posix_spawn_file_actions_t fa;
  CLEANUP_CLOSE int rd = -1, moved = -1;
  int pipefd[2], status, err;
  char buf[STDERR_KEEP + 1];
  size_t len = 0;
  pid_t pid;

  if (pipe2 (pipefd, O_CLOEXEC) < 0) {
    ch_error ("pipe: %m");
    return -1;
  }
  rd = pipefd[0];
  /* dup2 onto itself would leave close-on-exec set: move it first. */
  if (fd == 3) {
    if ((moved = fcntl (fd, F_DUPFD_CLOEXEC, 10)) < 0) {
      ch_error ("dup: %m");
      close (pipefd[1]);
      return -1;
    }
    fd = moved;
  }
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen (&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2 (&fa, pipefd[1], 2);
  if (fd >= 0)
    posix_spawn_file_actions_adddup2 (&fa, fd, 3);
  err = posix_spawn (&pid, argv[0], &fa, NULL, argv, envp);
  posix_spawn_file_actions_destroy (&fa);
  close (pipefd[1]);
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
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    return 0;
  if (WIFEXITED (status))
    ch_error ("%s exited with status %d: %s", argv[0], WEXITSTATUS (status),
              last_line (buf, len));
  else
    ch_error ("%s killed by signal %d", argv[0], WTERMSIG (status));
  return -1;
}
