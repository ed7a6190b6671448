/*
** block.c -- a blocking wait in a state that has spawned coroutines keeps
** running them while it waits.
**
** Otherwise the main chunk that blocks on a spawned coroutine's future (or
** on anything such a coroutine is to produce) would wait forever: the
** coroutine resumes only when this thread runs the inbox. So, when the
** state has live spawned coroutines, result(), exception(), a waiter's
** next() and sleep() first wait on the state's poll fd (futures.fd), running
** the inbox each time it is readable, until what they wait for is ready or
** the timeout passes; then the usual wait takes over with the time left.
** The awaited future (or waiter) pokes the fd when it finishes. Like
** every blocking call it wakes every LCF_SLICE seconds to let Ctrl-C's
** hook run (wait.c).
**
** In a task (a pool worker or a Thread whose state spawned coroutines)
** that is asked to stop, it runs nothing more and returns at once: the
** wait that follows raises the interruption. The interrupter wakes the
** poll by poking the fd (cf_icell_wake_with, core/interrupt.h).
*/
#include <errno.h>
#include <math.h>
#include <poll.h>

#include "../../core/interrupt.h"
#include "spawned.h"
#include "wait.h"

static void poke_on_done(cf_future *f, void *ud) {
  (void)f;
  lcf_inbox_poke(ud);
  cf_release(ud);
}

static void poke_on_notify(void *obj) {
  lcf_inbox_poke(obj);
}

static void poke_on_stop(void *obj) {
  lcf_inbox_poke(obj);
}

static int ready(cf_future *f, cf_waiter *w) {
  if (f != NULL) return cf_future_done(f);
  if (w != NULL) return cf_waiter_ready(w) > 0 || cf_waiter_pending(w) == 0;
  return 0;
}

double lcf_spawn_block(lua_State *L, cf_future *f, cf_waiter *w,
                       double timeout) {
  lcf_state *s = lcf_getstate(L);
  lcf_spawn_rec *rec = s->spawn;
  lcf_watch watch;
  double deadline, now;
  int fd, stopped = 0;
  if (rec == NULL || rec->live == NULL || rec->depth > 0 || timeout == 0 ||
      ready(f, w) || cf_task_stop_requested())
    return timeout;
  fd = lcf_spawn_fd(L);
  if (fd < 0) return timeout;
  if (f != NULL) {
    cf_retain(s->inbox);
    if (cf_future_add_done_callback(f, poke_on_done, s->inbox) != 0) {
      cf_release(s->inbox);
      return timeout;
    }
  }
  if (w != NULL) cf_waiter_set_notify(w, poke_on_notify, s->inbox);
  cf_icell_wake_with(poke_on_stop, s->inbox);    /* then checks the flag */
  deadline = timeout < 0 ? HUGE_VAL : cf_monotonic() + timeout;
  lcf_watch_start(&watch, L);
  for (;;) {
    struct pollfd p;
    struct timespec ts, *tsp = NULL;
    double left;
    if ((stopped = cf_task_stop_requested()) != 0) break;
    lcf_callbacks_run_budget(L, -1, -1, NULL);
    now = cf_monotonic();
    if (ready(f, w) || now >= deadline || s->spawn == NULL) break;
    left = deadline - now;
    if (watch.active && left > LCF_SLICE) left = LCF_SLICE;
    if (left != HUGE_VAL) {
      ts.tv_sec = (time_t)left;
      ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
      tsp = &ts;
    }
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    if (ppoll(&p, 1, tsp, NULL) < 0 && errno != EINTR) break;
    if (lcf_watch_check(&watch)) {        /* Ctrl-C: its error on top */
      cf_icell_wake_with(NULL, NULL);
      if (w != NULL) cf_waiter_set_notify(w, NULL, NULL);
      lua_error(L);
    }
  }
  cf_icell_wake_with(NULL, NULL);
  if (w != NULL) cf_waiter_set_notify(w, NULL, NULL);
  /* Stopped: the wait that follows raises at once, whatever time is left
  ** (with none left it would not look). */
  if (timeout < 0 || stopped) return -1;
  now = cf_monotonic();
  return now >= deadline ? 0 : deadline - now;
}
