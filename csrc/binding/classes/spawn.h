/*
** spawn.h -- coroutines made by futures.spawn, whose waits suspend them
** instead of blocking the thread; futures.fd for a host's event loop.
*/
#ifndef LCF_SPAWN_H
#define LCF_SPAWN_H

#include <lua.h>

#include "../../concurrent.h"

/* The waits of the library call one lcf_await_* first, before blocking.
** When it returns 1, L is a coroutine made by spawn and is to be
** suspended: the caller returns lua_yieldk(L, 0, 0, k). Once resumed (from
** futures.poll), k calls the matching lcf_await_*_again: 1 means suspend
** again (return lua_yieldk(L, 0, 0, k) once more), 0 that the wait is over
** (ready, or for a waiter and a sleep, also the timeout passed): k then
** finishes as the wait would without blocking. lcf_await_* returns 0 at
** once anywhere else (the main chunk, another coroutine, a context that
** cannot yield, a zero timeout): the caller blocks as before (first
** through lcf_spawn_block, runtime/spawned.h, then in slices). */
int lcf_await_future(lua_State *L, cf_future *f, double timeout);
/* 0 once f is done; raises TimeoutError once the timeout has passed. */
int lcf_await_future_again(lua_State *L, cf_future *f);
int lcf_await_waiter(lua_State *L, cf_waiter *w, double timeout);
int lcf_await_waiter_again(lua_State *L, cf_waiter *w);
int lcf_await_sleep(lua_State *L, double seconds);
int lcf_await_sleep_again(lua_State *L);

/* A stop asked of a spawned coroutine's future: its waits raise the
** interruption (the lcf_await_* above raise it, at once or once it is
** resumed). lcf_spawn_stop_requested: L is a spawned coroutine whose
** future is asked to stop (concurrent.interrupted()). lcf_spawn_interrupt:
** after f:interrupt(), wake f's coroutine if it is one of L's state's,
** suspended (a stop asked from another thread waits for its next resume). */
int lcf_spawn_stop_requested(lua_State *L);
void lcf_spawn_interrupt(lua_State *L, cf_future *f);

/* futures.spawn and futures.fd into the table on the top. */
void lcf_spawn_open(lua_State *L);

#endif
