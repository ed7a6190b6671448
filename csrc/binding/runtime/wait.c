/*
** wait.c -- blocking calls that wait in slices, so that Ctrl-C works.
**
** lua.c answers SIGINT by setting a hook on the main state (lstop, which
** raises "interrupted!" at the next call, return or instruction). A C
** function asleep in a condition wait never gives it that chance, so a
** blocking call wakes every LCF_SLICE seconds and, if the hook of its
** state (or, in a coroutine, of the main thread) has changed since the
** call began, calls a no-op C function: the call hook fires and lstop
** raises. It runs under lua_pcall, between slices, when the core holds
** no mutex, so each caller can undo what it must before raising again.
** 0.1 s is a fifth of the 0.5 s promised even on a loaded machine; ten
** wake-ups a second cost a few microseconds of CPU each. Threads that
** block SIGINT (every thread the library starts) cannot be reached by
** the signal: they wait in one piece and never wake for nothing.
**
** A task asked to stop (stop.c) is woken by the asker: the core's wait
** returns CF_ETIMEDOUT early, and the interruption is raised here.
*/
#include <pthread.h>
#include <signal.h>

#include <lauxlib.h>

#include "../../concurrent.h"
#include "compat.h"
#include "stop.h"
#include "wait.h"

static void note_hook(lcf_watch *w, int i, lua_State *S) {
  w->hook[i] = lua_gethook(S);
  w->mask[i] = lua_gethookmask(S);
  w->count[i] = lua_gethookcount(S);
}

static int hook_changed(lcf_watch *w, int i, lua_State *S) {
  return lua_gethook(S) != w->hook[i] || lua_gethookmask(S) != w->mask[i] ||
         lua_gethookcount(S) != w->count[i];
}

void lcf_watch_start(lcf_watch *w, lua_State *L) {
  sigset_t mask;
  w->L = L;
  w->main = NULL;
  w->active = pthread_sigmask(SIG_BLOCK, NULL, &mask) == 0 &&
              !sigismember(&mask, SIGINT);
  if (!w->active) return;
  note_hook(w, 0, L);
  lcf_pushmainthread(L);
  w->main = lua_tothread(L, -1);
  lua_pop(L, 1);
  if (w->main == L) w->main = NULL;
  else note_hook(w, 1, w->main);
}

static int noop(lua_State *L) {
  (void)L;
  return 0;
}

int lcf_watch_check(lcf_watch *w) {
  lua_State *L = w->L;
  lcf_watch mine;
  int from_main, status;
  if (!w->active) return 0;
  if (hook_changed(w, 0, L)) from_main = 0;
  else if (w->main != NULL && hook_changed(w, 1, w->main)) from_main = 1;
  else return 0;
  if (from_main) {   /* a coroutine: run the main thread's hook here */
    note_hook(w, 1, w->main);
    note_hook(&mine, 0, L);
    lua_sethook(L, w->hook[1], w->mask[1], w->count[1]);
  }
  lua_pushcfunction(L, noop);
  status = lua_pcall(L, 0, 0, 0);
  if (from_main) lua_sethook(L, mine.hook[0], mine.mask[0], mine.count[0]);
  note_hook(w, 0, L);
  return status != LUA_OK;
}

int lcf_wait_p(lua_State *L, lcf_waitfn fn, void *ud, double timeout,
               int *raised) {
  lcf_watch w;
  double deadline = 0;
  int rc;
  *raised = 0;
  if (timeout == 0) return fn(ud, 0);
  lcf_watch_start(&w, L);
  if (!w.active) {
    rc = fn(ud, timeout);
    /* Cut short because the task is asked to stop (stop.c). */
    if (rc == CF_ETIMEDOUT) *raised = lcf_stop_check(L);
    return rc;
  }
  if (timeout > 0) deadline = cf_monotonic() + timeout;
  for (;;) {
    double slice = LCF_SLICE;
    if (timeout > 0) {
      double left = deadline - cf_monotonic();
      if (left < slice) slice = left > 0 ? left : 0;
    }
    rc = fn(ud, slice);
    if (rc == CF_ETIMEDOUT && (*raised = lcf_stop_check(L)) != 0) return rc;
    if (rc != CF_ETIMEDOUT || slice == 0) return rc;
    if ((*raised = lcf_watch_check(&w)) != 0) return rc;
  }
}

int lcf_wait(lua_State *L, lcf_waitfn fn, void *ud, double timeout) {
  int raised, rc = lcf_wait_p(L, fn, ud, timeout, &raised);
  if (raised) lua_error(L);
  return rc;
}
