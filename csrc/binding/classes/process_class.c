/*
** process_class.c -- process handles for concurrent.process (Process), getpid,
** and the reaping of children nobody joins. The ProcessPoolExecutor is in
** executors/process_pool.c over core/procpool.c.
**
** Process.start forks from the calling thread, in the middle of this C
** function: the child goes on in its copy of the calling lua_State, runs
** the body (target(unpack(args)), or the subclass's run) protected, and
** leaves with _exit -- it never returns into the interpreter it was
** copied from (the test runner, the host program). stdio is flushed in
** the parent before the fork (so nothing buffered is written twice) and
** in the child before _exit (so nothing is lost); os.exit(n) in the child
** does the same with code n.
**
** Fork safety (the decision). The library keeps no process-global lock,
** so there is nothing for pthread_atfork to take; malloc and stdio are
** made fork-safe by glibc itself. What a child could still block on is a
** lock of this library's objects held by a thread that does not exist in
** the child, so:
**   - a Process child forgets, in its copy of the state, the inherited
**     pools and the done-callback inbox (both touched by the parent's
**     threads) and never closes the state (no finalizer runs there);
**   - pools (thread and process) record the pid that made them and are
**     inert in any other process: shutdown and collection do not wait for
**     or lock anything, submit fails the future (core/pool.c,
**     core/procpool.c);
**   - process pool workers are forked by the pool's manager thread, which
**     holds no lock when it forks, and use only a fresh Lua state;
**   - signals: worker threads block them all, so the child unblocks them.
** A child that uses a parent's future, lock or queue shared with threads
** may still find it locked forever, as in Python: pass data, not objects.
**
** Zombies. A handle that is joined, polled or signalled after the end
** reaps its child (waitpid on its own pid only, never -1). A handle
** collected while its child runs hands the pid to a small detached reaper
** thread, which waits for it (waitid WNOWAIT, then reaps under the record
** lock, so a pid is never signalled after it could be reused). The
** state's record of processes is made before the first handle, so when
** the state closes its finalizer runs after theirs: it terminates the
** daemon children still running, waits for every reaper (Python joins
** non-daemon children at exit), and reaps any child no thread could be
** made for.
**
** Lock order: a record's mutex is a leaf.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>

#include "../../core/interrupt.h"
#include "../../core/object.h"
#include "../runtime/inbox.h"
#include "future_class.h"
#include "process_class.h"
#include "../runtime/record.h"
#include "../runtime/errors.h"

#define LCF_PHANDLE "concurrent.ProcessHandle"

static const char RECORD_KEY = 'p';

/* ---------------------------------------------------------------------- */
/* The per-state record and its reapers.                                  */

typedef struct orphan {
  pid_t pid;
  int daemon;
  int threaded;            /* a reaper thread waits for it */
  struct precord *r;
  struct orphan *next;
} orphan;

typedef struct precord {
  pthread_mutex_t mu;
  pthread_cond_t cv;       /* a reaper ended */
  pid_t owner;
  int refs;                /* the state's box, live handles, reapers */
  int reapers;
  orphan *orphans;
} precord;

static void record_release(precord *r) {
  int last;
  cf_mutex_lock(&r->mu);
  last = --r->refs == 0;
  cf_mutex_unlock(&r->mu);
  if (last) {
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
  }
}

static void unlink_orphan(precord *r, orphan *o) {
  orphan **pp;
  for (pp = &r->orphans; *pp; pp = &(*pp)->next)
    if (*pp == o) {
      *pp = o->next;
      return;
    }
}

static void *reaper_main(void *arg) {
  orphan *o = arg;
  precord *r = o->r;
  siginfo_t si;
  cf_block_signals();
  /* Wait without reaping, then reap under the lock: record_close may
  ** signal a listed pid, and the pid must not be free for reuse then. */
  while (waitid(P_PID, (id_t)o->pid, &si, WEXITED | WNOWAIT) != 0 &&
         errno == EINTR) {}
  cf_mutex_lock(&r->mu);
  unlink_orphan(r, o);
  waitpid(o->pid, NULL, WNOHANG);
  r->reapers--;
  pthread_cond_broadcast(&r->cv);
  cf_mutex_unlock(&r->mu);
  free(o);
  record_release(r);
  return NULL;
}

/* A running child whose handle is gone: a reaper thread waits for it
** (or, if none can be made, the record reaps it when the state closes). */
static void hand_to_reaper(precord *r, pid_t pid, int daemon) {
  orphan *o = calloc(1, sizeof *o);
  pthread_attr_t a;
  pthread_t t;
  if (o == NULL) return;   /* left for init to reap when we exit */
  o->pid = pid;
  o->daemon = daemon;
  o->r = r;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&a, PTHREAD_STACK_MIN + 64 * 1024);
  cf_mutex_lock(&r->mu);
  o->next = r->orphans;
  r->orphans = o;
  if (pthread_create(&t, &a, reaper_main, o) == 0) {
    o->threaded = 1;
    r->reapers++;
    r->refs++;
  }
  cf_mutex_unlock(&r->mu);
  pthread_attr_destroy(&a);
}

/* The state closes (its close registry): terminate daemon children, wait
** for the others. */
static void record_close(void *obj) {
  precord *r = obj;
  orphan *o, *rest = NULL, *next;
  cf_mutex_lock(&r->mu);
  for (o = r->orphans; o; o = o->next)
    if (o->daemon) kill(o->pid, SIGTERM);
  while (r->reapers > 0) pthread_cond_wait(&r->cv, &r->mu);
  rest = r->orphans;
  r->orphans = NULL;
  cf_mutex_unlock(&r->mu);
  for (o = rest; o; o = next) {
    next = o->next;
    while (waitpid(o->pid, NULL, 0) < 0 && errno == EINTR) {}
    free(o);
  }
  record_release(r);
}

static const lcf_close_kind record_closer = {
  .order = LCF_CLOSE_PROCESSES,
  .close = record_close,
};

/* The state's record of children, registered with its close registry; a
** forked copy of the state makes its own. */
static precord *get_record(lua_State *L) {
  precord *r;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &RECORD_KEY);
  r = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (r && r->owner == getpid()) return r;
  lcf_close_reserve(L);
  r = calloc(1, sizeof *r);
  if (r == NULL) luaL_error(L, "not enough memory");
  cf_mutex_init(&r->mu);
  cf_cond_init(&r->cv);
  r->owner = getpid();
  r->refs = 1;
  lua_pushlightuserdata(L, r);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &RECORD_KEY);
  lcf_close_add(L, &record_closer, r);
  return r;
}

/* ---------------------------------------------------------------------- */
/* Handles.                                                               */

typedef struct phandle {
  pid_t pid;               /* 0 until forked */
  pid_t owner;             /* the parent's pid */
  int pidfd;               /* -1 if none (or once reaped) */
  int daemon;
  int done;                /* reaped, or lost to someone else's wait */
  int status;              /* waitpid status, -1 if lost */
  precord *r;              /* retained */
} phandle;

static phandle *check_handle(lua_State *L, const char *what) {
  phandle *h = luaL_checkudata(L, 1, LCF_PHANDLE);
  if (h->pid <= 0) luaL_error(L, "process handle is closed");
  if (h->owner != getpid())
    luaL_error(L, "can only %s a child process (this one was started by "
                  "process %d)", what, (int)h->owner);
  return h;
}

/* Reap if ended (block: wait for it). 1 when ended. */
static int reap(phandle *h, int block) {
  int st;
  if (h->done) return 1;
  for (;;) {
    pid_t r = waitpid(h->pid, &st, block ? 0 : WNOHANG);
    if (r == h->pid) break;
    if (r == 0) return 0;
    if (errno == EINTR) continue;
    st = -1;   /* ECHILD: reaped by someone else (SIGCHLD ignored?) */
    break;
  }
  h->done = 1;
  h->status = st;
  if (h->pidfd >= 0) close(h->pidfd);
  h->pidfd = -1;
  return 1;
}

/* Wait up to timeout (< 0: forever) for the end: 1 if it ended. With a
** pidfd the wait sleeps in ppoll until the exit or the deadline; without,
** it polls waitpid with sleeps growing from 1 ms to 50 ms. */
static int wait_end(phandle *h, double timeout) {
  double deadline, nap = 0.001;
  if (reap(h, 0)) return 1;
  if (timeout < 0) return reap(h, 1);
  deadline = cf_monotonic() + timeout;
  for (;;) {
    double left = deadline - cf_monotonic();
    if (left <= 0) return reap(h, 0);
    if (h->pidfd >= 0) {
      struct pollfd pf = {h->pidfd, POLLIN, 0};
      struct timespec ts;
      ts.tv_sec = (time_t)left;
      ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
      ppoll(&pf, 1, &ts, NULL);
    } else {
      cf_sleep(nap < left ? nap : left);
      if (nap < 0.05) nap *= 2;
    }
    if (reap(h, 0)) return 1;
  }
}

static void push_exitcode(lua_State *L, phandle *h) {
  if (!h->done || h->status == -1) lua_pushnil(L);
  else if (WIFSIGNALED(h->status)) lua_pushinteger(L, -WTERMSIG(h->status));
  else lua_pushinteger(L, WEXITSTATUS(h->status));
}

/* In a task (a pool worker, a Thread), in pieces of 5 ms: a stop asked of
** it ends the wait (a process's end cannot be published to its interrupt
** cell as a condition can). */
static int end_slice(void *h, double timeout) {
  cf_icell *c = cf_icell_current();
  if (c != NULL && cf_icell_task(c) != NULL) {
    double deadline = timeout < 0 ? -1 : cf_monotonic() + timeout;
    for (;;) {
      double piece = 0.005;
      if (cf_task_stop_requested()) return CF_ETIMEDOUT;
      if (deadline >= 0) {
        double left = deadline - cf_monotonic();
        if (left <= 0) return wait_end(h, 0) ? 0 : CF_ETIMEDOUT;
        if (left < piece) piece = left;
      }
      if (wait_end(h, piece)) return 0;
    }
  }
  return wait_end(h, timeout) ? 0 : CF_ETIMEDOUT;
}

/* h:join([timeout]) -> true once ended, false on timeout. It waits in
** slices (Ctrl-C). */
static int l_join(lua_State *L) {
  phandle *h = check_handle(L, "join");
  double timeout = lcf_opttimeout(L, 2);
  int ended = lcf_wait(L, end_slice, h, timeout) == 0;
  lcf_callbacks_run(L);
  lua_pushboolean(L, ended);
  return 1;
}

/* h:status() -> alive, exitcode (nil while running, or if lost). */
static int l_status(lua_State *L) {
  phandle *h = luaL_checkudata(L, 1, LCF_PHANDLE);
  if (h->pid > 0 && !h->done && h->owner == getpid()) reap(h, 0);
  lua_pushboolean(L, h->pid > 0 && !h->done && h->owner == getpid());
  push_exitcode(L, h);
  return 2;
}

/* h:signal(n) -> true if sent, false if the child has already been
** reaped (its pid may belong to another process by now). */
static int l_signal(lua_State *L) {
  phandle *h = check_handle(L, "signal");
  int sig = (int)luaL_checkinteger(L, 2);
  if (reap(h, 0)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (kill(h->pid, sig) != 0)
    return luaL_error(L, "cannot signal process %d: %s", (int)h->pid,
                      strerror(errno));
  lua_pushboolean(L, 1);
  return 1;
}

static int l_pid(lua_State *L) {
  phandle *h = luaL_checkudata(L, 1, LCF_PHANDLE);
  lua_pushinteger(L, h->pid);
  return 1;
}

static int l_handle_gc(lua_State *L) {
  phandle *h = lua_touserdata(L, 1);
  if (h->pid > 0 && h->owner == getpid()) {
    if (!reap(h, 0)) hand_to_reaper(h->r, h->pid, h->daemon);
    record_release(h->r);
  }
  if (h->pidfd >= 0) close(h->pidfd);
  h->pidfd = -1;
  h->pid = 0;
  h->r = NULL;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Starting: the child's side.                                            */

/* The message of the error value on top of co. */
static const char *error_message(lua_State *L, lua_State *co) {
  lua_xmove(co, L, 1);
  return lcf_error_text(L, -1);
}

/* os.exit in a Process child: flush, then _exit (the copied state is
** never closed: its finalizers belong to the parent). */
static int child_os_exit(lua_State *L) {
  int code;
  if (lua_isboolean(L, 1)) code = lua_toboolean(L, 1) ? EXIT_SUCCESS
                                                      : EXIT_FAILURE;
  else code = (int)luaL_optinteger(L, 1, EXIT_SUCCESS);
  fflush(NULL);
  _exit(code);
  return 0;
}

/* In the child, protected: forget what belongs to the parent's threads,
** set os.exit, run the body; returns the exit code. */
static int child_body(lua_State *L) {
  lcf_state *s = lcf_getstate(L);
  lua_State *co;
  int code = 0, status, nres;
  s->inbox = NULL;       /* fed by the parent's threads; its lock may be held */
  s->spawn = NULL;       /* its coroutines wake through that inbox */
  lua_pushnil(L);        /* the parent's record: children of ours get a new one */
  lua_rawsetp(L, LUA_REGISTRYINDEX, &RECORD_KEY);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, "os") == LUA_TTABLE) {
    lua_pushcfunction(L, child_os_exit);
    lua_setfield(L, -2, "exit");
  }
  lua_pop(L, 2);
  /* A coroutine of its own, so the traceback shows the child's frames
  ** only, not the parent's (copied) ones below the fork. */
  co = lua_newthread(L);
  lua_pushvalue(L, 1);
  lua_xmove(L, co, 1);
  status = lua_resume(co, L, 0, &nres);
  if (status == LUA_YIELD) {
    lua_pushliteral(co, "attempt to yield from outside a coroutine");
    status = LUA_ERRRUN;
  }
  if (status != LUA_OK) {
    const char *msg = error_message(L, co);
    luaL_traceback(L, co, msg, 0);
    fprintf(stderr, "Process %s:\n%s\n", lua_tostring(L, 2), lua_tostring(L, -1));
    code = 1;
  }
  lua_pushinteger(L, code);
  return 1;
}

static void child_main(lua_State *L) {
  sigset_t none;
  int code = 1;
  sigemptyset(&none);   /* forked from a worker thread: signals blocked */
  pthread_sigmask(SIG_SETMASK, &none, NULL);
  lua_pushcfunction(L, child_body);   /* stack room checked before fork */
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  if (lua_pcall(L, 2, 1, 0) == LUA_OK) code = (int)lua_tointeger(L, -1);
  else fprintf(stderr, "Process %s: %s\n", lua_tostring(L, 2),
               lua_tostring(L, -1));
  fflush(NULL);
  _exit(code);
}

/* core.process_start(body, name [, daemon]) -> handle. The child runs
** body() and exits. */
static int l_process_start(lua_State *L) {
  phandle *h;
  precord *r;
  pid_t pid;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  luaL_checkstring(L, 2);
  lua_settop(L, 3);
  r = get_record(L);
  h = lua_newuserdatauv(L, sizeof *h, 0);
  memset(h, 0, sizeof *h);
  h->pidfd = -1;
  luaL_setmetatable(L, LCF_PHANDLE);
  luaL_checkstack(L, 8, "cannot start a process");
  fflush(NULL);
  pid = fork();
  if (pid < 0)
    return luaL_error(L, "cannot start a process: %s", strerror(errno));
  if (pid == 0) child_main(L);   /* never returns */
  h->pid = pid;
  h->owner = getpid();
  h->pidfd = cf_pidfd_open(pid);
  h->daemon = lua_toboolean(L, 3);
  cf_mutex_lock(&r->mu);
  r->refs++;
  cf_mutex_unlock(&r->mu);
  h->r = r;
  return 1;
}

static int l_getpid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

/* core._children() -> {[pid] = state letter} for every child of this
** process, from /proc (Linux; specs look for zombies, state "Z"). */
static int l_children(lua_State *L) {
  DIR *d = opendir("/proc");
  struct dirent *e;
  pid_t me = getpid();
  lua_newtable(L);
  if (d == NULL) return 1;
  while ((e = readdir(d)) != NULL) {
    char path[64], buf[512], *close_paren, state;
    int ppid;
    FILE *f;
    size_t n;
    long pid;
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    pid = strtol(e->d_name, NULL, 10);
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    if ((f = fopen(path, "r")) == NULL) continue;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    close_paren = strrchr(buf, ')');   /* the command may hold spaces */
    if (close_paren && sscanf(close_paren + 1, " %c %d", &state, &ppid) == 2 &&
        ppid == (int)me) {
      lua_pushlstring(L, &state, 1);
      lua_rawseti(L, -2, (lua_Integer)pid);
    }
  }
  closedir(d);
  return 1;
}

static const luaL_Reg handle_methods[] = {
  {"join", l_join},
  {"status", l_status},
  {"signal", l_signal},
  {"pid", l_pid},
  {"__gc", l_handle_gc},
  {NULL, NULL}
};

static const luaL_Reg functions[] = {
  {"process_start", l_process_start},
  {"getpid", l_getpid},
  {"_children", l_children},
  {NULL, NULL}
};

void lcf_process_open(lua_State *L) {
  /* Handles are plain userdata (not a class of lcf_newclass): they
  ** cannot be sent. */
  if (luaL_newmetatable(L, LCF_PHANDLE)) {
    luaL_setfuncs(L, handle_methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  luaL_setfuncs(L, functions, 0);
}
