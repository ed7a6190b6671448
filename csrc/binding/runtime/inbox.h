/*
** inbox.h -- the per-state inbox of done-callbacks: a future finishing in
** any thread queues fn(future) here, and the state that added it runs
** the queue (futures.poll and after each of its blocking calls). It also
** carries other items to run in the state (spawned coroutines to resume)
** and, once asked, an eventfd readable while items wait.
*/
#ifndef LCF_INBOX_H
#define LCF_INBOX_H

#include <lua.h>

#include "compat.h"

#include "../../concurrent.h"
#include "record.h"

/* Something to run in the inbox's state: run(L, it) there, or run(NULL,
** it) to drop it when the state has closed. Each run frees or releases
** what it owns. */
typedef struct lcf_item {
  struct lcf_item *next;
  void (*run)(lua_State *L, struct lcf_item *it);
} lcf_item;

/* Run the callbacks queued for L; returns how many ran. Cheap when none. */
int lcf_callbacks_run(lua_State *L);
/* The same within a budget: at most max_items (< 0: any number, 0: none),
** no new one after max_seconds (< 0: no limit); *more (may be NULL) tells
** whether items still wait. */
int lcf_callbacks_run_budget(lua_State *L, int max_items, double max_seconds,
                             int *more);
/* Spend seconds idle: the collector work that timed runs left owed first
** (inbox.c), then sleep the rest as cf_task_sleep does: 0, or
** CF_ETIMEDOUT when a stop asked of the calling task cut it short. */
int lcf_callbacks_idle(lua_State *L, double seconds);
/* Queue the function at -2 with the future at -1 (f's box) on L's inbox,
** to be called when f finishes; pops both. Raises only for memory. */
void lcf_inbox_watch(lua_State *L, cf_future *f);
/* Call the function at -2 with the future at -1 now, protected, reporting
** an error on stderr; pops both. */
void lcf_inbox_call(lua_State *L);

/* The calling state's inbox, made if needed (NULL: out of memory). */
lcf_inbox *lcf_inbox_get(lua_State *L);
/* Queue it (any thread): 0, or -1 if the state has closed. */
int lcf_inbox_push(lcf_inbox *ib, lcf_item *it);
/* The inbox's eventfd, readable while items wait; made on first call
** (-1 and errno if it cannot be). */
int lcf_inbox_fd(lcf_inbox *ib);
/* Make the eventfd readable with nothing queued (any thread). */
void lcf_inbox_poke(lcf_inbox *ib);

#endif
