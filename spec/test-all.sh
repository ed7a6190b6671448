#!/bin/sh
# The busted suite on every installed Lua: spec/test-all.sh [VERSION...]
# (5.4 5.3 5.1 jit by default). Each version is built into its own
# directory (make LUA_VERSION=V) and its suite's output kept in
# BUILD/busted.log (printed when it fails); then one line a version,
#   busted: N passed, N failed (lua5.3)
# and, last, the total "N passed, N failed". A version whose interpreter
# or headers are missing is skipped with a message (and counts nothing).
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- 5.4 5.3 5.1 jit
passed=0 failed=0 lines=""
for v in "$@"; do
  case $v in jit) lua=luajit pkg=luajit build=build-jit ;;
    5.4) lua=lua5.4 pkg=lua5.4 build=build ;;
    *) lua=lua$v pkg=lua$v build=build-$v ;; esac
  if ! command -v "$lua" >/dev/null 2>&1 || ! pkg-config --exists "$pkg"; then
    lines="$lines
busted: skipped ($lua or its headers not installed)"
    continue
  fi
  mkdir -p "$build"
  log=$build/busted.log
  echo "== $lua: building and running the suite (output in $log)"
  if make --no-print-directory LUA_VERSION="$v" all "$build/host" >"$log" 2>&1 &&
     make --no-print-directory LUA_VERSION="$v" busted >>"$log" 2>&1; then :; else
    tail -n 80 "$log"
  fi
  line=$(grep '^busted: ' "$log" | tail -n 1)
  [ -n "$line" ] || line="busted: 0 passed, 1 failed"
  set -- $line
  passed=$((passed + $2)) failed=$((failed + $4))
  lines="$lines
$line ($lua)"
done
echo "$lines" | sed '/^$/d'
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
