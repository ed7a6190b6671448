#!/bin/sh
# Build and install the rock from a copy of the tree into a temporary
# LuaRocks tree, then use it from a fresh interpreter with only that tree
# on its paths: for each Lua version given (default 5.4 5.3 5.1) whose
# interpreter and headers are installed.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$top" ls-files -z | (cd "$top" && xargs -0 tar cf -) | (mkdir "$work/src" && cd "$work/src" && tar xf -)
[ $# -gt 0 ] || set -- 5.4 5.3 5.1
for v in "$@"; do
  if ! command -v "lua$v" >/dev/null 2>&1 || [ ! -f "/usr/include/lua$v/lua.h" ]; then
    echo "rockspec: Lua $v skipped (lua$v or liblua$v-dev not installed)"
    continue
  fi
  tree=$work/tree-$v
  (cd "$work/src" && luarocks --lua-version "$v" make --tree "$tree" rockspec/concurrent-scm-1.rockspec) >"$work/log" 2>&1 || {
    cat "$work/log"; echo "rockspec: luarocks --lua-version $v make failed"; exit 1; }
  (cd "$work" &&
  LUA_PATH="$tree/share/lua/$v/?.lua;$tree/share/lua/$v/?/init.lua" \
  LUA_CPATH="$tree/lib/lua/$v/?.so" \
  "lua$v" -e '
    local searchpath = package.searchpath or function(name, path)  -- 5.1
      for c in path:gmatch("[^;]+") do
        local f = c:gsub("%?", (name:gsub("%.", "/")))
        local h = io.open(f)
        if h then h:close() return f end
      end
    end
    local futures = require "concurrent.futures"
    local r = futures.with(futures.ThreadPoolExecutor(2), function(ex)
      return ex:submit(function(n) return n * 2 end, 21):result()
    end)
    assert(r == 42, "wrong result")
    assert(searchpath("concurrent.core", package.cpath):find("'"$work"'/tree", 1, true))
    -- The Lua modules are installed precompiled, with their debug info and
    -- chunk names kept (tracebacks read concurrent/futures.lua:LINE).
    local path = assert(searchpath("concurrent.futures", package.path))
    local fh = assert(io.open(path, "rb"))
    assert(fh:read(1) == "\27", path .. " is not bytecode")
    fh:close()
    local info = debug.getinfo(futures.iserror, "S")
    assert(info.source == "@concurrent/futures.lua" and info.linedefined > 0,
      "chunk name or lines lost: " .. info.source .. ":" .. info.linedefined)
    print("rockspec: " .. _VERSION .. ": installed tree works (" .. searchpath("concurrent.core", package.cpath) .. ")")
  ')
done
