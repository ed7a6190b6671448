/*
** buffer.c -- growable byte strings that carry references to shared
** objects. Encoded Lua values live in these between states.
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "object.h"

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
  free(b->data);
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
