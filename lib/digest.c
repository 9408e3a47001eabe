#include "digest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cleanup.h"
#include "error.h"
#include "io.h"

int
ch_digest_fd (int fd, const char *algo, char hex[129])
{
  CLEANUP_FREE unsigned char *buf = malloc (1 << 20);
  const EVP_MD *md_type = EVP_get_digestbyname (algo);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  off_t off = 0;
  int r = -1;

  if (md_type == NULL || EVP_MD_get_size (md_type) > 64) {
    ch_error ("%s: not a digest cowherd records", algo);
    goto out;
  }
  if (buf == NULL || ctx == NULL || !EVP_DigestInit_ex (ctx, md_type, NULL)) {
    ch_error ("%s: out of memory", algo);
    goto out;
  }
  for (;;) {
    ssize_t n = ch_read_full (fd, buf, 1 << 20, off);

    if (n < 0) {
      ch_error ("read: %m");
      goto out;
    }
    if (n == 0)
      break;
    EVP_DigestUpdate (ctx, buf, (size_t) n);
    off += n;
  }
  EVP_DigestFinal_ex (ctx, md, &mdlen);
  for (unsigned int i = 0; i < mdlen; i++)
    sprintf (hex + 2 * i, "%02x", md[i]);
  r = 0;
 out:
  EVP_MD_CTX_free (ctx);
  return r;
}

int
ch_sha256_fd (int fd, char hex[65])
{
  char h[129];

  if (ch_digest_fd (fd, "sha256", h) < 0)
    return -1;
  memcpy (hex, h, 64);
  hex[64] = '\0';
  return 0;
}
