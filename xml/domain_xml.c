/* cowherd: read the parts of a libvirt domain XML that cowherd needs.
 *
 * The XML comes from libvirt on the hook's stdin, but cowherd runs as root
 * and the document carries guest-controlled strings, so it is parsed as
 * hostile: no DTDs, no entities, no network, bounded size and depth.  As in
 * libvirt's virxml.c there is one entry point into libxml2 (parse_xml) and
 * small typed getters that return 1 found, 0 absent, -1 error. */
#include "domain_xml.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "cleanup.h"
#include "error.h"

/* Longest attribute or text value accepted (paths, names, uuids). */
#define VALUE_MAX 4096
/* Deepest <backingStore> chain accepted. */
#define BACKING_MAX 64

static inline void xml_freedocp (xmlDocPtr *d) { if (*d) xmlFreeDoc (*d); }
static inline void xml_freep (xmlChar **s) { if (*s) xmlFree (*s); }
static inline void
xml_freectxtp (xmlParserCtxtPtr *c)
{
  if (*c)
    xmlFreeParserCtxt (*c);
}
#define CLEANUP_XMLDOC  __attribute__((cleanup (xml_freedocp)))
#define CLEANUP_XMLCTXT __attribute__((cleanup (xml_freectxtp)))
#define CLEANUP_XMLFREE __attribute__((cleanup (xml_freep)))

/* ---- Input checks done before libxml2 sees a byte. ---- */

static int
line_at (const char *buf, size_t off)
{
  int line = 1;

  for (size_t i = 0; i < off; i++)
    if (buf[i] == '\n')
      line++;
  return line;
}

/* Strict UTF-8 (RFC 3629: no overlongs, no surrogates, nothing past
 * U+10FFFF) and no NUL.  Checking here, and telling libxml2 to ignore the
 * encoding declaration, means the document can only be read as UTF-8: a
 * declared Latin-1 or UTF-16 cannot make paths mean something else. */
static int
check_utf8 (const char *buf, size_t len)
{
  const unsigned char *s = (const unsigned char *) buf;
  size_t i = 0;

  while (i < len) {
    unsigned c = s[i];
    size_t n;
    unsigned lo = 0x80, hi = 0xbf;

    if (c == 0) {
      ch_error ("domain XML: line %d: NUL byte in input", line_at (buf, i));
      return -1;
    }
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf)
      n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c == 0xe0) lo = 0xa0;        /* overlong */
      if (c == 0xed) hi = 0x9f;        /* surrogates */
    }
    else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c == 0xf0) lo = 0x90;        /* overlong */
      if (c == 0xf4) hi = 0x8f;        /* > U+10FFFF */
    }
    else
      goto bad;
    if (len - i - 1 < n)
      goto bad;
    for (size_t k = 1; k <= n; k++) {
      unsigned cc = s[i + k];

      if (cc < (k == 1 ? lo : 0x80) || cc > (k == 1 ? hi : 0xbf))
        goto bad;
    }
    i += n + 1;
  }
  return 0;

 bad:
  ch_error ("domain XML: line %d: not valid UTF-8 (byte 0x%02x at offset %zu)",
            line_at (buf, i), s[i], i);
  return -1;
}

/* ---- The one entry point into libxml2. ---- */

struct parse_state {
  bool refused;                 /* saw a DTD or an entity */
  bool have_error;
  int line;
  char msg[512];
};

/* Keep the first error only: later ones are usually consequences. */
static void
on_xml_error (void *opaque, xmlErrorPtr err)
{
  struct parse_state *st = opaque;
  size_t n;

  if (err == NULL || err->level < XML_ERR_ERROR || st->have_error)
    return;
  st->have_error = true;
  st->line = err->line;
  snprintf (st->msg, sizeof st->msg, "%s",
            err->message ? err->message : "unknown libxml2 error");
  /* libxml2 messages end in '\n' and some have a second line; one line. */
  for (char *p = st->msg; *p; p++)
    if (*p == '\n' || *p == '\r' || *p == '\t')
      *p = ' ';
  n = strlen (st->msg);
  while (n > 0 && st->msg[n - 1] == ' ')
    st->msg[--n] = '\0';
}

/* SAX hooks that stop the parser the moment a DTD or an entity shows up,
 * before anything is declared or expanded (billion laughs never starts). */
static void
refuse (void *ctx)
{
  xmlParserCtxtPtr ctxt = ctx;
  struct parse_state *st = ctxt->_private;

  st->refused = true;
  xmlStopParser (ctxt);
}

static void
refuse_subset (void *ctx, const xmlChar *name ATTRIBUTE_UNUSED,
               const xmlChar *eid ATTRIBUTE_UNUSED,
               const xmlChar *sid ATTRIBUTE_UNUSED)
{
  refuse (ctx);
}

static xmlEntityPtr
refuse_entity (void *ctx, const xmlChar *name ATTRIBUTE_UNUSED)
{
  refuse (ctx);
  return NULL;
}

static void
refuse_entity_decl (void *ctx, const xmlChar *name ATTRIBUTE_UNUSED,
                    int type ATTRIBUTE_UNUSED,
                    const xmlChar *pid ATTRIBUTE_UNUSED,
                    const xmlChar *sid ATTRIBUTE_UNUSED,
                    xmlChar *content ATTRIBUTE_UNUSED)
{
  refuse (ctx);
}

static void
refuse_unparsed_entity_decl (void *ctx, const xmlChar *name ATTRIBUTE_UNUSED,
                             const xmlChar *pid ATTRIBUTE_UNUSED,
                             const xmlChar *sid ATTRIBUTE_UNUSED,
                             const xmlChar *notation ATTRIBUTE_UNUSED)
{
  refuse (ctx);
}

static xmlDocPtr
parse_xml (const char *buf, size_t len)
{
  CLEANUP_XMLCTXT xmlParserCtxtPtr ctxt = NULL;
  CLEANUP_XMLDOC xmlDocPtr doc = NULL;
  struct parse_state st = { 0 };
  xmlStructuredErrorFunc old_handler;
  void *old_data;
  /* No NOENT, DTDLOAD, DTDATTR or HUGE: entities stay unexpanded, nothing
   * external is loaded and libxml2's depth and size limits stay on. */
  const int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                   XML_PARSE_IGNORE_ENC;

  xmlInitParser ();
  ctxt = xmlNewParserCtxt ();
  if (ctxt == NULL) {
    ch_error ("domain XML: cannot create parser context");
    return NULL;
  }
  ctxt->_private = &st;
  ctxt->sax->internalSubset = refuse_subset;
  ctxt->sax->externalSubset = refuse_subset;
  ctxt->sax->getEntity = refuse_entity;
  ctxt->sax->getParameterEntity = refuse_entity;
  ctxt->sax->entityDecl = refuse_entity_decl;
  ctxt->sax->unparsedEntityDecl = refuse_unparsed_entity_decl;

  /* The structured handler is per thread in libxml2; put back whatever
   * was there so no parser state outlives this call. */
  old_handler = xmlStructuredError;
  old_data = xmlStructuredErrorContext;
  xmlSetStructuredErrorFunc (&st, on_xml_error);
  doc = xmlCtxtReadMemory (ctxt, buf, (int) len, NULL, NULL, opts);
  xmlSetStructuredErrorFunc (old_data, old_handler);
  xmlResetLastError ();

  if (st.refused ||
      (doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL))) {
    ch_error ("domain XML: DTDs and entities are not accepted");
    return NULL;
  }
  if (st.have_error) {
    if (st.line > 0)
      ch_error ("domain XML: line %d: %s", st.line, st.msg);
    else
      ch_error ("domain XML: %s", st.msg);
    return NULL;
  }
  if (doc == NULL || !ctxt->wellFormed) {
    ch_error ("domain XML: not well-formed");
    return NULL;
  }
  return CH_STEAL (doc);
}

/* ---- Typed getters: 1 found, 0 absent, -1 error (ch_error called). ---- */

/* First element child of PARENT called NAME, in namespace NS_HREF (NULL:
 * no namespace).  Namespaces are matched by URI, never by prefix. */
static xmlNodePtr
child_element (xmlNodePtr parent, const char *name, const xmlChar *ns_href)
{
  for (xmlNodePtr c = parent->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE ||
        !xmlStrEqual (c->name, BAD_CAST name))
      continue;
    if (ns_href == NULL ? c->ns == NULL
        : (c->ns != NULL && xmlStrEqual (c->ns->href, ns_href)))
      return c;
  }
  return NULL;
}

static int
take_value (xmlChar *val, const char *what, char **out)
{
  size_t len = strlen ((const char *) val);

  if (len > VALUE_MAX) {
    ch_error ("domain XML: %s: value longer than %d bytes (%zu)",
              what, VALUE_MAX, len);
    return -1;
  }
  *out = strdup ((const char *) val);
  if (*out == NULL) {
    ch_error ("strdup: %m");
    return -1;
  }
  return 1;
}

/* Attribute ATTR (no namespace) of NODE; WHERE names NODE in messages. */
static int
get_attr (xmlNodePtr node, const char *attr, const char *where, char **out)
{
  CLEANUP_XMLFREE xmlChar *val = NULL;
  char what[256];

  *out = NULL;
  if (node == NULL)
    return 0;
  val = xmlGetNoNsProp (node, BAD_CAST attr);
  if (val == NULL)
    return 0;
  snprintf (what, sizeof what, "%s/@%s", where, attr);
  return take_value (val, what, out);
}

/* Attribute ATTR of NODE's first child element CHILD (no namespace). */
static int
get_child_attr (xmlNodePtr node, const char *child, const char *attr,
                const char *where, char **out)
{
  char what[256];

  snprintf (what, sizeof what, "%s/%s", where, child);
  return get_attr (child_element (node, child, NULL), attr, what, out);
}

/* Text content of NODE (text and CDATA, comments dropped). */
static int
get_text (xmlNodePtr node, const char *where, char **out)
{
  CLEANUP_XMLFREE xmlChar *val = NULL;

  *out = NULL;
  if (node == NULL)
    return 0;
  val = xmlNodeGetContent (node);
  if (val == NULL) {
    ch_error ("domain XML: %s: cannot read text", where);
    return -1;
  }
  return take_value (val, where, out);
}

/* Non-negative decimal integer text of NODE; surrounding XML whitespace is
 * allowed, signs and anything else are not. */
static int
get_uint64 (xmlNodePtr node, const char *where, int64_t *out)
{
  CLEANUP_FREE char *text = NULL;
  const char *p, *end;
  int64_t v = 0;
  int r;

  *out = -1;
  r = get_text (node, where, &text);
  if (r <= 0)
    return r;
  p = text;
  end = text + strlen (text);
  while (p < end && strchr (" \t\r\n", *p))
    p++;
  while (end > p && strchr (" \t\r\n", end[-1]))
    end--;
  if (p == end)
    goto bad;
  for (; p < end; p++) {
    if (*p < '0' || *p > '9')
      goto bad;
    if (v > (INT64_MAX - (*p - '0')) / 10) {
      ch_error ("domain XML: %s: number too large: '%.64s'", where, text);
      return -1;
    }
    v = v * 10 + (*p - '0');
  }
  *out = v;
  return 1;

 bad:
  ch_error ("domain XML: %s: not a number: '%.64s'", where, text);
  return -1;
}

/* ---- The domain. ---- */

static int
parse_backing (xmlNodePtr disk_node, const char *where, struct ch_disk *disk)
{
  xmlNodePtr bs = child_element (disk_node, "backingStore", NULL);
  size_t n = 0;

  /* Count first so the array is allocated once. */
  for (xmlNodePtr b = bs; b; b = child_element (b, "backingStore", NULL)) {
    /* <backingStore/> without a type ends the chain (libvirt's rule). */
    if (!xmlHasNsProp (b, BAD_CAST "type", NULL))
      break;
    if (++n > BACKING_MAX) {
      ch_error ("domain XML: %s: <backingStore> chain deeper than %d",
                where, BACKING_MAX);
      return -1;
    }
  }
  if (n == 0)
    return 0;
  disk->backing = calloc (n, sizeof *disk->backing);
  if (disk->backing == NULL) {
    ch_error ("calloc: %m");
    return -1;
  }
  for (xmlNodePtr b = bs; disk->n_backing < n;
       b = child_element (b, "backingStore", NULL)) {
    struct ch_xml_backing *lvl = &disk->backing[disk->n_backing++];
    CLEANUP_FREE char *type = NULL, *fmt = NULL;
    char here[128];

    snprintf (here, sizeof here, "%s/backingStore[level %zu]",
              where, disk->n_backing);
    if (get_attr (b, "type", here, &type) < 0)
      return -1;
    if (get_child_attr (b, "format", "type", here, &fmt) < 0)
      return -1;
    lvl->fmt = ch_fmt_parse (fmt);
    /* Only file backings have a path cowherd can use; others stay NULL
     * but still count, so the levels below keep their depth. */
    if (strcmp (type, "file") == 0) {
      if (get_child_attr (b, "source", "file", here, &lvl->path) < 0)
        return -1;
      if (lvl->path && lvl->path[0] == '\0') {
        free (lvl->path);
        lvl->path = NULL;
      }
    }
  }
  return 0;
}

/* One <disk>; 1 if it was a file disk stored in *DISK, 0 if skipped. */
static int
parse_disk (xmlNodePtr node, size_t index, struct ch_disk *disk)
{
  CLEANUP_FREE char *type = NULL, *fmt = NULL;
  char where[64];

  snprintf (where, sizeof where, "devices/disk[%zu]", index + 1);
  if (get_attr (node, "type", where, &type) < 0)
    return -1;
  /* libvirt reads a <disk> without type as a file disk. */
  if (type != NULL && strcmp (type, "file") != 0)
    return 0;

  if (get_child_attr (node, "target", "dev", where, &disk->target) < 0)
    return -1;
  if (disk->target == NULL || disk->target[0] == '\0') {
    ch_error ("domain XML: %s: file disk has no target/@dev", where);
    return -1;
  }
  if (get_attr (node, "device", where, &disk->device) < 0)
    return -1;
  if (disk->device == NULL && (disk->device = strdup ("disk")) == NULL) {
    ch_error ("strdup: %m");
    return -1;
  }
  if (get_child_attr (node, "source", "file", where, &disk->source) < 0)
    return -1;
  /* An empty path is no media, the same as no <source>. */
  if (disk->source && disk->source[0] == '\0') {
    free (disk->source);
    disk->source = NULL;
  }
  if (get_child_attr (node, "driver", "type", where, &fmt) < 0)
    return -1;
  disk->fmt = ch_fmt_parse (fmt);
  disk->readonly = child_element (node, "readonly", NULL) != NULL;
  disk->shareable = child_element (node, "shareable", NULL) != NULL;
  if (parse_backing (node, where, disk) < 0)
    return -1;
  return 1;
}

static int
parse_disks (xmlNodePtr root, struct ch_domain *dom)
{
  xmlNodePtr devices = child_element (root, "devices", NULL);
  size_t n = 0, index = 0;

  if (devices == NULL)
    return 0;
  for (xmlNodePtr c = devices->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && c->ns == NULL &&
        xmlStrEqual (c->name, BAD_CAST "disk"))
      n++;
  if (n > CH_DOMAIN_DISKS_MAX) {
    ch_error ("domain XML: more than %d disks (%zu)", CH_DOMAIN_DISKS_MAX, n);
    return -1;
  }
  if (n == 0)
    return 0;
  dom->disks = calloc (n, sizeof *dom->disks);
  if (dom->disks == NULL) {
    ch_error ("calloc: %m");
    return -1;
  }
  for (xmlNodePtr c = devices->children; c; c = c->next) {
    struct ch_disk *disk;
    int r;

    if (c->type != XML_ELEMENT_NODE || c->ns != NULL ||
        !xmlStrEqual (c->name, BAD_CAST "disk"))
      continue;
    /* Counted in n_disks before parsing so ch_domain_free sees partial
     * entries on error; a skipped disk leaves its zeroed slot for reuse. */
    disk = &dom->disks[dom->n_disks++];
    r = parse_disk (c, index++, disk);
    if (r < 0)
      return -1;
    if (r == 0)
      dom->n_disks--;
  }
  return 0;
}

static int
parse_nova (xmlNodePtr root, struct ch_nova *nova)
{
  static const struct {
    const char *elem;
    size_t offset;
  } sizes[] = {
    { "memory", offsetof (struct ch_nova, memory_mb) },
    { "disk", offsetof (struct ch_nova, disk_gb) },
    { "swap", offsetof (struct ch_nova, swap_mb) },
    { "ephemeral", offsetof (struct ch_nova, ephemeral_gb) },
  };
  xmlNodePtr meta = child_element (root, "metadata", NULL);
  xmlNodePtr inst = NULL, flavor, rootdisk;
  const xmlChar *ns;

  nova->memory_mb = nova->disk_gb = nova->swap_mb = nova->ephemeral_gb = -1;
  if (meta == NULL)
    return 0;
  if ((inst = child_element (meta, "instance", BAD_CAST CH_NOVA_NS_1_1)))
    nova->ns_version = 11;
  else if ((inst = child_element (meta, "instance", BAD_CAST CH_NOVA_NS_1_0)))
    nova->ns_version = 10;
  else
    return 0;
  nova->present = true;
  ns = inst->ns->href;

  if (get_text (child_element (inst, "name", ns), "nova:name",
                &nova->name) < 0)
    return -1;
  flavor = child_element (inst, "flavor", ns);
  if (get_attr (flavor, "name", "nova:flavor", &nova->flavor_name) < 0)
    return -1;
  for (size_t i = 0; flavor && i < sizeof sizes / sizeof sizes[0]; i++) {
    char where[64];

    snprintf (where, sizeof where, "nova:flavor/nova:%s", sizes[i].elem);
    if (get_uint64 (child_element (flavor, sizes[i].elem, ns), where,
                    (int64_t *) ((char *) nova + sizes[i].offset)) < 0)
      return -1;
  }
  rootdisk = child_element (inst, "root", ns);
  if (get_attr (rootdisk, "type", "nova:root", &nova->root_type) < 0 ||
      get_attr (rootdisk, "uuid", "nova:root", &nova->root_uuid) < 0)
    return -1;
  return 0;
}

/* ---- cowherd's metadata. ---- */

/* libvirt puts only the element it was given into the namespace, so the
 * children may be in it or in none. */
static xmlNodePtr
meta_next (xmlNodePtr c, const char *name)
{
  for (; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && xmlStrEqual (c->name, BAD_CAST name) &&
        (c->ns == NULL || xmlStrEqual (c->ns->href, BAD_CAST CH_COWHERD_NS)))
      return c;
  return NULL;
}

static int
meta_u64 (xmlNodePtr node, const char *attr, const char *where, bool required,
          uint64_t *out)
{
  CLEANUP_FREE char *v = NULL;
  char *end;
  int r = get_attr (node, attr, where, &v);

  *out = 0;
  if (r < 0)
    return -1;
  if (r == 0) {
    if (required) {
      ch_error ("%s: no %s", where, attr);
      return -1;
    }
    return 0;
  }
  errno = 0;
  if (v[0] < '0' || v[0] > '9' || (*out = strtoull (v, &end, 10), errno) || *end ||
      *out > INT64_MAX) {
    ch_error ("%s: %s is not a size in bytes: '%.64s'", where, attr, v);
    return -1;
  }
  return 0;
}

static int
meta_fmt (xmlNodePtr node, const char *where, enum ch_fmt *out)
{
  CLEANUP_FREE char *v = NULL;

  if (get_attr (node, "format", where, &v) < 0)
    return -1;
  *out = ch_fmt_parse (v);
  if (*out != CH_FMT_RAW && *out != CH_FMT_QCOW2) {
    ch_error ("%s: format '%.32s' is not raw or qcow2", where, v ? v : "");
    return -1;
  }
  return 0;
}

static int
meta_level (xmlNodePtr node, const char *where, struct ch_meta_level *l)
{
  CLEANUP_FREE char *sha = NULL;

  if (get_attr (node, "name", where, &l->name) < 0)
    return -1;
  if (l->name == NULL || l->name[0] == '\0' || strlen (l->name) > 1023) {
    ch_error ("%s: no name, or longer than 1023 bytes", where);
    return -1;
  }
  for (const char *p = l->name; *p; p++)
    if ((unsigned char) *p < 0x20) {
      ch_error ("%s: control character in the name", where);
      return -1;
    }
  if (meta_fmt (node, where, &l->fmt) < 0 ||
      meta_u64 (node, "size", where, false, &l->size) < 0 ||
      get_attr (node, "sha256", where, &sha) < 0)
    return -1;
  if (sha) {
    if (strlen (sha) != 64 || strspn (sha, "0123456789abcdef") != 64) {
      ch_error ("%s: sha256 is not 64 lowercase hex digits", where);
      return -1;
    }
    memcpy (l->sha256, sha, 65);
  }
  return 0;
}

static int
meta_disk (xmlNodePtr node, struct ch_disk_meta *m, const char *dev)
{
  char where[128];
  size_t n = 0;

  snprintf (where, sizeof where, "cowherd metadata, disk %.32s", dev);
  if (meta_fmt (node, where, &m->fmt) < 0 ||
      meta_u64 (node, "size", where, true, &m->size) < 0)
    return -1;
  for (xmlNodePtr b = meta_next (node->children, "backing"); b;
       b = meta_next (b->next, "backing"))
    n++;
  if (n > CH_META_LEVELS_MAX) {
    ch_error ("%s: more than %d backing levels", where, CH_META_LEVELS_MAX);
    return -1;
  }
  if (n && (m->levels = calloc (n, sizeof *m->levels)) == NULL) {
    ch_error ("calloc: %m");
    return -1;
  }
  for (xmlNodePtr b = meta_next (node->children, "backing"); b;
       b = meta_next (b->next, "backing")) {
    char lw[160];

    snprintf (lw, sizeof lw, "%s, backing level %zu", where, m->n_levels + 1);
    if (meta_level (b, lw, &m->levels[m->n_levels++]) < 0)
      return -1;
  }
  return 0;
}

/* A malformed entry is kept as an error on its disk, not a parse failure:
 * it matters only to an incoming migration, never to a plain start. */
static int
parse_cowherd_meta (xmlNodePtr root, struct ch_domain *dom)
{
  xmlNodePtr meta = child_element (root, "metadata", NULL);
  xmlNodePtr chains = meta ? child_element (meta, "chains", BAD_CAST CH_COWHERD_NS) : NULL;

  if (chains == NULL)
    return 0;
  for (xmlNodePtr d = meta_next (chains->children, "disk"); d;
       d = meta_next (d->next, "disk")) {
    CLEANUP_XMLFREE xmlChar *dev = xmlGetNoNsProp (d, BAD_CAST "dev");

    for (size_t i = 0; dev && i < dom->n_disks; i++) {
      struct ch_disk_meta *m = &dom->disks[i].meta;

      if (strcmp (dom->disks[i].target, (const char *) dev) != 0 || m->present)
        continue;
      m->present = true;
      if (meta_disk (d, m, dom->disks[i].target) < 0) {
        for (size_t j = 0; j < m->n_levels; j++)
          free (m->levels[j].name);
        free (m->levels);
        m->levels = NULL;
        m->n_levels = 0;
        if ((m->error = strdup (ch_last_error ())) == NULL) {
          ch_error ("strdup: %m");
          return -1;
        }
      }
      break;
    }
  }
  return 0;
}

int
ch_domain_parse (const char *buf, size_t len, struct ch_domain **out)
{
  CLEANUP_XMLDOC xmlDocPtr doc = NULL;
  CLEANUP_DOMAIN struct ch_domain *dom = NULL;
  xmlNodePtr root;

  *out = NULL;
  if (len > CH_DOMAIN_XML_MAX) {
    ch_error ("domain XML larger than %d MiB", CH_DOMAIN_XML_MAX >> 20);
    return -1;
  }
  if (len == 0) {
    ch_error ("domain XML: empty input");
    return -1;
  }
  if (check_utf8 (buf, len) < 0)
    return -1;
  doc = parse_xml (buf, len);
  if (doc == NULL)
    return -1;

  root = xmlDocGetRootElement (doc);
  if (root == NULL) {
    ch_error ("domain XML: no root element");
    return -1;
  }
  if (root->ns != NULL) {
    ch_error ("domain XML: root element <%.64s> is in namespace '%.200s'",
              (const char *) root->name, (const char *) root->ns->href);
    return -1;
  }
  if (!xmlStrEqual (root->name, BAD_CAST "domain")) {
    ch_error ("domain XML: root element is <%.64s>, not <domain>",
              (const char *) root->name);
    return -1;
  }

  dom = calloc (1, sizeof *dom);
  if (dom == NULL) {
    ch_error ("calloc: %m");
    return -1;
  }
  if (get_text (child_element (root, "name", NULL), "name", &dom->name) < 0)
    return -1;
  if (dom->name == NULL || dom->name[0] == '\0') {
    ch_error ("domain XML: no <name>");
    return -1;
  }
  if (get_text (child_element (root, "uuid", NULL), "uuid", &dom->uuid) < 0)
    return -1;
  if (parse_disks (root, dom) < 0)
    return -1;
  if (parse_nova (root, &dom->nova) < 0 || parse_cowherd_meta (root, dom) < 0)
    return -1;

  *out = CH_STEAL (dom);
  return 0;
}

int
ch_status_incoming_unfinished (int fd)
{
  CLEANUP_FREE char *buf = NULL;
  CLEANUP_XMLDOC xmlDocPtr doc = NULL;
  CLEANUP_XMLFREE xmlChar *state = NULL, *reason = NULL, *async = NULL, *flags = NULL;
  xmlNodePtr root, job;
  size_t len;
  unsigned long long f;
  char *end;

  if (ch_domain_read_raw (fd, &buf, &len) < 0 || check_utf8 (buf, len) < 0 ||
      (doc = parse_xml (buf, len)) == NULL)
    return -1;
  root = xmlDocGetRootElement (doc);
  if (root == NULL || root->ns != NULL || !xmlStrEqual (root->name, BAD_CAST "domstatus")) {
    ch_error ("libvirt status XML: root element is not <domstatus>");
    return -1;
  }
  state = xmlGetNoNsProp (root, BAD_CAST "state");
  reason = xmlGetNoNsProp (root, BAD_CAST "reason");
  job = child_element (root, "job", NULL);
  async = job ? xmlGetNoNsProp (job, BAD_CAST "async") : NULL;
  flags = job ? xmlGetNoNsProp (job, BAD_CAST "flags") : NULL;
  /* Post-copy (VIR_MIGRATE_POSTCOPY) runs the guest here before its disks
   * have all arrived: whether it ran cannot be told from the state. */
  if (flags) {
    errno = 0;
    f = strtoull ((const char *) flags, &end, 0);
    if (errno || *end || end == (char *) flags) {
      ch_error ("libvirt status XML: job flags are not a number: '%.32s'", flags);
      return -1;
    }
    if (f & 0x8000) {
      ch_error ("libvirt status XML: a post-copy migration job (flags %.32s)", flags);
      return -1;
    }
  }
  return state && reason && async && xmlStrEqual (state, BAD_CAST "paused") &&
    xmlStrEqual (reason, BAD_CAST "migration") && xmlStrEqual (async, BAD_CAST "migration in");
}

int
ch_domain_read_fd (int fd, struct ch_domain **out)
{
  CLEANUP_FREE char *buf = NULL;
  size_t len;

  *out = NULL;
  if (ch_domain_read_raw (fd, &buf, &len) < 0)
    return -1;
  return ch_domain_parse (buf, len, out);
}
