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
    LUA = "$(LUA)",
  },
  install_target = "install",
  -- The Lua modules install as sources. For C hosts, the static core
  -- library, the headers and a pkg-config file go to c/ in the rock's own
  -- directory (luarocks show --rock-dir concurrent), not among the C
  -- modules: PKG_CONFIG_PATH=<rock-dir>/c/lib/pkgconfig pkg-config
  -- --cflags --libs concurrent.
  install_variables = {
    PREFIX = "$(PREFIX)",
    LUA_CMODULE_DIR = "$(LIBDIR)",
    LUA_MODULE_DIR = "$(LUADIR)",
    LIBDIR = "$(PREFIX)/c/lib",
    INCLUDEDIR = "$(PREFIX)/c/include",
    LUA = "$(LUA)",
  },
}
