#include "digest.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "cleanup.h"
#include "error.h"
#include "io.h"

int
ch_sha256_fd (int fd, char hex[65])
{
  CLEANUP_FREE unsigned char *buf = malloc (1 << 20);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  off_t off = 0;
  int r = -1;

  if (buf == NULL || ctx == NULL || !EVP_DigestInit_ex (ctx, EVP_sha256 (), NULL)) {
    ch_error ("sha256: out of memory");
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

