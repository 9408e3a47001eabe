#include "hashpipe.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "error.h"

#define SLOT (128u << 10)
#define NSLOT (CH_HASHPIPE_RING / SLOT)

struct worker {
  struct ch_hashpipe *p;
  const EVP_MD *md;
  EVP_MD_CTX *ctx;
  pthread_t th;
  unsigned long tail;                  /* slots consumed */
  bool failed;
};

struct ch_hashpipe {
  pthread_mutex_t mu;
  pthread_cond_t data, room;
  unsigned char *ring;                 /* NSLOT slots of SLOT bytes */
  size_t len[NSLOT];
  uint64_t zeros[NSLOT];               /* a slot of zeros: no bytes in the ring */
  uint64_t next_zeros;                 /* what the slot being filled stands for */
  unsigned long head;                  /* slots published */
  size_t fill;                         /* bytes in slot head, not yet published */
  bool stop, running;
  bool abandon;                        /* the digests are not wanted: skip what is queued */
  size_t n;
  struct worker w[CH_HASHPIPE_MAX];
};

static const unsigned char zero_block[SLOT];

static unsigned long
min_tail (const struct ch_hashpipe *p)
{
  unsigned long t = p->w[0].tail;

  for (size_t i = 1; i < p->n; i++)
    if (p->w[i].tail < t)
      t = p->w[i].tail;
  return t;
}

static void *
consume (void *opaque)
{
  struct worker *w = opaque;
  struct ch_hashpipe *p = w->p;

  pthread_mutex_lock (&p->mu);
  for (;;) {
    size_t s;

    while (w->tail == p->head && !p->stop)
      pthread_cond_wait (&p->data, &p->mu);
    if (w->tail == p->head)
      break;
    s = w->tail % NSLOT;
    /* The producer never writes a slot some worker has not consumed. */
    pthread_mutex_unlock (&p->mu);
    /* Unlocked read of a flag that only ever turns on before a stop: at
     * worst one more slot is hashed. */
    if (__atomic_load_n (&p->abandon, __ATOMIC_RELAXED))
      w->failed = true;
    if (!w->failed && EVP_DigestUpdate (w->ctx, p->ring + s * SLOT, p->len[s]) != 1)
      w->failed = true;
    for (uint64_t z = p->zeros[s]; z > 0 && !w->failed;) {
      if (__atomic_load_n (&p->abandon, __ATOMIC_RELAXED)) {
        w->failed = true;
        break;
      }
      size_t n = z < sizeof zero_block ? (size_t) z : sizeof zero_block;

      if (EVP_DigestUpdate (w->ctx, zero_block, n) != 1)
        w->failed = true;
      z -= n;
    }
    pthread_mutex_lock (&p->mu);
    w->tail++;
    pthread_cond_signal (&p->room);
  }
  pthread_mutex_unlock (&p->mu);
  return NULL;
}

/* Stop the workers; with ABANDON, without hashing what is still queued
 * (a hole of terabytes can be). */
static void
stop_workers (struct ch_hashpipe *p, bool abandon)
{
  if (!p->running)
    return;
  if (abandon)
    __atomic_store_n (&p->abandon, true, __ATOMIC_RELAXED);
  pthread_mutex_lock (&p->mu);
  p->stop = true;
  pthread_cond_broadcast (&p->data);
  pthread_mutex_unlock (&p->mu);
  for (size_t i = 0; i < p->n; i++)
    pthread_join (p->w[i].th, NULL);
  p->running = false;
}

static int
start_workers (struct ch_hashpipe *p)
{
  p->head = 0;
  p->fill = 0;
  p->stop = false;
  __atomic_store_n (&p->abandon, false, __ATOMIC_RELAXED);
  for (size_t i = 0; i < p->n; i++) {
    struct worker *w = &p->w[i];

    w->tail = 0;
    w->failed = false;
    if (EVP_DigestInit_ex (w->ctx, w->md, NULL) != 1) {
      ch_error ("cannot initialise %s", EVP_MD_get0_name (w->md));
      return -1;
    }
  }
  for (size_t i = 0; i < p->n; i++) {
    int e = pthread_create (&p->w[i].th, NULL, consume, &p->w[i]);

    if (e != 0) {
      /* Stop the ones that started. */
      size_t started = i;

      pthread_mutex_lock (&p->mu);
      p->stop = true;
      pthread_cond_broadcast (&p->data);
      pthread_mutex_unlock (&p->mu);
      for (size_t k = 0; k < started; k++)
        pthread_join (p->w[k].th, NULL);
      ch_error ("pthread_create: %s", strerror (e));
      return -1;
    }
  }
  p->running = true;
  return 0;
}

struct ch_hashpipe *
ch_hashpipe_new (const char *const *algos, size_t n)
{
  struct ch_hashpipe *p;

  if (n == 0 || n > CH_HASHPIPE_MAX) {
    ch_error ("hash pipe: %zu digests", n);
    return NULL;
  }
  p = calloc (1, sizeof *p);
  if (p == NULL || (p->ring = malloc (CH_HASHPIPE_RING)) == NULL) {
    free (p);
    ch_error ("malloc: %m");
    return NULL;
  }
  pthread_mutex_init (&p->mu, NULL);
  pthread_cond_init (&p->data, NULL);
  pthread_cond_init (&p->room, NULL);
  p->n = n;
  for (size_t i = 0; i < n; i++) {
    p->w[i].p = p;
    p->w[i].md = EVP_get_digestbyname (algos[i]);
    if (p->w[i].md == NULL) {
      ch_error ("unknown hash algorithm %s", algos[i]);
      ch_hashpipe_free (p);
      return NULL;
    }
    if ((p->w[i].ctx = EVP_MD_CTX_new ()) == NULL) {
      ch_error ("EVP_MD_CTX_new failed");
      ch_hashpipe_free (p);
      return NULL;
    }
  }
  if (start_workers (p) < 0) {
    ch_hashpipe_free (p);
    return NULL;
  }
  return p;
}

/* Hand the slot being filled to the workers. */
static void
publish (struct ch_hashpipe *p)
{
  pthread_mutex_lock (&p->mu);
  p->len[p->head % NSLOT] = p->fill;
  p->zeros[p->head % NSLOT] = p->next_zeros;
  p->head++;
  p->fill = 0;
  pthread_cond_broadcast (&p->data);
  /* The next slot to fill must be free of every worker. */
  while (p->head - min_tail (p) >= NSLOT)
    pthread_cond_wait (&p->room, &p->mu);
  pthread_mutex_unlock (&p->mu);
}

int
ch_hashpipe_update (struct ch_hashpipe *p, const void *buf, size_t len)
{
  const unsigned char *b = buf;

  if (!p->running) {
    ch_error ("hash pipe used after final without reset");
    return -1;
  }
  while (len > 0) {
    size_t n = SLOT - p->fill < len ? SLOT - p->fill : len;

    memcpy (p->ring + (p->head % NSLOT) * SLOT + p->fill, b, n);
    p->fill += n;
    b += n;
    len -= n;
    if (p->fill == SLOT)
      publish (p);
  }
  return 0;
}

int
ch_hashpipe_zeros (struct ch_hashpipe *p, uint64_t len)
{
  if (!p->running) {
    ch_error ("hash pipe used after final without reset");
    return -1;
  }
  if (len == 0)
    return 0;
  if (p->fill > 0)
    publish (p);                       /* in order: what came before first */
  p->next_zeros = len;
  publish (p);
  p->next_zeros = 0;
  return 0;
}

int
ch_hashpipe_reset (struct ch_hashpipe *p)
{
  stop_workers (p, true);
  return start_workers (p);
}

int
ch_hashpipe_final (struct ch_hashpipe *p, char (*hex)[129])
{
  int r = 0;

  if (!p->running) {
    ch_error ("hash pipe finished twice");
    return -1;
  }
  if (p->fill > 0)
    publish (p);
  stop_workers (p, false);
  for (size_t i = 0; i < p->n; i++) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;

    hex[i][0] = '\0';
    if (p->w[i].failed || EVP_DigestFinal_ex (p->w[i].ctx, md, &len) != 1 || 2 * len >= 129) {
      ch_error ("%s failed", EVP_MD_get0_name (p->w[i].md));
      r = -1;
      continue;
    }
    for (unsigned k = 0; k < len; k++)
      snprintf (hex[i] + 2 * k, 3, "%02x", md[k]);
  }
  return r;
}

void
ch_hashpipe_free (struct ch_hashpipe *p)
{
  if (p == NULL)
    return;
  stop_workers (p, true);
  for (size_t i = 0; i < p->n; i++)
    EVP_MD_CTX_free (p->w[i].ctx);
  pthread_cond_destroy (&p->room);
  pthread_cond_destroy (&p->data);
  pthread_mutex_destroy (&p->mu);
  free (p->ring);
  free (p);
}
