/*
 * floor.c -- the floor of the benchmark suite: what any Lua 5.4 threading
 * library pays on this machine for the workloads of the performance issue,
 * measured with bare pthreads and the public Lua C API, no library of ours.
 *
 *   floor [--quick] [--repeat R] [--warmup W] [--only A'',C,C',D] [--no-gc]
 *         [--mmap-default] [--units N] [--variant NAME]
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
 *        (main, and a worker on a thread of its own): main reads t into a
 *        C array, the worker builds a table from it and reads it back,
 *        main builds the final table;
 *        ms per round trip, the fastest of four ways to read and build
 *        (copy.c; params.variants_ms has all four, params.pass_ms each
 *        pass of the fastest).
 *   C'   the same four passes for 10,000 records {id=, name=, tags={"a","b"}}:
 *        reads walk every table with lua_next into a C stream of items
 *        (strings copied out: a state's strings never cross), builds use
 *        lua_createtable with the sizes seen + lua_setfield / lua_rawseti
 *        (arrays of 64 items or more: pushed, then {...}, as in C).
 *
 * The four passes are separate non-inlined functions so callgrind reports
 * each (valgrind --tool=callgrind floor --quick --only C,C'). --no-gc stops
 * the collectors of the C and C' states (a full collection still runs
 * between runs), to show what share of the floor is Lua's collector; the
 * figures of `make bench` run with the collectors on, as ours do.
 *
 * glibc's mmap threshold is fixed at 32 MB and its trim threshold at 64 MB
 * (mallopt) unless --mmap-default:
 * by default blocks over 128 KB (a 10,000-slot array, a Lua stack grown by
 * 10,000 pushes) are mmapped and unmapped every round trip until a large
 * free raises the threshold, so C' took 55-65 ms run alone and 40 ms after
 * C in the same process. Any library may avoid that churn (its own
 * allocator, or this mallopt), so the floor does.
 * --warmup W runs each workload W times first and prints nothing of them
 * (bench/run.sh runs ours and the floor in turn, one repetition a process).
 * --units N runs N units of each workload's floor variant (a thread with
 * the region allocator; a pool of two such; a next+pack round trip; a
 * records round trip) after one that warms, prints nothing and times
 * nothing: bench/instructions.sh counts its instructions under callgrind
 * with N and with 0, as it does ours. --variant NAME: C's reader and
 * builder for --units (one of C's variants; default next+pack).
 * A benchmark, not a test: it exits 0 unless it cannot run at all.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "floor.h"

#define PEER "api-floor"

static const sizes FULL = {2000, 50, 100000, 10000, 10};
static const sizes QUICK = {200, 10, 100000, 10000, 2};

/* ---------------------------------------------------------------------- */
/* Clock, medians, JSON lines. */

double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double median(const double *v, int n) {
  double s[MAXRUNS];
  memcpy(s, v, (size_t)n * sizeof *s);
  qsort(s, (size_t)n, sizeof *s, cmp_double);
  return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static int muted;  /* --warmup: the untimed repetitions print nothing */

/* Numbers as ours.lua writes them (%.5g), so the report reads both alike. */
void emit(const char *workload, const double *runs, int n,
                 const char *unit, const char *params) {
  if (muted) return;
  printf("{\"peer\": \"%s\", \"workload\": \"%s\", \"median\": %.5g, "
         "\"unit\": \"%s\", \"runs\": [", PEER, workload, median(runs, n), unit);
  for (int i = 0; i < n; i++) printf("%s%.5g", i ? ", " : "", runs[i]);
  printf("], \"params\": {%s}}\n", params);
  fflush(stdout);
}

void emit_error(const char *workload, const char *msg) {
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
const char *current = "?";
int gc_off;
static int on_panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  emit_error(current, msg ? msg : "Lua panic");
  exit(1);
}

lua_State *newstate(void) {
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

/* --units: n threads (A'') or pools of two (D) of the region variant,
 * after one that warms. */
static void units_App(const sizes *S, int n) {
  (void)S;
  current = "A''";
  for (int i = 0; i <= n; i++)
    if (spawn_join(1, BODY_REGION)) { emit_error("A''", "a thread failed"); return; }
}

static void units_D(const sizes *S, int n) {
  (void)S;
  current = "D";
  for (int i = 0; i <= n; i++)
    if (spawn_join(2, BODY_REGION)) { emit_error("D", "a thread failed"); return; }
}

/* ---------------------------------------------------------------------- */

static void usage(const char *msg) {
  if (msg && *msg) fprintf(stderr, "floor: %s\n", msg);
  fprintf(stderr, "usage: floor [--quick] [--repeat R] [--warmup W] [--only A'',C,C',D]"
                  " [--no-gc] [--mmap-default] [--units N] [--variant NAME]\n");
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

/* The integer argument after argv[*i] (moved past), in [lo, MAXRUNS]. */
static int count_arg(int argc, char **argv, int *i, long lo, const char *msg) {
  char *end;
  long v;
  if (++*i >= argc) usage(msg);
  v = strtol(argv[*i], &end, 10);
  if (*end || v < lo || v > MAXRUNS) usage(msg);
  return (int)v;
}

int main(int argc, char **argv) {
  int quick = 0, R = 0, wanted[4] = {1, 1, 1, 1}, mmap_default = 0, W = 0;
  int units = -1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      quick = 1;
    } else if (strcmp(argv[i], "--repeat") == 0) {
      R = count_arg(argc, argv, &i, 1, "--repeat needs an integer >= 1");
    } else if (strcmp(argv[i], "--warmup") == 0) {
      W = count_arg(argc, argv, &i, 0, "--warmup needs an integer >= 0");
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
    } else if (strcmp(argv[i], "--units") == 0) {
      units = count_arg(argc, argv, &i, 0, "--units needs an integer >= 0");
    } else if (strcmp(argv[i], "--variant") == 0) {
      if (++i >= argc) usage("--variant needs a name");
      c_variant_name = argv[i];
    } else if (strcmp(argv[i], "--mmap-default") == 0) {
      mmap_default = 1;
    } else if (strcmp(argv[i], "--no-gc") == 0) {
      gc_off = 1;
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(NULL);
    } else {
      fprintf(stderr, "floor: unknown argument %s\n", argv[i]);
      usage("");
    }
  }
  if (!mmap_default) {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);  /* fixed too once the other is */
  }
  const sizes *S = quick ? &QUICK : &FULL;
  if (!R) R = quick ? 1 : 5;
  /* The order of ours.lua: A'', C, C', D; each warmed up first. */
  void (*const run[4])(const sizes *, int) = {run_App, run_C, run_Cp, run_D};
  void (*const unit[4])(const sizes *, int) = {units_App, units_C, units_Cp, units_D};
  for (int k = 0; k < 4; k++) {
    if (!wanted[k]) continue;
    if (units >= 0) {
      unit[k](S, units);
      continue;
    }
    if (W > 0) {
      muted = 1;
      run[k](S, W);
      muted = 0;
    }
    run[k](S, R);
  }
  return 0;
}
