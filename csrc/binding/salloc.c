/*
** salloc.c -- the allocator of worker and thread states.
**
** Why: a worker state is made in a thread that has just been created, and
** the libraries it opens are a few thousand small blocks. Through glibc's
** malloc in a fresh thread (a new or recycled arena, cold bins) that was
** a third of a pool worker's start-up instructions, and freeing them all
** at lua_close another sixth. Here blocks up to SMALL_MAX bytes come from
** one region owned by the state, in size classes of GRAIN bytes with a
** free list each (Lua tells the size of every block it frees, so no header
** is needed); larger blocks, and small ones once the region is used up,
** come from malloc. A block belongs to the region if its address is in
** it, so the two kinds mix freely and the region's memory is bounded
** (REGION bytes per state): a task that builds and drops millions of
** small objects gives the excess back to malloc as before, and a
** long-lived pool worker does not hoard it.
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

#include "salloc.h"

#define GRAIN 16
#define NCLASS 16                       /* small: up to 256 bytes */
#define SMALL_MAX (GRAIN * NCLASS)
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

typedef struct salloc {
  void *freel[NCLASS];
  char *bump, *end;                     /* the region's unused tail */
  char *base;                           /* the region is [base, end) */
  void *first;                          /* the state's main block */
  int *released;                        /* set when freed (lua_newstate) */
  max_align_t pad_;                     /* the region starts aligned */
} salloc;

static inline int in_region(const salloc *a, const void *p) {
  return (const char *)p >= a->base && (const char *)p < a->end;
}

static void *small_new(salloc *a, size_t n) {
  size_t c = (n - 1) / GRAIN, sz = (c + 1) * GRAIN;
  void *p = a->freel[c];
  if (p != NULL) {
    a->freel[c] = *(void **)p;
    return p;
  }
  if ((size_t)(a->end - a->bump) < sz) return malloc(n);
  p = a->bump;
  a->bump += sz;
  return p;
}

/* A block of osize bytes goes back where it came from. */
static void give_back(salloc *a, void *p, size_t osize) {
  if (in_region(a, p)) {
    size_t c = (osize - 1) / GRAIN;
    *(void **)p = a->freel[c];
    a->freel[c] = p;
  } else {
    free(p);
  }
}

static void *salloc_f(void *ud, void *ptr, size_t osize, size_t nsize) {
  salloc *a = ud;
  void *np;
  if (ptr == NULL) {                    /* osize is a type tag: new block */
    if (nsize == 0) return NULL;
    if (a->first == NULL) return a->first = malloc(nsize);
    return nsize <= SMALL_MAX ? small_new(a, nsize) : malloc(nsize);
  }
  if (ptr == a->first) {                /* only ever freed, by lua_close */
    if (nsize != 0) return NULL;
    free(ptr);
    if (a->released) *a->released = 1;
    free(a);
    return NULL;
  }
  if (nsize == 0) {
    give_back(a, ptr, osize);
    return NULL;
  }
  if (!in_region(a, ptr)) {
    if (nsize > SMALL_MAX || (np = small_new(a, nsize)) == NULL)
      return realloc(ptr, nsize);
    if (!in_region(a, np)) {            /* the region is full: malloc's */
      free(np);
      return realloc(ptr, nsize);
    }
  } else if (nsize <= SMALL_MAX &&
             (osize - 1) / GRAIN == (nsize - 1) / GRAIN) {
    return ptr;                         /* same class */
  } else {
    np = nsize <= SMALL_MAX ? small_new(a, nsize) : malloc(nsize);
    if (np == NULL) {
      /* Lua takes a shrink to succeed: keep the block (later freed into
      ** a smaller class: harmless). Only when memory is exhausted. */
      return nsize <= osize ? ptr : NULL;
    }
  }
  memcpy(np, ptr, osize < nsize ? osize : nsize);
  give_back(a, ptr, osize);
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

lua_State *lcf_salloc_newstate(void) {
  salloc *a = malloc(sizeof *a + REGION);
  lua_State *L;
  int released = 0;
  if (a == NULL) return NULL;
  memset(a, 0, sizeof *a);
  a->base = a->bump = (char *)(a + 1);
  a->end = a->base + REGION;
  a->released = &released;    /* a failed lua_newstate may close it */
  L = lua_newstate(salloc_f, a);
  if (L == NULL) {
    if (!released) free(a);
    return NULL;
  }
  a->released = NULL;
  lua_atpanic(L, s_panic);
  lua_setwarnf(L, warn_off, L);
  return L;
}
