#!/bin/sh
# spec/stress/watchdog.sh LIMIT COMMAND [ARGS...]
# Run COMMAND, failing instead of hanging: if it prints nothing for
# STALL seconds (default 60; the stress driver prints a progress line every
# 2 s), or runs longer than LIMIT seconds, dump every thread's stack
# (gdb, if installed) and kill it. Exit status: the command's, or 124 on
# a stall or overrun.
limit=$1
shift
stall=${STALL:-60}
log=$(mktemp)
"$@" > "$log" 2>&1 &
pid=$!
tail -n +1 -f "$log" --pid=$pid &
tailpid=$!
start=$(date +%s)
last_size=-1
last_change=$start
verdict=""
while kill -0 $pid 2>/dev/null; do
  sleep 1
  now=$(date +%s)
  size=$(wc -c < "$log")
  if [ "$size" != "$last_size" ]; then last_size=$size; last_change=$now; fi
  if [ $((now - last_change)) -ge "$stall" ]; then
    verdict="no progress for ${stall} s: deadlock?"
  elif [ $((now - start)) -ge "$limit" ]; then
    verdict="still running after ${limit} s"
  fi
  if [ -n "$verdict" ]; then
    echo "WATCHDOG: $verdict; stacks of pid $pid:"
    if command -v gdb >/dev/null 2>&1; then
      timeout 60 gdb -p $pid -batch -ex "thread apply all bt 30" 2>/dev/null \
        | grep -E '^(Thread|#)' | head -400
    fi
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    sleep 1
    kill $tailpid 2>/dev/null
    rm -f "$log"
    echo "WATCHDOG: FAIL"
    exit 124
  fi
done
wait $pid
status=$?
sleep 1
kill $tailpid 2>/dev/null
wait $tailpid 2>/dev/null
rm -f "$log"
exit $status
