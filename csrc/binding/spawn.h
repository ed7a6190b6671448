/*
** spawn.h -- coroutines made by futures.spawn, whose waits suspend them
** instead of blocking the thread; futures.fd for a host's event loop.
*/
#ifndef LCF_SPAWN_H
#define LCF_SPAWN_H

#include <lua.h>

#include "../concurrent.h"
#include "state.h"

/* The waits of the library call one lcf_await_* first, before blocking.
** When it returns 1, L is a coroutine made by spawn and is to be
** suspended: the caller returns lua_yieldk(L, 0, 0, k). Once resumed (from
** futures.poll), k calls the matching lcf_await_*_again: 1 means suspend
** again (return lua_yieldk(L, 0, 0, k) once more), 0 that the wait is over
** (ready, or for a waiter and a sleep, also the timeout passed): k then
** finishes as the wait would without blocking. lcf_await_* returns 0 at
** once anywhere else (the main chunk, another coroutine, a context that
** cannot yield, a zero timeout): the caller blocks as before. */
int lcf_await_future(lua_State *L, cf_future *f, double timeout);
/* 0 once f is done; raises TimeoutError once the timeout has passed. */
int lcf_await_future_again(lua_State *L, cf_future *f);
int lcf_await_waiter(lua_State *L, cf_waiter *w, double timeout);
int lcf_await_waiter_again(lua_State *L, cf_waiter *w);
int lcf_await_sleep(lua_State *L, double seconds);
int lcf_await_sleep_again(lua_State *L);

/* A blocking wait (L is not a spawned coroutine) for f, for w or (both
** NULL) for the timeout alone: while the state has spawned coroutines,
** run them as they become ready until what it waits for is ready or the
** timeout passes (block.c). Returns the timeout left for the usual wait
** (-1: none; 0: it passed). */
double lcf_spawn_block(lua_State *L, cf_future *f, cf_waiter *w,
                       double timeout);

/* Before each run of the inbox (callbacks.c): queue the coroutines whose
** timers are due; 0 if the inbox is not to run now: inside a resumed
** coroutine, a blocking call's run (implicit) never runs it, and
** futures.poll only to a few levels deep. */
int lcf_spawn_before_run(lua_State *L, lcf_state *s, int implicit);
/* The fd readable while futures.poll has work for L; -1 and errno when it
** cannot be made. Never raises. */
int lcf_spawn_fd(lua_State *L);
/* futures.spawn and futures.fd into the table on the top. */
void lcf_spawn_open(lua_State *L);

#endif
