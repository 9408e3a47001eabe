/* cowherd fetch: get an original image into the cache by hand. */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "fetch.h"
#include "log.h"

#define CANDIDATES_MAX 16

struct bar {
  double start, last;
  bool tty;
  const char *what;            /* the image id or cache name, for the log */
};

#define LOG_EVERY_MS 5000

/* Progress of a long fetch: on a terminal a one-line bar on stderr
 * (bytes, rate, time left), redrawn at most 5 times a second; otherwise
 * (run by the hook) a log line at most every 5 s. */
static void
progress (void *opaque, uint64_t done, uint64_t total)
{
  struct bar *b = opaque;
  double now = ch_now_ms (), secs = (now - b->start) / 1000;
  double rate = secs > 0 ? (double) done / secs : 0;          /* bytes/s */
  double left = rate > 0 && total > done ? (double) (total - done) / rate : 0;
  int pct = total ? (int) (done * 100 / total) : 0, width = 30, fill;

  if (b->start == 0) {
    b->start = b->last = now;
    return;
  }
  if (!b->tty) {
    if (now - b->last >= LOG_EVERY_MS && done < total) {
      b->last = now;
      ch_log (LOG_INFO, "fetch %s: %.0f of %.0f MiB (%d%%), %.1f MB/s, about %.0f s left",
              b->what, (double) done / 1048576, (double) total / 1048576, pct, rate / 1e6,
              left);
    }
    return;
  }
  if (now - b->last < 200 && done != total)
    return;
  b->last = now;
  fill = pct * width / 100;
  fprintf (stderr, "\r[%.*s%*s] %3d%% %7.1f/%.1f MiB %6.1f MB/s %3d:%02d left ", fill,
           "##############################", width - fill, "", pct,
           (double) done / 1048576, (double) total / 1048576, rate / 1e6,
           (int) left / 60, (int) left % 60);
  if (done == total)
    fputc ('\n', stderr);
}

int
cmd_fetch (struct cli *cli, int argc, char *argv[])
{
  static const struct option opts[] = {
    { "sha1", no_argument, NULL, 's' },
    { "candidate", required_argument, NULL, 'C' },
    { "config", required_argument, NULL, 'c' },
    { "verbose", no_argument, NULL, 'v' },
    { 0 }
  };
  const char *candidates[CANDIDATES_MAX];
  struct ch_fetch_request req = { .candidates = candidates };
  struct ch_fetch_result res;
  struct bar bar = { 0 };
  bool by_sha1 = false;
  int c;

  while ((c = getopt_long (argc, argv, "sC:c:v", opts, NULL)) != -1) {
    switch (c) {
    case 's': by_sha1 = true; break;
    case 'C':
      if (req.n_candidates == CANDIDATES_MAX) {
        fprintf (stderr, "cowherd fetch: at most %d --candidate\n", CANDIDATES_MAX);
        return 2;
      }
      candidates[req.n_candidates++] = optarg;
      break;
    case 'c': cli->config_path = optarg; break;
    case 'v': cli->verbose = true; break;
    default: return 2;
    }
  }
  if (optind != argc - 1 || (req.n_candidates && !by_sha1)) {
    fprintf (stderr, "usage: cowherd fetch IMAGE_ID\n"
             "       cowherd fetch --sha1 NAME [--candidate IMAGE_ID]...\n");
    return 2;
  }
  if (by_sha1)
    req.name = argv[optind];
  else
    req.image_id = argv[optind];
  bar.tty = isatty (STDERR_FILENO);
  bar.what = argv[optind];
  req.progress = progress;
  req.opaque = &bar;
  if (cli_load_config (cli) < 0 || ch_fetch (&cli->cfg, &req, &res) < 0)
    return -1;
  if (res.fetched)
    printf ("fetched %s/%s (image %s, %llu bytes) in %.1f s\n", cli->cfg.base_dir, res.name,
            res.image_id[0] ? res.image_id : "id unknown", (unsigned long long) res.size,
            res.ms / 1000);
  else
    printf ("%s/%s is already there\n", cli->cfg.base_dir, res.name);
  return 0;
}
