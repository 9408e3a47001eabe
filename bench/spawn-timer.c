/* spawn-timer: whole-process latency of a few commands, interleaved.
 *
 *   spawn-timer -w WARMUP -r RUNS -i INPUT -o OUT.json CMD [ARG...] [:: CMD [ARG...]]...
 *
 * Like `hyperfine -N --input INPUT`, without a shell: each run is one
 * posix_spawn + waitpid, stdin is INPUT (rewound every run), stdout and
 * stderr go to /dev/null, and the wall time from just before the spawn to
 * just after the reap is recorded.  Unlike hyperfine the commands are run
 * round-robin (round r starts at command r mod N), so drift on a noisy
 * shared machine falls on every command alike.  A non-zero exit or a signal
 * stops the benchmark.  OUT.json has hyperfine's shape for the parts bench/
 * reads: {"results": [{"command": ..., "times": [seconds...]}, ...]}, plus
 * per-run user and system CPU seconds.
 *
 * Used by bench/hook-latency.sh and bench/shim-rebase.sh, which compile it
 * into a temp dir. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct cmd {
  char **argv;
  double *wall, *user, *sys;
};

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static double
tv (struct timeval t)
{
  return (double) t.tv_sec + (double) t.tv_usec / 1e6;
}

static void
die (const char *what)
{
  perror (what);
  exit (1);
}

/* Run C once with stdin from IN; store its times at slot I unless I < 0. */
static void
run_once (struct cmd *c, int in, long i)
{
  posix_spawn_file_actions_t fa;
  struct rusage ru;
  double t0, t1;
  pid_t pid;
  int st, r;

  if (lseek (in, 0, SEEK_SET) < 0)
    die ("lseek input");
  if (posix_spawn_file_actions_init (&fa) ||
      posix_spawn_file_actions_adddup2 (&fa, in, 0) ||
      posix_spawn_file_actions_addopen (&fa, 1, "/dev/null", O_WRONLY, 0) ||
      posix_spawn_file_actions_addopen (&fa, 2, "/dev/null", O_WRONLY, 0))
    die ("posix_spawn_file_actions");
  t0 = now ();
  r = posix_spawn (&pid, c->argv[0], &fa, NULL, c->argv, environ);
  if (r) {
    errno = r;
    die (c->argv[0]);
  }
  while (wait4 (pid, &st, 0, &ru) < 0)
    if (errno != EINTR)
      die ("wait4");
  t1 = now ();
  posix_spawn_file_actions_destroy (&fa);
  if (!WIFEXITED (st) || WEXITSTATUS (st) != 0) {
    fprintf (stderr, "spawn-timer: %s: %s %d\n", c->argv[0],
             WIFEXITED (st) ? "exit status" : "killed by signal",
             WIFEXITED (st) ? WEXITSTATUS (st) : WTERMSIG (st));
    exit (1);
  }
  if (i >= 0) {
    c->wall[i] = t1 - t0;
    c->user[i] = tv (ru.ru_utime);
    c->sys[i] = tv (ru.ru_stime);
  }
}

static void
json_string (FILE *fp, char **argv)
{
  fputc ('"', fp);
  for (char **a = argv; *a; a++) {
    if (a != argv)
      fputc (' ', fp);
    for (const unsigned char *p = (const unsigned char *) *a; *p; p++) {
      if (*p == '"' || *p == '\\')
        fprintf (fp, "\\%c", *p);
      else if (*p < 0x20)
        fprintf (fp, "\\u%04x", *p);
      else
        fputc (*p, fp);
    }
  }
  fputc ('"', fp);
}

static void
json_array (FILE *fp, const char *key, const double *v, long n)
{
  fprintf (fp, ", \"%s\": [", key);
  for (long i = 0; i < n; i++)
    fprintf (fp, "%s%.9f", i ? ", " : "", v[i]);
  fputc (']', fp);
}

int
main (int argc, char *argv[])
{
  long warmup = 20, runs = 300;
  const char *input = NULL, *output = NULL;
  struct cmd *cmds;
  size_t n = 0;
  FILE *fp;
  int opt, in;

  while ((opt = getopt (argc, argv, "+w:r:i:o:")) != -1) {
    switch (opt) {
    case 'w': warmup = atol (optarg); break;
    case 'r': runs = atol (optarg); break;
    case 'i': input = optarg; break;
    case 'o': output = optarg; break;
    default: return 2;
    }
  }
  if (input == NULL || output == NULL || optind >= argc || runs < 1 || warmup < 0) {
    fprintf (stderr, "usage: spawn-timer -w WARMUP -r RUNS -i INPUT -o OUT.json "
             "CMD [ARG...] [:: CMD [ARG...]]...\n");
    return 2;
  }
  cmds = calloc ((size_t) argc, sizeof *cmds);
  if (cmds == NULL)
    die ("calloc");
  /* Split the remaining arguments on "::" in place. */
  for (int i = optind; i < argc; i++) {
    if (strcmp (argv[i], "::") == 0) {
      argv[i] = NULL;
      continue;
    }
    if (i == optind || argv[i - 1] == NULL) {
      struct cmd *c = &cmds[n++];

      c->argv = &argv[i];
      c->wall = calloc ((size_t) runs, sizeof (double));
      c->user = calloc ((size_t) runs, sizeof (double));
      c->sys = calloc ((size_t) runs, sizeof (double));
      if (c->wall == NULL || c->user == NULL || c->sys == NULL)
        die ("calloc");
    }
  }
  in = open (input, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    die (input);

  for (long r = 0; r < warmup; r++)
    for (size_t k = 0; k < n; k++)
      run_once (&cmds[(r + k) % n], in, -1);
  for (long r = 0; r < runs; r++)
    for (size_t k = 0; k < n; k++)
      run_once (&cmds[(r + k) % n], in, r);

  fp = fopen (output, "w");
  if (fp == NULL)
    die (output);
  fputs ("{\"results\": [\n", fp);
  for (size_t k = 0; k < n; k++) {
    fputs ("  {\"command\": ", fp);
    json_string (fp, cmds[k].argv);
    json_array (fp, "times", cmds[k].wall, runs);
    json_array (fp, "user_times", cmds[k].user, runs);
    json_array (fp, "system_times", cmds[k].sys, runs);
    fprintf (fp, "}%s\n", k + 1 < n ? "," : "");
  }
  fputs ("]}\n", fp);
  if (fclose (fp) != 0)
    die (output);
  return 0;
}
