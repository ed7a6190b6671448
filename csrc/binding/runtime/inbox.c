/*
** inbox.c -- done-callbacks, run in the state that added them.
**
** A future may finish in any thread, but a Lua callback may only run in
** its own state. So the core callback only queues an entry on the adding
** state's inbox (a reference-counted C object: it outlives the state if a
** future still points at it); the state runs the queue in futures.poll()
** and after each of its blocking calls. The Lua function and the future
** object stay in the state's registry until the entry runs. An inbox is
** closed with its state, and entries that arrive later are dropped.
**
** The inbox also carries other runnable items (lcf_item): the coroutines
** of futures.spawn to resume are queued there (spawned.c). Once a host
** has asked for futures.fd(), the inbox has an eventfd, written when an
** item arrives in an empty inbox and drained when the queue is taken, so
** it is readable exactly while items wait.
**
** Lock order: a future's mutex is never held when the inbox lock is taken
** (the core calls callbacks after unlocking the future). A waiter's notify
** (a spawned coroutine's wake) takes the inbox lock under the future's
** stripe and the waiter's mutex: the inbox lock is a leaf, nothing is
** taken under it.
*/
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <lauxlib.h>

#include "../../core/object.h"
#include "errors.h"
#include "inbox.h"
#include "record.h"
#include "spawned.h"

typedef struct entry {
  lcf_item item;             /* first: the queue holds items */
  struct lcf_inbox *inbox;   /* retained */
  int ref;                   /* registry: {fn, future} */
} entry;

struct lcf_inbox {
  cf_object hdr;
  pthread_mutex_t mu;
  lcf_item *head, **tail;
  atomic_int queued;
  int closed;
  int efd;                   /* eventfd, or -1 until lcf_inbox_fd */
  atomic_int poked;          /* raised with nothing queued: drain it */
  int budgeted;              /* budgeted runs in progress (state's thread) */
  int gc_debt_kb;            /* collector work owed by timed polls (same) */
};

static void inbox_destroy(void *obj) {
  lcf_inbox *ib = obj;
  if (ib->efd >= 0) close(ib->efd);
  pthread_mutex_destroy(&ib->mu);
  free(ib);
}

/* Under ib->mu. Keeps the eventfd readable while items wait (a write
** only on the empty -> non-empty edge, a read when the queue is taken).
** A raise comes after the item is queued (or poked is set): a host woken
** by the fd reads those without the lock, and had it found nothing there
** while the raiser was preempted still holding the lock, it would have
** returned to its loop and found the fd readable again: a busy spin for
** as long as the raiser (a low-priority worker) stayed off the CPU. */
static void fd_raise(lcf_inbox *ib) {
  uint64_t one = 1;
  if (ib->efd >= 0 && write(ib->efd, &one, sizeof one) < 0) {
    /* EAGAIN: the counter is full, so it is readable anyway */
  }
}

static void fd_drain(lcf_inbox *ib) {
  uint64_t n;
  if (ib->efd >= 0 && read(ib->efd, &n, sizeof n) < 0) {
    /* EAGAIN: nothing to drain */
  }
}

/* Any thread. 0, or -1 when the state has closed (the caller drops it). */
int lcf_inbox_push(lcf_inbox *ib, lcf_item *it) {
  int was_empty;
  cf_mutex_lock(&ib->mu);
  if (ib->closed) {
    cf_mutex_unlock(&ib->mu);
    return -1;
  }
  it->next = NULL;
  was_empty = ib->head == NULL;
  *ib->tail = it;
  ib->tail = &it->next;
  atomic_fetch_add(&ib->queued, 1);
  if (was_empty) fd_raise(ib);      /* last: see fd_raise */
  cf_mutex_unlock(&ib->mu);
  return 0;
}

/* Any thread: make the eventfd readable without queuing anything (a
** state blocked on its poll fd wakes and looks again). */
void lcf_inbox_poke(lcf_inbox *ib) {
  cf_mutex_lock(&ib->mu);
  atomic_store(&ib->poked, 1);
  fd_raise(ib);                     /* last: see fd_raise */
  cf_mutex_unlock(&ib->mu);
}

/* The eventfd, made on first use: -1 with errno when it cannot be. */
int lcf_inbox_fd(lcf_inbox *ib) {
  int fd;
  cf_mutex_lock(&ib->mu);
  if (ib->efd < 0) {
    fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd >= 0) {
      ib->efd = fd;
      if (ib->head != NULL) fd_raise(ib);
    }
  }
  fd = ib->efd;
  cf_mutex_unlock(&ib->mu);
  return fd;
}

static const cf_kind inbox_kind = {"inbox", inbox_destroy};

/* The state closes (its close registry, first of all): nothing queued
** runs any more, then the spawned coroutines still suspended end (their
** wakes would come through this inbox). */
static void inbox_close(void *record) {
  lcf_state *s = record;
  lcf_inbox *ib = s->inbox;
  lcf_item *e, *next;
  if (ib != NULL) {
    s->inbox = NULL;
    cf_mutex_lock(&ib->mu);
    ib->closed = 1;
    e = ib->head;
    ib->head = NULL;
    ib->tail = &ib->head;
    cf_mutex_unlock(&ib->mu);
    for (; e != NULL; e = next) {   /* the registry goes with the state */
      next = e->next;
      e->run(NULL, e);
    }
    cf_release(ib);
  }
  lcf_spawned_close(s);
}

static const lcf_close_kind inbox_closer = {
  .order = LCF_CLOSE_INBOX,
  .close = inbox_close,
};

/* The inbox is made on a state's first add_done_callback (or spawn, or
** fd); the state's close registry closes it. Never raises: NULL when out
** of memory (then lcf_close_add closes the new inbox at once). */
lcf_inbox *lcf_inbox_get(lua_State *L) {
  lcf_state *s = lcf_getstate(L);
  if (s->inbox == NULL) {
    lcf_inbox *ib = calloc(1, sizeof *ib);
    if (ib == NULL) return NULL;
    cf_object_init(ib, &inbox_kind);
    cf_mutex_init(&ib->mu);
    ib->tail = &ib->head;
    ib->efd = -1;
    s->inbox = ib;
    lcf_close_add(L, &inbox_closer, s);
  }
  return s->inbox;
}

/* The same, raising when out of memory. */
static lcf_inbox *get_inbox(lua_State *L) {
  lcf_inbox *ib;
  if (lcf_getstate(L)->inbox == NULL) lcf_close_reserve(L);
  ib = lcf_inbox_get(L);
  if (ib == NULL) luaL_error(L, "not enough memory");
  return ib;
}

static void run_entry(lua_State *L, lcf_item *it);

/* The collector and timed polls. A step of Lua's collector runs inside
** whatever allocation makes it due, so an item of poll{max_seconds = s}
** could take a step far past s (one step can hold the whole atomic phase:
** milliseconds with thousands of futures' boxes in the weak box cache):
** the worst frames of the frame bench were such steps. So a timed poll
** stops the collector while its items run and counts what they allocated
** as work owed, which poll{idle =} pays in GC_STEP_KB steps before it
** sleeps. Once GC_DEBT_CAP_KB is owed (a host that never idles through
** poll), timed polls leave the collector running and each pays one step
** more, as before this scheme plus that step: memory stays bounded
** whatever the host does. A callback that stops the collector itself
** inside a timed poll has it running again when the poll ends. Lua 5.1
** cannot tell whether the collector runs: there it is left alone. */
#define GC_STEP_KB 16
#define GC_DEBT_CAP_KB (8 * 1024)

static void gc_pay(lua_State *L, lcf_inbox *ib, double until) {
  if (!lcf_gc_running(L)) {
    ib->gc_debt_kb = 0;
    return;
  }
  do {
    int kb = ib->gc_debt_kb < GC_STEP_KB ? ib->gc_debt_kb : GC_STEP_KB;
    ib->gc_debt_kb -= kb;
    lua_gc(L, LUA_GCSTEP, kb);
  } while (ib->gc_debt_kb > 0 && cf_monotonic() < until);
}

int lcf_callbacks_idle(lua_State *L, double seconds) {
  lcf_inbox *ib = lcf_getstate(L)->inbox;
  double until = cf_monotonic() + seconds, left;
  if (ib != NULL && ib->gc_debt_kb > 0) gc_pay(L, ib, until);
  left = until - cf_monotonic();
  return cf_task_sleep(left > 0 ? left : 0);
}

/* Core callback: any thread. No Lua here. */
static void on_done(cf_future *f, void *ud) {
  entry *e = ud;
  (void)f;
  if (lcf_inbox_push(e->inbox, &e->item) != 0) run_entry(NULL, &e->item);
}

/* Report a failed callback. The handler below already made the message a
** string with a traceback; anything else (a failing handler, no memory)
** is reported by its type, so reporting itself never raises. */
static void report(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "exception calling callback for future: %s\n",
          msg ? msg : luaL_typename(L, -1));
  fflush(stderr);
  lua_pop(L, 1);
}

/* Message handler: the error's text (lcf_error_text) followed by the
** traceback. An error in here makes the pcall return
** LUA_ERRERR with a string, which report() handles too. */
static int traceback_handler(lua_State *L) {
  luaL_traceback(L, L, lcf_error_text(L, 1), 1);
  return 1;
}

void lcf_inbox_call(lua_State *L) {
  lua_pushcfunction(L, traceback_handler);
  lua_insert(L, -3);                        /* handler fn future */
  if (lua_pcall(L, 1, 0, -3) != LUA_OK) report(L);
  lua_pop(L, 1);                            /* handler */
}

/* A done-callback's entry: call fn(future) (L NULL: the state closed,
** and the registry goes with it). */
static void run_entry(lua_State *L, lcf_item *it) {
  entry *e = (entry *)it;
  lcf_inbox *ib = e->inbox;
  if (L != NULL) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, e->ref);      /* {fn, future} */
    luaL_unref(L, LUA_REGISTRYINDEX, e->ref);
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    lua_remove(L, -3);                              /* fn future */
  }
  free(e);
  cf_release(ib);
  if (L != NULL) lcf_inbox_call(L);
}

/* Run what is queued for L, in arrival order, within the budget: at most
** max_items (< 0: no limit; 0: none), and no new item once max_seconds
** (< 0: none) have passed; at least one item runs if any waits and
** max_items is not 0. Due coroutine timers (timers.c) are turned into
** items first. The queue is taken whole first, so a callback that makes a
** blocking call (which runs this again) only sees the entries that
** arrived after; what the budget leaves is put back in front. *more (may
** be NULL): whether items still wait. Nothing here raises: the items run
** protected and reporting does not allocate.
**
** implicit: run by a blocking call, not by poll. Those run nothing inside
** a budgeted poll or a resumed coroutine, so that neither a budget nor
** the C stack is overrun by a resumed coroutine whose blocking calls
** resume the next ones: what arrives waits for the poll in progress. */
static int run_queue(lua_State *L, int max_items, double max_seconds,
                     int *more, int implicit) {
  lcf_state *s = lcf_getstate(L);
  lcf_inbox *ib = s->inbox;
  lcf_item *e, *next;
  double start = max_seconds >= 0 ? cf_monotonic() : 0;
  int n = 0, budgeted = max_items >= 0 || max_seconds >= 0;
  int gc_held = 0, gc_owed = 0, kb0 = 0;
  if (more) *more = 0;
  if (ib == NULL || (implicit && ib->budgeted > 0)) return 0;
  if (atomic_load(&ib->poked)) {   /* else the fd stays readable, empty */
    cf_mutex_lock(&ib->mu);
    atomic_store(&ib->poked, 0);
    if (ib->head == NULL) fd_drain(ib);
    cf_mutex_unlock(&ib->mu);
  }
  if (s->spawn != NULL && !lcf_spawned_before_run(s, implicit)) {
    if (more) *more = atomic_load(&ib->queued) > 0;
    return 0;
  }
  if (atomic_load(&ib->queued) == 0) return 0;
  if (max_items == 0 || !lua_checkstack(L, 8)) {   /* try again later */
    if (more) *more = 1;
    return 0;
  }
  cf_mutex_lock(&ib->mu);
  e = ib->head;
  ib->head = NULL;
  ib->tail = &ib->head;
  atomic_store(&ib->queued, 0);
  fd_drain(ib);
  cf_mutex_unlock(&ib->mu);
  if (max_seconds >= 0 && ib->budgeted == 0 && lcf_gc_running(L)) {
    if (ib->gc_debt_kb >= GC_DEBT_CAP_KB) gc_owed = 1;
    else {
      lua_gc(L, LUA_GCSTOP, 0);
      gc_held = 1;
      kb0 = lua_gc(L, LUA_GCCOUNT, 0);
    }
  }
  ib->budgeted += budgeted;
  for (; e != NULL; e = next) {
    if (n > 0 && ((max_items >= 0 && n >= max_items) ||
                  (max_seconds >= 0 && cf_monotonic() - start >= max_seconds)))
      break;
    next = e->next;
    e->run(L, e);
    n++;
  }
  ib->budgeted -= budgeted;
  if (gc_held) {
    int kb = lua_gc(L, LUA_GCCOUNT, 0) - kb0;
    lua_gc(L, LUA_GCRESTART, 0);
    if (kb > 0) ib->gc_debt_kb += kb;
  }
  if (e != NULL) {                          /* over budget: put back */
    lcf_item **last = &e->next;
    int left = 1;
    while (*last != NULL) {
      last = &(*last)->next;
      left++;
    }
    cf_mutex_lock(&ib->mu);
    if (ib->head == NULL) {
      fd_raise(ib);
      ib->tail = last;
    }
    *last = ib->head;
    ib->head = e;
    atomic_fetch_add(&ib->queued, left);
    cf_mutex_unlock(&ib->mu);
  }
  if (gc_owed) gc_pay(L, ib, 0);              /* one step */
  if (more) *more = atomic_load(&ib->queued) > 0;
  return n;
}

int lcf_callbacks_run_budget(lua_State *L, int max_items, double max_seconds,
                             int *more) {
  return run_queue(L, max_items, max_seconds, more, 0);
}

int lcf_callbacks_run(lua_State *L) {
  lcf_state *s = lcf_getstate(L);
  if (s->inbox == NULL ||
      (atomic_load(&s->inbox->queued) == 0 && s->spawn == NULL))
    return 0;
  return run_queue(L, -1, -1, NULL, 1);
}

/* The entry is allocated before the core registration, so once the core
** has it nothing below can fail. */
void lcf_inbox_watch(lua_State *L, cf_future *f) {
  lcf_inbox *ib = get_inbox(L);
  entry *e;
  int ref;
  lua_createtable(L, 2, 0);
  lua_rotate(L, -3, 1);                      /* t fn future */
  lua_rawseti(L, -3, 2);
  lua_rawseti(L, -2, 1);
  ref = luaL_ref(L, LUA_REGISTRYINDEX);      /* raises only for memory */
  e = malloc(sizeof *e);
  if (e == NULL) {
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    luaL_error(L, "not enough memory");
    return;
  }
  e->item.run = run_entry;
  e->ref = ref;
  e->inbox = cf_retain(ib);
  if (cf_future_add_done_callback(f, on_done, e) != 0) {
    luaL_unref(L, LUA_REGISTRYINDEX, e->ref);
    cf_release(ib);
    free(e);
    luaL_error(L, "not enough memory");
  }
}
