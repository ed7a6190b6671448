#!/bin/sh
# bench/run.sh -- the benchmark suite: every workload for this library and,
# in the same run, for the peers installed here (Python's concurrent.futures
# with python3, luv's work queue with lua-luv), then the table of medians
# against the goals of the performance issue.
#
#   sh bench/run.sh [LUA] [--quick] [--repeat R] [--only A,Ap,App,B,C,Cp,D,M]
#                         [--json FILE] [--markdown] [--no-peers]
#
# --markdown also prints the table in Markdown (for bench/README.md).
#
# Options may also come from the environment: BENCH_ARGS="--quick", and
# BENCH_JSON=FILE (same as --json). CONCURRENT_CPATH (default build/?.so)
# says where concurrent/core.so is. Workloads run one after the other, each
# for us and then for its peers, so each comparison is made close in time.
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

quick=""; repeat=""; only="A,Ap,App,B,C,Cp,D,M"; json=${BENCH_JSON:-}; peers=1; md=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=--quick ;;
    --repeat) repeat="--repeat $2"; shift ;;
    --only) only=$2; shift ;;
    --json) json=$2; shift ;;
    --no-peers) peers=0 ;;
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

start=$(date +%s)
for w in $(echo "$only" | tr ',' ' '); do
  case "$w" in
    "A'") w=Ap ;; "A''") w=App ;; "C'") w=Cp ;; require) w=D ;;
  esac
  echo "bench: $w ..." >&2
  # shellcheck disable=SC2086
  "$lua" bench/ours.lua $quick $repeat --only "$w" | tee -a "$out"
  if [ $have_python = 1 ]; then
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
