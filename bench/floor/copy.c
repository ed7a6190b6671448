/*
 * copy.c -- the floor of C and C': a table copied from a main state to a
 * worker state and back in four passes (read, build, read, build) through
 * C memory, with the fewest public Lua C API calls, no threads and no
 * format. Any library that copies tables between lua_States (it must: a
 * state's values never cross) pays at least this.
 *
 * The worker state lives on a thread of its own (its own malloc arena and
 * cache, as a library's worker has); passes 2 and 3 are handed to it and
 * waited for, one handoff a round trip.
 *
 * C (100,000 integers) is timed with five pairs of reader and builder, the
 * floor being the fastest (the brief asked for the first two):
 *   rawgeti+rawseti  lua_rawgeti + lua_tointegerx; lua_createtable +
 *                    lua_pushinteger + lua_rawseti
 *   next+rawseti     reads by lua_next, as an encoder that does not know
 *                    where the array part ends walks a table
 *   unpack+pack      table.unpack(t, 1, #t) pushes every element in one
 *                    call; the elements pushed, then a Lua function
 *                    `function(...) return {...} end` builds the table
 *                    with one OP_SETLIST (a copy an element) instead of a
 *                    lua_rawseti (~60 instructions) each
 *   next+pack        the general reader with that builder
 *   typed-next+pack  next+pack with lua_isinteger on each key and value,
 *                    the checks a general encoder needs (not a floor:
 *                    it shows their cost)
 * C' (10,000 records) reads every table by lua_next into a stream of items
 * (strings copied out), and builds records with lua_createtable sized as
 * seen + lua_setfield, pure arrays of 64 items or more with the packer.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

#include "floor.h"

/* ---------------------------------------------------------------------- */
/* Per state: the packer and table.unpack, in the registry. */

static const char PACK_KEY = 'p', UNPACK_KEY = 'u';

#define PACK_MIN 64  /* below this, lua_rawseti is cheaper than a call */

static lua_State *copy_state(void) {
  lua_State *L = newstate();
  if (luaL_loadstring(L, "return function(...) return {...} end, table.unpack")
      != LUA_OK)
    lua_error(L);
  lua_call(L, 0, 2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &UNPACK_KEY);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &PACK_KEY);
  return L;
}

/* Lua's own deep comparison, run once outside the timing: the floor must
 * copy the data, not just spend the time. */
static const char SAME[] =
  "local function same(a, b)\n"
  "  if type(a) ~= 'table' then return a == b and math.type(a) == math.type(b) end\n"
  "  if type(b) ~= 'table' or #a ~= #b then return false end\n"
  "  for k, v in pairs(a) do if not same(v, b[k]) then return false end end\n"
  "  for k in pairs(b) do if a[k] == nil then return false end end\n"
  "  return true\n"
  "end\n"
  "return same(...)\n";

static int same(lua_State *L, int a, int b) {
  a = lua_absindex(L, a);
  b = lua_absindex(L, b);
  if (luaL_loadstring(L, SAME) != LUA_OK) lua_error(L);
  lua_pushvalue(L, a);
  lua_pushvalue(L, b);
  lua_call(L, 2, 1);
  int ok = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return ok;
}

/* ---------------------------------------------------------------------- */
/* The worker thread: runs one job at a time for the main thread, which
 * waits for it. One mutex and condition; nothing else is shared. */

typedef struct runner {
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  void (*job)(void *);
  void *arg;
  int state;  /* IDLE, JOB (given), DONE, QUIT */
} runner;

enum { IDLE, JOB, DONE, QUIT };

static void *runner_main(void *p) {
  runner *r = p;
  pthread_mutex_lock(&r->mu);
  for (;;) {
    while (r->state != JOB && r->state != QUIT) pthread_cond_wait(&r->cv, &r->mu);
    if (r->state == QUIT) break;
    pthread_mutex_unlock(&r->mu);
    r->job(r->arg);
    pthread_mutex_lock(&r->mu);
    r->state = DONE;
    pthread_cond_broadcast(&r->cv);
  }
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

static int runner_start(runner *r) {
  r->state = IDLE;
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  return pthread_create(&r->th, NULL, runner_main, r);
}

static void runner_do(runner *r, void (*job)(void *), void *arg) {
  pthread_mutex_lock(&r->mu);
  r->job = job;
  r->arg = arg;
  r->state = JOB;
  pthread_cond_broadcast(&r->cv);
  while (r->state != DONE) pthread_cond_wait(&r->cv, &r->mu);
  r->state = IDLE;
  pthread_mutex_unlock(&r->mu);
}

static void runner_stop(runner *r) {
  pthread_mutex_lock(&r->mu);
  r->state = QUIT;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
  pthread_join(r->th, NULL);
  pthread_cond_destroy(&r->cv);
  pthread_mutex_destroy(&r->mu);
}

/* The worker state's life, run on the worker thread. */
static void job_open(void *p) { *(lua_State **)p = copy_state(); }
static void job_close(void *p) { lua_close(*(lua_State **)p); }
static void job_collect(void *p) { lua_gc(*(lua_State **)p, LUA_GCCOLLECT); }

/* ---------------------------------------------------------------------- */
/* C: 100,000 integers. Readers take the table at absolute index t. */

static NOINLINE size_t c_read_rawgeti(lua_State *L, int t, lua_Integer *out,
                                      size_t cap) {
  size_t n = (size_t)lua_rawlen(L, t);
  if (n > cap) luaL_error(L, "table longer than %d", (int)cap);
  for (size_t i = 0; i < n; i++) {
    int isnum;
    lua_rawgeti(L, t, (lua_Integer)i + 1);
    out[i] = lua_tointegerx(L, -1, &isnum);
    if (!isnum) luaL_error(L, "not an integer at [%d]", (int)i + 1);
    lua_pop(L, 1);
  }
  return n;
}

/* Every pair, the key read and checked as well as the value. */
static NOINLINE size_t c_read_next(lua_State *L, int t, lua_Integer *out,
                                   size_t cap) {
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int kok, vok;
    lua_Integer k = lua_tointegerx(L, -2, &kok);
    lua_Integer v = lua_tointegerx(L, -1, &vok);
    if (!kok || !vok || k < 1 || (size_t)k > cap)
      luaL_error(L, "not an integer array");
    out[k - 1] = v;
    n++;
    lua_pop(L, 1);
  }
  return n;
}

/* As c_read_next, with the two checks a general encoder cannot skip:
 * lua_isinteger on the key (lua_tointegerx alone takes a string key "3"
 * met after the array part for index 3) and on the value (it takes 3.0,
 * whose float subtype must cross). Not a floor the goals use (goals.lua
 * takes the next+ readers): it shows what those checks cost. */
static NOINLINE size_t c_read_typed(lua_State *L, int t, lua_Integer *out,
                                    size_t cap) {
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_Integer k, v;
    if (!lua_isinteger(L, -2) || !lua_isinteger(L, -1))
      luaL_error(L, "not an integer array");
    k = lua_tointeger(L, -2);
    v = lua_tointeger(L, -1);
    if (k < 1 || (size_t)k > cap) luaL_error(L, "not an integer array");
    out[k - 1] = v;
    n++;
    lua_pop(L, 1);
  }
  return n;
}

/* table.unpack(t, 1, #t), then the stack slots read in place. */
static NOINLINE size_t c_read_unpack(lua_State *L, int t, lua_Integer *out,
                                     size_t cap) {
  size_t n = (size_t)lua_rawlen(L, t);
  if (n > cap) luaL_error(L, "table longer than %d", (int)cap);
  luaL_checkstack(L, (int)n + 4, "array too long");
  int base = lua_gettop(L);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &UNPACK_KEY);
  lua_pushvalue(L, t);
  lua_pushinteger(L, 1);
  lua_pushinteger(L, (lua_Integer)n);
  /* LUA_MULTRET: a CallInfo keeps the count of results wanted in a short */
  lua_call(L, 3, LUA_MULTRET);
  if ((size_t)(lua_gettop(L) - base) != n) luaL_error(L, "unpack gave too few");
  for (size_t i = 0; i < n; i++) {
    int isnum;
    out[i] = lua_tointegerx(L, base + 1 + (int)i, &isnum);
    if (!isnum) luaL_error(L, "not an integer at [%d]", (int)i + 1);
  }
  lua_settop(L, base);
  return n;
}

/* A table pre-sized for its array part. [-0, +1] */
static NOINLINE void c_build_rawseti(lua_State *L, const lua_Integer *a,
                                     size_t n) {
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushinteger(L, a[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

/* The elements pushed, then {...}. [-0, +1] */
static NOINLINE void c_build_pack(lua_State *L, const lua_Integer *a,
                                  size_t n) {
  luaL_checkstack(L, (int)n + 2, "array too long");
  lua_rawgetp(L, LUA_REGISTRYINDEX, &PACK_KEY);
  for (size_t i = 0; i < n; i++) lua_pushinteger(L, a[i]);
  lua_call(L, (int)n, 1);
}

typedef size_t (*c_reader)(lua_State *, int, lua_Integer *, size_t);
typedef void (*c_builder)(lua_State *, const lua_Integer *, size_t);

static const struct c_variant {
  const char *name;
  c_reader rd;
  c_builder bd;
} C_VARIANTS[] = {
  {"rawgeti+rawseti", c_read_rawgeti, c_build_rawseti},
  {"next+rawseti", c_read_next, c_build_rawseti},
  {"unpack+pack", c_read_unpack, c_build_pack},
  {"next+pack", c_read_next, c_build_pack},
  {"typed-next+pack", c_read_typed, c_build_pack},
};
#define NVARIANTS (int)(sizeof C_VARIANTS / sizeof C_VARIANTS[0])

/* Passes 2 and 3, on the worker thread. */
typedef struct c_job {
  lua_State *W;
  const struct c_variant *v;
  lua_Integer *a, *b;  /* main -> worker, worker -> main */
  size_t n, m, cap;
  double build, read;
} c_job;

static void c_worker_passes(void *p) {
  c_job *j = p;
  double t0 = now();
  j->v->bd(j->W, j->a, j->n);
  double t1 = now();
  j->m = j->v->rd(j->W, lua_gettop(j->W), j->b, j->cap);
  lua_pop(j->W, 1);
  j->read = now() - t1;
  j->build = t1 - t0;
}

/* One round trip: main reads src (at index 1 of main), the worker builds
 * and reads back, main builds the result, left on main's stack. pass[]
 * gets the seconds of each pass added. */
static void c_round_trip(lua_State *M, runner *w, c_job *j,
                         const struct c_variant *v, double pass[4]) {
  double t0 = now();
  j->v = v;
  j->n = v->rd(M, 1, j->a, j->cap);
  double t1 = now();
  runner_do(w, c_worker_passes, j);
  double t2 = now();
  v->bd(M, j->b, j->m);
  double t3 = now();
  pass[0] += t1 - t0;
  pass[1] += j->build;
  pass[2] += j->read;
  pass[3] += t3 - t2;
}

static double runs_[NVARIANTS][MAXRUNS], pass_[NVARIANTS][4][MAXRUNS];

/* A main state holding {0, ..., n-1} at index 1, a worker thread with
 * its state, and the C arrays between them. */
typedef struct c_setup {
  runner w;
  lua_State *M, *W;
  c_job j;
  lua_Integer *a, *b;
} c_setup;

static int c_open(c_setup *c, size_t n) {
  const char *err = NULL;
  c->a = malloc(n * sizeof *c->a);
  c->b = malloc(n * sizeof *c->b);
  if (!c->a || !c->b) err = "out of memory";
  else if (runner_start(&c->w)) err = "pthread_create failed";
  if (err) {
    emit_error("C", err);
    free(c->a);
    free(c->b);
    return -1;
  }
  c->M = copy_state();
  runner_do(&c->w, job_open, &c->W);
  c->j = (c_job){.W = c->W, .a = c->a, .b = c->b, .cap = n};
  lua_createtable(c->M, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushinteger(c->M, (lua_Integer)i);
    lua_rawseti(c->M, -2, (lua_Integer)i + 1);
  }
  return 0;
}

static void c_close(c_setup *c) {
  runner_do(&c->w, job_close, &c->W);
  runner_stop(&c->w);
  lua_close(c->M);
  free(c->a);
  free(c->b);
}

void run_C(const sizes *S, int R) {
  size_t n = (size_t)S->c_len;
  int inner = S->c_inner, ok = 1;
  c_setup c;
  current = "C";
  if (c_open(&c, n)) return;
  lua_State *M = c.M;
  for (int v = 0; v < NVARIANTS && ok; v++) {
    double p[4] = {0};
    c_round_trip(M, &c.w, &c.j, &C_VARIANTS[v], p);
    ok = same(M, 1, -1);
    lua_pop(M, 1);
  }
  if (!ok) {
    emit_error("C", "the copy differs");
  } else {
    /* The variants alternate within each run, so the noise of the moment
     * falls on all alike. The tables made are dropped at once and left to
     * each state's collector, as a caller dropping its result would. */
    for (int r = 0; r < R; r++) {
      for (int v = 0; v < NVARIANTS; v++) {
        double p[4] = {0};
        lua_gc(M, LUA_GCCOLLECT);
        runner_do(&c.w, job_collect, &c.W);
        double t0 = now();
        for (int i = 0; i < inner; i++) {
          c_round_trip(M, &c.w, &c.j, &C_VARIANTS[v], p);
          lua_pop(M, 1);
        }
        runs_[v][r] = (now() - t0) / inner * 1e3;
        for (int k = 0; k < 4; k++) pass_[v][k][r] = p[k] / inner * 1e3;
      }
    }
    int best = 0;
    double med[NVARIANTS];
    for (int v = 0; v < NVARIANTS; v++) {
      med[v] = median(runs_[v], R);
      if (med[v] < med[best]) best = v;
    }
    char params[1024];
    int len = snprintf(params, sizeof params,
"\"payload\": \"%d integers\", \"inner\": %d, \"threads\": 2, "
             "\"gc\": %s, \"variant\": \"%s\", "
             "\"pass_ms\": [%.4g, %.4g, %.4g, %.4g], \"variants_ms\": {",
             (int)n, inner, gc_off ? "false" : "true", C_VARIANTS[best].name,
             median(pass_[best][0], R), median(pass_[best][1], R),
             median(pass_[best][2], R), median(pass_[best][3], R));
    for (int v = 0; v < NVARIANTS; v++)
      len += snprintf(params + len, sizeof params - (size_t)len,
                      "%s\"%s\": %.5g", v ? ", " : "", C_VARIANTS[v].name, med[v]);
    snprintf(params + len, sizeof params - (size_t)len, "}");
    emit("C", runs_[best], R, "ms", params);
  }
  c_close(&c);
}

/* --units: n round trips of one reader and builder (c_variant_name: the
 * floor column's next+pack unless --variant names another) and nothing
 * else, after one that warms: for instruction counts. */
const char *c_variant_name = "next+pack";

void units_C(const sizes *S, int n) {
  const struct c_variant *v = C_VARIANTS;
  c_setup c;
  while (v < C_VARIANTS + NVARIANTS && strcmp(v->name, c_variant_name) != 0) v++;
  if (v == C_VARIANTS + NVARIANTS) { emit_error("C", "no such variant"); return; }
  current = "C";
  if (c_open(&c, (size_t)S->c_len)) return;
  for (int i = 0; i <= n; i++) {
    double p[4] = {0};
    c_round_trip(c.M, &c.w, &c.j, v, p);
    lua_pop(c.M, 1);
  }
  c_close(&c);
}

/* ---------------------------------------------------------------------- */
/* C': records, through a neutral stream of items. */

enum { I_INT, I_FLT, I_STR, I_BOOL, I_TAB };

/* One key or value, in preorder: a table item is followed by its count
 * pairs of (key item, value items). Strings are offsets into the arena,
 * which may move while it grows. */
typedef struct item {
  int type;
  int narr, nrec;       /* I_TAB: the sizes seen, for lua_createtable */
  size_t len;           /* I_STR: bytes; I_TAB: pairs */
  union {
    lua_Integer i;
    lua_Number d;
    size_t off;         /* I_STR: arena offset of len bytes and a '\0' */
    int b;
  } u;
} item;

#define NKEYS 8

typedef struct stream {
  item *items;
  size_t n, cap;
  char *arena;
  size_t used, acap;
  /* The last distinct string keys: records repeat theirs, and a key kept
   * once lets lua_setfield hit Lua's string cache (keyed by address). */
  size_t key_off[NKEYS], key_len[NKEYS];
  int nkeys, next_key;
} stream;

static void stream_reset(stream *s) {
  s->n = s->used = 0;
  s->nkeys = s->next_key = 0;
}

/* Growth raises through the state that is being read; the stream's own
 * memory stays owned by the caller (freed at the end of run_Cp). */
static size_t new_item(lua_State *L, stream *s) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 4096;
    item *p = realloc(s->items, cap * sizeof *p);
    if (!p) luaL_error(L, "out of memory");
    s->items = p;
    s->cap = cap;
  }
  return s->n++;
}

static size_t put_bytes(lua_State *L, stream *s, const char *p, size_t len) {
  if (s->acap - s->used < len + 1) {
    size_t cap = s->acap ? s->acap : 65536;
    while (cap - s->used < len + 1) cap *= 2;
    char *a = realloc(s->arena, cap);
    if (!a) luaL_error(L, "out of memory");
    s->arena = a;
    s->acap = cap;
  }
  size_t off = s->used;
  memcpy(s->arena + off, p, len);
  s->arena[off + len] = '\0';
  s->used += len + 1;
  return off;
}

static size_t put_key(lua_State *L, stream *s, const char *p, size_t len) {
  for (int i = 0; i < s->nkeys; i++)
    if (s->key_len[i] == len && memcmp(s->arena + s->key_off[i], p, len) == 0)
      return s->key_off[i];
  size_t off = put_bytes(L, s, p, len);
  int k = s->nkeys < NKEYS ? s->nkeys++ : (s->next_key++ % NKEYS);
  s->key_off[k] = off;
  s->key_len[k] = len;
  return off;
}

static void read_table(lua_State *L, int t, stream *s, int depth);

/* The value at the top of L's stack. */
static void read_value(lua_State *L, stream *s, int depth) {
  size_t len;
  const char *p;
  switch (lua_type(L, -1)) {
    case LUA_TNUMBER: {
      size_t k = new_item(L, s);
      if (lua_isinteger(L, -1)) {
        s->items[k].type = I_INT;
        s->items[k].u.i = lua_tointeger(L, -1);
      } else {
        s->items[k].type = I_FLT;
        s->items[k].u.d = lua_tonumber(L, -1);
      }
      break;
    }
    case LUA_TSTRING: {
      p = lua_tolstring(L, -1, &len);
      size_t off = put_bytes(L, s, p, len);
      size_t k = new_item(L, s);
      s->items[k].type = I_STR;
      s->items[k].len = len;
      s->items[k].u.off = off;
      break;
    }
    case LUA_TBOOLEAN: {
      size_t k = new_item(L, s);
      s->items[k].type = I_BOOL;
      s->items[k].u.b = lua_toboolean(L, -1);
      break;
    }
    case LUA_TTABLE:
      read_table(L, lua_gettop(L), s, depth + 1);
      break;
    default:
      luaL_error(L, "cannot send %s", luaL_typename(L, -1));
  }
}

/* Every pair by lua_next, keys included; the array part (keys 1, 2, ...
 * in order, as lua_next yields them first) and the rest are counted so
 * the builder can size the table. */
static void read_table(lua_State *L, int t, stream *s, int depth) {
  if (depth > 100) luaL_error(L, "tables nested too deep");
  luaL_checkstack(L, 3, "tables nested too deep");
  size_t h = new_item(L, s);
  int narr = 0, nrec = 0;
  size_t pairs = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    size_t k = new_item(L, s);
    if (lua_type(L, -2) == LUA_TSTRING) {
      size_t len;
      const char *p = lua_tolstring(L, -2, &len);
      size_t off = put_key(L, s, p, len);
      s->items[k].type = I_STR;
      s->items[k].len = len;
      s->items[k].u.off = off;
      nrec++;
    } else if (lua_isinteger(L, -2)) {
      lua_Integer i = lua_tointeger(L, -2);
      s->items[k].type = I_INT;
      s->items[k].u.i = i;
      if (i == narr + 1) narr++; else nrec++;
    } else {
      luaL_error(L, "cannot send a %s key", luaL_typename(L, -2));
    }
    read_value(L, s, depth);
    lua_pop(L, 1);
    pairs++;
  }
  item *it = &s->items[h];
  it->type = I_TAB;
  it->narr = narr;
  it->nrec = nrec;
  it->len = pairs;
}

/* Pass 1/3: the whole value into s. */
static NOINLINE void cp_read(lua_State *L, int t, stream *s) {
  stream_reset(s);
  read_table(L, lua_absindex(L, t), s, 0);
}

/* Push the value starting at item i; returns the index after it. */
static size_t build_value(lua_State *L, const stream *s, size_t i) {
  const item *it = &s->items[i++];
  switch (it->type) {
    case I_INT: lua_pushinteger(L, it->u.i); break;
    case I_FLT: lua_pushnumber(L, it->u.d); break;
    case I_STR: lua_pushlstring(L, s->arena + it->u.off, it->len); break;
    case I_BOOL: lua_pushboolean(L, it->u.b); break;
    default:
      if (it->nrec == 0 && it->narr >= PACK_MIN) {
        /* Keys 1..n in order (lua_next yields the array part first): the
         * elements pushed, then {...}. */
        luaL_checkstack(L, it->narr + 2, "array too long");
        lua_rawgetp(L, LUA_REGISTRYINDEX, &PACK_KEY);
        for (size_t p = 0; p < it->len; p++) i = build_value(L, s, i + 1);
        lua_call(L, it->narr, 1);
        break;
      }
      luaL_checkstack(L, 3, "tables nested too deep");
      lua_createtable(L, it->narr, it->nrec);
      for (size_t p = 0; p < it->len; p++) {
        const item *k = &s->items[i];
        i = build_value(L, s, i + 1);
        if (k->type == I_INT)
          lua_rawseti(L, -2, k->u.i);
        else
          lua_setfield(L, -2, s->arena + k->u.off);
      }
  }
  return i;
}

/* Pass 2/4. [-0, +1] */
static NOINLINE void cp_build(lua_State *L, const stream *s) {
  build_value(L, s, 0);
}

/* Passes 2 and 3, on the worker thread. */
typedef struct cp_job {
  lua_State *W;
  stream *s1, *s2;
  double build, read;
} cp_job;

static void cp_worker_passes(void *p) {
  cp_job *j = p;
  double t0 = now();
  cp_build(j->W, j->s1);
  double t1 = now();
  cp_read(j->W, -1, j->s2);
  lua_pop(j->W, 1);
  j->read = now() - t1;
  j->build = t1 - t0;
}

static void cp_round_trip(lua_State *M, runner *w, cp_job *j, double pass[4]) {
  double t0 = now();
  cp_read(M, 1, j->s1);
  double t1 = now();
  runner_do(w, cp_worker_passes, j);
  double t2 = now();
  cp_build(M, j->s2);
  double t3 = now();
  pass[0] += t1 - t0;
  pass[1] += j->build;
  pass[2] += j->read;
  pass[3] += t3 - t2;
}

/* A main state holding the records at index 1, a worker thread with its
 * state, and the two streams between them. */
typedef struct cp_setup {
  runner w;
  lua_State *M, *W;
  stream s1, s2;
  cp_job j;
} cp_setup;

static int cp_open(cp_setup *c, int n) {
  memset(c, 0, sizeof *c);
  if (runner_start(&c->w)) { emit_error("C'", "pthread_create failed"); return -1; }
  c->M = copy_state();
  runner_do(&c->w, job_open, &c->W);
  c->j = (cp_job){.W = c->W, .s1 = &c->s1, .s2 = &c->s2};
  if (luaL_loadstring(c->M,
        "local n = ...\n"
        "local t = {}\n"
        "for i = 1, n do t[i] = {id = i - 1, name = 'name' .. (i - 1), tags = {'a', 'b'}} end\n"
        "return t\n") != LUA_OK)
    lua_error(c->M);
  lua_pushinteger(c->M, n);
  lua_call(c->M, 1, 1);
  return 0;
}

static void cp_close(cp_setup *c) {
  runner_do(&c->w, job_close, &c->W);
  runner_stop(&c->w);
  lua_close(c->M);
  free(c->s1.items);
  free(c->s1.arena);
  free(c->s2.items);
  free(c->s2.arena);
}

void run_Cp(const sizes *S, int R) {
  int n = S->cp_len, inner = S->c_inner;
  double runs[MAXRUNS], pass[4][MAXRUNS];
  cp_setup c;
  current = "C'";
  if (cp_open(&c, n)) return;
  lua_State *M = c.M;
  double p[4] = {0};
  cp_round_trip(M, &c.w, &c.j, p);
  int ok = same(M, 1, -1);
  lua_pop(M, 1);
  if (!ok) {
    emit_error("C'", "the copy differs");
  } else {
    for (int r = 0; r < R; r++) {
      double pr[4] = {0};
      lua_gc(M, LUA_GCCOLLECT);
      runner_do(&c.w, job_collect, &c.W);
      double t0 = now();
      for (int i = 0; i < inner; i++) {
        cp_round_trip(M, &c.w, &c.j, pr);
        lua_pop(M, 1);
      }
      runs[r] = (now() - t0) / inner * 1e3;
      for (int k = 0; k < 4; k++) pass[k][r] = pr[k] / inner * 1e3;
    }
    char params[512];
    snprintf(params, sizeof params,
             "\"payload\": \"%d records\", \"inner\": %d, \"threads\": 2, "
             "\"gc\": %s, \"items\": %d, \"pack_min\": %d, "
             "\"pass_ms\": [%.4g, %.4g, %.4g, %.4g]",
             n, inner, gc_off ? "false" : "true", (int)c.s1.n, PACK_MIN,
             median(pass[0], R), median(pass[1], R), median(pass[2], R),
             median(pass[3], R));
    emit("C'", runs, R, "ms", params);
  }
  cp_close(&c);
}

/* --units: n round trips of the records, after one that warms. */
void units_Cp(const sizes *S, int n) {
  cp_setup c;
  current = "C'";
  if (cp_open(&c, S->cp_len)) return;
  for (int i = 0; i <= n; i++) {
    double p[4] = {0};
    cp_round_trip(c.M, &c.w, &c.j, p);
    lua_pop(c.M, 1);
  }
  cp_close(&c);
}
