/*
** sanlua.c -- a minimal stand-in for the lua5.4 command, linked with a
** sanitizer runtime, for `make asan` and `make tsan`.
**
** Why not LD_PRELOAD the runtime into lua5.4: the preload is inherited by
** every process the specs start through io.popen, and the shells
** (/bin/sh, bash) crash at start under the ThreadSanitizer runtime (and
** report their own leaks under LeakSanitizer). Linking the runtime into
** this program instead instruments the Lua process only; specs that start
** a Lua subprocess run $CONCURRENT_LUA, which spec/sanitize.sh points here.
**
** Usage, as lua5.4:  sanlua [-e chunk]... [script [args...]]
** The script sees arg[0] = script, arg[1..] = args, arg[-1] = this program,
** like lua.c; an error prints its traceback and exits with status 1.
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) msg = luaL_tolstring(L, 1, NULL);
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Ctrl-C while a chunk runs, as the lua5.4 command answers it (so that
** spec/96-interrupt_spec.lua runs here too): the handler only sets a hook
** (lua_sethook is safe in a signal handler), which raises at the next
** call, return, line or instruction of the state. */
static lua_State *running;

static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

static void on_sigint(int sig) {
  signal(sig, SIG_DFL);   /* a second Ctrl-C ends the process */
  lua_sethook(running, stop_hook,
              LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

/* Run the chunk on the top with n arguments below it, protected. */
static int docall(lua_State *L, int nargs) {
  int base = lua_gettop(L) - nargs, status;
  lua_pushcfunction(L, traceback);
  lua_insert(L, base);
  running = L;
  signal(SIGINT, on_sigint);
  status = lua_pcall(L, nargs, 0, base);
  signal(SIGINT, SIG_DFL);
  lua_remove(L, base);
  if (status != LUA_OK) {
    fprintf(stderr, "sanlua: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  return status;
}

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  int i = 1, script, n;
  luaL_openlibs(L);
  while (i + 1 < argc && strcmp(argv[i], "-e") == 0) {
    if (luaL_loadstring(L, argv[i + 1]) != LUA_OK || docall(L, 0) != LUA_OK)
      return lua_error(L), 0;
    i += 2;
  }
  if (i >= argc) {
    lua_pushboolean(L, 1);
    return 1;
  }
  script = i;
  lua_createtable(L, argc - script, script + 1);
  for (n = 0; n < argc; n++) {
    lua_pushstring(L, argv[n]);
    lua_rawseti(L, -2, n - script);
  }
  lua_setglobal(L, "arg");
  if (luaL_loadfile(L, argv[script]) != LUA_OK) {
    fprintf(stderr, "sanlua: %s\n", lua_tostring(L, -1));
    lua_pushboolean(L, 0);
    return 1;
  }
  luaL_checkstack(L, argc - script, "too many arguments");
  for (n = script + 1; n < argc; n++) lua_pushstring(L, argv[n]);
  lua_pushboolean(L, docall(L, argc - script - 1) == LUA_OK);
  return 1;
}

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  int ok;
  if (L == NULL) {
    fprintf(stderr, "sanlua: cannot create state: not enough memory\n");
    return 1;
  }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  ok = lua_pcall(L, 2, 1, 0) == LUA_OK && lua_toboolean(L, -1);
  if (!ok && lua_type(L, -1) == LUA_TSTRING)
    fprintf(stderr, "sanlua: %s\n", lua_tostring(L, -1));
  lua_close(L);
  return ok ? 0 : 1;
}
