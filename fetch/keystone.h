/* cowherd: Keystone v3 password authentication, for Glance. */
#ifndef COWHERD_KEYSTONE_H
#define COWHERD_KEYSTONE_H

#include "config.h"
#include "http.h"

/* Limits on what Keystone may answer. */
#define CH_KEYSTONE_TOKEN_MAX 8192        /* X-Subject-Token bytes */
#define CH_KEYSTONE_PASSWORD_MAX 4096     /* bytes in [keystone] password_file */
#define CH_KEYSTONE_URL_MAX 1024          /* an endpoint URL, as [glance] url */
#define CH_KEYSTONE_CATALOG_MAX 1000      /* services, and endpoints of one service */

/* Authenticate with Keystone v3 (password, project-scoped: POST
 * {auth_url}/auth/tokens) and find the image service's endpoint.  On
 * success *TOKEN is the X-Subject-Token (malloc'd) and, when IMAGE_URL is
 * not NULL, *IMAGE_URL (malloc'd, no trailing '/', a trailing "/v2"
 * dropped) the catalog's "image" endpoint for [keystone] interface (and
 * region_name, if set).  H gives the transfer options; its token is not
 * sent.  -1 with ch_error: 401 is "Keystone refused the credentials for
 * user X (HTTP 401)"; no image endpoint, or several different ones and no
 * region_name to choose, say so. */
int ch_keystone_auth (const struct ch_config *cfg, const struct ch_http *h,
                      char **token, char **image_url);

/* The image endpoint in BODY, a token response (POST /v3/auth/tokens), for
 * INTERFACE ("public", "internal", "admin"; "publicURL" etc. accepted) and
 * REGION (NULL: any, as long as all matching endpoints have one URL).
 * *IMAGE_URL malloc'd, normalised as above.  -1 with ch_error. */
int ch_keystone_image_endpoint (const char *body, const char *interface,
                                const char *region, char **image_url);

#endif
