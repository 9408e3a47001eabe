/* cowherd CLI: shared pieces of the subcommands. */
#ifndef COWHERD_CLI_H
#define COWHERD_CLI_H

#include <stdbool.h>

#include "config.h"
#include "domain.h"

struct cli {
  const char *config_path;   /* --config, else the compiled-in path */
  bool verbose;
  struct ch_config cfg;
};

/* Load the configuration: an explicit --config must exist. */
int cli_load_config (struct cli *cli);
/* Read a domain XML from FILE, or stdin for "-". */
int cli_read_domain (const char *file, struct ch_domain **dom);

int cmd_inspect (struct cli *cli, int argc, char *argv[]);
int cmd_ensure (struct cli *cli, int argc, char *argv[]);
int cmd_fetch (struct cli *cli, int argc, char *argv[]);
int cmd_rebase (struct cli *cli, int argc, char *argv[]);
int cmd_annotate (struct cli *cli, int argc, char *argv[]);
int cmd_snapshot (struct cli *cli, int argc, char *argv[]);
int cmd_send (struct cli *cli, int argc, char *argv[]);
int cmd_cache (struct cli *cli, int argc, char *argv[]);

#endif
