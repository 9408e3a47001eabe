#include "snapsign.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cleanup.h"
#include "error.h"
#include "io.h"

#define KEY_MIN 32
#define KEY_MAX 4096
#define READ_CHUNK (1 << 20)
/* Keeps an HMAC of these images apart from any other use of the key. */
static const char domain[] = "cowherd snapshot 1";

int
ch_snap_key_load (const char *path, uint8_t **key, size_t *len)
{
  CLEANUP_CLOSE int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
  uint8_t buf[KEY_MAX + 1];
  struct stat st;
  ssize_t n;

  *key = NULL;
  if (fd < 0 || fstat (fd, &st) < 0) {
    ch_error ("[snapshot] key_file %s: %m", path);
    return -1;
  }
  if (!S_ISREG (st.st_mode) || (st.st_mode & 007)) {
    ch_error ("[snapshot] key_file %s: must be a regular file others cannot read "
              "(mode %03o)", path, (unsigned) (st.st_mode & 0777));
    return -1;
  }
  if ((n = ch_read_full (fd, buf, sizeof buf, -1)) < 0) {
    ch_error ("[snapshot] key_file %s: %m", path);
    return -1;
  }
  if (n < KEY_MIN || n > KEY_MAX) {
    explicit_bzero (buf, sizeof buf);
    ch_error ("[snapshot] key_file %s: %zd bytes; a key is %d to %d bytes", path, n,
              KEY_MIN, KEY_MAX);
    return -1;
  }
  if ((*key = malloc ((size_t) n)) == NULL) {
    explicit_bzero (buf, sizeof buf);
    ch_error ("malloc: %m");
    return -1;
  }
  memcpy (*key, buf, (size_t) n);
  explicit_bzero (buf, sizeof buf);
  *len = (size_t) n;
  return 0;
}

void
ch_snap_key_free (uint8_t *key, size_t len)
{
  if (key) {
    explicit_bzero (key, len);
    free (key);
  }
}

int
ch_snap_hmac (int fd, const uint8_t *key, size_t key_len, uint64_t hmac_off,
              uint8_t out[CH_SNAP_HMAC_LEN])
{
  EVP_MAC *mac = EVP_MAC_fetch (NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new (mac) : NULL;
  CLEANUP_FREE uint8_t *buf = malloc (READ_CHUNK);
  OSSL_PARAM params[] = {
    OSSL_PARAM_construct_utf8_string (OSSL_MAC_PARAM_DIGEST, (char *) "SHA256", 0),
    OSSL_PARAM_construct_end (),
  };
  size_t got = 0;
  off_t off = 0;
  int r = -1;

  if (ctx == NULL || buf == NULL || !EVP_MAC_init (ctx, key, key_len, params) ||
      !EVP_MAC_update (ctx, (const unsigned char *) domain, sizeof domain)) {
    ch_error ("HMAC-SHA256: cannot set up");
    goto out;
  }
  for (;;) {
    ssize_t n = ch_read_full (fd, buf, READ_CHUNK, off);

    if (n < 0) {
      ch_error ("read: %m");
      goto out;
    }
    if (n == 0)
      break;
    /* The signature itself reads as zeros. */
    for (uint64_t i = 0; i < CH_SNAP_HMAC_LEN; i++) {
      uint64_t at = hmac_off + i;

      if (at >= (uint64_t) off && at < (uint64_t) off + (uint64_t) n)
        buf[at - (uint64_t) off] = 0;
    }
    if (!EVP_MAC_update (ctx, buf, (size_t) n)) {
      ch_error ("HMAC-SHA256: update failed");
      goto out;
    }
    off += n;
  }
  if (!EVP_MAC_final (ctx, out, &got, CH_SNAP_HMAC_LEN) || got != CH_SNAP_HMAC_LEN) {
    ch_error ("HMAC-SHA256: final failed");
    goto out;
  }
  r = 0;
 out:
  EVP_MAC_CTX_free (ctx);
  EVP_MAC_free (mac);
  return r;
}
