/*
** timeout.c -- tasks' time limits (submit_with{timeout=}): one timer
** thread for the process, made on first use, with the running tasks that
** have a limit in deadline order. At its deadline a task still running is
** asked to stop with the timeout reason (interrupt.c), so it ends with
** CF_OUTCOME_TIMEOUT. A task that ends first removes its entry.
**
** The list is a sorted linked list: a few entries per worker at most
** (only running tasks are in it), so an insert's walk is short.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdlib.h>

#include "future.h"
#include "interrupt.h"
#include "timeout.h"

typedef struct entry {
  cf_future *f;                 /* retained */
  double at;                    /* cf_monotonic() deadline */
  struct entry *next;
} entry;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static entry *head;
static int started;

static void reset_in_child(void) {
  /* The timer thread is not in the child; the entries' futures belong
  ** to the parent's pools. Forget both (their memory is left). */
  pthread_mutex_init(&mu, NULL);
  head = NULL;
  started = 0;
}

static void *timer_main(void *arg) {
  (void)arg;
  cf_block_signals();
  cf_mutex_lock(&mu);
  for (;;) {
    double now = cf_monotonic();
    if (head != NULL && head->at <= now) {
      entry *e = head;
      head = e->next;
      cf_mutex_unlock(&mu);
      if (cf_future_flag_stop(e->f, 1)) cf_icell_poke_task(e->f);
      cf_release(e->f);
      free(e);
      cf_mutex_lock(&mu);
      continue;
    }
    if (head == NULL) {
      pthread_cond_wait(&cv, &mu);
    } else {
      cf_deadline d;
      cf_deadline_set(&d, head->at - now);
      cf_cond_wait_until(&cv, &mu, &d);
    }
  }
  return NULL;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void setup(void) {
  cf_cond_init(&cv);
  pthread_atfork(NULL, NULL, reset_in_child);
}

int cf_timeout_add(cf_future *f, double seconds) {
  entry *e = malloc(sizeof *e), **pp;
  pthread_once(&once, setup);
  if (e == NULL) return -ENOMEM;
  e->f = cf_retain(f);
  e->at = cf_monotonic() + seconds;
  cf_mutex_lock(&mu);
  if (!started) {
    pthread_t t;
    pthread_attr_t a;
    int rc;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&t, &a, timer_main, NULL);
    pthread_attr_destroy(&a);
    if (rc != 0) {
      cf_mutex_unlock(&mu);
      cf_release(f);
      free(e);
      return -rc;
    }
    started = 1;
  }
  for (pp = &head; *pp != NULL && (*pp)->at <= e->at; pp = &(*pp)->next) {}
  e->next = *pp;
  *pp = e;
  if (head == e) pthread_cond_signal(&cv);
  cf_mutex_unlock(&mu);
  return 0;
}

void cf_timeout_remove(cf_future *f) {
  entry **pp, *dead = NULL;
  pthread_once(&once, setup);
  cf_mutex_lock(&mu);
  for (pp = &head; *pp != NULL; pp = &(*pp)->next) {
    if ((*pp)->f == f) {
      dead = *pp;
      *pp = dead->next;
      break;
    }
  }
  cf_mutex_unlock(&mu);
  if (dead) {
    cf_release(dead->f);
    free(dead);
  }
}
