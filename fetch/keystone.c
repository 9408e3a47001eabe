#include "keystone.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "io.h"
#include "json.h"
#include "pathutil.h"

/* Image endpoints named in an error message. */
#define LIST_MAX 8
/* Nesting in Keystone's answers: json-c's default limit, ample for them. */
#define JSON_DEPTH (JSON_TOKENER_DEFAULT_DEPTH - 1)

/* The password file: one line, at most CH_KEYSTONE_PASSWORD_MAX bytes (the
 * line's own "\n" or "\r\n" not counted), no NUL.  BUF has room for
 * CH_KEYSTONE_PASSWORD_MAX + 3 bytes. */
static int
read_password (const char *path, char *buf)
{
  CLEANUP_CLOSE int fd = -1;
  const size_t room = CH_KEYSTONE_PASSWORD_MAX + 2;
  size_t n;
  ssize_t r;
  struct stat st;

  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    ch_error ("[keystone] password_file %s: %m", path);
    return -1;
  }
  if (fstat (fd, &st) < 0) {
    ch_error ("[keystone] password_file %s: %m", path);
    return -1;
  }
  if (!S_ISREG (st.st_mode)) {
    ch_error ("[keystone] password_file %s: not a regular file", path);
    return -1;
  }
  if ((r = ch_read_full (fd, buf, room, -1)) < 0) {
    ch_error ("[keystone] password_file %s: %m", path);
    return -1;
  }
  n = (size_t) r;
  buf[n] = '\0';
  if (n > 0 && buf[n - 1] == '\n')
    buf[--n] = '\0';
  if (n > 0 && buf[n - 1] == '\r')
    buf[--n] = '\0';
  if (n > CH_KEYSTONE_PASSWORD_MAX) {
    ch_error ("[keystone] password_file %s: longer than %d bytes", path,
              CH_KEYSTONE_PASSWORD_MAX);
    return -1;
  }
  if (n == 0) {
    ch_error ("[keystone] password_file %s: empty", path);
    return -1;
  }
  if (strlen (buf) != n || strpbrk (buf, "\r\n") != NULL) {
    ch_error ("[keystone] password_file %s: not a single line of text", path);
    return -1;
  }
  return 0;
}

/* Add member KEY = V to OBJ; V is consumed.  V, or NULL on failure. */
static json_object *
add (json_object *obj, const char *key, json_object *v)
{
  if (obj == NULL || v == NULL || json_object_object_add (obj, key, v) < 0) {
    if (v)
      json_object_put (v);
    return NULL;
  }
  return v;
}

/* {"name": NAME, "domain": {"name": DOMAIN}} into OBJ; -1 on failure. */
static int
add_named (json_object *obj, const char *name, const char *domain)
{
  json_object *d;

  if (add (obj, "name", json_object_new_string (name)) == NULL)
    return -1;
  d = add (obj, "domain", json_object_new_object ());
  return add (d, "name", json_object_new_string (domain)) ? 0 : -1;
}

/* The body of POST /v3/auth/tokens: password auth, scoped to the project.
 * Built by json-c, which escapes whatever the names and password hold. */
static json_object *
auth_request (const struct ch_config *cfg, const char *password)
{
  json_object *root = json_object_new_object ();
  json_object *auth, *ident, *methods, *pw, *user, *scope, *project;
  bool ok;

  auth = add (root, "auth", json_object_new_object ());
  ident = add (auth, "identity", json_object_new_object ());
  methods = add (ident, "methods", json_object_new_array ());
  ok = methods && json_object_array_add (methods, json_object_new_string ("password")) == 0 &&
       json_object_array_length (methods) == 1;
  pw = add (ident, "password", json_object_new_object ());
  user = add (pw, "user", json_object_new_object ());
  ok = ok && user &&
       add_named (user, cfg->ks_username,
                  cfg->ks_user_domain ? cfg->ks_user_domain : "Default") == 0 &&
       add (user, "password", json_object_new_string (password)) != NULL;
  scope = add (auth, "scope", json_object_new_object ());
  project = add (scope, "project", json_object_new_object ());
  ok = ok && project &&
       add_named (project, cfg->ks_project_name,
                  cfg->ks_project_domain ? cfg->ks_project_domain : "Default") == 0;
  if (!ok) {
    if (root)
      json_object_put (root);
    ch_error ("Keystone: cannot build the request: out of memory");
    return NULL;
  }
  return root;
}

/* Forget the password json-c holds before the tree is freed. */
static void
wipe_request (json_object *root, const char *serialized)
{
  json_object *auth, *ident, *pw, *user, *p;

  if (serialized)
    explicit_bzero ((char *) serialized, strlen (serialized));
  if (json_object_object_get_ex (root, "auth", &auth) &&
      json_object_object_get_ex (auth, "identity", &ident) &&
      json_object_object_get_ex (ident, "password", &pw) &&
      json_object_object_get_ex (pw, "user", &user) &&
      json_object_object_get_ex (user, "password", &p) &&
      json_object_is_type (p, json_type_string))
    explicit_bzero ((char *) json_object_get_string (p), (size_t) json_object_get_string_len (p));
}

/* Array member KEY of J, as ch_json_get_array, with at most
 * CH_KEYSTONE_CATALOG_MAX elements. */
static int
get_array (json_object *j, const char *key, const char *what, json_object **v)
{
  int r;

  if ((r = ch_json_get_array (j, key, what, 0, v)) == 1 &&
      json_object_array_length (*v) > CH_KEYSTONE_CATALOG_MAX) {
    ch_error ("%s: more than %d entries in \"%s\"", what, CH_KEYSTONE_CATALOG_MAX, key);
    return -1;
  }
  return r;
}

/* "public", "internal" or "admin" for INTERFACE (keystoneauth also takes
 * "publicURL" and the like, the v2 catalog's names); NULL if none. */
static const char *
interface_name (const char *interface)
{
  static const char *const names[] = { "public", "internal", "admin" };

  if (interface == NULL)
    return "public";
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    size_t n = strlen (names[i]);

    if (strncmp (interface, names[i], n) == 0 &&
        (interface[n] == '\0' || strcmp (interface + n, "URL") == 0))
      return names[i];
  }
  return NULL;
}

/* True if U is an http(s) URL cowherd will use: what [glance] url takes. */
static bool
usable_url (const char *u)
{
  size_t n = strlen (u);

  if ((strncmp (u, "http://", 7) != 0 && strncmp (u, "https://", 8) != 0) ||
      n > CH_KEYSTONE_URL_MAX || strpbrk (u, " \t\r\n\"'<>\\") != NULL)
    return false;
  return !ch_str_has_control (u);
}

/* U without trailing slashes and a trailing "/v2" (cowherd adds /v2/...). */
static char *
normalise_url (const char *u)
{
  size_t n = strlen (u), min = strncmp (u, "https://", 8) == 0 ? 8 : 7;
  char *s;

  while (n > min && u[n - 1] == '/')
    n--;
  if (n >= min + 3 && memcmp (u + n - 3, "/v2", 3) == 0)
    n -= 3;
  while (n > min && u[n - 1] == '/')
    n--;
  if (n <= min) {
    errno = EINVAL;
    return NULL;
  }
  s = strndup (u, n);
  return s;
}

/* S for a one-line message: its first LEN - 1 bytes at most, anything but
 * printable ASCII shown as '?'.  Returns BUF. */
static const char *
printable (const char *s, char *buf, size_t len)
{
  size_t o = 0;

  for (; *s && o + 1 < len; s++)
    buf[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
  buf[o] = '\0';
  return buf;
}

/* Append ", TEXT" (or TEXT first) to BUF of LEN bytes, truncating. */
static void
list_add (char *buf, size_t len, const char *text)
{
  size_t used = strlen (buf);

  if (used + 1 < len)
    snprintf (buf + used, len - used, "%s%s", used ? ", " : "", text);
}

int
ch_keystone_image_endpoint (const char *body, const char *interface,
                            const char *region, char **image_url)
{
  const char *what = "Keystone's token";
  const char *iface = interface_name (interface);
  const unsigned nullable = CH_JSON_NULL_ABSENT;
  json_object *j, *token, *catalog;
  char *found = NULL;
  char seen[512] = "", matched[256] = "";
  size_t n_image = 0, n_seen = 0, n_match = 0;
  bool ambiguous = false;
  int r = -1, g;

  *image_url = NULL;
  if (iface == NULL) {
    ch_error ("[keystone] interface = %.64s: not public, internal or admin", interface);
    return -1;
  }
  if ((j = ch_json_parse (body, strlen (body), CH_HTTP_JSON_MAX, JSON_DEPTH, what)) == NULL)
    return -1;
  if ((g = ch_json_get_object (j, "token", what, 0, &token)) <= 0) {
    if (g == 0)
      ch_error ("%s: no \"token\" object", what);
    goto out;
  }
  if ((g = get_array (token, "catalog", what, &catalog)) <= 0) {
    if (g == 0)
      ch_error ("%s has no service catalog", what);
    goto out;
  }
  for (size_t i = 0; i < json_object_array_length (catalog); i++) {
    json_object *svc = json_object_array_get_idx (catalog, i), *eps;
    const char *type = NULL;
    char swhat[96];

    snprintf (swhat, sizeof swhat, "%s: catalog entry %zu", what, i);
    if (!json_object_is_type (svc, json_type_object)) {
      ch_error ("%s is not an object", swhat);
      goto out;
    }
    if (ch_json_get_string (svc, "type", swhat, nullable, &type) < 0)
      goto out;
    if (type == NULL) {
      ch_error ("%s has no \"type\"", swhat);
      goto out;
    }
    if (strcmp (type, "image") != 0)
      continue;
    n_image++;
    if ((g = get_array (svc, "endpoints", swhat, &eps)) <= 0) {
      if (g == 0)
        ch_error ("%s: no \"endpoints\" array", swhat);
      goto out;
    }
    for (size_t k = 0; k < json_object_array_length (eps); k++) {
      json_object *ep = json_object_array_get_idx (eps, k);
      const char *ei = NULL, *url = NULL, *rid = NULL, *rname = NULL;
      char ewhat[160], desc[160], p1[48], p2[104];
      char *norm;

      snprintf (ewhat, sizeof ewhat, "%s (image), endpoint %zu", swhat, k);
      if (!json_object_is_type (ep, json_type_object)) {
        ch_error ("%s is not an object", ewhat);
        goto out;
      }
      if (ch_json_get_string (ep, "interface", ewhat, nullable, &ei) < 0 ||
          ch_json_get_string (ep, "url", ewhat, nullable, &url) < 0 ||
          ch_json_get_string (ep, "region_id", ewhat, nullable, &rid) < 0 ||
          ch_json_get_string (ep, "region", ewhat, nullable, &rname) < 0)
        goto out;
      if (ei == NULL || url == NULL) {
        ch_error ("%s: no \"interface\" or no \"url\"", ewhat);
        goto out;
      }
      if (rid == NULL)
        rid = rname;
      snprintf (desc, sizeof desc, "%s in %s", printable (ei, p1, 21),
                rid ? printable (rid, p2, 41) : "no region");
      if (n_seen++ < LIST_MAX)
        list_add (seen, sizeof seen, desc);
      else if (n_seen == LIST_MAX + 1)
        list_add (seen, sizeof seen, "...");
      if (strcmp (ei, iface) != 0)
        continue;
      if (region && !((rid && strcmp (rid, region) == 0) ||
                      (rname && strcmp (rname, region) == 0)))
        continue;
      if (!usable_url (url)) {
        ch_error ("%s: \"url\" is not an http:// or https:// URL: %s", ewhat,
                  printable (url, p2, sizeof p2));
        goto out;
      }
      if ((norm = normalise_url (url)) == NULL) {
        ch_error ("%s: \"url\" %s: %m", ewhat, printable (url, p2, sizeof p2));
        goto out;
      }
      if (n_match++ < LIST_MAX)
        list_add (matched, sizeof matched, rid ? printable (rid, p2, 41) : "no region");
      if (found == NULL)
        found = norm;
      else {
        if (strcmp (found, norm) != 0)
          ambiguous = true;
        free (norm);
      }
    }
  }
  if (found == NULL) {
    if (n_image == 0)
      ch_error ("the Keystone catalog has no image service");
    else
      ch_error ("the Keystone catalog has no image endpoint for interface %s%s%s (it has: %s)",
                iface, region ? " in region " : "", region ? region : "",
                seen[0] ? seen : "none");
    goto out;
  }
  if (ambiguous) {
    if (region)
      ch_error ("the Keystone catalog has different image endpoints for interface %s "
                "in region %s; refusing to guess", iface, region);
    else
      ch_error ("the Keystone catalog has different image endpoints for interface %s "
                "(regions %s): set [keystone] region_name", iface, matched);
    goto out;
  }
  *image_url = CH_STEAL (found);
  r = 0;
 out:
  free (found);
  json_object_put (j);
  return r;
}

/* Keystone's own words from an error answer {"error": {"message": ...}},
 * printable ASCII only, bounded; "" if none. */
static void
error_message (const char *body, char *buf, size_t len)
{
  json_tokener *tok;
  json_object *j, *e, *m;
  size_t o = 0;

  buf[0] = '\0';
  if (body == NULL || (tok = json_tokener_new_ex (8)) == NULL)
    return;
  j = json_tokener_parse_ex (tok, body, (int) strlen (body));
  if (j && json_object_is_type (j, json_type_object) &&
      json_object_object_get_ex (j, "error", &e) && json_object_is_type (e, json_type_object) &&
      json_object_object_get_ex (e, "message", &m) && json_object_is_type (m, json_type_string)) {
    const char *s = json_object_get_string (m);

    o = (size_t) snprintf (buf, len, ": ");
    for (; *s && o + 4 < len; s++)
      buf[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    if (*s)
      buf[o++] = '.', buf[o++] = '.', buf[o++] = '.';
    buf[o] = '\0';
  }
  if (j)
    json_object_put (j);
  json_tokener_free (tok);
}

/* The X-Subject-Token must look like a token: printable ASCII, no spaces. */
static bool
usable_token (const char *t)
{
  size_t n = t ? strlen (t) : 0;

  if (n == 0 || n > CH_KEYSTONE_TOKEN_MAX)
    return false;
  for (; *t; t++)
    if (*t <= 0x20 || *t >= 0x7f)
      return false;
  return true;
}

int
ch_keystone_auth (const struct ch_config *cfg, const struct ch_http *h,
                  char **token, char **image_url)
{
  char password[CH_KEYSTONE_PASSWORD_MAX + 3];
  CLEANUP_FREE char *url = NULL, *body = NULL, *tok = NULL, *json = NULL;
  struct ch_http anon = *h;
  json_object *req;
  const char *s;
  char msg[256];
  long status;
  int r;

  *token = NULL;
  if (image_url)
    *image_url = NULL;
  if (cfg->ks_auth_url == NULL || cfg->ks_username == NULL ||
      cfg->ks_password_file == NULL || cfg->ks_project_name == NULL) {
    ch_error ("[keystone] needs auth_url, username, password_file and project_name");
    return -1;
  }
  if (interface_name (cfg->ks_interface) == NULL) {
    ch_error ("[keystone] interface = %.64s: not public, internal or admin", cfg->ks_interface);
    return -1;
  }
  if (asprintf (&url, "%s/auth/tokens", cfg->ks_auth_url) < 0) {
    url = NULL;
    ch_error ("asprintf: %m");
    return -1;
  }
  if (read_password (cfg->ks_password_file, password) < 0) {
    explicit_bzero (password, sizeof password);
    return -1;
  }
  req = auth_request (cfg, password);
  explicit_bzero (password, sizeof password);
  if (req == NULL)
    return -1;
  s = json_object_to_json_string_ext (req, JSON_C_TO_STRING_PLAIN |
                                      JSON_C_TO_STRING_NOSLASHESCAPE);
  json = s ? strdup (s) : NULL;
  wipe_request (req, s);
  json_object_put (req);
  if (json == NULL) {
    ch_error ("Keystone: cannot build the request: out of memory");
    return -1;
  }
  /* Keystone gets no token: H's, if any, is for Glance. */
  anon.token = NULL;
  r = ch_http_post_json (&anon, url, json, "X-Subject-Token", &tok, &body, &status);
  explicit_bzero (json, strlen (json));
  if (r < 0)
    return -1;
  if (status == 401) {
    ch_error ("Keystone refused the credentials for user %s (HTTP 401)", cfg->ks_username);
    return -1;
  }
  if (status != 201 && status != 200) {
    error_message (body, msg, sizeof msg);
    ch_error ("Keystone: POST %s: HTTP %ld%s%s", url, status, msg,
              status == 404 ? " (is [keystone] auth_url the v3 endpoint, e.g. "
              "http://controller:5000/v3?)" : "");
    return -1;
  }
  if (!usable_token (tok)) {
    ch_error ("Keystone: POST %s: HTTP %ld without a usable X-Subject-Token", url, status);
    return -1;
  }
  if (image_url &&
      ch_keystone_image_endpoint (body, cfg->ks_interface, cfg->ks_region, image_url) < 0)
    return -1;
  *token = CH_STEAL (tok);
  return 0;
}
