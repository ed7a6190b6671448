/*
** stop.c -- stopping a Lua task: a count hook armed on the worker's state
** only while a stop is asked (core/interrupt.c arms it from the asking
** thread: lua_sethook is the one call Lua allows on a state another thread
** runs). The hook raises the interruption at the next instruction. It
** then stays, at every instruction, so that a pcall catching it does not
** keep the task alive: it counts the pcall/xpcall frames on the stack and
** raises again as soon as there are fewer than at its last raise (the
** error got out of one: raising now unwinds further), or after GRACE
** instructions at the same depth (a loop inside that pcall). The grace
** leaves a __close or an error handler room to run. The worker removes it
** when the task has returned (cf_icell_end). A long C call is stopped when
** it returns.
**
** The state pointer the hook is set on is published (cf_icell_set_arm)
** under the cell's lock by the thread that owns it, and withdrawn before
** that thread closes it, so the asker never sets a hook on a closed state.
*/
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>

#include "../../core/interrupt.h"
#include "../../core/procstop.h"
#include "stop.h"
#include "errors.h"

#define GRACE 1000
#define CF_TLS_STOP __thread __attribute__((tls_model("initial-exec")))

#define INTERRUPTED_MSG "interrupted: the task was asked to stop"

static void stop_hook(lua_State *L, lua_Debug *ar);

static void arm(void *ud, int how) {
  lua_State *L = ud;
  if (how == CF_ARM_OFF) lua_sethook(L, NULL, 0, 0);
  else if (how == CF_ARM_NOW) lua_sethook(L, stop_hook, LUA_MASKCOUNT, 1);
  /* CF_ARM_AGAIN: the hook set itself already, keep it */
}

/* pcall and xpcall, as the base library made them (the same functions
** in every state: read from a worker's fresh state). */
static _Atomic(lua_CFunction) pcall_fn, xpcall_fn;

static void note_pcalls(lua_State *L) {
  if (atomic_load_explicit(&xpcall_fn, memory_order_relaxed)) return;
  lua_getglobal(L, "pcall");
  lua_getglobal(L, "xpcall");
  if (lua_iscfunction(L, -2) && lua_iscfunction(L, -1)) {
    atomic_store(&pcall_fn, lua_tocfunction(L, -2));
    atomic_store(&xpcall_fn, lua_tocfunction(L, -1));
  }
  lua_pop(L, 2);
}

static int pcall_depth(lua_State *L) {
  lua_Debug ar;
  int level, n = 0;
  lua_CFunction p = atomic_load_explicit(&pcall_fn, memory_order_relaxed),
                x = atomic_load_explicit(&xpcall_fn, memory_order_relaxed);
  for (level = 0; lua_getstack(L, level, &ar); level++) {
    lua_CFunction fn;
    if (!lua_getinfo(L, "f", &ar)) break;
    fn = lua_tocfunction(L, -1);
    lua_pop(L, 1);
    if (fn != NULL && (fn == p || fn == x)) n++;
  }
  return n;
}

/* The stop being raised in this thread: which one (a task, or a worker
** process's signal count), the pcall depth at its last raise, and the
** instructions since. */
static CF_TLS_STOP const void *raising_for;
static CF_TLS_STOP int raised_depth, since_raise;

static void hook_raise(lua_State *L, const void *which) {
  int depth = pcall_depth(L);
  if (which != raising_for) {               /* a new stop: raise now */
    raising_for = which;
  } else if (depth >= raised_depth && ++since_raise < GRACE) {
    return;
  }
  raised_depth = depth;
  since_raise = 0;
  lcf_push_interrupted(L);
  lua_error(L);
}

void lcf_push_interrupted(lua_State *L) {
  if (lcf_has_errors(L)) lcf_pusherror(L, "CancelledError", INTERRUPTED_MSG);
  else lua_pushliteral(L, "CancelledError: " INTERRUPTED_MSG);
}

static void stop_hook(lua_State *L, lua_Debug *ar) {
  cf_icell *c = cf_icell_current();
  (void)ar;
  if (c == NULL) {                           /* a worker process */
    if (!cf_stop_signalled) {
      lua_sethook(L, NULL, 0, 0);
      return;
    }
    hook_raise(L, (const void *)(intptr_t)cf_stop_signalled);
  } else if (cf_icell_hook_check()) {
    hook_raise(L, cf_icell_task(c));
  }
}

void lcf_stop_attach(lua_State *L) {
  note_pcalls(L);
  cf_icell_set_arm(arm, L);
}

void lcf_stop_detach(void) {
  cf_icell_set_arm(NULL, NULL);
}

/* The state of a worker process's tasks, for its signal handler. */
static lua_State *volatile signal_state;

/* The signal carries the number of the task to stop: a stale one (that
** task has ended) is ignored. */
static void on_sigusr1(int sig, siginfo_t *si, void *uc) {
  static volatile int count;
  (void)sig;
  (void)uc;
  if (si->si_code != SI_QUEUE || si->si_value.sival_int != cf_child_task_seq)
    return;
  cf_stop_signalled = ++count > 0 ? count : (count = 1);
  if (signal_state) lua_sethook(signal_state, stop_hook, LUA_MASKCOUNT, 1);
}

void lcf_stop_signal_setup(lua_State *L) {
  struct sigaction sa;
  sigset_t s;
  signal_state = L;
  if (L == NULL) return;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigusr1;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  sigemptyset(&s);
  sigaddset(&s, SIGUSR1);
  pthread_sigmask(SIG_UNBLOCK, &s, NULL);
}

int lcf_stop_check(lua_State *L) {
  if (!cf_task_stop_requested()) return 0;
  lcf_push_interrupted(L);
  return 1;
}

