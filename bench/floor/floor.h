/*
 * floor.h -- what floor.c (the driver, JSON lines, A'' and D: threads and
 * states) and copy.c (C and C': the table copies) share. floor.c says what
 * the floor is and how to run it.
 */
#ifndef FLOOR_H
#define FLOOR_H

#include <lua.h>

/* The passes stay functions of their own, so callgrind counts each. */
#define NOINLINE __attribute__((noinline))
#define MAXRUNS 1000

typedef struct sizes {
  int app_n;    /* A'': threads per run */
  int d_inner;  /* D: pool lifecycles per run */
  int c_len;    /* C: integers */
  int cp_len;   /* C': records */
  int c_inner;  /* C, C': round trips per run */
} sizes;

extern const char *current;  /* the workload running, for a panic's report */
extern int gc_off;           /* --no-gc: the C and C' states' collectors stopped */

double now(void);
double median(const double *v, int n);
void emit(const char *workload, const double *runs, int n, const char *unit,
          const char *params);
void emit_error(const char *workload, const char *msg);
lua_State *newstate(void);  /* standard libraries, panic reported as JSON */

void run_C(const sizes *S, int R);
void run_Cp(const sizes *S, int R);
/* --units n: n units of the floor column's variant, untimed (copy.c's). */
void units_C(const sizes *S, int n);
extern const char *c_variant_name;  /* --variant: C's reader for --units */
void units_Cp(const sizes *S, int n);

#endif
