/*
** store.c -- shared values and dicts: encoded values (opaque buffers
** written by the binding) behind a mutex.
**
** Lock order: one mutex per value or dict, never held with any other
** mutex of the core, with one stated exception: cf_value_apply runs the
** binding's C callback under the value's mutex (the callback must not
** block or take other locks). Buffers being replaced or removed are freed
** after the mutex is dropped, since releasing their references may
** destroy other objects.
**
** The dict's update lock is not a mutex but a logical lock (owner + depth,
** waited for on d->upd_cv under d->m). It is held across calls while the
** binding runs user code, so user code may take other locks while holding
** it; the core itself never waits for it while holding another mutex.
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "object.h"

/* ---------------------------------------------------------------------- */
/* Value.                                                                  */

struct cf_value {
  cf_object hdr;
  pthread_mutex_t m;
  cf_buffer cur;
};

static void value_destroy(void *o) {
  cf_value *v = o;
  cf_buffer_free(&v->cur);
  pthread_mutex_destroy(&v->m);
  free(v);
}

static const cf_kind value_kind = {"value", value_destroy};

cf_value *cf_value_new(void) {
  cf_value *v = malloc(sizeof *v);
  if (v == NULL) return NULL;
  cf_object_init(v, &value_kind);
  cf_mutex_init(&v->m);
  cf_buffer_init(&v->cur);
  return v;
}

/* out is emptied before locking so that the copy under the mutex only
** retains references, never releases them. */
int cf_value_get(cf_value *v, cf_buffer *out) {
  int rc;
  cf_buffer_reset(out);
  cf_mutex_lock(&v->m);
  rc = cf_buffer_copy(out, &v->cur);
  cf_mutex_unlock(&v->m);
  return rc;
}

void cf_value_set(cf_value *v, cf_buffer *in) {
  cf_buffer old;
  cf_mutex_lock(&v->m);
  old = v->cur;
  v->cur = *in;
  cf_mutex_unlock(&v->m);
  cf_buffer_init(in);
  cf_buffer_free(&old);
}

int cf_value_apply(cf_value *v, cf_value_fn fn, void *ud) {
  int rc;
  cf_mutex_lock(&v->m);
  rc = fn(&v->cur, ud);
  cf_mutex_unlock(&v->m);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Dict: separate chaining over a power-of-two bucket array, FNV-1a       */
/* hashes, doubled when the load passes 0.75. Entries are also on a        */
/* doubly linked list in insertion order, so keys() reads like a Lua user  */
/* coming from Python expects (and deletion stays O(1)).                   */

typedef struct entry {
  struct entry *chain;         /* next in the bucket */
  struct entry *prev, *next;   /* insertion order */
  uint64_t hash;
  size_t klen;
  cf_buffer val;
  unsigned char key[];
} entry;

struct cf_dict {
  cf_object hdr;
  pthread_mutex_t m;
  pthread_cond_t upd_cv;       /* update lock waiters and blocked writers */
  entry **buckets;
  size_t nbuckets, count;
  entry *first, *last;
  uint64_t upd_owner;          /* 0 when upd_depth == 0 */
  long upd_depth;
};

#define DICT_MIN_BUCKETS 8

static uint64_t fnv1a(const void *p, size_t n) {
  const unsigned char *s = p;
  uint64_t h = 14695981039346656037ULL;
  while (n--) {
    h ^= *s++;
    h *= 1099511628211ULL;
  }
  return h;
}

static void dict_destroy(void *o) {
  cf_dict *d = o;
  entry *e, *next;
  for (e = d->first; e != NULL; e = next) {
    next = e->next;
    cf_buffer_free(&e->val);
    free(e);
  }
  free(d->buckets);
  pthread_cond_destroy(&d->upd_cv);
  pthread_mutex_destroy(&d->m);
  free(d);
}

static const cf_kind dict_kind = {"dict", dict_destroy};

cf_dict *cf_dict_new(void) {
  cf_dict *d = malloc(sizeof *d);
  if (d == NULL) return NULL;
  d->buckets = calloc(DICT_MIN_BUCKETS, sizeof *d->buckets);
  if (d->buckets == NULL) { free(d); return NULL; }
  cf_object_init(d, &dict_kind);
  cf_mutex_init(&d->m);
  cf_cond_init(&d->upd_cv);
  d->nbuckets = DICT_MIN_BUCKETS;
  d->count = 0;
  d->first = d->last = NULL;
  d->upd_owner = 0;
  d->upd_depth = 0;
  return d;
}

/* The entry for key, or NULL; with *link set to the pointer that holds it
** (for unlinking) when link is not NULL. d->m held. */
static entry *find(cf_dict *d, uint64_t h, const void *key, size_t klen,
                   entry ***link) {
  entry **p = &d->buckets[h & (d->nbuckets - 1)];
  for (; *p != NULL; p = &(*p)->chain) {
    entry *e = *p;
    if (e->hash == h && e->klen == klen &&
        (klen == 0 || memcmp(e->key, key, klen) == 0)) {
      if (link) *link = p;
      return e;
    }
  }
  return NULL;
}

/* Double the bucket array. On ENOMEM the table keeps its size: chains get
** longer but every operation still works, so this never fails. */
static void grow(cf_dict *d) {
  size_t n = d->nbuckets * 2, i;
  entry **nb, *e;
  if (n < d->nbuckets || n > ((size_t)-1) / sizeof *nb) return;
  if ((nb = calloc(n, sizeof *nb)) == NULL) return;
  for (e = d->first; e != NULL; e = e->next) {
    i = e->hash & (n - 1);
    e->chain = nb[i];
    nb[i] = e;
  }
  free(d->buckets);
  d->buckets = nb;
  d->nbuckets = n;
}

static void insert(cf_dict *d, entry *e) {
  size_t i = e->hash & (d->nbuckets - 1);
  e->chain = d->buckets[i];
  d->buckets[i] = e;
  e->next = NULL;
  e->prev = d->last;
  if (d->last) d->last->next = e; else d->first = e;
  d->last = e;
  d->count++;
  if (d->count > d->nbuckets / 4 * 3) grow(d);
}

/* Writers other than the update lock's holder wait for it; d->m held. */
static void wait_for_update(cf_dict *d, uint64_t owner) {
  cf_deadline forever;
  cf_deadline_set(&forever, -1.0);
  while (d->upd_depth > 0 && (owner == 0 || d->upd_owner != owner))
    cf_cond_wait_until(&d->upd_cv, &d->m, &forever);
}

int cf_dict_get(cf_dict *d, const void *key, size_t klen, cf_buffer *out) {
  uint64_t h = fnv1a(key, klen);
  entry *e;
  int rc;
  if (out) cf_buffer_reset(out);   /* releases nothing under the mutex */
  cf_mutex_lock(&d->m);
  e = find(d, h, key, klen, NULL);
  if (e == NULL) rc = 0;
  else if (out == NULL) rc = 1;
  else rc = cf_buffer_copy(out, &e->val) == 0 ? 1 : -ENOMEM;
  cf_mutex_unlock(&d->m);
  return rc;
}

/* The new entry (key copied) is made before locking; it is used if the key
** is new and freed otherwise, so ENOMEM can only happen before any change. */
int cf_dict_set_owned(cf_dict *d, uint64_t owner, const void *key,
                      size_t klen, cf_buffer *val) {
  uint64_t h = fnv1a(key, klen);
  cf_buffer old;
  entry *e, *fresh;
  if (klen > ((size_t)-1) - sizeof *fresh) return -ENOMEM;
  if ((fresh = malloc(sizeof *fresh + klen)) == NULL) return -ENOMEM;
  fresh->hash = h;
  fresh->klen = klen;
  if (klen) memcpy(fresh->key, key, klen);
  cf_buffer_init(&old);
  cf_mutex_lock(&d->m);
  wait_for_update(d, owner);
  e = find(d, h, key, klen, NULL);
  if (e != NULL) {
    old = e->val;
    e->val = *val;
  } else {
    fresh->val = *val;
    insert(d, fresh);
    fresh = NULL;
  }
  cf_mutex_unlock(&d->m);
  cf_buffer_init(val);
  free(fresh);
  cf_buffer_free(&old);
  return 0;
}

int cf_dict_set(cf_dict *d, const void *key, size_t klen, cf_buffer *val) {
  return cf_dict_set_owned(d, 0, key, klen, val);
}

int cf_dict_delete_owned(cf_dict *d, uint64_t owner, const void *key,
                         size_t klen) {
  uint64_t h = fnv1a(key, klen);
  entry *e, **link = NULL;
  cf_mutex_lock(&d->m);
  wait_for_update(d, owner);
  e = find(d, h, key, klen, &link);
  if (e != NULL) {
    *link = e->chain;
    if (e->prev) e->prev->next = e->next; else d->first = e->next;
    if (e->next) e->next->prev = e->prev; else d->last = e->prev;
    d->count--;
  }
  cf_mutex_unlock(&d->m);
  if (e == NULL) return 0;
  cf_buffer_free(&e->val);
  free(e);
  return 1;
}

int cf_dict_delete(cf_dict *d, const void *key, size_t klen) {
  return cf_dict_delete_owned(d, 0, key, klen);
}

size_t cf_dict_len(cf_dict *d) {
  size_t n;
  cf_mutex_lock(&d->m);
  n = d->count;
  cf_mutex_unlock(&d->m);
  return n;
}

int cf_dict_keys(cf_dict *d, cf_buffer **keys, size_t *n) {
  cf_buffer *arr;
  entry *e;
  size_t i = 0;
  int rc = 0;
  *keys = NULL;
  *n = 0;
  cf_mutex_lock(&d->m);
  arr = calloc(d->count ? d->count : 1, sizeof *arr);
  if (arr == NULL) rc = -ENOMEM;
  for (e = d->first; rc == 0 && e != NULL; e = e->next) {
    rc = cf_buffer_append(&arr[i], e->key, e->klen);
    i++;
  }
  cf_mutex_unlock(&d->m);
  if (rc != 0) {
    cf_dict_keys_free(arr, i);
    return rc;
  }
  *keys = arr;
  *n = i;
  return 0;
}

void cf_dict_keys_free(cf_buffer *keys, size_t n) {
  size_t i;
  if (keys == NULL) return;
  for (i = 0; i < n; i++) cf_buffer_free(&keys[i]);
  free(keys);
}

int cf_dict_update_begin(cf_dict *d, uint64_t owner) {
  cf_deadline forever;
  if (owner == 0) return CF_ESTATE;
  cf_mutex_lock(&d->m);
  if (d->upd_depth > 0 && d->upd_owner == owner)
    d->upd_depth++;
  else {
    cf_deadline_set(&forever, -1.0);
    while (d->upd_depth > 0)
      cf_cond_wait_until(&d->upd_cv, &d->m, &forever);
    d->upd_owner = owner;
    d->upd_depth = 1;
  }
  cf_mutex_unlock(&d->m);
  return 0;
}

int cf_dict_update_end(cf_dict *d, uint64_t owner) {
  int rc = 0;
  cf_mutex_lock(&d->m);
  if (owner == 0 || d->upd_depth == 0 || d->upd_owner != owner)
    rc = CF_ESTATE;
  else if (--d->upd_depth == 0) {
    d->upd_owner = 0;
    pthread_cond_broadcast(&d->upd_cv);
  }
  cf_mutex_unlock(&d->m);
  return rc;
}
