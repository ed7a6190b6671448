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
  -- The Lua modules are installed as sources (tools read them).
  local path = assert(package.searchpath("concurrent.futures", package.path))
  local fh = assert(io.open(path, "rb"))
  assert(fh:read(1) ~= "\27", path .. " is bytecode")
  fh:close()
  print("rockspec: installed tree works (" .. package.searchpath("concurrent.core", package.cpath) .. ")")
'
# A C host finds the static library and the headers through the rock's
# pkg-config file, and nothing but the C module is among the C modules.
rockdir=$(luarocks --lua-version 5.4 --tree "$work/tree" show --rock-dir concurrent)
[ -z "$(find "$work/tree/lib/lua/5.4" -name '*.a')" ] || {
  echo "rockspec: a static library among the C modules"; exit 1; }
cat > "$work/host.c" <<'C'
#include <concurrent.h>
#include <concurrent_lua.h>
#include <stdio.h>
static void task(cf_future *f, void *ctx, void *arg) {
  (void)ctx; (void)arg;
  cf_future_set_result(f, "ok", 2);
}
int main(void) {
  int rc;
  cf_pool *p = cf_pool_new(1, NULL);
  cf_future *f = cf_pool_submit(p, task, NULL, NULL, &rc);
  const cf_buffer *b;
  cf_future_wait(f, -1);
  cf_future_outcome(f, &b, NULL);
  printf("%.*s\n", (int)b->len, (const char *)b->data);
  cf_release(f);
  cf_pool_shutdown(p, 1, 0);
  cf_release(p);
  return 0;
}
C
flags=$(PKG_CONFIG_PATH="$rockdir/c/lib/pkgconfig" pkg-config --cflags --libs concurrent) || {
  echo "rockspec: no pkg-config file in $rockdir/c/lib/pkgconfig"; exit 1; }
cc -std=c11 "$work/host.c" $flags -o "$work/host" && [ "$("$work/host")" = ok ] || {
  echo "rockspec: a C host cannot build against the rock ($flags)"; exit 1; }
echo "rockspec: a C host builds with: pkg-config --cflags --libs concurrent ($rockdir/c/lib/pkgconfig)"
