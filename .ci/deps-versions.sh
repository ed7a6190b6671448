#!/bin/sh
# Install the Debian packages `make test-all` and the host specs need, if
# missing: the other Lua versions with their headers (5.3, 5.1, LuaJIT),
# and the hosts that embed LuaJIT (LÖVE, Neovim) with a headless X server
# for LÖVE. As root this runs apt-get; otherwise it prints the command.
exec sh "$(dirname "$0")/deps.sh" lua5.3 liblua5.3-dev lua5.1 liblua5.1-0-dev \
  luajit libluajit-5.1-dev love neovim xvfb xauth
