rockspec_format = "3.0"
package = "concurrent"
version = "scm-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "Python's concurrent.futures, threading and multiprocessing for Lua 5.4, 5.3, 5.1 and LuaJIT, on native threads",
  detailed = [[
    ThreadPoolExecutor, ProcessPoolExecutor, Future, as_completed, wait and map;
    Thread, locks, queues and shared values; Process. Written in C over pthreads:
    each worker thread runs its own lua_State, and values cross by copy.
  ]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1, < 5.5",
}
build = {
  type = "make",
  build_target = "all",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    -- The Makefile asks LUA which version it is (5.4, 5.3, 5.1 or LuaJIT).
    -- `make` precompiles the Lua modules with this interpreter (the
    -- installed .lua files are bytecode, which must match it).
    LUA = "$(LUA)",
  },
  install_target = "install",
  install_variables = {
    PREFIX = "$(PREFIX)",
    LUA_CMODULE_DIR = "$(LIBDIR)",
    LUA_MODULE_DIR = "$(LUADIR)",
    LUA = "$(LUA)",
  },
}
