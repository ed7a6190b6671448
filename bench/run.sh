#!/bin/sh
# bench/run.sh -- the benchmark suite: every workload for this library and,
# in the same run, for the peers installed here (Python's concurrent.futures
# with python3, luv's work queue with lua-luv), then the table of medians
# against the goals of the performance issue. The floor (bench/floor/floor.c,
# peer name api-floor: bare pthreads and the Lua C API) runs A'', C, C' and D
# in the same run, for the table's floor column.
#
#   sh bench/run.sh [LUA] [--quick] [--repeat R]
#                   [--only A,Ap,App,B,C,Cp,P,D,M,S,F,wake,frame,Mspawn,I,Ip,Ipp]
#                         [--json FILE] [--markdown] [--no-peers] [--no-floor]
#
# --markdown also prints the table in Markdown (for bench/README.md).
#
# Options may also come from the environment: BENCH_ARGS="--quick", and
# BENCH_JSON=FILE (same as --json). BENCH_CHARTS=DIR: where the charts go
# (bench/charts.lua, one PNG a workload; default bench/charts, "none" for
# none; skipped with a message without gnuplot). CONCURRENT_CPATH (default build/?.so)
# says where concurrent/core.so is; CONCURRENT_FLOOR (default
# build/bench/floor) the floor program, which `make bench` builds.
# Workloads run one after the other, each for us, then for its peers and
# the floor, so each comparison is made close in time. Where the goal is a
# ratio to the floor (A'', C, C', D), ours and the floor run alternately,
# one repetition each (after one untimed), R times (report.lua merges the
# runs): on a shared
# machine the load drifts within seconds, and ours then the floor, R runs
# each, put minutes of drift into the ratio.
# A benchmark, not a test: it never fails on a slow figure.
set -e
cd "$(dirname "$0")/.."

lua=lua5.4
case "$1" in
  -*|"") ;;
  *) lua=$1; shift ;;
esac
# shellcheck disable=SC2086
set -- "$@" $BENCH_ARGS

quick=""; repeat=""; nrep=""; only="A,Ap,App,B,C,Cp,P,D,M,S,F,wake,frame,Mspawn,I,Ip,Ipp"; json=${BENCH_JSON:-}; peers=1; md=0
floor=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=--quick ;;
    --repeat) repeat="--repeat $2"; nrep=$2; shift ;;
    --only) only=$2; shift ;;
    --json) json=$2; shift ;;
    --no-peers) peers=0 ;;
    --no-floor) floor=0 ;;
    --markdown) md=1 ;;
    *) echo "bench/run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

export CONCURRENT_CPATH=${CONCURRENT_CPATH:-build/?.so}
export LUA=$lua
out=$(mktemp /tmp/concurrent-bench.XXXXXX)
trap 'rm -f "$out"' EXIT

have_python=0
if [ $peers = 1 ] && command -v python3 >/dev/null 2>&1; then have_python=1; fi
have_luv=0
if [ $peers = 1 ] && "$lua" -e 'require "luv"' >/dev/null 2>&1; then have_luv=1; fi
[ $peers = 1 ] && [ $have_python = 0 ] && echo "bench: python3 not found, no Python peer" >&2
[ $peers = 1 ] && [ $have_luv = 0 ] && echo "bench: luv not found (apt-get install lua-luv), no luv peer" >&2
floor_bin=${CONCURRENT_FLOOR:-build/bench/floor}
if [ $floor = 1 ] && [ ! -x "$floor_bin" ]; then
  echo "bench: no floor program at $floor_bin (make bench builds it), no floor column" >&2
  floor=0
fi

start=$(date +%s)
for w in $(echo "$only" | tr ',' ' '); do
  case "$w" in
    "A'") w=Ap ;; "A''") w=App ;; "C'") w=Cp ;; require) w=D ;;
    "I'") w=Ip ;; "I''") w=Ipp ;;
  esac
  echo "bench: $w ..." >&2
  case "$w" in
    App|C|Cp|D) alternate=$floor ;;
    *) alternate=0 ;;
  esac
  if [ $alternate = 1 ]; then
    # ours and the floor, one repetition each, in turn
    n=${nrep:-$([ -n "$quick" ] && echo 1 || echo 5)}
    i=0
    while [ $i -lt "$n" ]; do
      # shellcheck disable=SC2086
      "$lua" bench/ours.lua $quick --repeat 1 --warmup 1 --only "$w" | tee -a "$out"
      # shellcheck disable=SC2086
      "$floor_bin" $quick --repeat 1 --warmup 1 --only "$w" | tee -a "$out" ||
        echo "bench: floor failed on $w" >&2
      i=$((i + 1))
    done
  else
    # shellcheck disable=SC2086
    "$lua" bench/ours.lua $quick $repeat --only "$w" | tee -a "$out"
  fi
  # P: ours only. The interrupt rows (I*) have no peer: Python cannot
  # stop a running task.
  if [ $have_python = 1 ] && case "$w" in P|I*) false ;; *) true ;; esac; then
    # shellcheck disable=SC2086
    python3 bench/peers/python_peer.py $quick $repeat --only "$w" | tee -a "$out" ||
      echo "bench: python peer failed on $w" >&2
  fi
  if [ $have_luv = 1 ] && { [ "$w" = A ] || [ "$w" = B ]; }; then
    # shellcheck disable=SC2086
    "$lua" bench/peers/luv_peer.lua $quick $repeat --only "$w" | tee -a "$out" ||
      echo "bench: luv peer failed on $w" >&2
  fi
done
echo "bench: $(( $(date +%s) - start )) s" >&2
echo
if [ -n "$json" ]; then
  "$lua" bench/report.lua "$out" --json "$json"
else
  "$lua" bench/report.lua "$out"
fi
if [ $md = 1 ]; then
  echo
  "$lua" bench/report.lua "$out" --markdown
fi
charts=${BENCH_CHARTS:-bench/charts}
if [ "$charts" != none ]; then
  "$lua" bench/charts.lua "$out" "$charts"
fi
