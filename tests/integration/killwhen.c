/* killwhen: run a program and SIGKILL it the moment a file whose name ends
 * with SUFFIX is created in DIR.  The integration tests use it to kill the
 * hook in the middle of building a base.
 *
 *   killwhen DIR SUFFIX -- PROG [ARGS...]
 *
 * The watch is set before the fork, so no creation can be missed.  Stdin,
 * stdout and stderr are inherited by PROG.
 *
 * Exit status: 0 if killwhen killed PROG, 1 if PROG exited on its own
 * first, 2 on usage or setup errors.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void
usage (void)
{
  fprintf (stderr, "usage: killwhen DIR SUFFIX -- PROG [ARGS...]\n");
  exit (2);
}

static bool
ends_with (const char *s, const char *suffix)
{
  size_t n = strlen (s), m = strlen (suffix);

  return n >= m && memcmp (s + n - m, suffix, m) == 0;
}

/* Read pending inotify events; return true (and copy the name) if one is
 * a creation matching SUFFIX.  -1 on error. */
static int
match_event (int ifd, const char *suffix, char *name, size_t len)
{
  char buf[64 * 1024] __attribute__ ((aligned (__alignof__ (struct inotify_event))));
  const struct inotify_event *ev;
  ssize_t n;
  size_t off;

  n = read (ifd, buf, sizeof buf);
  if (n < 0)
    return errno == EINTR || errno == EAGAIN ? 0 : -1;
  for (off = 0; off < (size_t) n; off += sizeof *ev + ev->len) {
    ev = (const struct inotify_event *) (buf + off);
    if (ev->mask & IN_Q_OVERFLOW)
      fprintf (stderr, "killwhen: warning: inotify queue overflow\n");
    if ((ev->mask & IN_CREATE) && ev->len > 0 && ends_with (ev->name, suffix)) {
      size_t l = strnlen (ev->name, len - 1);

      memcpy (name, ev->name, l);
      name[l] = '\0';
      return 1;
    }
  }
  return 0;
}

/* Wait for PID and describe how it ended.  Returns true if SIGKILL did it. */
static bool
reap (pid_t pid, const char *prog)
{
  int status;

  while (waitpid (pid, &status, 0) < 0) {
    if (errno != EINTR) {
      perror ("killwhen: waitpid");
      exit (2);
    }
  }
  if (WIFSIGNALED (status)) {
    fprintf (stderr, "killwhen: %s (pid %d) died of signal %d\n",
             prog, (int) pid, WTERMSIG (status));
    return WTERMSIG (status) == SIGKILL;
  }
  fprintf (stderr, "killwhen: %s (pid %d) exited with status %d\n",
           prog, (int) pid, WEXITSTATUS (status));
  return false;
}

int
main (int argc, char *argv[])
{
  const char *dir, *suffix;
  char name[4096];
  struct pollfd fds[2];
  int ifd, pfd, r;
  pid_t pid;

  if (argc < 5 || strcmp (argv[3], "--") != 0)
    usage ();
  dir = argv[1];
  suffix = argv[2];

  ifd = inotify_init1 (IN_CLOEXEC);
  if (ifd < 0) {
    perror ("killwhen: inotify_init1");
    return 2;
  }
  if (inotify_add_watch (ifd, dir, IN_CREATE) < 0) {
    fprintf (stderr, "killwhen: watch %s: %s\n", dir, strerror (errno));
    return 2;
  }

  pid = fork ();
  if (pid < 0) {
    perror ("killwhen: fork");
    return 2;
  }
  if (pid == 0) {
    execvp (argv[4], &argv[4]);
    fprintf (stderr, "killwhen: exec %s: %s\n", argv[4], strerror (errno));
    _exit (127);
  }

  /* A pidfd becomes readable when the child exits. */
  pfd = (int) syscall (SYS_pidfd_open, pid, 0);
  if (pfd < 0) {
    perror ("killwhen: pidfd_open");
    kill (pid, SIGKILL);
    reap (pid, argv[4]);
    return 2;
  }

  fds[0] = (struct pollfd) { .fd = ifd, .events = POLLIN };
  fds[1] = (struct pollfd) { .fd = pfd, .events = POLLIN };
  for (;;) {
    if (poll (fds, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      perror ("killwhen: poll");
      kill (pid, SIGKILL);
      reap (pid, argv[4]);
      return 2;
    }
    /* Events first: a creation seen in the same wakeup as the exit still
     * counts only if the kill is what ended the child (checked by reap). */
    if (fds[0].revents & POLLIN) {
      r = match_event (ifd, suffix, name, sizeof name);
      if (r < 0) {
        perror ("killwhen: read inotify");
        kill (pid, SIGKILL);
        reap (pid, argv[4]);
        return 2;
      }
      if (r > 0) {
        kill (pid, SIGKILL);
        fprintf (stderr, "killwhen: %s/%s appeared: sent SIGKILL to %s (pid %d)\n",
                 dir, name, argv[4], (int) pid);
        if (reap (pid, argv[4]))
          return 0;
        fprintf (stderr, "killwhen: %s ended on its own before the kill\n", argv[4]);
        return 1;
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP)) {
      reap (pid, argv[4]);
      fprintf (stderr, "killwhen: %s ended on its own, no *%s appeared in %s\n",
               argv[4], suffix, dir);
      return 1;
    }
  }
}
