#include "virt.h"

#include <dlfcn.h>
#include <stddef.h>

#include "error.h"

#define LIBVIRT_SO "libvirt.so.0"

static void
quiet (void *opaque, virErrorPtr err)
{
  (void) opaque;
  (void) err;
}

struct virt virt;

int
virt_load (void)
{
  struct virt *v = &virt;

  static const struct { const char *name; size_t off; } fns[] = {
#define FN(f, n) { n, offsetof (struct virt, f) }
    FN (connect_open, "virConnectOpen"),
    FN (connect_close, "virConnectClose"),
    FN (lookup_by_name, "virDomainLookupByName"),
    FN (lookup_by_uuid, "virDomainLookupByUUIDString"),
    FN (domain_free, "virDomainFree"),
    FN (is_active, "virDomainIsActive"),
    FN (is_persistent, "virDomainIsPersistent"),
    FN (get_xml, "virDomainGetXMLDesc"),
    FN (set_metadata, "virDomainSetMetadata"),
    FN (list_all, "virConnectListAllDomains"),
    FN (get_name, "virDomainGetName"),
    FN (last_error, "virGetLastErrorMessage"),
    FN (set_error_func, "virSetErrorFunc"),
#undef FN
  };

  if (v->lib)
    return 0;
  if ((v->lib = dlopen (LIBVIRT_SO, RTLD_NOW | RTLD_LOCAL)) == NULL) {
    ch_error ("cannot load %s: %s (install libvirt0)", LIBVIRT_SO, dlerror ());
    return -1;
  }
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    void *f = dlsym (v->lib, fns[i].name);

    if (f == NULL) {
      ch_error ("%s has no %s", LIBVIRT_SO, fns[i].name);
      dlclose (v->lib);
      v->lib = NULL;
      return -1;
    }
    /* POSIX guarantees function pointers round-trip through void *. */
    *(void **) ((char *) v + fns[i].off) = f;
  }
  /* libvirt's default handler prints every error to stderr; ours carry
   * the context. */
  v->set_error_func (NULL, quiet);
  return 0;
}

const char *
virt_error (void)
{
  const char *m = virt.lib ? virt.last_error () : NULL;

  return m ? m : "libvirt error";
}

void
virt_connp (virConnectPtr *c)
{
  if (*c)
    virt.connect_close (*c);
}

void
virt_domp (virDomainPtr *d)
{
  if (*d)
    virt.domain_free (*d);
}
