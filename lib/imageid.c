/* sha1 of an image id, as Nova names original cache entries.  Separate from
 * naming.c so the hook need not load libcrypto to start. */
#include "naming.h"

#include <string.h>

#include <openssl/evp.h>

#include "error.h"

int
ch_image_id_sha1 (const char *image_id, char out[CH_SHA1_HEX + 1])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  static const char hex[] = "0123456789abcdef";

  if (!EVP_Digest (image_id, strlen (image_id), md, &mdlen, EVP_sha1 (), NULL) ||
      mdlen != 20) {
    ch_error ("sha1 of image id failed");
    return -1;
  }
  for (unsigned int i = 0; i < mdlen; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 0xf];
  }
  out[CH_SHA1_HEX] = '\0';
  return 0;
}
