#!/bin/sh
# bench/versions.sh -- workloads A, B, C and D (with require) of
# bench/ours.lua on every Lua version built here (5.4 from build/, 5.3,
# 5.1 and LuaJIT from build-5.3/, build-5.1/, build-jit/), and luv's work
# queue (bench/peers/luv_peer.lua, A and B) on each version that has
# lua-luv, then one table of medians (bench/versions.lua) and the goal:
# no version more than 1.5x slower per task than 5.4 on A.
#
#   sh bench/versions.sh [--quick] [--repeat R] [--json FILE]
#
# `make bench-versions` builds the four and runs this. A benchmark, not a
# test: it never fails on a slow figure; a version not built is skipped.
set -e
cd "$(dirname "$0")/.."
args="" json=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) args="$args --quick" ;;
    --repeat) args="$args --repeat $2"; shift ;;
    --json) json=$2; shift ;;
    *) echo "bench/versions.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
out=$(mktemp /tmp/concurrent-bench-versions.XXXXXX)
trap 'rm -f "$out"' EXIT
for v in 5.4 5.3 5.1 jit; do
  case $v in
    5.4) lua=lua5.4 build=build label=5.4 ;;
    jit) lua=luajit build=build-jit label=LuaJIT ;;
    *) lua=lua$v build=build-$v label=$v ;;
  esac
  if ! command -v "$lua" >/dev/null 2>&1 || [ ! -f "$build/concurrent/core.so" ]; then
    echo "bench: $lua or $build/concurrent/core.so missing, $label skipped" >&2
    continue
  fi
  echo "bench: $label ..." >&2
  # shellcheck disable=SC2086
  CONCURRENT_CPATH="$build/?.so" LUA=$lua BENCH_PEER="concurrent $label" \
    "$lua" bench/ours.lua $args --only A,B,C,D | tee -a "$out"
  if "$lua" -e 'require "luv"' >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    BENCH_LUV_PEER="luv $label" "$lua" bench/peers/luv_peer.lua $args --only A,B | tee -a "$out" ||
      echo "bench: luv peer failed on $label" >&2
  fi
done
echo
lua5.4 bench/versions.lua "$out" ${json:+--json "$json"}
