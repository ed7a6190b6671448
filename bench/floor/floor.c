/*
 * floor.c -- the floor of the benchmark suite: what any Lua 5.4 threading
 * library pays on this machine for the workloads of the performance issue,
 * measured with bare pthreads and the public Lua C API, no library of ours.
 *
 *   floor [--quick] [--repeat R] [--only A'',C,C',D] [--no-gc]
 *
 * Prints JSON lines in the shape of bench/ours.lua and the peers, under the
 * peer name "api-floor", so bench/report.lua can put the floor next to our
 * figure and the goal:
 *   {"peer": "api-floor", "workload": "C", "median": 3.1, "unit": "ms",
 *    "runs": [...], "params": {...}}
 *
 * Workloads (the sizes of bench/ours.lua; --quick takes its quick sizes):
 *   A''  pthread_create + (in the thread) luaL_newstate + luaL_openlibs +
 *        a trivial chunk + lua_close, then pthread_join: us per thread;
 *        also with lua_newstate and a region allocator (the floor is the
 *        lower). params: both, the thread alone (create+join of an empty
 *        thread), the state alone (newstate+openlibs+close, no thread).
 *   D    two such threads started together, then both joined: a pool of 2
 *        that runs nothing; ms (the lower allocator again).
 *   C    the round trip of {0, ..., 99999} in four passes over two states
 *        (main and worker): main reads t into a C array (lua_rawgeti +
 *        lua_tointegerx), the worker builds a table from it (lua_createtable
 *        + lua_pushinteger + lua_rawseti), reads it back, main builds the
 *        final table; ms per round trip. params.next_ms: the same with the
 *        reads done by lua_next, as an encoder that does not know where the
 *        array part ends must; params.pass_ms: each pass.
 *   C'   the same four passes for 10,000 records {id=, name=, tags={"a","b"}}:
 *        reads walk every table with lua_next into a C stream of items
 *        (strings copied out: a state's strings never cross), builds use
 *        lua_createtable with the sizes seen + lua_setfield / lua_rawseti.
 *
 * The four passes are separate non-inlined functions so callgrind reports
 * each (valgrind --tool=callgrind floor --quick --only C,C'). --no-gc stops
 * the collectors of the C and C' states (a full collection still runs
 * between runs), to show what share of the floor is Lua's collector; the
 * figures of `make bench` run with the collectors on, as ours do.
 * A benchmark, not a test: it exits 0 unless it cannot run at all.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#define PEER "api-floor"
#define NOINLINE __attribute__((noinline))
#define MAXRUNS 1000

typedef struct sizes {
  int app_n;    /* A'': threads per run */
  int d_inner;  /* D: pool lifecycles per run */
  int c_len;    /* C: integers */
  int cp_len;   /* C': records */
  int c_inner;  /* C, C': round trips per run */
} sizes;

static const sizes FULL = {2000, 50, 100000, 10000, 10};
static const sizes QUICK = {200, 10, 100000, 10000, 2};

/* ---------------------------------------------------------------------- */
/* Clock, medians, JSON lines. */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(const double *v, int n) {
  double s[MAXRUNS];
  memcpy(s, v, (size_t)n * sizeof *s);
  qsort(s, (size_t)n, sizeof *s, cmp_double);
  return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* Numbers as ours.lua writes them (%.5g), so the report reads both alike. */
static void emit(const char *workload, const double *runs, int n,
                 const char *unit, const char *params) {
  printf("{\"peer\": \"%s\", \"workload\": \"%s\", \"median\": %.5g, "
         "\"unit\": \"%s\", \"runs\": [", PEER, workload, median(runs, n), unit);
  for (int i = 0; i < n; i++) printf("%s%.5g", i ? ", " : "", runs[i]);
  printf("], \"params\": {%s}}\n", params);
  fflush(stdout);
}

static void emit_error(const char *workload, const char *msg) {
  printf("{\"peer\": \"%s\", \"workload\": \"%s\", \"error\": \"", PEER, workload);
  for (const char *p = msg; *p; p++) {
    if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
      printf("\\u%04x", (unsigned char)*p);
    else
      putchar(*p);
  }
  printf("\"}\n");
  fflush(stdout);
}

/* An unprotected Lua error here is a memory error or a bug: say so in the
 * JSON stream and stop, rather than abort() with nothing in the report. */
static const char *current = "?";
static int gc_off;
static int on_panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  emit_error(current, msg ? msg : "Lua panic");
  exit(1);
}

static lua_State *newstate(void) {
  lua_State *L = luaL_newstate();
  if (!L) {
    emit_error(current, "luaL_newstate: out of memory");
    exit(1);
  }
  lua_atpanic(L, on_panic);
  luaL_openlibs(L);
  if (gc_off) lua_gc(L, LUA_GCSTOP);
  return L;
}

/* ---------------------------------------------------------------------- */
/* A'' and D: threads and states. */

enum { BODY_EMPTY, BODY_STATE, BODY_REGION };

/* The least a state's allocator can do: blocks cut from one region in
 * order, never reused (a state that only opens its libraries and runs a
 * chunk frees little), the region freed in one go after lua_close. What
 * does not fit goes to malloc; a block is the region's if its address is
 * in it. A library may give its worker states such an allocator, so the
 * floor of A'' and D is the lower of this and luaL_newstate's malloc. */
#define REGION_SIZE (256 * 1024)

typedef struct region {
  char *top, *end;
  char base[];
} region;

static void *region_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  region *r = ud;
  int inside = ptr && (char *)ptr >= r->base && (char *)ptr < r->end;
  if (nsize == 0) {
    if (ptr && !inside) free(ptr);
    return NULL;
  }
  if (ptr && !inside) return realloc(ptr, nsize);
  if (ptr && nsize <= osize) return ptr;
  size_t need = (nsize + 15) & ~(size_t)15;
  void *p;
  if ((size_t)(r->end - r->top) >= need) {
    p = r->top;
    r->top += need;
  } else {
    p = malloc(nsize);
    if (!p) return NULL;
  }
  if (ptr) memcpy(p, ptr, osize);
  return p;
}

static lua_State *region_newstate(region **rp) {
  region *r = malloc(sizeof *r + REGION_SIZE);
  if (!r) return NULL;
  r->top = r->base;
  r->end = r->base + REGION_SIZE;
  lua_State *L = lua_newstate(region_alloc, r);
  if (!L) free(r);
  *rp = r;
  return L;
}

/* What a worker of any such library does at least: make a state with the
 * standard libraries, run something in it, close it. Returns non-NULL on
 * failure (the joiner reports it). */
static void *state_body(void *arg) {
  region *r = NULL;
  lua_State *L = arg ? region_newstate(&r) : luaL_newstate();
  if (!L) return (void *)"lua_newstate failed";
  luaL_openlibs(L);
  int bad = luaL_loadstring(L, "return 1") != LUA_OK ||
            lua_pcall(L, 0, 1, 0) != LUA_OK || lua_tointeger(L, -1) != 1;
  lua_close(L);
  free(r);
  return bad ? (void *)"the trivial chunk failed" : NULL;
}

static void *empty_body(void *arg) {
  return arg;
}

/* Start k threads running body, then join them all; 0 or an error text. */
static const char *spawn_join(int k, int which) {
  pthread_t th[2];
  const char *err = NULL;
  int started = 0;
  for (; started < k; started++) {
    int rc = pthread_create(&th[started], NULL,
                            which == BODY_EMPTY ? empty_body : state_body,
                            which == BODY_REGION ? (void *)1 : NULL);
    if (rc) {
      err = strerror(rc);
      break;
    }
  }
  for (int i = 0; i < started; i++) {
    void *ret = NULL;
    pthread_join(th[i], &ret);
    if (ret && !err) err = ret;
  }
  return err;
}

/* n times k threads of body; seconds, or -1 after reporting an error. */
static double time_spawn(const char *workload, int n, int k, int body) {
  double t0 = now();
  for (int i = 0; i < n; i++) {
    const char *err = spawn_join(k, body);
    if (err) {
      emit_error(workload, err);
      return -1;
    }
  }
  return now() - t0;
}

/* The lower of the two allocators' medians is the floor; runs and the
 * name of the variant go with it. */
static const double *lower(const double *a, const double *b, int R,
                           const char **name) {
  int second = median(b, R) < median(a, R);
  *name = second ? "lua_newstate with a region allocator" : "luaL_newstate";
  return second ? b : a;
}

static void run_App(const sizes *S, int R) {
  double mall[MAXRUNS], reg[MAXRUNS], bare[MAXRUNS], state[MAXRUNS],
         rstate[MAXRUNS];
  int n = S->app_n;
  current = "A''";
  for (int r = 0; r < R; r++) {
    /* The measures follow each other within a run, so the noise of the
     * moment falls on all alike. */
    double tm = time_spawn("A''", n, 1, BODY_STATE);
    double tr = time_spawn("A''", n, 1, BODY_REGION);
    double te = time_spawn("A''", n, 1, BODY_EMPTY);
    if (tm < 0 || tr < 0 || te < 0) return;
    double t0 = now();
    for (int i = 0; i < n; i++) {
      lua_State *L = luaL_newstate();
      if (!L) { emit_error("A''", "luaL_newstate failed"); return; }
      luaL_openlibs(L);
      lua_close(L);
    }
    double t1 = now();
    for (int i = 0; i < n; i++) {
      region *rg;
      lua_State *L = region_newstate(&rg);
      if (!L) { emit_error("A''", "lua_newstate failed"); return; }
      luaL_openlibs(L);
      lua_close(L);
      free(rg);
    }
    double t2 = now();
    mall[r] = tm / n * 1e6;
    reg[r] = tr / n * 1e6;
    bare[r] = te / n * 1e6;
    state[r] = (t1 - t0) / n * 1e6;
    rstate[r] = (t2 - t1) / n * 1e6;
  }
  const char *variant;
  const double *runs = lower(mall, reg, R, &variant);
  char params[512];
  snprintf(params, sizeof params,
           "\"n\": %d, \"variant\": \"%s\", \"malloc_us\": %.5g, "
           "\"region_us\": %.5g, \"create_join_us\": %.5g, "
           "\"newstate_openlibs_close_us\": %.5g, "
           "\"region_newstate_openlibs_close_us\": %.5g",
           n, variant, median(mall, R), median(reg, R), median(bare, R),
           median(state, R), median(rstate, R));
  emit("A''", runs, R, "us/thread", params);
}

static void run_D(const sizes *S, int R) {
  double mall[MAXRUNS], reg[MAXRUNS], bare[MAXRUNS];
  int inner = S->d_inner;
  current = "D";
  for (int r = 0; r < R; r++) {
    double tm = time_spawn("D", inner, 2, BODY_STATE);
    double tr = time_spawn("D", inner, 2, BODY_REGION);
    double te = time_spawn("D", inner, 2, BODY_EMPTY);
    if (tm < 0 || tr < 0 || te < 0) return;
    mall[r] = tm / inner * 1e3;
    reg[r] = tr / inner * 1e3;
    bare[r] = te / inner * 1e3;
  }
  const char *variant;
  const double *runs = lower(mall, reg, R, &variant);
  char params[512];
  snprintf(params, sizeof params,
           "\"inner\": %d, \"threads\": 2, \"variant\": \"%s\", "
           "\"malloc_ms\": %.5g, \"region_ms\": %.5g, "
           "\"two_empty_threads_ms\": %.5g",
           inner, variant, median(mall, R), median(reg, R), median(bare, R));
  emit("D", runs, R, "ms", params);
}

/* ---------------------------------------------------------------------- */
/* C: 100,000 integers. */

/* Pass 1/3, knowing the array: lua_rawlen, then lua_rawgeti per element. */
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

/* Pass 1/3 as a general encoder must: lua_next over every pair, the key
 * read and checked as well as the value. */
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

/* Pass 2/4: a table pre-sized for its array part. [-0, +1] */
static NOINLINE void c_build(lua_State *L, const lua_Integer *a, size_t n) {
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushinteger(L, a[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
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

typedef size_t (*c_reader)(lua_State *, int, lua_Integer *, size_t);

/* One round trip: main reads src (at index 1 of main), worker builds and
 * reads back, main builds the result, left on main's stack. pass[] gets
 * the seconds of each pass added. */
static void c_round_trip(lua_State *M, lua_State *W, c_reader rd,
                         lua_Integer *a, lua_Integer *b, size_t cap,
                         double pass[4]) {
  double t0 = now();
  size_t n = rd(M, 1, a, cap);
  double t1 = now();
  c_build(W, a, n);
  double t2 = now();
  size_t m = rd(W, lua_gettop(W), b, cap);
  lua_pop(W, 1);
  double t3 = now();
  c_build(M, b, m);
  double t4 = now();
  pass[0] += t1 - t0;
  pass[1] += t2 - t1;
  pass[2] += t3 - t2;
  pass[3] += t4 - t3;
}

static void run_C(const sizes *S, int R) {
  size_t n = (size_t)S->c_len;
  int inner = S->c_inner;
  double runs[MAXRUNS], nexts[MAXRUNS], pass[4][MAXRUNS], npass[4][MAXRUNS];
  lua_Integer *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
  current = "C";
  if (!a || !b) { emit_error("C", "out of memory"); free(a); free(b); return; }
  lua_State *M = newstate(), *W = newstate();
  lua_createtable(M, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushinteger(M, (lua_Integer)i);
    lua_rawseti(M, -2, (lua_Integer)i + 1);
  }
  double p[4] = {0};
  c_round_trip(M, W, c_read_rawgeti, a, b, n, p);
  int ok = same(M, 1, -1);
  lua_pop(M, 1);
  c_round_trip(M, W, c_read_next, a, b, n, p);
  ok = ok && same(M, 1, -1);
  lua_pop(M, 1);
  if (!ok) {
    emit_error("C", "the copy differs");
  } else {
    /* The two readers alternate within each run, like the three A''
     * measures. The tables made are dropped at once and left to each
     * state's collector, as a caller dropping its result would. */
    for (int r = 0; r < R; r++) {
      double pr[4] = {0}, pn[4] = {0};
      lua_gc(M, LUA_GCCOLLECT);
      lua_gc(W, LUA_GCCOLLECT);
      double t0 = now();
      for (int i = 0; i < inner; i++) {
        c_round_trip(M, W, c_read_rawgeti, a, b, n, pr);
        lua_pop(M, 1);
      }
      double t1 = now();
      lua_gc(M, LUA_GCCOLLECT);
      lua_gc(W, LUA_GCCOLLECT);
      double t2 = now();
      for (int i = 0; i < inner; i++) {
        c_round_trip(M, W, c_read_next, a, b, n, pn);
        lua_pop(M, 1);
      }
      double t3 = now();
      runs[r] = (t1 - t0) / inner * 1e3;
      nexts[r] = (t3 - t2) / inner * 1e3;
      for (int k = 0; k < 4; k++) {
        pass[k][r] = pr[k] / inner * 1e3;
        npass[k][r] = pn[k] / inner * 1e3;
      }
    }
    char params[512];
    snprintf(params, sizeof params,
             "\"payload\": \"%d integers\", \"inner\": %d, \"states\": 2, \"gc\": %s, "
             "\"next_ms\": %.5g, \"pass_ms\": [%.4g, %.4g, %.4g, %.4g], "
             "\"next_pass_ms\": [%.4g, %.4g, %.4g, %.4g]",
             (int)n, inner, gc_off ? "false" : "true", median(nexts, R),
             median(pass[0], R), median(pass[1], R), median(pass[2], R),
             median(pass[3], R), median(npass[0], R), median(npass[1], R),
             median(npass[2], R), median(npass[3], R));
    emit("C", runs, R, "ms", params);
  }
  lua_close(W);
  lua_close(M);
  free(a);
  free(b);
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
    default: {
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
  }
  return i;
}

/* Pass 2/4. [-0, +1] */
static NOINLINE void cp_build(lua_State *L, const stream *s) {
  build_value(L, s, 0);
}

static void cp_round_trip(lua_State *M, lua_State *W, stream *s1, stream *s2,
                          double pass[4]) {
  double t0 = now();
  cp_read(M, 1, s1);
  double t1 = now();
  cp_build(W, s1);
  double t2 = now();
  cp_read(W, -1, s2);
  lua_pop(W, 1);
  double t3 = now();
  cp_build(M, s2);
  double t4 = now();
  pass[0] += t1 - t0;
  pass[1] += t2 - t1;
  pass[2] += t3 - t2;
  pass[3] += t4 - t3;
}

static void run_Cp(const sizes *S, int R) {
  int n = S->cp_len, inner = S->c_inner;
  double runs[MAXRUNS], pass[4][MAXRUNS];
  stream s1 = {0}, s2 = {0};
  current = "C'";
  lua_State *M = newstate(), *W = newstate();
  if (luaL_loadstring(M,
        "local n = ...\n"
        "local t = {}\n"
        "for i = 1, n do t[i] = {id = i - 1, name = 'name' .. (i - 1), tags = {'a', 'b'}} end\n"
        "return t\n") != LUA_OK)
    lua_error(M);
  lua_pushinteger(M, n);
  lua_call(M, 1, 1);
  double p[4] = {0};
  cp_round_trip(M, W, &s1, &s2, p);
  int ok = same(M, 1, -1);
  lua_pop(M, 1);
  if (!ok) {
    emit_error("C'", "the copy differs");
  } else {
    for (int r = 0; r < R; r++) {
      double pr[4] = {0};
      lua_gc(M, LUA_GCCOLLECT);
      lua_gc(W, LUA_GCCOLLECT);
      double t0 = now();
      for (int i = 0; i < inner; i++) {
        cp_round_trip(M, W, &s1, &s2, pr);
        lua_pop(M, 1);
      }
      runs[r] = (now() - t0) / inner * 1e3;
      for (int k = 0; k < 4; k++) pass[k][r] = pr[k] / inner * 1e3;
    }
    char params[512];
    snprintf(params, sizeof params,
             "\"payload\": \"%d records\", \"inner\": %d, \"states\": 2, \"gc\": %s, "
             "\"items\": %d, \"pass_ms\": [%.4g, %.4g, %.4g, %.4g]",
             n, inner, gc_off ? "false" : "true", (int)s1.n, median(pass[0], R), median(pass[1], R),
             median(pass[2], R), median(pass[3], R));
    emit("C'", runs, R, "ms", params);
  }
  lua_close(W);
  lua_close(M);
  free(s1.items);
  free(s1.arena);
  free(s2.items);
  free(s2.arena);
}

/* ---------------------------------------------------------------------- */

static void usage(const char *msg) {
  if (msg && *msg) fprintf(stderr, "floor: %s\n", msg);
  fprintf(stderr, "usage: floor [--quick] [--repeat R] [--only A'',C,C',D] [--no-gc]\n");
  exit(msg ? 2 : 0);
}

/* Workload names as ours.lua takes them, aliases included; the workloads
 * that have no floor here (A, A', B, M) are accepted and skipped, so the
 * driver can pass the same --only to everyone. */
static int workload_index(const char *w, size_t len) {
  static const struct { const char *name; int idx; } names[] = {
    {"A''", 0}, {"App", 0}, {"C", 1}, {"C'", 2}, {"Cp", 2}, {"D", 3},
    {"require", 3}, {"A", -1}, {"A'", -1}, {"Ap", -1}, {"B", -1}, {"M", -1},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strlen(names[i].name) == len && memcmp(names[i].name, w, len) == 0)
      return names[i].idx;
  return -2;
}

int main(int argc, char **argv) {
  int quick = 0, R = 0, wanted[4] = {1, 1, 1, 1};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      quick = 1;
    } else if (strcmp(argv[i], "--repeat") == 0) {
      if (++i >= argc) usage("--repeat needs an integer >= 1");
      char *end;
      long r = strtol(argv[i], &end, 10);
      if (*end || r < 1 || r > MAXRUNS) usage("--repeat needs an integer >= 1");
      R = (int)r;
    } else if (strcmp(argv[i], "--only") == 0) {
      if (++i >= argc) usage("--only needs a list");
      memset(wanted, 0, sizeof wanted);
      for (const char *p = argv[i]; *p;) {
        size_t len = strcspn(p, ", ");
        if (len) {
          int k = workload_index(p, len);
          if (k == -2) {
            fprintf(stderr, "floor: unknown workload %.*s\n", (int)len, p);
            usage("");
          }
          if (k >= 0) wanted[k] = 1;
        }
        p += len;
        if (*p) p++;
      }
    } else if (strcmp(argv[i], "--no-gc") == 0) {
      gc_off = 1;
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(NULL);
    } else {
      fprintf(stderr, "floor: unknown argument %s\n", argv[i]);
      usage("");
    }
  }
  const sizes *S = quick ? &QUICK : &FULL;
  if (!R) R = quick ? 1 : 5;
  /* The order of ours.lua: A'', C, C', D. */
  if (wanted[0]) run_App(S, R);
  if (wanted[1]) run_C(S, R);
  if (wanted[2]) run_Cp(S, R);
  if (wanted[3]) run_D(S, R);
  return 0;
}
