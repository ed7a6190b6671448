#!/bin/sh
# What `make test-all` and the host specs need besides `make test`: the
# other Lua versions with their headers (5.3, 5.1, LuaJIT), and the hosts
# that embed LuaJIT (LÖVE, Neovim) with a headless X server for LÖVE.
# As deps-check.sh does, it asks the system (commands on PATH, lua.h),
# not a package manager; what is missing is installed by deps.sh on
# Debian (as root; otherwise it prints the command).
pkgs=""
need() { pkgs="$pkgs $*"; }
command -v lua5.3 >/dev/null 2>&1 || need lua5.3
[ -f /usr/include/lua5.3/lua.h ] || need liblua5.3-dev
command -v lua5.1 >/dev/null 2>&1 || need lua5.1
[ -f /usr/include/lua5.1/lua.h ] || need liblua5.1-0-dev
command -v luajit >/dev/null 2>&1 || need luajit
[ -f /usr/include/luajit-2.1/lua.h ] || need libluajit-5.1-dev
command -v love >/dev/null 2>&1 || need love
command -v nvim >/dev/null 2>&1 || need neovim
command -v xvfb-run >/dev/null 2>&1 || need xvfb
command -v xauth >/dev/null 2>&1 || need xauth
[ -z "$pkgs" ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  exec sh "$(dirname "$0")/deps.sh" $pkgs
fi
echo "missing for make test-all:$pkgs (install them with your system's package manager)" >&2
exit 1
