/* cowherd: names of entries in Nova's image cache ($instances_path/_base).
 * The conventions are Nova's; see docs/nova-cache.md. */
#ifndef COWHERD_NAMING_H
#define COWHERD_NAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CH_SHA1_HEX 40
#define CH_BASE_NAME_MAX 255
/* Largest size accepted in a name: 1 PiB in GiB; 1 TiB in MiB for swap. */
#define CH_NAME_GB_MAX (1024ULL * 1024ULL)
#define CH_NAME_MB_MAX (1024ULL * 1024ULL)

enum ch_base_kind {
  CH_BASE_NONE = 0,     /* not a cache name */
  CH_BASE_ORIGINAL,     /* <sha1> */
  CH_BASE_RESIZED,      /* <sha1>_<GB> */
  CH_BASE_LEGACY_SM,    /* <sha1>_sm: recognised, never created */
  CH_BASE_EPHEMERAL,    /* three generations, see ch_eph_gen */
  CH_BASE_SWAP,         /* swap_<MB> */
  CH_BASE_TEMP,         /* <name>.part, <name>.converted: Nova's leftovers */
};

enum ch_eph_gen {
  CH_EPH_CURRENT,       /* ephemeral_<GB>_<7 hex of md5(fs or mkfs command)> */
  CH_EPH_GRIZZLY,       /* ephemeral_<GB>_<os_type> (Grizzly to Juno) */
  CH_EPH_FOLSOM,        /* ephemeral_0_<GB>_<os_type> */
};

struct ch_base_name {
  enum ch_base_kind kind;
  char sha1[CH_SHA1_HEX + 1];   /* ORIGINAL, RESIZED, LEGACY_SM */
  uint64_t size_gb;             /* RESIZED, EPHEMERAL */
  uint64_t size_mb;             /* SWAP */
  enum ch_eph_gen eph_gen;      /* EPHEMERAL */
  char eph_tag[64];             /* EPHEMERAL: hash or os_type */
};

/* Classify a leaf name.  Always fills OUT; kind NONE when it is not one of
 * Nova's names (sizes out of range, upper-case hex, ... are NONE). */
void ch_base_classify (const char *name, struct ch_base_name *out);

/* Compose the name for NAME into BUF.  -1 with ch_error if NAME's kind
 * cannot be composed (NONE, TEMP) or BUF is too small. */
int ch_base_compose (const struct ch_base_name *name, char *buf, size_t len);

const char *ch_base_kind_name (enum ch_base_kind kind);

/* The filesystem Nova formats an ephemeral base with, from its name's tag:
 * a 7-hex tag is matched against md5(fs)[:7] of the filesystems Nova knows,
 * an os_type tag maps as Nova's old virt_mkfs defaults did.  NULL if unknown
 * (a custom mkfs command cannot be recovered from its hash). */
const char *ch_ephemeral_fs (const struct ch_base_name *name);

/* The 7-hex tag of current ephemeral base names for filesystem FS, or NULL
 * if FS is not one Nova knows. */
const char *ch_ephemeral_tag (const char *fs);

/* sha1(image_id as UTF-8) in lowercase hex, exactly as Nova's
 * imagecache.get_cache_fname computes it.  -1 with ch_error on failure. */
int ch_image_id_sha1 (const char *image_id, char out[CH_SHA1_HEX + 1]);

/* Are the N bytes at S lowercase hex digits (a cache name's)? */
bool ch_is_lower_hex (const char *s, size_t n);

#endif
