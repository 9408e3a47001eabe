/* cowherd: write cowherd's chain metadata (the reading half is in
 * domain.c, with the rest of the domain XML). */
#include "domain_xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "error.h"

static inline void xml_freedocp (xmlDocPtr *d) { if (*d) xmlFreeDoc (*d); }
static inline void xml_bufp (xmlBufferPtr *b) { if (*b) xmlBufferFree (*b); }

static bool
set_u64 (xmlNodePtr n, const char *attr, uint64_t v)
{
  char s[32];

  snprintf (s, sizeof s, "%llu", (unsigned long long) v);
  return xmlNewProp (n, BAD_CAST attr, BAD_CAST s) != NULL;
}

char *
ch_meta_to_xml (const struct ch_domain *dom, const struct ch_disk_meta *metas)
{
  __attribute__((cleanup (xml_freedocp))) xmlDocPtr doc = xmlNewDoc (BAD_CAST "1.0");
  __attribute__((cleanup (xml_bufp))) xmlBufferPtr buf = xmlBufferCreate ();
  xmlNodePtr root;
  char *out;

  if (doc == NULL || buf == NULL ||
      (root = xmlNewDocNode (doc, NULL, BAD_CAST "chains", NULL)) == NULL)
    goto oom;
  xmlDocSetRootElement (doc, root);
  for (size_t i = 0; i < dom->n_disks; i++) {
    const struct ch_disk_meta *m = &metas[i];
    xmlNodePtr d;

    if (!m->present)
      continue;
    /* xmlNewProp escapes: names come from image headers. */
    if ((d = xmlNewChild (root, NULL, BAD_CAST "disk", NULL)) == NULL ||
        !xmlNewProp (d, BAD_CAST "dev", BAD_CAST dom->disks[i].target) ||
        !xmlNewProp (d, BAD_CAST "format", BAD_CAST ch_fmt_name (m->fmt)) ||
        !set_u64 (d, "size", m->size))
      goto oom;
    for (size_t j = 0; j < m->n_levels; j++) {
      const struct ch_meta_level *l = &m->levels[j];
      xmlNodePtr b = xmlNewChild (d, NULL, BAD_CAST "backing", NULL);

      if (b == NULL || !xmlNewProp (b, BAD_CAST "name", BAD_CAST l->name) ||
          !xmlNewProp (b, BAD_CAST "format", BAD_CAST ch_fmt_name (l->fmt)) ||
          !set_u64 (b, "size", l->size) ||
          (l->sha256[0] && !xmlNewProp (b, BAD_CAST "sha256", BAD_CAST l->sha256)))
        goto oom;
    }
  }
  if (xmlNodeDump (buf, doc, root, 0, 1) < 0)
    goto oom;
  if ((out = strdup ((const char *) xmlBufferContent (buf))) == NULL)
    goto oom;
  return out;

 oom:
  ch_error ("building the metadata XML: out of memory");
  return NULL;
}
