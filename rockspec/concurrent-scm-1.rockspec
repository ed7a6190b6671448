rockspec_format = "3.0"
package = "concurrent"
version = "scm-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "Python's concurrent.futures, threading and multiprocessing for Lua 5.4, on native threads",
  detailed = [[
    ThreadPoolExecutor, ProcessPoolExecutor, Future, as_completed, wait and map;
    Thread, locks, queues and shared values; Process. Written in C over pthreads:
    each worker thread runs its own lua_State, and values cross by copy.
  ]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
build = {
  type = "make",
  build_target = "all",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    LUA_VERSION = "5.4",
    -- `make` precompiles the Lua modules with this interpreter (the
    -- installed .lua files are bytecode, which must match it).
    LUA = "$(LUA)",
  },
  install_target = "install",
  install_variables = {
    PREFIX = "$(PREFIX)",
    LUA_CMODULE_DIR = "$(LIBDIR)",
    LUA_MODULE_DIR = "$(LUADIR)",
    LUA_VERSION = "5.4",
    LUA = "$(LUA)",
  },
}
