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
  S    merge sort of 1,000,000 random integers (up to 2^40): serially in
       the main state (halves copied out with table.move down to the
       cutoff, table.sort below it, each level merged by merge()), then
       the same sort on a warmed-up 2-worker pool, the same data, the
       same leaf sort, copies and merge function; speedup = serial /
       parallel, each result checked element by element against
       table.sort of the data (untimed). The parallel sort: the main
       state (which sorts nothing) submits both halves as
       concurrent.slice views (the transfer is their copy); below, each
       task submits its left half the same way (the same function,
       recursively, down to the cutoff), sorts its right half itself by
       the same recursion (copied out with table.move), then takes the
       left half back if no worker has started it (cancel(), then copied
       out of its own table and sorted, as ForkJoinTask.join runs its
       own task) or awaits it (a worker waiting on its pool runs queued
       tasks meanwhile), and merges the two. The
       two halves split their last merge into S_parts runs at cut values
       (quantiles of every (n/1024 + 1)-th value of the data, taken in
       the main state) and set each run into a futures.Future(); the
       main state merges run j of both halves into the result (the
       serial sort's top merge, cut at the same values) as soon as both
       are set, while the workers still make the later runs, so each
       value crosses down once and up once. Everything from the first
       copy to the merged table is timed (the halves sent in, every
       task's copies, the runs sent back).
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
  S_n = 1000000, S_cutoff = 262144, S_parts = 16, F_n = 30, F_cutoff = 20,
  wake_n = 200, frames = 600, frame_inflight = 1000, mspawn_n = 10000, I_n = 200,
}
local QUICK = {
  A_n = 20000, Ap_n = 200000, chunksize = 1000, App_n = 200,
  B_N = 300000, C_len = 100000, Cp_len = 10000, P_len = 10000, C_inner = 2,
  D_inner = 10, require_n = 3, M_n = 100000,
  S_n = 200000, S_cutoff = 16384, S_parts = 16, F_n = 25, F_cutoff = 15,
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
  back = nil
  -- Each result is dropped at once, as the floor pops its own: held until
  -- the next one replaced it, it was alive through the next decode, and
  -- the host's collector (generational in lua5.4) promoted and later swept
  -- it: C' 14.2-14.9 ms against 9.6-10.5 dropped, the library's work the same.
  for _ = 1, R do
    collectgarbage()
    local t0 = now()
    for _ = 1, inner do ex:submit(identity, data):result() end
    runs[#runs + 1] = (now() - t0) / inner * 1e3
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
-- share the leaf sort (table.sort), the merge and the split copies.
-- table.move(a, f, e, t, b) where Lua has it (5.3+), a loop where not.
local move = table.move or function(a, f, e, t, b)
  for i = f, e do b[t + i - f] = a[i] end
  return b
end

-- Writes the merge of the sorted a[ia..ja] and b[ib..jb] to out[k+1..];
-- returns out. The serial sort merges whole tables with it; the parallel
-- one the runs of two tables between the same cut values (below).
local function merge(a, ia, ja, b, ib, jb, out, k)
  while ia <= ja and ib <= jb do
    k = k + 1
    if a[ia] <= b[ib] then out[k] = a[ia]; ia = ia + 1
    else out[k] = b[ib]; ib = ib + 1 end
  end
  move(a, ia, ja, k + 1, out)
  return move(b, ib, jb, k + 1 + ja - ia + 1, out)
end

-- concurrent.slice(t, i, j) crosses as t[i..j] (the parallel sort's
-- splits); the serial sort copies with move.
local slice = concurrent.slice

local function msort_serial(t, cutoff)
  local n = #t
  if n <= cutoff then table.sort(t) return t end
  local mid = math.floor(n / 2)
  local a = msort_serial(move(t, 1, mid, 1, {}), cutoff)
  local b = msort_serial(move(t, mid + 1, n, 1, {}), cutoff)
  return merge(a, 1, #a, b, 1, #b, {}, 0)
end

-- The last index i of the sorted a with a[i] <= v (0 if none).
local function last_le(a, v)
  local lo, hi = 1, #a + 1
  while lo < hi do
    local m = math.floor((lo + hi) / 2)
    if a[m] <= v then lo = m + 1 else hi = m end
  end
  return lo - 1
end

-- Sorts t by recursive submit, fork/join: the left half is submitted as a
-- slice of t (the same function, down to the cutoff) and the right half
-- sorted here by the same recursion. Then, as ForkJoinTask.join does, the
-- left half is taken back if no worker has started it (fl:cancel()),
-- copied out of t and sorted here, else awaited (a worker that waits runs
-- queued tasks meanwhile); the two are merged. Taking it back saves its
-- decode in a task and its result's copy back: the task was queued
-- because every worker was busy. Returns the sorted table; given outs
-- (the halves of the top level), it splits its last merge at the values
-- cuts instead and sets outs[j] to the run of values in (cuts[j-1],
-- cuts[j]], so the main state can merge run j of both halves while later
-- runs are being made.
local function msort_task(ex, t, cutoff, cuts, outs)
  local n = #t
  local a, b
  if n <= cutoff then
    table.sort(t)
    if not outs then return t end
    a, b = t, {}
  else
    local mid = math.floor(n / 2)
    local fl = ex:submit(msort_task, ex, slice(t, 1, mid), cutoff)
    b = msort_task(ex, move(t, mid + 1, n, 1, {}), cutoff)
    if fl:cancel() then a = msort_task(ex, move(t, 1, mid, 1, {}), cutoff)
    else a = fl:result() end
    if not outs then return merge(a, 1, #a, b, 1, #b, {}, 0) end
  end
  local ia, ib = 1, 1
  for j = 1, #outs do
    local ja = cuts[j] and last_le(a, cuts[j]) or #a
    local jb = cuts[j] and last_le(b, cuts[j]) or #b
    outs[j]:set_result(merge(a, ia, ja, b, ib, jb, {}, 0))
    ia, ib = ja + 1, jb + 1
  end
end

-- Run j of a half: outs[j]'s value once set, or the half's own error if
-- it failed before setting it (so a failed sort raises, never hangs).
local function run_of(out_f, half_f)
  futures.wait({out_f, half_f}, nil, futures.FIRST_COMPLETED)
  if not out_f:done() then half_f:result() end
  return out_f:result()
end

-- The top level, in the main state (which sorts nothing): both halves
-- submitted; each splits its last merge into parts runs at cut values
-- (quantiles of a sample of t), and the main state merges run j of both
-- halves into the result as soon as both are set, while the workers are
-- still making the later runs. The top merge is the serial sort's top
-- merge, the same calls into one table, cut into parts pieces; each value
-- crosses down once and up once.
local function msort_parallel(ex, t, cutoff, parts)
  local n = #t
  if n <= cutoff then table.sort(t) return t end
  local sample, step = {}, math.floor(n / 1024) + 1
  for i = 1, n, step do sample[#sample + 1] = t[i] end
  table.sort(sample)
  local cuts, outs_l, outs_r = {}, {}, {}
  for j = 1, parts do
    if j < parts then cuts[j] = sample[math.floor(#sample * j / parts)] end
    outs_l[j], outs_r[j] = futures.Future(), futures.Future()
  end
  -- The halves cross as slices of t: the transfer is their copy. The
  -- right half is queued ~4 ms after the left, well before the left
  -- half's task queues its quarter (~8 ms after it starts). Were the
  -- quarter queued first, the idle worker would take it, and the left
  -- half's worker, waiting for it, would run the whole right half nested
  -- under that wait (1.16x against 1.7x, seen when the halves were
  -- copied and encoded one after the other, 10 ms each).
  local mid = math.floor(n / 2)
  local fl = ex:submit(msort_task, ex, slice(t, 1, mid), cutoff, cuts, outs_l)
  local fr = ex:submit(msort_task, ex, slice(t, mid + 1, n), cutoff, cuts, outs_r)
  local out, k = {}, 0
  for j = 1, parts do
    local a, b = run_of(outs_l[j], fl), run_of(outs_r[j], fr)
    merge(a, 1, #a, b, 1, #b, out, k)
    k = k + #a + #b
  end
  fl:result()
  fr:result()
  return out
end

local function run_S(S, R)
  local n, cutoff, parts = S.S_n, S.S_cutoff, S.S_parts
  local speedups, serial_t, par_t = {}, {}, {}
  local ex = futures.ThreadPoolExecutor(WORKERS)   -- shut down below (no <close> before 5.4)
  warm(ex)
  math.randomseed(18)
  local data = {}
  for i = 1, n do data[i] = math.random(1, 2 ^ 40) end
  local check = move(data, 1, n, 1, {})
  table.sort(check)
  -- Warm at full size, untimed: the workers' heaps grow to the sort's
  -- tables once (a first timed run paid that growth: 0.88-1.0x against
  -- 1.35-1.8x for the runs after it).
  msort_serial(move(data, 1, n, 1, {}), cutoff)
  msort_parallel(ex, data, cutoff, parts)
  local quiet_runs = 0
  local function same_as_check(s, what)
    assert(#s == n, what)
    for i = 1, n do if s[i] ~= check[i] then error(what .. " at " .. i) end end
  end
  for _ = 1, R do
    collectgarbage()
    local q = quiet.wait(concurrent.sleep)
    local t0 = now()
    local s1 = msort_serial(move(data, 1, n, 1, {}), cutoff)
    local ts = now() - t0
    same_as_check(s1, "S: the serial sort differs")
    s1 = nil
    collectgarbage()
    q = quiet.wait(concurrent.sleep) and q
    if q then quiet_runs = quiet_runs + 1 end
    t0 = now()
    local s2 = msort_parallel(ex, data, cutoff, parts)
    local tp = now() - t0
    same_as_check(s2, "S: the parallel sort differs")
    s2 = nil
    serial_t[#serial_t + 1] = ts
    par_t[#par_t + 1] = tp
    speedups[#speedups + 1] = ts / tp
  end
  ex:shutdown()
  emit("S", speedups, "x", {n = n, cutoff = cutoff, workers = WORKERS,
    parts = parts, serial_s = median(serial_t), parallel_s = median(par_t),
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
