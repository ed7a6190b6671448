#!/bin/sh
# csrc/layers.sh [BUILD] -- fail when a lower layer uses a higher one.
#
# The layers, lowest first (ARCHITECTURE.md): core, binding/runtime,
# binding/transfer, binding/worker, binding/classes, binding/executors,
# then binding/module.c. Two checks: every #include "..." of csrc/ names a
# file of the same or a lower layer, and every library symbol an object of
# BUILD leaves undefined is defined by an object of the same or a lower
# layer (core objects use no Lua at all).
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
rank() {
  case $1 in
    csrc/concurrent.h|csrc/concurrent_lua.h|csrc/core/*|core/*) echo 0 ;;
    csrc/binding/runtime/*|binding/runtime/*) echo 1 ;;
    csrc/binding/transfer/*|binding/transfer/*) echo 2 ;;
    csrc/binding/worker/*|binding/worker/*) echo 3 ;;
    csrc/binding/classes/*|binding/classes/*) echo 4 ;;
    csrc/binding/executors/*|binding/executors/*) echo 5 ;;
    csrc/binding/*|binding/*) echo 6 ;;
    *) echo 9 ;;
  esac
}
bad=0
# Includes.
for f in csrc/*.h csrc/core/*.[ch] csrc/binding/*.[ch] csrc/binding/*/*.[ch]; do
  r=$(rank "$f")
  for inc in $(sed -n 's/^#include "\(.*\)".*/\1/p' "$f"); do
    t=$(realpath -m --relative-to=. "$(dirname "$f")/$inc")
    tr=$(rank "$t")
    if [ "$tr" -gt "$r" ]; then
      echo "layers: $f includes $t (a higher layer)"; bad=1
    fi
  done
done
# Symbols.
if [ -d "$build/binding" ]; then
  objs=$(cd "$build" && find core binding -name '*.o' | sort)
  defs=$(mktemp)
  for o in $objs; do
    nm --defined-only -g "$build/$o" | awk -v o="$o" 'NF == 3 { print $3, o }'
  done > "$defs"
  for o in $objs; do
    r=$(rank "$o")
    for s in $(nm -u "$build/$o" | awk '{ print $2 }'); do
      case $r:$s in 0:lua_*|0:luaL_*|0:luaopen_*) echo "layers: $o (core) uses $s"; bad=1; continue ;; esac
      d=$(awk -v s="$s" '$1 == s { print $2; exit }' "$defs")
      [ -n "$d" ] || continue
      if [ "$(rank "$d")" -gt "$r" ]; then
        echo "layers: $o uses $s of $d (a higher layer)"; bad=1
      fi
    done
  done
  rm -f "$defs"
fi
[ "$bad" -eq 0 ] && echo "layers: one way, OK"
exit "$bad"
