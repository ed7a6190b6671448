#!/bin/sh
# deps-check.sh LUA LUA_INCDIR CC BUSTED -- is what `make test` needs here?
# It asks the system, not a package manager: the commands on PATH and
# lua.h in LUA_INCDIR. When something is missing: on Debian (apt-get) run
# .ci/deps.sh, which installs it as root or prints the command; elsewhere
# say what to install and fail.
lua=$1 incdir=$2 cc=$3 busted=$4
missing="" pkgs=""
need() { missing="$missing $1"; pkgs="$pkgs $2"; }
command -v "$lua" >/dev/null 2>&1 || need "$lua" lua5.4
{ [ -n "$incdir" ] && [ -f "$incdir/lua.h" ]; } || need "lua.h (Lua 5.4 headers)" liblua5.4-dev
command -v "${cc%% *}" >/dev/null 2>&1 || need "$cc" gcc
{ [ -f "$busted" ] || command -v "$busted" >/dev/null 2>&1; } || need busted lua-busted
[ -z "$missing" ] && exit 0
echo "missing:$missing" >&2
if command -v apt-get >/dev/null 2>&1; then
  exec sh "$(dirname "$0")/deps.sh" $pkgs
fi
echo "install them with your system's package manager (Lua 5.4 and its headers," >&2
echo "a C compiler, busted), or point the build at them: make LUA=... LUA_INCDIR=... BUSTED=..." >&2
exit 1
