/* cowherd: configuration (INI, parsed by inih).  Every key and its default
 * is documented in packaging/cowherd.conf. */
#ifndef COWHERD_CONFIG_H
#define COWHERD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct ch_config {
  char *instances_path;   /* [nova] instances_path = /var/lib/nova/instances */
  char *base_dir;         /* [nova] base_dir: absolute; default instances_path/_base */
  char *lock_dir;         /* [nova] lock_path: default instances_path/locks */
  char *lock_prefix;      /* [nova] lock_prefix = nova- */
  char *eph_format;       /* [nova] default_ephemeral_format: NULL = Nova's default (vfat) */
  int lock_timeout;       /* [locks] timeout seconds = 600 */
  char *qemu_img;         /* [tools] qemu_img = /usr/bin/qemu-img */
  char *real_qemu_img;    /* [tools] real_qemu_img = /usr/bin/qemu-img: what the shim runs */
  char *mkfs;             /* [tools] mkfs = /sbin/mkfs */
  char *mkswap;           /* [tools] mkswap = /sbin/mkswap */
  bool log_syslog;        /* [log] syslog = true */
  char *log_file;         /* [log] file = (none) */
  /* Image sources, tried when an original is missing. */
  char *glance_url;       /* [glance] url: the image service's endpoint; none: not used */
  char *glance_token_file;/* [glance] token_file: a static token, sent as X-Auth-Token */
  char *ca_file;          /* [fetch] ca_file: CA bundle for https; default the system's */
  bool tls_insecure;      /* [fetch] insecure = false */
  int connect_timeout;    /* [fetch] connect_timeout = 10 s */
  int stall_timeout;      /* [fetch] stall_timeout = 30 s below 1 KiB/s */
  int retries;            /* [fetch] retries = 3 */
  bool force_raw_images;  /* [fetch] force_raw_images = true, as Nova's default */
  char *fetcher;          /* [tools] fetcher: the helper the hook runs to fetch */
  /* Keystone v3 password authentication, for Glance (instead of token_file). */
  char *ks_auth_url;      /* [keystone] auth_url, e.g. http://controller:5000/v3 */
  char *ks_username;      /* [keystone] username */
  char *ks_password_file; /* [keystone] password_file: the password, one line */
  char *ks_project_name;  /* [keystone] project_name */
  char *ks_user_domain;   /* [keystone] user_domain_name = Default */
  char *ks_project_domain;/* [keystone] project_domain_name = Default */
  char *ks_region;        /* [keystone] region_name: pick the image endpoint of this region */
  char *ks_interface;     /* [keystone] interface = public */
  /* Peers: other hosts' _base, tried before Glance. */
  char **peers;           /* [peers] urls: comma-separated sftp://, http(s)://, file:// */
  size_t n_peers;
  char *peer_ssh_key;     /* [peers] ssh_key: private key for sftp peers */
  bool peer_extents;      /* [peers] extents = true: ask sftp peers' cowherd over ssh */
  char *peer_remote_cowherd;  /* [peers] remote_cowherd = cowherd: its name on the peers */
  char *ssh;              /* [tools] ssh = /usr/bin/ssh: OpenSSH's client */
  char *state_dir;        /* [hook] state_dir = /run/cowherd: incoming migrations in flight */
  char *snapshot_key_file;  /* [snapshot] key_file: COW-only snapshots; NULL: off */
};

/* The keys of cowherd.conf, one row each.  Parsing, the defaults and
 * ch_config_free all work from this table. */
enum ch_config_type {
  CH_CONF_PATH,     /* char *: absolute, kept normalised */
  CH_CONF_STRING,   /* char *: without '/' (part of a file name, a filesystem) */
  CH_CONF_WORD,     /* char *: 1 to 255 bytes, no control characters, quotes or
                       backslashes (it goes into JSON) */
  CH_CONF_URL,      /* char *: http(s)://, kept without trailing slashes */
  CH_CONF_BOOL,     /* bool: true, yes, 1 or false, no, 0 */
  CH_CONF_INT,      /* int: decimal, from lo to hi */
  CH_CONF_LIST,     /* char ** and a size_t count: items apart by commas or blanks;
                       a later line replaces the whole list */
};

struct ch_config_key {
  const char *section;
  const char *key;
  enum ch_config_type type;
  size_t offset;          /* of the field in struct ch_config */
  const char *def;        /* PATH, STRING, WORD, URL: the default, or NULL */
  long def_num;           /* BOOL, INT: the default */
  long lo, hi;            /* INT: the bounds */
  size_t count_offset;    /* LIST: of the count in struct ch_config */
  size_t max;             /* LIST: at most this many items, */
  const char *item;       /* called this in the error */
  bool empty_ignored;     /* an empty value leaves the field as it was */
  /* A further check of a string (of each item of a LIST); KEY is
   * "[section] key".  -1 with ch_error. */
  int (*check) (const char *key, const char *value);
};

extern const struct ch_config_key ch_config_keys[];
extern const size_t ch_config_n_keys;

/* True if some image source is configured. */
bool ch_config_has_sources (const struct ch_config *cfg);

/* Fill CFG with defaults, then read PATH over them.  A missing file is not
 * an error when MISSING_OK (the hook runs on defaults).  Unknown sections or
 * keys, bad numbers or relative paths are errors.  -1 with ch_error. */
int ch_config_load (const char *path, bool missing_ok, struct ch_config *cfg);
void ch_config_free (struct ch_config *cfg);

#endif
