/*
** spawned.c -- the per-state record of spawned coroutines: the live list,
** the wake that queues a task on its state's inbox, and what happens to
** suspended coroutines when the state closes. Resuming them is
** classes/spawn.c's (each task's inbox item).
**
** Everything but the wake itself (the queued flag, the inbox) is touched
** only by the state's own thread.
*/
#include <stdlib.h>
#include <string.h>

#include "spawned.h"

lcf_spawn_rec *lcf_spawn_rec_get(lcf_state *s) {
  if (s->spawn == NULL) {
    lcf_spawn_rec *rec = calloc(1, sizeof *rec);
    if (rec == NULL) return NULL;
    lcf_timers_init(rec);
    s->spawn = rec;
  }
  return s->spawn;
}

void lcf_spawn_wake(lcf_task *t) {
  if (atomic_exchange(&t->queued, 1)) return;
  cf_retain(t);
  if (lcf_inbox_push(t->inbox, &t->item) != 0) cf_release(t);  /* closed */
}

void lcf_task_await_end(lcf_task *t) {
  lcf_timer_clear(t);
  if (t->waiter != NULL) {
    cf_waiter_set_notify(t->waiter, NULL, NULL);
    cf_release(t->waiter);
    t->waiter = NULL;
  }
}

void lcf_task_forget(lcf_task *t) {
  lcf_spawn_rec *rec = t->rec;
  lcf_task_await_end(t);
  t->co = NULL;
  if (t->prev) t->prev->next = t->next;
  else rec->live = t->next;
  if (t->next) t->next->prev = t->prev;
  t->prev = t->next = NULL;
  cf_release(t);                /* the live list's */
}

int lcf_spawned_before_run(lcf_state *s, int implicit) {
  lcf_spawn_rec *rec = s->spawn;
  if (implicit && rec->depth > 0) return 0;
  lcf_timers_fire(rec);
  return rec->depth < LCF_MAX_NESTED_RESUMES;
}

void lcf_task_finish_broken(lcf_task *t, const char *why) {
  cf_buffer b = CF_BUFFER_INIT;
  if (cf_buffer_append(&b, why, strlen(why)) == 0)
    cf_future_finish(t->future, CF_OUTCOME_BROKEN_THREAD, &b, NULL);
  cf_buffer_free(&b);
}

/* The state closes with coroutines still suspended: their futures end
** broken (a waiter elsewhere learns why), the coroutines go with the
** state. */
void lcf_spawned_close(lcf_state *s) {
  lcf_spawn_rec *rec = s->spawn;
  lcf_task *t, *next;
  if (rec == NULL) return;
  s->spawn = NULL;
  for (t = rec->live; t != NULL; t = next) {
    next = t->next;
    lcf_task_finish_broken(t, "the Lua state closed while the spawned coroutine was suspended");
    lcf_task_forget(t);
  }
  lcf_timers_close(rec);
  free(rec);
}
