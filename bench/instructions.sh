#!/bin/sh
# bench/instructions.sh -- instructions per unit of work (valgrind's
# callgrind), which do not depend on the machine's load: a Thread start +
# join (A''; and the starting thread's share), a C element and a C' record
# per round trip, an A task on the submitting thread. Each figure is the
# difference of two runs (n units and none) divided by n, so start-up and
# module loading cancel out.
#
#   sh bench/instructions.sh [ROOT]     ROOT: a built tree (default: .)
#
# ROOT/lua and ROOT/build/concurrent/core.so are used, so two trees (a
# worktree of main, say) can be compared with the same drivers. The floor's
# counts come from `valgrind --tool=callgrind build/bench/floor --quick`
# (its passes are functions of their own): see bench/HISTORY.md.
set -e
root=$(cd "${1:-.}" && pwd)
tmp=$(mktemp -d /tmp/concurrent-instr.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/head.lua" <<EOF
package.path = "$root/lua/?.lua;$root/lua/?/init.lua;" .. package.path
package.cpath = "$root/build/?.so;" .. package.cpath
EOF
cat "$tmp/head.lua" - > "$tmp/app.lua" <<'EOF'
local thread = require "concurrent.thread"
local function noop() end
for _ = 1, 20 + tonumber(arg[1]) do
  local th = thread.Thread{target = noop}
  th:start()
  th:join()
end
EOF
cat "$tmp/head.lua" - > "$tmp/copy.lua" <<'EOF'
local futures = require "concurrent.futures"
local t = {}
if arg[1] == "C" then for i = 1, 100000 do t[i] = i - 1 end
else for i = 1, 10000 do t[i] = {id = i - 1, name = "name" .. (i - 1), tags = {"a", "b"}} end end
local function identity(x) return x end
local ex = futures.ThreadPoolExecutor(1)
ex:submit(identity, 1):result()
ex:submit(identity, t):result()
for _ = 1, tonumber(arg[2]) do ex:submit(identity, t):result() end
ex:shutdown(true)
EOF
cat "$tmp/head.lua" - > "$tmp/tasks.lua" <<'EOF'
local futures = require "concurrent.futures"
local function inc(x) return x + 1 end
local ex = futures.ThreadPoolExecutor(2)
for i = 1, 1000 do ex:submit(inc, i):result() end
collectgarbage()
local n, fs = tonumber(arg[1]), {}
for i = 1, n do fs[i] = ex:submit(inc, i) end
for i = 1, n do fs[i]:result() end
ex:shutdown(true)
EOF

# All threads; then the main thread only.
total() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 |
    sed -n 's/.*I *refs: *//p' | tr -d ,
}
main() {
  valgrind --tool=callgrind --separate-threads=yes \
    --callgrind-out-file="$tmp/cg" "$@" >/dev/null 2>&1
  callgrind_annotate "$tmp/cg-01" 2>/dev/null |
    sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,
  rm -f "$tmp"/cg-*
}

a0=$(total lua5.4 "$tmp/app.lua" 0); a1=$(total lua5.4 "$tmp/app.lua" 200)
m0=$(main lua5.4 "$tmp/app.lua" 0); m1=$(main lua5.4 "$tmp/app.lua" 200)
echo "A'' Thread start+join: $(( (a1 - a0) / 200 )) a thread ($(( (m1 - m0) / 200 )) on the starting thread)"
c0=$(total lua5.4 "$tmp/copy.lua" C 0); c1=$(total lua5.4 "$tmp/copy.lua" C 4)
echo "C: $(( (c1 - c0) / 400000 )) an element a round trip"
p0=$(total lua5.4 "$tmp/copy.lua" Cp 0); p1=$(total lua5.4 "$tmp/copy.lua" Cp 4)
echo "C': $(( (p1 - p0) / 40000 )) a record a round trip"
q0=$(main lua5.4 "$tmp/tasks.lua" 0); q1=$(main lua5.4 "$tmp/tasks.lua" 20000)
echo "A: $(( (q1 - q0) / 20000 )) a task on the submitting thread"
