/*
** future.h -- the future's layout and the calls the pools make on it
** (core/pool.c, core/procpool.c) and the binding's fast paths. Internal:
** hosts use concurrent.h.
**
** Size matters here: a program may hold 100,000 pending futures, so a
** future is one allocation of 48 bytes plus its task's encoded input
** stored inline after it (refs then bytes). Its lock is one of a set of
** striped mutexes shared by all futures, and threads wait on the striped
** condition of that lock; the state word is atomic, so done() and a
** finished result() take no lock at all. Callbacks, waiters, a traceback
** and a C task's argument live in an extension allocated on first need.
*/
#ifndef CF_FUTURE_H
#define CF_FUTURE_H

#include <stdint.h>

#include "object.h"

struct cf_future_ext;

/* The state word: bits 0-1 the cf_state, 2-4 the cf_outcome, and flags. */
#define WORD_STATE     0x03u
#define WORD_OUTCOME   0x1cu
#define WORD_OUTCOME_SHIFT    2
#define WORD_CLAIMED   0x20u   /* a finisher is writing the payload */
#define WORD_WAITED    0x40u   /* a thread waits on the stripe condition */
#define WORD_LISTENED  0x80u   /* callbacks or waiters are registered */
#define WORD_INLINE    0x100u  /* data is stored inline */
#define WORD_HEAP      0x200u  /* data is a cf_buffer pointed at by inl[0] */
#define WORD_CALLING   0x400u  /* done; its callbacks are being run */
/* Taken in place by a waiter while still queued (help.c), and dropped
** from the queue: together they count the queue's stale entries once. */
#define WORD_NESTED    0x800u
#define WORD_DROPPED   0x1000u
#define WORD_STOP      0x2000u /* running, asked to stop (interrupt.c) */
#define WORD_STOP_TIME 0x4000u /* ... because its timeout passed */
/* Bits 15-31: the tag of the thread pool that queued it (help.c), 0 for
** none: a worker that waits for a future of its own pool helps. Tags are
** reused once their pool is freed, so 131,071 pools may live at once. */
#define WORD_TAG_SHIFT 15
#define WORD_TAG_MAX   ((1u << (32 - WORD_TAG_SHIFT)) - 1)

struct cf_future {
  cf_object hdr;
  _Atomic uint32_t word;       /* state, outcome and flags above */
  uint16_t len;                /* inline data: bytes */
  uint8_t nrefs;               /* inline data: object references */
  uint8_t room_words;                /* inline room, in 8-byte words */
  struct cf_future *next;      /* pool queue link, guarded by the pool */
  cf_task_fn fn;               /* the task, owned by the pool until it runs */
  struct cf_future_ext *_Atomic x;  /* set once, freed with the future */
  /* Inline data: nrefs object pointers, then len bytes; the input while
  ** the task is queued, the payload once finished. With WORD_HEAP, inl[0]
  ** is a malloc'd cf_buffer instead. */
  void *inl[];
};

/* The common size: up to 24 bytes inline (falloc.c), 72 bytes in all. */
#define CF_STD_WORDS 3
#define CF_FBLOCK (sizeof(struct cf_future) + CF_STD_WORDS * 8)
void *cf_fblock_alloc(void);
void  cf_fblock_free(void *block);

/* A future with room for `room` bytes of inline data (at least 24). */
cf_future *cf_future_new_sized(size_t room);
/* Bytes of inline room a buffer needs to be stored inline. */
size_t cf_future_room_for(const cf_buffer *b);
/* Move b into f as its data before f is shared (a task's input); b is
** left empty with its memory kept. -ENOMEM leaves b as it was. */
int  cf_future_put_input(cf_future *f, cf_buffer *b);
/* Move the input put by cf_future_put_input back into b (a submit that
** failed gives it back to its caller); needs no memory. */
void cf_future_take_input(cf_future *f, cf_buffer *b);
/* A worker starts f's task: like cf_future_set_running, and on success
** the input moves into dst (reset first; NULL frees it). -ENOMEM: f runs
** but its input could not move (finish f with CF_OUTCOME_NOMEM). */
int  cf_future_start(cf_future *f, cf_buffer *dst);
/* Free the input of a cancelled future (a task that will not run);
** never under a lock. */
void cf_future_drop_input(cf_future *f);
/* A C task's argument and its destructor (kept in the extension); both
** NULL forgets them without calling arg_free. */
int  cf_future_set_arg(cf_future *f, void *arg, void (*arg_free)(void *));
void *cf_future_arg(cf_future *f);
/* Run arg_free(arg) now and forget them. */
void cf_future_free_arg(cf_future *f);

/* A waiter's registration on f (future.c), and the waiter side (waiter.c).
** cf_watch_new allocates the record and f's extension (NULL: no memory),
** so cf_watch_attach cannot fail: it links the record under f's stripe,
** or, if f is done, hands f to the waiter at once and frees the record.
** cf_watch_detach unlinks and frees w's record on f, if any.
** cf_waiter_push is called under f's stripe (lock order: stripe, then the
** waiter's mutex) and never allocates: cf_waiter_watch reserved room. */
struct cf_watch;
struct cf_watch *cf_watch_new(cf_future *f, cf_waiter *w);
void cf_watch_attach(cf_future *f, struct cf_watch *wt);
void cf_watch_detach(cf_future *f, cf_waiter *w);
void cf_waiter_push(cf_waiter *w, cf_future *f);

/* How f ended, with a read-only view of its payload in *view (data and
** refs point into f: valid while the caller holds a reference). Takes no
** lock once f is done. */
cf_outcome cf_future_peek(cf_future *f, cf_buffer *view, const char **tb);

/* Stopping (interrupt.c). Set WORD_STOP (with WORD_STOP_TIME for a timeout)
** on a running f: 1 if set now or before, 0 if f is not running. Once
** set, a finish of f by anyone ends it stopped instead: cancelled, or
** CF_OUTCOME_TIMEOUT naming the limit (cf_future_finish returns
** CF_ECANCELLED and leaves the payload with the caller). */
int cf_future_flag_stop(cf_future *f, int timeout_reason);

/* A task's scheduling options (submit_with), kept in the extension:
** -ENOMEM. Read by the pool (priority, key) and the worker (timeout). */
int cf_future_set_sched(cf_future *f, int priority, double timeout,
                        const char *key, size_t klen);
int cf_future_priority(cf_future *f);        /* 0 without options */
double cf_future_time_limit(cf_future *f);   /* negative: none */
int cf_future_has_key(cf_future *f, const char *key, size_t klen);

/* Thread-locals of the core: initial-exec, since the general model costs
** a __tls_get_addr call per access in a shared object, on hot paths. A
** few dozen bytes, well within the static TLS kept for dlopen'ed code. */
#define CF_TLS __thread __attribute__((tls_model("initial-exec")))

/* Done, and its done-callbacks have all been run (waits and waiters
** return only then, so a state blocked on a future sees the callbacks it
** queued before the call returns). */
int cf_future_settled(cf_future *f);
/* Run fn(f, ud) once f is settled: in the finishing thread right after
** its done-callbacks, or at once if f is settled already (future.c). If f
** is freed without finishing, fn is called then, as for done-callbacks.
** -ENOMEM, or 0. */
int cf_future_add_settled_callback(cf_future *f, cf_done_fn fn, void *ud);

/* The task a pool worker is running in this thread (for cf_future_input
** and for the pool's count of workers about to come back for work). */
extern CF_TLS cf_future *cf_current_task;
extern CF_TLS cf_buffer *cf_current_input;
extern CF_TLS atomic_int *cf_current_finishing;
extern CF_TLS int cf_current_counted;   /* finish counted us there */

/* A thread pool's task counts (ex:stats()), updated by the finish of the
** task a worker runs (cf_current_counts) before its outcome is published,
** so counts read after result() returns include that task. */
typedef struct cf_counts {
  atomic_long completed, failed, cancelled;
  atomic_long started;         /* thread pools: running = started - ended */
  atomic_long running;         /* process pools: started, not finished */
  atomic_long nested;          /* running, run by a waiting worker (help.c) */
} cf_counts;
extern CF_TLS cf_counts *cf_current_counts;
extern CF_TLS int cf_current_nested;    /* the current task is nested */

#endif
