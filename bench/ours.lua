--[[
ours.lua -- the workloads of the benchmark suite, for this library.

  lua5.4 bench/ours.lua [--quick] [--repeat R] [--warmup W] [--only "A,A',C"] [-v]

Prints one JSON object per line, the same shape as the peers' scripts
(bench/peers/python_peer.py, bench/peers/luv_peer.lua):
  {"peer": "concurrent", "workload": "A", "median": 0.61, "unit": "us/task",
   "runs": [...], "params": {...}}
A workload that fails prints {"peer": ..., "workload": ..., "error": "..."}
and the others still run. Run from the repository root, or set
CONCURRENT_CPATH (default build/?.so) to where concurrent/core.so is.

--warmup W runs each workload W times first, untimed (bench/run.sh runs
ours and the floor in turn, one repetition a process: a fresh process's
first repetition pays its heap's first growth).

Workloads (sizes of the issue unless --quick):
  A    100,000 tasks `x + 1` through a warmed-up 2-worker ThreadPoolExecutor:
       submit all, then result() each, in order; us per task (futures and
       their collection included).
  A'   ex:map(inc, t, {chunksize = 1000}) over 1,000,000 items, consumed
       fully; us per item.
  A''  thread.Thread{target = noop}: start() then join(), 2,000 times;
       us per thread.
  B    prime counting below N by trial division: serial in the main state,
       then the two halves (odd candidates dealt alternately, as the peers
       do) on a warmed-up 2-worker pool; speedup = serial / parallel.
  C    submit(identity, t):result() with t = {0, 1, ..., 99999} on a
       warmed-up 1-worker pool; ms per round trip (mean of 10 per run).
  C'   the same with 10,000 records {id = i, name = "name"..i,
       tags = {"a", "b"}}.
  P    the same with 10,000 Point objects (a Lua class whose __reduce
       returns Point.new, x, y), against the same data as plain tables
       {x =, y =} in the same run (params.plain_ms); ms per round trip.
  D    ThreadPoolExecutor(2), two submits, both results, shutdown(true);
       ms per lifecycle (mean of 50 per run).
  wake, frame, Mspawn  a host's loop: see bench/spawn.lua.
  require  wall time of require "concurrent.futures" in a fresh lua5.4
       (timed with luv's hrtime when luv is installed, else os.clock); ms.
  M    in a fresh lua5.4: RSS growth while 100,000 submitted futures are
       pending (workers blocked on a gate future), after a full garbage
       collection; MB.
  S    merge sort of 1,000,000 random integers: serially in the main state,
       then by recursive submit (each level submits its two halves, then
       the two halves of their merge, given the halves' futures; table.sort
       below the cutoff; the top level runs in the main state) on a warmed-up 2-worker pool, the halves
       sent in and the results sent back included; speedup = serial /
       parallel (tasks that make tasks).
  F    fib(30) by recursive submit with a cutoff of 20 (serial below it)
       on the 2-worker pool, against serial fib(30) in the main state;
       speedup = serial / parallel.
  I    f:interrupt() of a task busy in a pure Lua loop on a 1-worker pool,
       until f:result() raises (the future is done); ms, median of 200
       (50 with --quick) per run.
  I'   the same for a task blocked in Queue:get().
  I''  the same for a task blocked in concurrent.sleep(60).
--]]

package.path = (os.getenv("CONCURRENT_LPATH") or "lua/?.lua;lua/?/init.lua") .. ";" .. package.path
package.cpath = (os.getenv("CONCURRENT_CPATH") or "build/?.so") .. ";" .. package.cpath

local LUA = os.getenv("LUA") or "lua5.4"

-- It runs on Lua 5.1, 5.3 and LuaJIT too (bench/versions.sh): no <close>,
-- and these where the version lacks them.
local tointeger = math.tointeger or function(x)
  return type(x) == "number" and x == math.floor(x) and x or nil
end
local mtype = math.type or function() return nil end
local searchpath = package.searchpath or function(name, path)
  for c in path:gmatch("[^;]+") do
    local f = c:gsub("%?", (name:gsub("%.", "/")))
    local h = io.open(f)
    if h then h:close() return f end
  end
end
local WORKERS = 2

local FULL = {
  A_n = 100000, Ap_n = 1000000, chunksize = 1000, App_n = 2000,
  B_N = 1200000, C_len = 100000, Cp_len = 10000, P_len = 10000, C_inner = 10,
  D_inner = 50, require_n = 11, M_n = 100000,
  S_n = 1000000, S_cutoff = 262144, F_n = 30, F_cutoff = 20,
  wake_n = 200, frames = 600, frame_inflight = 1000, mspawn_n = 10000, I_n = 200,
}
local QUICK = {
  A_n = 20000, Ap_n = 200000, chunksize = 1000, App_n = 200,
  B_N = 300000, C_len = 100000, Cp_len = 10000, P_len = 10000, C_inner = 2,
  D_inner = 10, require_n = 3, M_n = 100000,
  S_n = 200000, S_cutoff = 16384, F_n = 25, F_cutoff = 15,
  wake_n = 50, frames = 120, frame_inflight = 1000, mspawn_n = 10000, I_n = 50,
}

---------------------------------------------------------------------------
-- JSON lines (bench/jsonl.lua, shared with the luv peer).

local BENCH_DIR = arg[0]:match("^(.*)/[^/]*$") or "."
local jsonl = dofile(BENCH_DIR .. "/jsonl.lua")
local median = jsonl.median
local emit_line, emit_error = jsonl.writer(os.getenv("BENCH_PEER") or "concurrent")
local muted = false   -- --warmup: the untimed repetitions print nothing
local function emit(...)
  if not muted then return emit_line(...) end
end

local function rss_mb()
  local fh = assert(io.open("/proc/self/status"))
  for line in fh:lines() do
    local kb = line:match("^VmRSS:%s+(%d+)")
    if kb then fh:close() return tonumber(kb) / 1024 end
  end
  fh:close()
  error("no VmRSS in /proc/self/status")
end

-- Run a Lua chunk in a fresh interpreter; returns its last output line.
local function child(args)
  local cmd = string.format("%s %s 2>&1", LUA, args)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  local ok = p:close()
  local last = out:match("([^\n]*)\n?$")
  if not ok then error("child failed: " .. cmd .. "\n" .. out) end
  return last
end

---------------------------------------------------------------------------
-- The child modes (fresh processes for require and M).

if arg[1] == "--_require-child" then
  -- Time what a user gets after `make install`: the Lua sources, or the
  -- bytecode `make BYTECODE=1` writes next to the C module
  -- (CONCURRENT_CPATH's "?.so" -> "lua/?.lua") when there is some, unless
  -- CONCURRENT_LPATH names other modules. The source tree stays behind.
  if not os.getenv("CONCURRENT_LPATH") then
    local cdir = (os.getenv("CONCURRENT_CPATH") or "build/?.so"):match("^[^;]*")
    package.path = cdir:gsub("%?%.so$", "lua/?.lua") .. ";" .. package.path
  end
  local ok, uv = pcall(require, "luv")
  local clock = ok and function() return uv.hrtime() / 1e9 end or os.clock
  local t0 = clock()
  require "concurrent.futures"
  local t1 = clock()
  local fh = io.open(searchpath("concurrent.futures", package.path), "rb")
  local kind = fh:read(1) == "\27" and "bytecode" or "source"
  fh:close()
  print(string.format("%.9f %s %s", t1 - t0, ok and "hrtime" or "os.clock", kind))
  return
end

if arg[1] == "--_m-child" then
  local futures = require "concurrent.futures"
  local n = tointeger(tonumber(arg[2]))
  local gate = futures.Future()
  local function hold(g) return g:result() end
  local ex = futures.ThreadPoolExecutor(WORKERS)
  local warm = {}
  for i = 1, 100 do warm[i] = ex:submit(hold, gate) end
  gate:set_result(true)
  for i = 1, 100 do warm[i]:result() end
  warm = nil
  gate = futures.Future()
  collectgarbage()
  collectgarbage()
  local before = rss_mb()
  local fs = {}
  for i = 1, n do fs[i] = ex:submit(hold, gate) end
  collectgarbage()
  collectgarbage()
  local after = rss_mb()
  gate:set_result(true)
  for i = 1, n do fs[i]:result() end
  ex:shutdown()
  print(string.format("%.6f %.6f", after - before, before))
  return
end

---------------------------------------------------------------------------

local futures = require "concurrent.futures"
local concurrent = require "concurrent"
local now = concurrent.monotonic

-- BENCH_PROGRESS=1: A' wraps its map in futures.progress (default
-- options: a line on stderr, redrawn on a terminal). BENCH_TRACE=FILE:
-- concurrent.trace records every workload into FILE. Both to measure
-- what they cost; their records say so in params.
local WITH_PROGRESS = os.getenv("BENCH_PROGRESS") == "1"
local TRACE_FILE = os.getenv("BENCH_TRACE")
local quiet = dofile(BENCH_DIR .. "/quiet.lua")

local function inc(x) return x + 1 end
local function identity(x) return x end

-- Every worker made and warm (its state, the function cache) before timing.
local function warm(ex, fn, n)
  local fs = {}
  for i = 1, n or 1000 do fs[i] = ex:submit(fn or inc, i) end
  for i = 1, #fs do fs[i]:result() end
end

local function run_A(S, R)
  local n = S.A_n
  local runs = {}
  local ex = futures.ThreadPoolExecutor(WORKERS)
  warm(ex)
  for _ = 1, R do
    collectgarbage()
    local fs = {}
    local t0 = now()
    for i = 1, n do fs[i] = ex:submit(inc, i) end
    local last
    for i = 1, n do last = fs[i]:result() end
    local dt = now() - t0
    assert(last == n + 1, "A: wrong result")
    fs = nil
    runs[#runs + 1] = dt / n * 1e6
  end
  ex:shutdown()
  emit("A", runs, "us/task", {n = n, workers = WORKERS,
    trace = TRACE_FILE and true or nil})
end

local function run_Ap(S, R)
  local n, cs = S.Ap_n, S.chunksize
  local t = {}
  for i = 1, n do t[i] = i end
  local runs = {}
  local ex = futures.ThreadPoolExecutor(WORKERS)
  warm(ex)
  for _ = 1, R do
    collectgarbage()
    local count, last = 0, nil
    local t0 = now()
    local it, st, ctl, closing = ex:map(inc, t, {chunksize = cs})
    if WITH_PROGRESS then it, st, ctl, closing = futures.progress(it, st, ctl, closing) end
    for _, v in it, st, ctl, closing do
      count = count + 1
      last = v
    end
    local dt = now() - t0
    assert(count == n and last == n + 1, "A': wrong results")
    runs[#runs + 1] = dt / n * 1e6
  end
  ex:shutdown()
  emit("A'", runs, "us/item", {n = n, chunksize = cs, workers = WORKERS,
    progress = WITH_PROGRESS or nil, trace = TRACE_FILE and true or nil})
end

local function run_App(S, R)
  local thread = require "concurrent.thread"
  local n = S.App_n
  local function noop() end
  local runs = {}
  for _ = 1, R do
    collectgarbage()
    local t0 = now()
    for _ = 1, n do
      local th = thread.Thread{target = noop}
      th:start()
      th:join()
    end
    runs[#runs + 1] = (now() - t0) / n * 1e6
  end
  emit("A''", runs, "us/thread", {n = n})
end

-- Self-contained (no upvalue but _ENV), like the peers' function.
local function count_primes(n, k, w)
  local c = (k == 0 and n > 2) and 1 or 0
  for m = 3 + 2 * k, n - 1, 2 * w do
    local d, prime = 3, true
    while d * d <= m do
      if m % d == 0 then prime = false; break end
      d = d + 2
    end
    if prime then c = c + 1 end
  end
  return c
end

local function run_B(S, R)
  local N = S.B_N
  local speedups, serial_t, par_t = {}, {}, {}
  local expected
  local ex = futures.ThreadPoolExecutor(WORKERS)
  do
    local fs = {}
    for k = 0, 3 do fs[k + 1] = ex:submit(count_primes, 1000, k % WORKERS, WORKERS) end
    for k = 1, 4 do fs[k]:result() end
  end
  local quiet_runs = 0
  for _ = 1, R do
    local q = quiet.wait(concurrent.sleep)
    local t0 = now()
    local c = count_primes(N, 0, 1)
    local ts = now() - t0
    expected = expected or c
    assert(c == expected)
    q = quiet.wait(concurrent.sleep) and q
    if q then quiet_runs = quiet_runs + 1 end
    t0 = now()
    local fs = {}
    for k = 0, WORKERS - 1 do fs[k + 1] = ex:submit(count_primes, N, k, WORKERS) end
    local total = 0
    for k = 1, WORKERS do total = total + fs[k]:result() end
    local tp = now() - t0
    assert(total == expected, "B: parallel count differs")
    serial_t[#serial_t + 1] = ts
    par_t[#par_t + 1] = tp
    speedups[#speedups + 1] = ts / tp
  end
  ex:shutdown()
  emit("B", speedups, "x", {N = N, primes = expected, workers = WORKERS,
    serial_s = median(serial_t), parallel_s = median(par_t),
    quiet_runs = quiet_runs})
end

local function same(a, b)
  if type(a) ~= "table" then return a == b and mtype(a) == mtype(b) end
  if type(b) ~= "table" or #a ~= #b then return false end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function run_C_like(S, R, workload, data, what)
  local inner = S.C_inner
  local runs = {}
  local ex = futures.ThreadPoolExecutor(1)
  warm(ex, identity, 10)
  local back = ex:submit(identity, data):result()
  assert(same(data, back), workload .. ": the copy differs")
  -- Both states warm, as the floor's are before it times (a round trip
  -- per way of reading, four): a fresh worker's first round trips grow
  -- its stack and heap.
  for _ = 1, 3 do back = ex:submit(identity, data):result() end
  for _ = 1, R do
    collectgarbage()
    local t0 = now()
    for _ = 1, inner do back = ex:submit(identity, data):result() end
    runs[#runs + 1] = (now() - t0) / inner * 1e3
    back = nil
  end
  ex:shutdown()
  emit(workload, runs, "ms", {payload = what, inner = inner, workers = 1})
end

local function run_C(S, R)
  local t = {}
  for i = 1, S.C_len do t[i] = i - 1 end
  run_C_like(S, R, "C", t, S.C_len .. " integers")
end

local function run_Cp(S, R)
  local t = {}
  for i = 1, S.Cp_len do
    t[i] = {id = i - 1, name = "name" .. (i - 1), tags = {"a", "b"}}
  end
  run_C_like(S, R, "C'", t, S.Cp_len .. " records")
end

-- A class that crosses by value through __reduce (issue 14).
local Point = {}
Point.__index = Point
function Point.new(x, y) return setmetatable({x = x, y = y}, Point) end
function Point:norm2() return self.x * self.x + self.y * self.y end
function Point.__reduce(p) return Point.new, p.x, p.y end

local function run_P(S, R)
  local inner = S.C_inner
  local points, plain = {}, {}
  for i = 1, S.P_len do
    points[i] = Point.new(i, i * 0.5)
    plain[i] = {x = i, y = i * 0.5}
  end
  local ex = futures.ThreadPoolExecutor(1)
  warm(ex, identity, 10)
  local back = ex:submit(identity, points):result()
  assert(#back == S.P_len and getmetatable(back[1]) ~= nil and back[7]:norm2() == 49 + 12.25,
         "P: the points came back wrong")
  local function time(data)
    collectgarbage()
    local t0 = now()
    for _ = 1, inner do back = ex:submit(identity, data):result() end
    back = nil
    return (now() - t0) / inner * 1e3
  end
  local runs, plain_runs = {}, {}
  for _ = 1, R do
    plain_runs[#plain_runs + 1] = time(plain)
    runs[#runs + 1] = time(points)
  end
  ex:shutdown()
  emit("P", runs, "ms", {payload = S.P_len .. " Points (__reduce)", inner = inner,
    workers = 1, plain_ms = median(plain_runs),
    per_point_us = (median(runs) - median(plain_runs)) / S.P_len * 1e3})
end

local function run_D(S, R)
  local inner = S.D_inner
  local runs = {}
  for _ = 1, R do
    collectgarbage()
    local t0 = now()
    for _ = 1, inner do
      local ex = futures.ThreadPoolExecutor(WORKERS)
      local f1, f2 = ex:submit(inc, 1), ex:submit(inc, 2)
      f1:result()
      f2:result()
      ex:shutdown(true)
    end
    runs[#runs + 1] = (now() - t0) / inner * 1e3
  end
  emit("D", runs, "ms", {inner = inner, workers = WORKERS, tasks = 2})

  local script = debug.getinfo(1, "S").source:sub(2)
  local req, clock, kind = {}, nil, nil
  for _ = 1, R do
    local ts = {}
    for i = 1, S.require_n do
      local secs, c, k = child(script .. " --_require-child"):match("^(%S+) (%S+) (%S+)$")
      ts[i] = tonumber(secs) * 1e3
      clock, kind = c, k
    end
    req[#req + 1] = median(ts)
  end
  emit("require", req, "ms", {module = "concurrent.futures", clock = clock,
    lua_modules = kind, fresh_processes = S.require_n})
end

local function run_M(S, R)
  local n = S.M_n
  local script = debug.getinfo(1, "S").source:sub(2)
  local runs, base = {}, {}
  for _ = 1, R do
    local d, b = child(script .. " --_m-child " .. n):match("^(%S+) (%S+)$")
    runs[#runs + 1] = tonumber(d)
    base[#base + 1] = tonumber(b)
  end
  local m = median(runs)
  emit("M", runs, "MB", {n = n, workers = WORKERS, rss_before_mb = median(base),
    bytes_per_future = math.floor(m * 1024 * 1024 / n + 0.5)})
end

-- S and F: tasks that make tasks. Every function is self-contained (it
-- crosses into the workers as bytecode) and the serial and parallel sorts
-- share the leaf sort and the merge.
-- table.move(a, f, e, t, b) where Lua has it (5.3+), a loop where not.
local move = table.move or function(a, f, e, t, b)
  for i = f, e do b[t + i - f] = a[i] end
  return b
end

local function merge(a, b)
  local out, i, j, na, nb = {}, 1, 1, #a, #b
  for k = 1, na + nb do
    if j > nb or (i <= na and a[i] <= b[j]) then out[k] = a[i]; i = i + 1
    else out[k] = b[j]; j = j + 1 end
  end
  return out
end

local function msort_serial(t, cutoff)
  local n = #t
  if n <= cutoff then table.sort(t) return t end
  local mid = math.floor(n / 2)
  return merge(msort_serial(move(t, 1, mid, 1, {}), cutoff),
               msort_serial(move(t, mid + 1, n, 1, {}), cutoff))
end

-- One half of the merge of the sorted results of two finished futures
-- (part 1: a's first half and what of b is not above its last value; part
-- 2: the rest). Each merge task reads both lists from the futures itself,
-- so the parent never receives the halves, only the two merged parts.
local function merge_part(fa, fb, part)
  local a, b = fa:result(), fb:result()
  local na, nb = #a, #b
  local i = math.floor(na / 2)
  local lo, hi = 1, nb + 1
  if i > 0 then
    local v = a[i]
    while lo < hi do                -- lo: the first element of b above v
      local m = math.floor((lo + hi) / 2)
      if b[m] <= v then lo = m + 1 else hi = m end
    end
  end
  local ia, ja, ib, jb
  if part == 1 then ia, ja, ib, jb = 1, i, 1, lo - 1
  else ia, ja, ib, jb = i + 1, na, lo, nb end
  local out, k = {}, 0
  while ia <= ja and ib <= jb do
    k = k + 1
    if a[ia] <= b[ib] then out[k] = a[ia]; ia = ia + 1
    else out[k] = b[ib]; ib = ib + 1 end
  end
  move(a, ia, ja, k + 1, out)
  return move(b, ib, jb, k + 1 + ja - ia + 1, out)
end

-- Sorts t: both halves by recursive submit, then their merge as two tasks
-- given the finished halves' futures (they wait on nothing).
local function msort_task(ex, t, cutoff)
  local n = #t
  if n <= cutoff then table.sort(t) return t end
  local mid = math.floor(n / 2)
  local fl = ex:submit(msort_task, ex, move(t, 1, mid, 1, {}), cutoff)
  local fr = ex:submit(msort_task, ex, move(t, mid + 1, n, 1, {}), cutoff)
  fl:exception()                    -- both done first (raises if cancelled)
  fr:exception()
  local m1 = ex:submit(merge_part, fl, fr, 1)
  local m2 = ex:submit(merge_part, fl, fr, 2)
  local r1, r2 = m1:result(), m2:result()
  return move(r2, 1, #r2, #r1 + 1, r1)
end

local function run_S(S, R)
  local n, cutoff = S.S_n, S.S_cutoff
  local speedups, serial_t, par_t = {}, {}, {}
  local ex = futures.ThreadPoolExecutor(WORKERS)   -- shut down below (no <close> before 5.4)
  warm(ex)
  ex:submit(msort_task, ex, {3, 1, 2}, 1):result()
  math.randomseed(18)
  local data = {}
  for i = 1, n do data[i] = math.random(1, 2 ^ 40) end
  local check = move(data, 1, n, 1, {})
  table.sort(check)
  local quiet_runs = 0
  for _ = 1, R do
    collectgarbage()
    local q = quiet.wait(concurrent.sleep)
    local t0 = now()
    local s1 = msort_serial(move(data, 1, n, 1, {}), cutoff)
    local ts = now() - t0
    s1 = nil
    collectgarbage()
    q = quiet.wait(concurrent.sleep) and q
    if q then quiet_runs = quiet_runs + 1 end
    t0 = now()
    local s2 = msort_task(ex, data, cutoff)   -- the top level here
    local tp = now() - t0
    for i = 1, n, 997 do assert(s2[i] == check[i], "S: the parallel sort differs") end
    assert(#s2 == n and s2[n] == check[n], "S: the parallel sort differs")
    s2 = nil
    serial_t[#serial_t + 1] = ts
    par_t[#par_t + 1] = tp
    speedups[#speedups + 1] = ts / tp
  end
  ex:shutdown()
  emit("S", speedups, "x", {n = n, cutoff = cutoff, workers = WORKERS,
    serial_s = median(serial_t), parallel_s = median(par_t),
    quiet_runs = quiet_runs})
end

local function fib_serial(n)
  if n < 2 then return n end
  return fib_serial(n - 1) + fib_serial(n - 2)
end

local function fib_task(ex, n, cutoff)
  if n <= cutoff then return fib_serial(n) end
  local a = ex:submit(fib_task, ex, n - 1, cutoff)
  local b = ex:submit(fib_task, ex, n - 2, cutoff)
  return a:result() + b:result()
end

local function run_F(S, R)
  local n, cutoff = S.F_n, S.F_cutoff
  local speedups, serial_t, par_t = {}, {}, {}
  local ex = futures.ThreadPoolExecutor(WORKERS)   -- shut down below (no <close> before 5.4)
  warm(ex)
  ex:submit(fib_task, ex, 5, 2):result()
  local expected = fib_serial(n)
  local tasks = 0
  for _ = 1, R do
    collectgarbage()
    local t0 = now()
    assert(fib_serial(n) == expected)
    local ts = now() - t0
    local before = ex:stats().completed
    t0 = now()
    assert(ex:submit(fib_task, ex, n, cutoff):result() == expected, "F: wrong fib")
    local tp = now() - t0
    tasks = ex:stats().completed - before
    serial_t[#serial_t + 1] = ts
    par_t[#par_t + 1] = tp
    speedups[#speedups + 1] = ts / tp
  end
  ex:shutdown()
  emit("F", speedups, "x", {n = n, cutoff = cutoff, workers = WORKERS,
    fib = expected, tasks = tasks, serial_s = median(serial_t),
    parallel_s = median(par_t)})
end


-- Interrupt latency: from f:interrupt() to f:done(), for a task that is
-- busy in Lua (the hook stops it) or blocked in a call of the library (the
-- asker wakes it). The task says it started through an Event; the blocked
-- ones get 2 ms more to be asleep in their wait.
local function run_interrupt(S, R, workload, body, settle)
  local thread = require "concurrent.thread"
  local runs = {}
  local ex = futures.ThreadPoolExecutor(1)   -- shut down below (no <close> before 5.4)
  warm(ex, nil, 100)
  for _ = 1, R do
    local lat = {}
    for i = 1, S.I_n do
      local ev = thread.Event()
      local f = ex:submit(function(ev, body, q)
        ev:set()
        body(q)
      end, ev, body, thread.Queue())
      ev:wait()
      if settle then concurrent.sleep(settle) end
      local t0 = now()
      f:interrupt()
      pcall(f.result, f)   -- waits (spins a little, then sleeps) until done
      lat[i] = (now() - t0) * 1e3
      assert(f:cancelled(), workload .. ": not cancelled")
    end
    runs[#runs + 1] = median(lat)
  end
  ex:shutdown()
  emit(workload, runs, "ms", {n = S.I_n, workers = 1})
end

local function run_I(S, R)
  run_interrupt(S, R, "I", function() local x = 0 while true do x = x + 1 end end)
end

local function run_Ip(S, R)
  run_interrupt(S, R, "I'", function(q) q:get() end, 0.002)
end

local function run_Ipp(S, R)
  run_interrupt(S, R, "I''", function() require("concurrent").sleep(60) end, 0.002)
end

---------------------------------------------------------------------------

-- The rows of a host's loop (bench/spawn.lua): wake, frame, Mspawn.
local spawn_rows = dofile(BENCH_DIR .. "/spawn.lua")({futures = futures,
  now = now, emit = emit, median = median, LUA = LUA, BENCH_DIR = BENCH_DIR})

local RUNNERS = {A = run_A, ["A'"] = run_Ap, ["A''"] = run_App, B = run_B,
                 C = run_C, ["C'"] = run_Cp, P = run_P, D = run_D, M = run_M,
                 S = run_S, F = run_F, wake = spawn_rows.wake,
                 frame = spawn_rows.frame, Mspawn = spawn_rows.Mspawn,
                 I = run_I, ["I'"] = run_Ip, ["I''"] = run_Ipp}
local ORDER = {"A", "A'", "A''", "B", "C", "C'", "P", "D", "M", "S", "F",
               "wake", "frame", "Mspawn", "I", "I'", "I''"}
local ALIASES = {Ap = "A'", App = "A''", Cp = "C'", require = "D",
                 Ip = "I'", Ipp = "I''"}

local function usage(msg)
  if msg then io.stderr:write("ours.lua: ", msg, "\n") end
  io.stderr:write("usage: lua5.4 bench/ours.lua [--quick] [--repeat R] [--warmup W] [--only A,Ap,...] [-v]\n")
  os.exit(msg and 2 or 0)
end

local quick, R, only, verbose, W = false, nil, nil, false, 0
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == "--quick" then quick = true
    elseif a == "--repeat" then
      i = i + 1
      R = tointeger(tonumber(arg[i]))
      if not R or R < 1 then usage("--repeat needs an integer >= 1") end
    elseif a == "--warmup" then
      i = i + 1
      W = tointeger(tonumber(arg[i]))
      if not W or W < 0 then usage("--warmup needs an integer >= 0") end
    elseif a == "--only" then
      i = i + 1
      only = arg[i] or usage("--only needs a list")
    elseif a == "-v" or a == "--verbose" then verbose = true
    elseif a == "-h" or a == "--help" then usage()
    else usage("unknown argument " .. a) end
    i = i + 1
  end
end
local S = quick and QUICK or FULL
R = R or (quick and 1 or 5)

local wanted = {}
if only then
  for w in only:gmatch("[^,%s]+") do
    w = ALIASES[w] or w
    if not RUNNERS[w] then usage("unknown workload " .. w) end
    wanted[w] = true
  end
else
  for _, w in ipairs(ORDER) do wanted[w] = true end
end

local trace = TRACE_FILE and require "concurrent.trace"
if trace then trace.start{path = TRACE_FILE} end
for _, w in ipairs(ORDER) do
  if wanted[w] then
    local t0 = now()
    if W > 0 then
      muted = true
      pcall(function() return RUNNERS[w](S, W) end)
      muted = false
    end
    local ok, err = xpcall(function() return RUNNERS[w](S, R) end, debug.traceback)  -- 5.1: no args
    if not ok then emit_error(w, err) end
    if verbose then
      io.stderr:write(string.format("[ours] %s: %.1f s\n", w, now() - t0))
    end
  end
end
if trace then
  local n, dropped = trace.stop()
  io.stderr:write(string.format("[ours] trace: %d tasks, %d dropped, in %s\n", n, dropped, TRACE_FILE))
end
