#include "cli.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "cowherd-build.h"
#include "domain_xml.h"
#include "error.h"
#include "log.h"

int
cli_load_config (struct cli *cli)
{
  bool explicit = cli->config_path != NULL;

  if (ch_config_load (explicit ? cli->config_path : COWHERD_CONFIG_PATH, !explicit,
                      &cli->cfg) < 0)
    return -1;
  ch_log_init ("cowherd", &cli->cfg);
  ch_log_set_stderr (cli->verbose);
  return 0;
}

int
cli_read_domain (const char *file, struct ch_domain **dom)
{
  CLEANUP_CLOSE int fd = -1;

  if (strcmp (file, "-") == 0)
    return ch_domain_read_fd (STDIN_FILENO, dom);
  fd = open (file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    ch_error ("%s: %m", file);
    return -1;
  }
  if (ch_domain_read_fd (fd, dom) < 0) {
    ch_error_prefix ("%s", file);
    return -1;
  }
  return 0;
}
