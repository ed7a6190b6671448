/*
** wait.h -- how the binding's blocking calls wait: in slices, letting a
** hook set meanwhile (Ctrl-C in lua.c) run between them.
*/
#ifndef LCF_WAIT_H
#define LCF_WAIT_H

#include <lua.h>

#include "compat.h"

/* Waiting so that Ctrl-C works (see wait.c). A blocking call made
** by a thread that can receive SIGINT waits at most LCF_SLICE seconds at
** a time and, between slices, runs a hook set on its state meanwhile. */
#define LCF_SLICE 0.1

typedef struct lcf_watch {
  lua_State *L, *main;       /* main: the main thread, if L is not it */
  lua_Hook hook[2];          /* the hooks of L and main, as last seen */
  int mask[2], count[2];
  int active;                /* 0 in a thread that blocks SIGINT */
} lcf_watch;

/* Note the hooks of L (and of its main thread). */
void lcf_watch_start(lcf_watch *w, lua_State *L);
/* If a hook changed since the last look, let it run (by calling a no-op
** function, protected): 1 when it raised, with its error on the top of
** the stack; 0 otherwise (a debugger's hook: it is the new baseline). */
int lcf_watch_check(lcf_watch *w);

/* One slice of a wait: the core's code (0, CF_ETIMEDOUT, ...). */
typedef int (*lcf_waitfn)(void *ud, double timeout);
/* fn(ud, t) in slices until it returns other than CF_ETIMEDOUT or the
** timeout (seconds; negative: none) has passed; returns its last code.
** Raises the error of a hook that raised between slices: call it holding
** no mutex and no memory that the error would leak. */
int lcf_wait(lua_State *L, lcf_waitfn fn, void *ud, double timeout);
/* The same, but a hook's error is left on the top of the stack with
** *raised = 1, for the caller to clean up before it raises it again. */
int lcf_wait_p(lua_State *L, lcf_waitfn fn, void *ud, double timeout,
               int *raised);

#endif
