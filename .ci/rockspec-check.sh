#!/bin/sh
# Build and install the rock from a copy of the tree into a temporary
# LuaRocks tree, then use it from a fresh interpreter with only that tree
# on its paths: for each Lua version given (default 5.4 5.3 5.1) whose
# interpreter and headers are installed (the modules installed as sources,
# only the C module among the C modules); then a C host built through the
# rock's pkg-config file.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$top" ls-files -z | (cd "$top" && xargs -0 tar cf -) | (mkdir "$work/src" && cd "$work/src" && tar xf -)
[ $# -gt 0 ] || set -- 5.4 5.3 5.1
built=""
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
    -- The Lua modules are installed as sources (tools read them).
    local path = assert(searchpath("concurrent.futures", package.path))
    local fh = assert(io.open(path, "rb"))
    assert(fh:read(1) ~= "\27", path .. " is bytecode")
    fh:close()
    print("rockspec: " .. _VERSION .. ": installed tree works (" .. searchpath("concurrent.core", package.cpath) .. ")")
  ')
  # Nothing but the C module is among the C modules.
  [ -z "$(find "$tree/lib/lua/$v" -name '*.a')" ] || {
    echo "rockspec: a static library among the C modules ($v)"; exit 1; }
  [ -n "$built" ] || built=$v
done
[ -n "$built" ] || { echo "rockspec: no Lua version could be checked"; exit 1; }
# A C host finds the static library and the headers through the rock's
# pkg-config file (the C API does not depend on the Lua version: checked
# with the first rock built).
rockdir=$(luarocks --lua-version "$built" --tree "$work/tree-$built" show --rock-dir concurrent)
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
