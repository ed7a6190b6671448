#!/bin/sh
# Install the Debian packages the build and the tests need, if missing,
# or the ones named as arguments (deps-reliability.sh). lua-luv and
# lua-cqueues: the specs and examples that drive the library from their
# event loops (futures.fd).
# As root this runs apt-get; otherwise it prints the one command to run.
set -e
[ $# -gt 0 ] || set -- lua5.4 liblua5.4-dev lua-busted luarocks pkg-config gcc make \
  lua-luv lua-cqueues
need=""
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in "$@"; do
  have_pkg "$p" || need="$need $p"
done
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "installing:$need"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq $need >/dev/null
else
  echo "missing Debian packages:$need" >&2
  echo "run as root:  apt-get install -y$need" >&2
  exit 1
fi
