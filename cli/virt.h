/* cowherd CLI: libvirt, loaded only by the commands that talk to it.
 *
 * Linking libvirt costs every run of the CLI about 13 MiB of resident
 * memory and its start-up (its sixty-odd libraries); the hook runs the
 * CLI to fetch bases and the qemu-img shim to handle snapshots, and
 * neither needs libvirt.  So libvirt.so.0 is opened here, with the
 * functions cowherd calls, when a command needs it. */
#ifndef COWHERD_CLI_VIRT_H
#define COWHERD_CLI_VIRT_H

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

struct virt {
  void *lib;
  virConnectPtr (*connect_open) (const char *);
  int (*connect_close) (virConnectPtr);
  virDomainPtr (*lookup_by_name) (virConnectPtr, const char *);
  virDomainPtr (*lookup_by_uuid) (virConnectPtr, const char *);
  int (*domain_free) (virDomainPtr);
  int (*is_active) (virDomainPtr);
  int (*is_persistent) (virDomainPtr);
  char *(*get_xml) (virDomainPtr, unsigned int);
  int (*set_metadata) (virDomainPtr, int, const char *, const char *, const char *,
                       unsigned int);
  int (*list_all) (virConnectPtr, virDomainPtr **, unsigned int);
  const char *(*get_name) (virDomainPtr);
  const char *(*last_error) (void);
  void (*set_error_func) (void *, virErrorFunc);
};

/* The functions, once virt_load has succeeded. */
extern struct virt virt;

/* Open libvirt.so.0 and its functions into VIRT, and silence libvirt's own
 * printing of errors (cowherd reports them).  -1 with ch_error. */
int virt_load (void);

/* libvirt's last error, for a message. */
const char *virt_error (void);

/* Cleanup attributes for libvirt's objects. */
void virt_connp (virConnectPtr *c);
void virt_domp (virDomainPtr *d);
#define CLEANUP_VIRT_CONN __attribute__((cleanup (virt_connp)))
#define CLEANUP_VIRT_DOM __attribute__((cleanup (virt_domp)))

#endif
