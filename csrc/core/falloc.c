/*
** falloc.c -- the allocator of common-size futures (a future with up to
** 24 bytes of inline data: a function and a few scalars).
**
** Why not malloc: a program that submits 100,000 tasks and collects them
** frees and allocates futures by the hundred thousand, interleaved with
** the Lua heap's own small blocks; glibc's bins then fragment and every
** round gets slower (malloc_consolidate, unlink_chunk). Blocks here are
** carved from 64 KB slabs with no per-block header (72 bytes, not malloc's
** 80), kept on a per-thread free list, and moved in batches of 256
** between threads through a depot, so a thread that only frees (a worker
** dropping the last reference) hands its blocks to the threads that
** allocate. Slabs are kept for the life of the process, like the blocks of
** Lua's own allocator pools in other runtimes: the memory of the most
** futures ever alive at once.
**
** Locks: the depot mutex, taken alone, once per batch.
*/
#include <stdlib.h>

#include "future.h"

#define SLAB_BYTES 65536
#define BATCH 256

typedef struct fblock {
  struct fblock *next;         /* the next free block */
  struct fblock *next_batch;   /* in the depot: the next batch */
} fblock;

typedef struct thread_cache {
  fblock *head;
  int n;
  char *carve, *carve_end;     /* the rest of this thread's slab */
} thread_cache;

static CF_TLS thread_cache local;

static pthread_mutex_t depot_mu = PTHREAD_MUTEX_INITIALIZER;
static fblock *depot;          /* batches of BATCH free blocks */
static _Atomic int depot_batches;
static void **slabs;           /* every slab, so they stay reachable */
static size_t nslabs, slabcap;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void reinit_in_child(void) {
  pthread_mutex_init(&depot_mu, NULL);
}

/* Move up to BATCH blocks from the head of t's list (not empty) to the
** depot as one batch; returns how many moved. */
static int give_batch(thread_cache *t) {
  fblock *batch = t->head, *last = batch;
  int k = 1;
  while (k < BATCH && last->next) {
    last = last->next;
    k++;
  }
  t->head = last->next;
  last->next = NULL;
  cf_mutex_lock(&depot_mu);
  batch->next_batch = depot;
  depot = batch;
  atomic_fetch_add(&depot_batches, 1);
  cf_mutex_unlock(&depot_mu);
  return k;
}

/* A thread that ends gives its free blocks to the depot. */
static void thread_exit(void *arg) {
  thread_cache *t = arg;
  while (t->head) give_batch(t);
  t->n = 0;
}

static void setup(void) {
  pthread_key_create(&exit_key, thread_exit);
  pthread_atfork(NULL, NULL, reinit_in_child);
}

static void *carve(void) {
  void *b;
  if (local.carve == local.carve_end) {
    char *slab = malloc(SLAB_BYTES);
    if (slab == NULL) return NULL;
    cf_mutex_lock(&depot_mu);
    if (nslabs == slabcap) {
      size_t cap = slabcap ? slabcap * 2 : 64;
      void **ns = realloc(slabs, cap * sizeof *ns);
      if (ns == NULL) {
        cf_mutex_unlock(&depot_mu);
        free(slab);
        return NULL;
      }
      slabs = ns;
      slabcap = cap;
    }
    slabs[nslabs++] = slab;
    cf_mutex_unlock(&depot_mu);
    local.carve = slab;
    local.carve_end = slab + (SLAB_BYTES / CF_FBLOCK) * CF_FBLOCK;
  }
  b = local.carve;
  local.carve += CF_FBLOCK;
  return b;
}

void *cf_fblock_alloc(void) {
  fblock *b = local.head;
  if (b == NULL && atomic_load_explicit(&depot_batches, memory_order_relaxed)) {
    cf_mutex_lock(&depot_mu);
    if (depot) {
      b = depot;
      depot = b->next_batch;
      atomic_fetch_sub(&depot_batches, 1);
      local.n = BATCH;
    }
    cf_mutex_unlock(&depot_mu);
  }
  if (b == NULL) return carve();
  local.head = b->next;
  local.n--;
  return b;
}

void cf_fblock_free(void *p) {
  fblock *b = p;
  if (local.head == NULL) {          /* first use here: drain at exit */
    pthread_once(&exit_once, setup);
    pthread_setspecific(exit_key, &local);
  }
  b->next = local.head;
  local.head = b;
  if (++local.n >= 2 * BATCH) local.n -= give_batch(&local);  /* give some away */
}
