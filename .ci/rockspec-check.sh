#!/bin/sh
# Build and install the rock from a copy of the tree into a temporary
# LuaRocks tree, then use it from a fresh lua5.4 with only that tree on
# its paths.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$top" ls-files -z | (cd "$top" && xargs -0 tar cf -) | (mkdir "$work/src" && cd "$work/src" && tar xf -)
cd "$work/src"
luarocks --lua-version 5.4 make --tree "$work/tree" rockspec/concurrent-scm-1.rockspec >"$work/log" 2>&1 || {
  cat "$work/log"; echo "rockspec: luarocks make failed"; exit 1; }
cd "$work"
LUA_PATH="$work/tree/share/lua/5.4/?.lua;$work/tree/share/lua/5.4/?/init.lua" \
LUA_CPATH="$work/tree/lib/lua/5.4/?.so" \
lua5.4 -e '
  local futures = require "concurrent.futures"
  local ex <close> = futures.ThreadPoolExecutor(2)
  local f = ex:submit(function(n) return n * 2 end, 21)
  assert(f:result() == 42, "wrong result")
  assert(package.searchpath("concurrent.core", package.cpath):find("'"$work"'/tree", 1, true))
  -- The Lua modules are installed precompiled, with their debug info and
  -- chunk names kept (tracebacks read concurrent/futures.lua:LINE).
  local path = assert(package.searchpath("concurrent.futures", package.path))
  local fh = assert(io.open(path, "rb"))
  assert(fh:read(1) == "\27", path .. " is not bytecode")
  fh:close()
  local info = debug.getinfo(futures.iserror, "S")
  assert(info.source == "@concurrent/futures.lua" and info.linedefined > 0,
    "chunk name or lines lost: " .. info.source .. ":" .. info.linedefined)
  print("rockspec: installed tree works (" .. package.searchpath("concurrent.core", package.cpath) .. ")")
'
