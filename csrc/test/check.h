/*
** check.h -- the counting CHECK of the C test programs (test_*.c): a
** failed check prints where and goes on; main reports the counts and
** exits non-zero if any failed. Atomic: worker threads check too.
*/
#ifndef CF_TEST_CHECK_H
#define CF_TEST_CHECK_H

#include <stdatomic.h>
#include <stdio.h>

static atomic_int passed, failed;

#define CHECK(cond)                                                   \
  do {                                                                \
    if (cond) atomic_fetch_add(&passed, 1);                           \
    else {                                                            \
      atomic_fetch_add(&failed, 1);                                   \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                 \
  } while (0)

#endif
