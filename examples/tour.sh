#!/bin/sh
# The tour of the seed's programs, run by `make demo`.
# Usage: sh examples/tour.sh [lua5.4]
#
# DEMO_SPEED divides every sleep (default 10 here: the whole tour takes a
# few seconds; DEMO_SPEED=1 keeps the seed's timings). CONCURRENT_BUILD,
# or BUILD as given to make, names the build directory (default build).
lua=${1:-lua5.4}
here=$(dirname "$0")
DEMO_SPEED=${DEMO_SPEED:-10}
CONCURRENT_BUILD=${CONCURRENT_BUILD:-${BUILD:-}}
export DEMO_SPEED
[ -n "$CONCURRENT_BUILD" ] && export CONCURRENT_BUILD

failed=""
run() {
  file=$1; shift
  echo
  echo "=== $* ==="
  echo "--- $lua examples/$file"
  if ! "$lua" "$here/$file"; then
    failed="$failed $file"
    echo "!!! $file failed"
  fi
}

if [ "$DEMO_SPEED" = 1 ]; then
  echo "concurrent: the seed's programs in Lua, with the seed's timings"
else
  echo "concurrent: the seed's programs in Lua (DEMO_SPEED=$DEMO_SPEED: sleeps $DEMO_SPEED times shorter)"
fi
start=$(date +%s.%N)
run 01_process_download.lua "1. Two download processes, each with its own pid (multiprocessing.Process, os.getpid)"
run 02_process_pingpong.lua "2. Processes have separate memory: Ping and Pong, 10 each"
run 03_thread_download.lua  "3. Two download threads (threading.Thread)"
run 04_thread_subclass.lua  "4. A Thread subclass: DownloadTask (Thread:extend)"
run 05_pool_submit.lua      "5. A thread pool: submit, done, cancel, result"
run 06_as_completed.lua     "6. as_completed: the 2 s page first"
run 07_map.lua              "7. map: results in input order"
run 08_pool_close.lua       "8. The pool as a <close> variable (Python's with)"
run 09_latest_wins.lua      "9. Search as you type: the latest search wins (submit_with key, interrupt)"
run 10_game_loop.lua        "10. A 60 fps frame loop: spawned coroutines await tasks, poll{max_seconds = 0.002} once a frame"
run 11_luv_loop.lua         "11. luv: uv.new_poll(futures.fd()) runs futures.poll, a timer keeps ticking"
run 12_cqueues_loop.lua     "12. cqueues: a cqueues coroutine sleeps on futures.fd()"
end=$(date +%s.%N)
echo
if [ -n "$failed" ]; then
  echo "tour: FAILED:$failed"
  exit 1
fi
awk -v s="$start" -v e="$end" 'BEGIN { printf "tour: all 12 programs ran in %.1f s\n", e - s }'
