/*
** seen.c -- the encoder's seen set (encode.c): the tables, functions and
** upvalues met so far in one encode, by address, with their numbers, so
** that a value met again crosses as a reference (REF, UPREF) to the first
** copy. Kept in the state's transfer context (internal.h) and reused from
** one encode to the next: entries are stamped with the encode's number
** (gen), so a new encode starts empty without clearing anything.
**
** The first slot for an address. Tables made one after another lie one
** after another in memory, and a walk meets them in about that order, so
** slots taken from the address bits (a Lua table is 56 bytes or more: in
** 16-byte steps no two share a slot) are visited in order and a large set
** costs no cache miss a table; a scrambling hash made nearly every lookup
** miss (14% of the time of C' in bench/, 20,000 tables an encode).
** Addresses that crowd one stretch of slots (a probe longer than
** SEEN_MAXPROBE in lcf_seen_add) switch the set to the scrambling hash,
** until it grows or the next encode begins.
** Even so the first look at a slot in an encode missed the cache (the
** slots of 20,000 tables are 1 MB, met once each): a byte a slot (home)
** tells, from 16 times less memory, that no key of that hash is in.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SEEN_MAXPROBE 48

static inline size_t seen_hash(const transfer_ctx *c, const void *p, size_t mask) {
  uint64_t h = (uint64_t)(uintptr_t)p;
  if (!c->scramble) return (size_t)((h >> 6) ^ (h >> 26)) & mask;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 29;
  return (size_t)h & mask;
}

seen_slot *lcf_seen_find(const transfer_ctx *c, const void *p) {
  size_t mask = c->cap - 1, i;
  if (c->cap == 0) return NULL;
  i = seen_hash(c, p, mask);
  if (c->home[i] != (unsigned char)c->gen) return NULL;
  for (;; i = (i + 1) & mask) {
    seen_slot *s = &c->slots[i];
    if (s->gen != c->gen) return NULL;
    if (s->key == p) return s;
  }
}

/* Stamps are compared with gen, and home's with its low byte, so either
** wrapping clears them. A new encode starts with the ordered slots: the
** set is empty, so no entry was placed by the other hash. (Keeping the
** scrambling hash for good, once an encode had crowded the ordered
** slots, made C' pay a cache miss a table in every later encode of the
** main state: seen_add 8% of its time, bench/HISTORY.md.) */
void lcf_seen_begin(transfer_ctx *c) {
  c->scramble = 0;
  c->used = 0;
  if (++c->gen != 0 && (c->gen & 0xff) != 0) return;
  if (c->slots) memset(c->slots, 0, c->cap * sizeof *c->slots);
  if (c->home) memset(c->home, 0, c->cap);
  c->gen = 1;
}

/* The live entries into new arrays of ncap slots (stamped 1), placed by
** the scrambling hash or not. A larger set tries the ordered slots again:
** tables spread over more address space than a small set's slots cover
** wrap around and crowd, and the larger set covers them. -1, the set
** unchanged, without memory. */
static int seen_rehash(transfer_ctx *c, size_t ncap, int scramble) {
  size_t j;
  seen_slot *ns = calloc(ncap, sizeof *ns);
  unsigned char *nh = calloc(ncap, 1);
  if (ns == NULL || nh == NULL) {
    free(ns);
    free(nh);
    return -1;
  }
  c->scramble = scramble;
  for (j = 0; j < c->cap; j++) {
    seen_slot *s = &c->slots[j];
    if (s->gen == c->gen) {
      size_t k = seen_hash(c, s->key, ncap - 1);
      nh[k] = 1;
      while (ns[k].gen == 1) k = (k + 1) & (ncap - 1);
      ns[k] = *s;
      ns[k].gen = 1;
    }
  }
  free(c->slots);
  free(c->home);
  c->slots = ns;
  c->home = nh;
  c->cap = ncap;
  c->gen = 1;
  return 0;
}

seen_slot *lcf_seen_add(transfer_ctx *c, const void *p, uint32_t num, size_t at) {
  size_t mask, i, probes;
  if ((c->used + 1) * 2 > c->cap &&
      seen_rehash(c, c->cap ? c->cap * 2 : 256, 0) != 0)
    return NULL;
  if (num >= c->atcap) {
    size_t ncap = c->atcap ? c->atcap * 2 : 256;
    size_t *na = realloc(c->at, ncap * sizeof *na);
    if (na == NULL) return NULL;
    c->at = na;
    c->atcap = ncap;
  }
  c->at[num] = at;
  for (;;) {
    mask = c->cap - 1;
    i = seen_hash(c, p, mask);
    c->home[i] = (unsigned char)c->gen;
    for (probes = 0; c->slots[i].gen == c->gen; i = (i + 1) & mask) probes++;
    if (probes <= SEEN_MAXPROBE || c->scramble) break;
    /* then place p in the new layout */
    if (seen_rehash(c, c->cap, 1) != 0) return NULL;
  }
  c->slots[i].key = p;
  c->slots[i].gen = c->gen;
  c->slots[i].num = num;
  c->used++;
  return &c->slots[i];
}
