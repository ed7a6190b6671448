/*
** allocator.c -- the allocator of worker and thread states.
**
** Why: a worker state is made in a thread that has just been created, and
** the libraries it opens are a few thousand small blocks. Through glibc's
** malloc in a fresh thread (a new or recycled arena, cold bins) that was
** a large part of a pool worker's start-up, and freeing them all at
** lua_close another. Here blocks up to REGION_MAX bytes come from
** one region owned by the state, in size classes with a free list each
** (Lua tells the size of every block it frees, so no header is needed):
** steps of GRAIN bytes up to SMALL_MAX, then powers of two (a state's
** string table, its globals' and its libraries' hash parts: a dozen
** blocks of 0.5-4 KB that went to malloc, ~15,000 instructions of a
** Thread start + join, bench/instructions.sh). Larger blocks, and any
** once the region is used up, come from malloc. A block belongs to the
** region if its address is in it, so the two kinds mix freely and the
** region's memory is bounded (REGION bytes per state): a task that
** builds and drops millions of small objects gives the excess back to
** malloc as before, and a long-lived pool worker does not hoard it.
**
** The region and the allocator's record are one malloc'd block, freed
** when lua_close frees the state's main block (always the first
** allocation, always freed last). Used by one thread at a time, like the
** state itself.
*/
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"

#define GRAIN 16
#define NSMALL 16                       /* small: up to 256 bytes */
#define SMALL_MAX (GRAIN * NSMALL)
#define NBIG 4                          /* then 512, 1024, 2048, 4096 */
#define REGION_MAX (SMALL_MAX << NBIG)
#define NCLASS (NSMALL + NBIG)
/* Under AddressSanitizer the region is empty: every block is malloc's,
** so overflows of Lua blocks (userdata the binding writes) stay caught. */
#if defined(__SANITIZE_ADDRESS__)
#define REGION 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REGION 0
#endif
#endif
#ifndef REGION
#define REGION 65536                    /* a fresh state uses ~20 KB */
#endif

typedef struct region_heap {
  void *freel[NCLASS];
  char *bump, *end;                     /* the region's unused tail */
  char *base;                           /* the region is [base, end) */
  void *first;                          /* the state's main block */
  int *released;                        /* set when freed (lua_newstate) */
  max_align_t pad_;                     /* the region starts aligned */
} region_heap;

static inline int in_region(const region_heap *a, const void *p) {
  return (const char *)p >= a->base && (const char *)p < a->end;
}

/* The class of a block of n bytes (0 < n <= REGION_MAX), and the size of
** its class's blocks. */
static inline size_t class_of(size_t n) {
  size_t c = NSMALL;
  if (n <= SMALL_MAX) return (n - 1) / GRAIN;
  while ((size_t)SMALL_MAX << (c - NSMALL + 1) < n) c++;
  return c;
}

static inline size_t class_size(size_t c) {
  return c < NSMALL ? (c + 1) * GRAIN : (size_t)SMALL_MAX << (c - NSMALL + 1);
}

/* A block for n bytes (n <= REGION_MAX) from its class's free list or the
** region's tail; NULL when the region has none (the caller then uses
** malloc). */
static inline void *region_take(region_heap *a, size_t n) {
  size_t c = class_of(n), sz = class_size(c);
  void *p = a->freel[c];
  if (p != NULL) {
    a->freel[c] = *(void **)p;
    return p;
  }
  if ((size_t)(a->end - a->bump) < sz) return NULL;
  p = a->bump;
  a->bump += sz;
  return p;
}

static inline void region_give(region_heap *a, void *p, size_t osize) {
  size_t c = class_of(osize);
  *(void **)p = a->freel[c];
  a->freel[c] = p;
}

/* The common cases first, and a block outside the region costs one
** range check more than plain malloc/free/realloc (allocation-heavy
** tasks outgrow the region quickly). */
static void *region_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  region_heap *a = ud;
  void *np;
  if (nsize == 0) {                     /* free */
    if (in_region(a, ptr)) {
      region_give(a, ptr, osize);
    } else if (ptr != NULL && ptr == a->first) {
      free(ptr);                        /* lua_close: the main block, last */
      if (a->released) *a->released = 1;
      free(a);
    } else {
      free(ptr);
    }
    return NULL;
  }
  if (ptr == NULL) {                    /* new block; osize is a type tag */
    if (nsize <= REGION_MAX && a->first != NULL &&
        (np = region_take(a, nsize)) != NULL)
      return np;
    np = malloc(nsize);
    if (a->first == NULL) a->first = np;
    return np;
  }
  if (!in_region(a, ptr)) {             /* malloc's block */
    if (nsize > REGION_MAX || (np = region_take(a, nsize)) == NULL)
      return realloc(ptr, nsize);
    memcpy(np, ptr, osize < nsize ? osize : nsize);
    free(ptr);
    return np;
  }
  if (nsize <= REGION_MAX) {
    if (class_of(osize) == class_of(nsize)) return ptr;
    if ((np = region_take(a, nsize)) == NULL) np = malloc(nsize);
  } else {
    np = malloc(nsize);
  }
  if (np == NULL) {
    /* Lua takes a shrink to succeed: keep the block (later freed into a
    ** smaller class: harmless). Only when memory is exhausted. */
    return nsize <= osize ? ptr : NULL;
  }
  memcpy(np, ptr, osize < nsize ? osize : nsize);
  region_give(a, ptr, osize);
  return np;
}

/* What luaL_newstate installs besides the allocator: the panic message
** and warnings (off until "@on"; "@off" and "@on" are control messages;
** a warning in pieces is one line "Lua warning: ..."). */
static int s_panic(lua_State *L) {
  const char *m = lua_tostring(L, -1);
  fprintf(stderr, "PANIC: unprotected error in call to Lua API (%s)\n",
          m ? m : "error object is not a string");
  fflush(stderr);
  return 0;   /* Lua aborts */
}

static void warn_on(void *ud, const char *m, int tocont);
static void warn_off(void *ud, const char *m, int tocont);

static int warn_control(lua_State *L, const char *m, int tocont) {
  if (tocont || m[0] != '@') return 0;
  if (strcmp(m + 1, "off") == 0) lua_setwarnf(L, warn_off, L);
  else if (strcmp(m + 1, "on") == 0) lua_setwarnf(L, warn_on, L);
  return 1;
}

static void warn_off(void *ud, const char *m, int tocont) {
  warn_control(ud, m, tocont);
}

static void warn_cont(void *ud, const char *m, int tocont) {
  fprintf(stderr, "%s", m);
  if (tocont) {
    lua_setwarnf(ud, warn_cont, ud);
  } else {
    fprintf(stderr, "\n");
    lua_setwarnf(ud, warn_on, ud);
  }
  fflush(stderr);
}

static void warn_on(void *ud, const char *m, int tocont) {
  if (warn_control(ud, m, tocont)) return;
  fprintf(stderr, "Lua warning: ");
  warn_cont(ud, m, tocont);
}

lua_State *lcf_allocator_newstate(void) {
  region_heap *a = malloc(sizeof *a + REGION);
  lua_State *L;
  int released = 0;
  if (a == NULL) return NULL;
  memset(a, 0, sizeof *a);
  a->base = a->bump = (char *)(a + 1);
  a->end = a->base + REGION;
  a->released = &released;    /* a failed lua_newstate may close it */
  L = lua_newstate(region_alloc, a);
  if (L == NULL) {
    if (!released) free(a);
    return NULL;
  }
  a->released = NULL;
  lcf_state_defaults(L);
  return L;
}

void lcf_state_defaults(lua_State *L) {
  lua_atpanic(L, s_panic);
  lua_setwarnf(L, warn_off, L);
}
