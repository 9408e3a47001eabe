/* cowherd: libvirt's domain XML into the domain model (lib/domain.h),
 * and cowherd's chain metadata back out. */
#ifndef COWHERD_DOMAIN_XML_H
#define COWHERD_DOMAIN_XML_H

#include <stddef.h>

#include "domain.h"

/* Parse domain XML from memory.  NONET, no entity substitution, no DTD
 * loading, root element must be <domain>.  0, or -1 with ch_error. */
int ch_domain_parse (const char *buf, size_t len, struct ch_domain **out);

/* Read at most CH_DOMAIN_XML_MAX bytes from FD (stdin for the hook) and parse.
 * More than that is an error, not a truncation. */
int ch_domain_read_fd (int fd, struct ch_domain **out);

/* libvirt's status XML of a domain (<domstatus>, what the qemu driver keeps
 * in /run/libvirt/qemu/NAME.xml while the domain runs), open on FD: 1 if
 * it is still paused waiting for an incoming migration (state 'paused',
 * reason 'migration', async job 'migration in'), i.e. the guest never ran
 * on this host; 0 if not; -1 with ch_error if it cannot be read. */
int ch_status_incoming_unfinished (int fd);

/* cowherd's metadata element (<chains>, no namespace: libvirt adds it)
 * for DOM's disks from METAS, one per disk (skipped unless present).
 * malloc'd, or NULL with ch_error. */
char *ch_meta_to_xml (const struct ch_domain *dom, const struct ch_disk_meta *metas);

#endif
