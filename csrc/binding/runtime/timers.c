/*
** timers.c -- the timers of spawned coroutines (timeouts, sleeps) and the
** poll fd of a state (futures.fd).
**
** A state's timers are a binary min-heap of tasks on their deadlines: a
** coroutine waits for one thing at a time, so a task has at most one
** timer, and knows its place in the heap (moved or removed in O(log n)).
** Due timers wake their tasks at each run of the inbox (poll and every
** blocking call).
**
** The poll fd is an epoll fd watching two: the inbox's eventfd (readable
** while items wait) and a timerfd set for the earliest deadline. So a host
** that sleeps on it wakes both when another thread finishes something and
** when a coroutine's sleep or timeout is due. The heap and the timerfd
** belong to the state's thread alone.
*/
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "spawned.h"

void lcf_timers_init(lcf_spawn_rec *rec) {
  rec->tfd = rec->epfd = -1;
  rec->armed = HUGE_VAL;
}

void lcf_timers_close(lcf_spawn_rec *rec) {
  free(rec->heap);
  rec->heap = NULL;
  rec->ntimers = rec->cap = 0;
  if (rec->tfd >= 0) close(rec->tfd);
  if (rec->epfd >= 0) close(rec->epfd);
  rec->tfd = rec->epfd = -1;
}

/* Set the timerfd for deadline if it is earlier than what it is set for
** (a timerfd that fires early only costs a poll that finds nothing). */
static void arm(lcf_spawn_rec *rec, double deadline) {
  struct itimerspec its = {{0, 0}, {0, 0}};
  if (rec->tfd < 0 || deadline >= rec->armed) return;
  if (deadline < 1e-9) deadline = 1e-9;      /* zero would disarm it */
  its.it_value.tv_sec = (time_t)deadline;
  its.it_value.tv_nsec = (long)((deadline - (double)its.it_value.tv_sec) * 1e9);
  if (timerfd_settime(rec->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
    rec->armed = deadline;
}

static void place(lcf_spawn_rec *rec, int i, lcf_task *t) {
  rec->heap[i] = t;
  t->heap_at = i;
}

static void sift_up(lcf_spawn_rec *rec, int i) {
  lcf_task *t = rec->heap[i];
  while (i > 0) {
    int parent = (i - 1) / 2;
    if (rec->heap[parent]->deadline <= t->deadline) break;
    place(rec, i, rec->heap[parent]);
    i = parent;
  }
  place(rec, i, t);
}

static void sift_down(lcf_spawn_rec *rec, int i) {
  lcf_task *t = rec->heap[i];
  for (;;) {
    int c = 2 * i + 1;
    if (c >= rec->ntimers) break;
    if (c + 1 < rec->ntimers && rec->heap[c + 1]->deadline < rec->heap[c]->deadline)
      c++;
    if (t->deadline <= rec->heap[c]->deadline) break;
    place(rec, i, rec->heap[c]);
    i = c;
  }
  place(rec, i, t);
}

void lcf_timer_clear(lcf_task *t) {
  lcf_spawn_rec *rec = t->rec;
  lcf_task *last;
  int i = t->heap_at;
  if (i < 0) return;
  t->heap_at = -1;
  if (--rec->ntimers == i) return;
  last = rec->heap[rec->ntimers];            /* fills the hole */
  place(rec, i, last);
  sift_down(rec, i);
  sift_up(rec, last->heap_at);
}

void lcf_timer_set(lcf_task *t, double deadline) {
  lcf_spawn_rec *rec = t->rec;
  lcf_timer_clear(t);
  if (rec->ntimers == rec->cap) {
    int cap = rec->cap ? rec->cap * 2 : 16;
    lcf_task **h = realloc(rec->heap, (size_t)cap * sizeof *h);
    if (h == NULL) {
      lcf_spawn_wake(t);
      return;
    }
    rec->heap = h;
    rec->cap = cap;
  }
  t->deadline = deadline;
  place(rec, rec->ntimers++, t);
  sift_up(rec, t->heap_at);
  arm(rec, deadline);
}

void lcf_timers_fire(lcf_spawn_rec *rec) {
  double now;
  if (rec->ntimers == 0 && rec->armed == HUGE_VAL) return;
  now = cf_monotonic();
  while (rec->ntimers > 0 && rec->heap[0]->deadline <= now) {
    lcf_task *t = rec->heap[0];
    lcf_timer_clear(t);
    lcf_spawn_wake(t);
  }
  /* It fired: drain, re-arm. (The timerfd fires at the deadline rounded
  ** down to a nanosecond: the slack keeps a wake from finding it early.) */
  if (rec->armed <= now + 1e-6) {
    uint64_t n;
    if (read(rec->tfd, &n, sizeof n) < 0) {
      /* EAGAIN: the expiry was read already */
    }
    rec->armed = HUGE_VAL;
  }
  if (rec->ntimers > 0) arm(rec, rec->heap[0]->deadline);
}

int lcf_spawn_fd(lua_State *L) {
  lcf_inbox *ib = lcf_inbox_get(L);
  lcf_spawn_rec *rec;
  struct epoll_event ev;
  int efd, tfd = -1, epfd = -1, err;
  if (ib == NULL || (rec = lcf_spawn_rec_get(lcf_getstate(L))) == NULL) {
    errno = ENOMEM;
    return -1;
  }
  if (rec->epfd >= 0) return rec->epfd;
  efd = lcf_inbox_fd(ib);
  if (efd < 0) return -1;
  tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (tfd < 0) goto fail;
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) goto fail;
  ev.events = EPOLLIN;
  ev.data.fd = efd;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, efd, &ev) != 0) goto fail;
  ev.data.fd = tfd;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev) != 0) goto fail;
  rec->tfd = tfd;
  rec->epfd = epfd;
  rec->armed = HUGE_VAL;
  if (rec->ntimers > 0) arm(rec, rec->heap[0]->deadline);
  return epfd;
fail:
  err = errno;
  if (tfd >= 0) close(tfd);
  if (epfd >= 0) close(epfd);
  errno = err;
  return -1;
}
