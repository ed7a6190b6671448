/*
** buffer.c -- growable byte strings that carry references to shared
** objects. Encoded Lua values live in these between states.
*/
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "object.h"

/* ---------------------------------------------------------------------- */
/* Spare blocks. A large value crosses as a buffer whose memory moves     */
/* with it (scratch -> future -> the receiver's buffer) and is freed by   */
/* the receiver, while the sender's next encode grows a new one from      */
/* nothing: per round trip of 100,000 integers two 512 KB buffers were    */
/* grown by doubling, copied at each step and freed, and glibc handed     */
/* them out as fresh pages (mmap above its threshold, or a heap top grown  */
/* again after a trim): ~200 page faults a round trip, a quarter of C's   */
/* time (bench/HISTORY.md). Freed blocks of SPARE_MIN..SPARE_MAX bytes are */
/* kept here instead (at most SPARE_SLOTS, SPARE_TOTAL bytes), and a      */
/* buffer growing past SPARE_MIN takes the smallest that fits.            */
/* Owner: this stash, process-wide; any thread puts and takes. The lock   */
/* is only ever tried (a leaf, never waited for, nothing taken under it): */
/* when busy, or held by a thread a fork() left behind, blocks go to      */
/* malloc/free as before.                                                 */

#define SPARE_MIN ((size_t)64 << 10)
#define SPARE_MAX ((size_t)8 << 20)
#define SPARE_TOTAL ((size_t)16 << 20)
#define SPARE_SLOTS 4

static atomic_flag spare_lock = ATOMIC_FLAG_INIT;
static struct { unsigned char *p; size_t cap; } spare[SPARE_SLOTS];
static size_t spare_bytes;

static int spare_try_lock(void) {
  return !atomic_flag_test_and_set_explicit(&spare_lock, memory_order_acquire);
}

static void spare_unlock(void) {
  atomic_flag_clear_explicit(&spare_lock, memory_order_release);
}

/* Keep block p (cap bytes) or free it; a full stash drops its smallest
** block for a larger one. */
static void spare_put(unsigned char *p, size_t cap) {
  unsigned char *drop = p;
  int i, small = 0;
  if (p == NULL || cap < SPARE_MIN || cap > SPARE_MAX || !spare_try_lock()) {
    free(p);
    return;
  }
  for (i = 0; i < SPARE_SLOTS; i++) {
    if (spare[i].p == NULL) { small = i; break; }
    if (spare[i].cap < spare[small].cap) small = i;
  }
  if (spare[small].p == NULL || spare[small].cap < cap) {
    size_t total = spare_bytes - (spare[small].p ? spare[small].cap : 0) + cap;
    if (total <= SPARE_TOTAL) {
      drop = spare[small].p;
      spare[small].p = p;
      spare[small].cap = cap;
      spare_bytes = total;
    }
  }
  spare_unlock();
  free(drop);
}

/* The smallest kept block of at least need bytes (its size in *cap), or
** NULL. */
static unsigned char *spare_take(size_t need, size_t *cap) {
  unsigned char *p = NULL;
  int i, best = -1;
  if (!spare_try_lock()) return NULL;
  for (i = 0; i < SPARE_SLOTS; i++)
    if (spare[i].p != NULL && spare[i].cap >= need &&
        (best < 0 || spare[i].cap < spare[best].cap))
      best = i;
  if (best >= 0) {
    p = spare[best].p;
    *cap = spare[best].cap;
    spare[best].p = NULL;
    spare_bytes -= *cap;
  }
  spare_unlock();
  return p;
}

void cf_buffer_init(cf_buffer *b) {
  memset(b, 0, sizeof *b);
}

int cf_buffer_reserve(cf_buffer *b, size_t extra) {
  size_t need = b->len + extra, cap;
  unsigned char *p;
  if (need < b->len) return -ENOMEM;   /* overflow */
  if (need <= b->cap) return 0;
  cap = b->cap ? b->cap : 64;
  while (cap < need) {
    if (cap > ((size_t)-1) / 2) { cap = need; break; }
    cap *= 2;
  }
  if (cap >= SPARE_MIN && (p = spare_take(need, &cap)) != NULL) {
    if (b->len) memcpy(p, b->data, b->len);
    spare_put(b->data, b->cap);
    b->data = p;
    b->cap = cap;
    return 0;
  }
  p = realloc(b->data, cap);
  if (p == NULL) return -ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int cf_buffer_append(cf_buffer *b, const void *p, size_t n) {
  int rc = cf_buffer_reserve(b, n);
  if (rc != 0) return rc;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

int cf_buffer_add_ref(cf_buffer *b, void *obj, size_t *index) {
  if (b->nrefs == b->refcap) {
    size_t cap = b->refcap ? b->refcap * 2 : 4;
    void **r = realloc(b->refs, cap * sizeof *r);
    if (r == NULL) return -ENOMEM;
    b->refs = r;
    b->refcap = cap;
  }
  if (index) *index = b->nrefs;
  b->refs[b->nrefs++] = cf_retain(obj);
  return 0;
}

static void release_refs(cf_buffer *b) {
  size_t i;
  for (i = 0; i < b->nrefs; i++) cf_release(b->refs[i]);
  b->nrefs = 0;
}

void cf_buffer_reset(cf_buffer *b) {
  release_refs(b);
  b->len = 0;
}

void cf_buffer_free(cf_buffer *b) {
  release_refs(b);
  spare_put(b->data, b->cap);
  free(b->refs);
  cf_buffer_init(b);
}

void cf_buffer_move(cf_buffer *dst, cf_buffer *src) {
  if (dst == src) return;
  cf_buffer_free(dst);
  *dst = *src;
  cf_buffer_init(src);
}

int cf_buffer_copy(cf_buffer *dst, const cf_buffer *src) {
  size_t i;
  int rc;
  cf_buffer_reset(dst);
  rc = cf_buffer_append(dst, src->data, src->len);
  for (i = 0; rc == 0 && i < src->nrefs; i++)
    rc = cf_buffer_add_ref(dst, src->refs[i], NULL);
  return rc;
}
