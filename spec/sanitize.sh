#!/bin/sh
# Run the C core tests and the busted suite under a sanitizer, and fail on
# any report. Usage:
#   spec/sanitize.sh asan|tsan BUILD BUSTED [busted args...]
# BUILD holds the sanitized build (BUILD/concurrent/core.so, BUILD/test/*)
# and BUILD/sanlua, a lua5.4 stand-in linked with the sanitizer runtime
# (spec/sanlua.c says why it is not LD_PRELOAD). Specs that start Lua
# subprocesses run $CONCURRENT_LUA, set here to that program.
# Reports go to BUILD/reports/ (one file per process, subprocesses
# included); any file there fails the run, even one written after busted
# printed its summary (a leak found at exit, say).
set -u
kind=$1 build=$2 busted=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
reports=$build/reports
rm -rf "$reports"
mkdir -p "$reports"
reports=$(cd "$reports" && pwd)
sym=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
common="halt_on_error=1:exitcode=66:log_path=$reports/$kind:external_symbolizer_path=$sym"
case $kind in
  asan)
    export ASAN_OPTIONS="$common:detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1:check_initialization_order=1"
    export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS="$common:print_stacktrace=1"
    ;;
  tsan)
    export TSAN_OPTIONS="$common:second_deadlock_stack=1:suppressions=$here/tsan.supp"
    ;;
  *) echo "sanitize.sh: unknown kind $kind" >&2; exit 2 ;;
esac

status=0
echo "== $kind: C core tests"
ntests=0
for t in "$build"/test/test_*; do
  [ -x "$t" ] || continue
  ntests=$((ntests + 1))
  "$t" || { echo "$kind: $t failed"; status=1; }
done
echo "== $kind: busted suite ($build/concurrent/core.so)"
CONCURRENT_LUA=$(cd "$build" && pwd)/sanlua
export CONCURRENT_LUA
LUA=$CONCURRENT_LUA   # spec/90-examples_spec.lua runs the examples with $LUA
export LUA
# Specs tagged #nosan fork while other threads allocate (ProcessPoolExecutor
# workers are forked by its manager thread while the caller submits; one
# Process spec forks beside a busy pool): the child can inherit the
# sanitizer allocator's own lock held (the gcc-12 and LLVM-16 runtimes
# have no fork handler for it) and hang inside malloc, as gdb shows
# (__sanitizer::SizeClassAllocator64::GetFromAllocator in the child). That
# is the runtime's limit, not the library's; they run in the plain suite
# and in the stress run.
sh "$here/run.sh" "$CONCURRENT_LUA" "$busted" --cpath="$build/?.so" --exclude-tags=nosan "$@" || status=1
n=$(ls "$reports" | wc -l)
if [ "$n" -gt 0 ]; then
  for f in "$reports"/*; do echo "---- $f"; cat "$f"; done
  echo "$kind: $n sanitizer report(s)"
  status=1
fi
echo "$kind: $ntests C test program(s) and the busted suite; $n report(s); $( [ $status = 0 ] && echo PASS || echo FAIL)"
exit $status
