/* cowherd: the parts of a libvirt domain that cowherd needs, as a model.
 * xml/ fills it from libvirt's XML; everything else only reads it. */
#ifndef COWHERD_DOMAIN_H
#define COWHERD_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"

/* Domain XML larger than this is refused (libvirt's own are a few KiB). */
#define CH_DOMAIN_XML_MAX (2 * 1024 * 1024)
/* More disks than this is refused. */
#define CH_DOMAIN_DISKS_MAX 256

#define CH_NOVA_NS_1_0 "http://openstack.org/xmlns/libvirt/nova/1.0"
#define CH_NOVA_NS_1_1 "http://openstack.org/xmlns/libvirt/nova/1.1"
/* cowherd's own metadata: every disk's backing chain, written by `cowherd
 * annotate` on the source host so that an incoming migration knows it. */
#define CH_COWHERD_NS "http://cowherd.dev/xmlns/chains/1.0"
#define CH_COWHERD_NS_KEY "cowherd"
/* Deepest chain the metadata may describe (the top's backing levels). */
#define CH_META_LEVELS_MAX 16

struct ch_xml_backing {          /* one <backingStore> level */
  char *path;                    /* source/@file; NULL if not a file */
  enum ch_fmt fmt;               /* format/@type */
};

struct ch_meta_level {           /* one backing level from cowherd's metadata */
  char *name;                    /* as the parent's header names it */
  enum ch_fmt fmt;               /* raw or qcow2 */
  uint64_t size;                 /* virtual size in bytes; 0 if not recorded */
  char sha256[65];               /* lowercase hex, "" if not recorded */
};

struct ch_disk_meta {            /* cowherd:disk for this target dev */
  bool present;
  char *error;                   /* malformed: why (the rest is then empty) */
  enum ch_fmt fmt;               /* the top's format */
  uint64_t size;                 /* the top's virtual size */
  struct ch_meta_level *levels;  /* the top's backing first */
  size_t n_levels;
};

struct ch_disk {
  char *target;                  /* target/@dev ("vda"); never NULL */
  char *device;                  /* @device ("disk", "cdrom", ...); "disk" if absent */
  char *source;                  /* source/@file; NULL when the disk has no source */
  enum ch_fmt fmt;               /* driver/@type */
  bool readonly, shareable;
  struct ch_xml_backing *backing;  /* the <backingStore> chain, top's backing first */
  size_t n_backing;
  struct ch_disk_meta meta;
};

struct ch_nova {
  bool present;                  /* a nova:instance element was found */
  int ns_version;                /* 10 for 1.0, 11 for 1.1 */
  char *name;                    /* nova:name */
  char *flavor_name;             /* nova:flavor/@name */
  char *root_type;               /* nova:root/@type: "image" or "volume" */
  char *root_uuid;               /* nova:root/@uuid: the image id */
  /* -1 when absent. */
  int64_t memory_mb, disk_gb, swap_mb, ephemeral_gb;
};

struct ch_domain {
  char *name;                    /* <name>; never NULL */
  char *uuid;                    /* <uuid>; NULL if absent */
  struct ch_disk *disks;         /* only disks with type='file' */
  size_t n_disks;
  struct ch_nova nova;
};

/* At most CH_DOMAIN_XML_MAX bytes of FD (the hook's stdin), malloc'd
 * into *OUT: more is an error, not a truncation. */
int ch_domain_read_raw (int fd, char **out, size_t *len);

void ch_domain_free (struct ch_domain *dom);
static inline void ch_domain_freep (struct ch_domain **d) { ch_domain_free (*d); }
#define CLEANUP_DOMAIN __attribute__((cleanup (ch_domain_freep)))

#endif
