/* cowherd: configuration (INI, parsed by inih).  Every key and its default
 * is documented in packaging/cowherd.conf. */
#ifndef COWHERD_CONFIG_H
#define COWHERD_CONFIG_H

#include <stdbool.h>

struct ch_config {
  char *instances_path;   /* [nova] instances_path = /var/lib/nova/instances */
  char *base_dir;         /* [nova] base_dir: absolute; default instances_path/_base */
  char *lock_dir;         /* [nova] lock_path: default instances_path/locks */
  char *lock_prefix;      /* [nova] lock_prefix = nova- */
  int lock_timeout;       /* [locks] timeout seconds = 600 */
  char *qemu_img;         /* [tools] qemu_img = /usr/bin/qemu-img */
  char *mkfs;             /* [tools] mkfs = /sbin/mkfs */
  char *mkswap;           /* [tools] mkswap = /sbin/mkswap */
  bool log_syslog;        /* [log] syslog = true */
  char *log_file;         /* [log] file = (none) */
};

/* Fill CFG with defaults, then read PATH over them.  A missing file is not
 * an error when MISSING_OK (the hook runs on defaults).  Unknown sections or
 * keys, bad numbers or relative paths are errors.  -1 with ch_error. */
int ch_config_load (const char *path, bool missing_ok, struct ch_config *cfg);
void ch_config_free (struct ch_config *cfg);

#endif
