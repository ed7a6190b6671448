--[[
luv peer for the `concurrent` benchmark suite (Lua 5.4 + Debian's lua-luv).

Measures what libuv's thread pool, driven through luv's uv.new_work /
work:queue, reaches on this machine for workloads A and B.  Does not use our
library.  luv only moves scalars (nil/boolean/number/string) between states,
so the payload workloads (C, C') and futures-based ones have no luv peer.

Run with Lua 5.4 explicitly (plain `lua` is 5.1 on this machine):
  lua5.4 bench/peers/luv_peer.lua                # full mode, 5 repeats
  lua5.4 bench/peers/luv_peer.lua --repeat 3
  lua5.4 bench/peers/luv_peer.lua --quick        # smoke test
  lua5.4 bench/peers/luv_peer.lua --only B

Output: one JSON object per line, same shape as python_peer.py:
  {"peer":"luv","workload":"A","median":...,"unit":"us/task","runs":[...],"params":{...}}

Thread pool size: libuv reads UV_THREADPOOL_SIZE once, when the pool is
first used (the first work:queue).  This script sets it to 2 with
uv.os_setenv() before that, so no wrapper is needed (any value already in
the environment is overridden).  params.pool_threads reports the number of
threads counted in /proc/self/task minus the main thread, as a check.

Note: luv hands numbers to the worker states as floats (1 -> 1.0), so the
work functions convert back with math.tointeger where integer arithmetic
matters.
--]]

local uv = require "luv"
uv.os_setenv("UV_THREADPOOL_SIZE", "2")   -- before any work is queued

local WORKERS = 2

local FULL  = { A_n = 100000, B_N = 1200000 }  -- B: serial ~1-1.5 s in Lua 5.4 here
local QUICK = { A_n = 20000,  B_N = 300000 }

---------------------------------------------------------------------------
-- Helpers
---------------------------------------------------------------------------

local function now() return uv.hrtime() end          -- nanoseconds
local BENCH_DIR = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/.."
local quiet = dofile(BENCH_DIR .. "/quiet.lua")
local jsonl = dofile(BENCH_DIR .. "/jsonl.lua")
local median = jsonl.median
local emit = jsonl.writer(os.getenv("BENCH_LUV_PEER") or "luv")
local function sleep(s) uv.sleep(math.floor(s * 1000)) end

-- number of OS threads in this process minus the main one
local function pool_threads()
  local h = uv.fs_scandir("/proc/self/task")   -- synchronous, no thread pool
  local n = 0
  while uv.fs_scandir_next(h) do n = n + 1 end
  return n - 1
end

-- Start every pool thread (each gets its own Lua state) before timing:
-- WORKERS*2 works that each sleep 20 ms cannot all run on one thread quickly,
-- so the pool spins up all its threads.
local function warm_pool()
  local w = uv.new_work(function(ms)
    require("luv").sleep((math.tointeger or tonumber)(ms))
    return true
  end, function() end)
  for _ = 1, WORKERS * 2 do w:queue(20) end
  uv.run()
end

---------------------------------------------------------------------------
-- Workload A: n tiny tasks (x + 1) through the 2-thread libuv pool.
-- One uv.new_work context; submit all n with work:queue(i), then uv.run()
-- collects every result in the after-callback (results[i] = i + 1).  The pool
-- and the work function are warmed up (1000 tasks) before the clock starts.
-- Reports microseconds per task.
---------------------------------------------------------------------------

local function run_A(S, R)
  local n = S.A_n
  local results, got = nil, 0
  local work = uv.new_work(
    function(i) return i, i + 1 end,                  -- runs in a pool thread
    function(i, v) results[i] = v; got = got + 1 end) -- runs in the loop thread
  results = {}
  for i = 1, 1000 do work:queue(i) end               -- warm-up
  uv.run()

  local runs = {}
  for _ = 1, R do
    results, got = {}, 0
    collectgarbage()
    local t0 = now()
    for i = 1, n do work:queue(i) end
    uv.run()
    local dt = now() - t0
    assert(got == n and results[n] == n + 1, "missing results")
    runs[#runs + 1] = dt / 1e3 / n                    -- ns -> us, per task
  end
  results = nil
  emit("A", runs, "us/task", { n = n, workers = WORKERS, pool_threads = pool_threads() })
end

---------------------------------------------------------------------------
-- Workload B: CPU-bound prime counting below N (trial division by odd
-- numbers up to sqrt).  Serial: count_primes(N, 0, 1) in the main thread.
-- Parallel: the two halves count_primes(N, 0, 2) and count_primes(N, 1, 2)
-- (odd candidates dealt out round-robin, so both halves cost the same) queued
-- as two works, joined by uv.run().  Each repetition times both; reports
-- speedup = serial time / parallel time (median over repetitions).
---------------------------------------------------------------------------

-- Self-contained (no upvalues): luv string.dump()s it into the worker states.
local function count_primes(n, k, w)
  n, k, w = (math.tointeger or tonumber)(n), (math.tointeger or tonumber)(k), (math.tointeger or tonumber)(w)
  local c = (k == 0 and n > 2) and 1 or 0            -- the prime 2
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
  local total = 0
  local work = uv.new_work(count_primes, function(c) total = total + c end)
  for k = 0, WORKERS - 1 do work:queue(1000, k, WORKERS) end   -- warm-up
  uv.run()

  local expected
  local speedups, serial_t, par_t = {}, {}, {}
  local quiet_runs = 0
  for _ = 1, R do
    local q = quiet.wait(sleep)
    local t0 = now()
    local c = count_primes(N, 0, 1)
    local ts = now() - t0
    expected = expected or c
    assert(c == expected)

    q = quiet.wait(sleep) and q
    if q then quiet_runs = quiet_runs + 1 end
    total = 0
    t0 = now()
    for k = 0, WORKERS - 1 do work:queue(N, k, WORKERS) end
    uv.run()
    local tp = now() - t0
    assert(total == expected, "parallel count differs")

    serial_t[#serial_t + 1] = ts / 1e9
    par_t[#par_t + 1] = tp / 1e9
    speedups[#speedups + 1] = ts / tp
  end
  emit("B", speedups, "x", {
    N = N, primes = expected, workers = WORKERS, pool_threads = pool_threads(),
    serial_s = median(serial_t), parallel_s = median(par_t),
    quiet_runs = quiet_runs,
  })
end

---------------------------------------------------------------------------

local RUNNERS = { A = run_A, B = run_B }
local ORDER = { "A", "B" }

local function usage(msg)
  if msg then io.stderr:write("luv_peer: ", msg, "\n") end
  io.stderr:write("usage: lua5.4 luv_peer.lua [--quick] [--repeat R] [--only A,B] [-v]\n")
  os.exit(msg and 2 or 0)
end

local function main(argv)
  local quick, R, only, verbose = false, nil, nil, false
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--quick" then quick = true
    elseif a == "--repeat" then i = i + 1; R = (math.tointeger or tonumber)(tonumber(argv[i]))
      if not R or R < 1 then usage("--repeat needs an integer >= 1") end
    elseif a == "--only" then i = i + 1; only = argv[i]
      if not only then usage("--only needs a list") end
    elseif a == "-v" or a == "--verbose" then verbose = true
    elseif a == "-h" or a == "--help" then usage()
    else usage("unknown argument " .. a) end
    i = i + 1
  end
  local S = quick and QUICK or FULL
  R = R or (quick and 1 or 5)

  local wanted = {}
  if only then
    for w in only:gmatch("[^,%s]+") do
      if not RUNNERS[w] then usage("unknown workload " .. w .. " (luv has A, B)") end
      wanted[w] = true
    end
  else
    for _, w in ipairs(ORDER) do wanted[w] = true end
  end

  warm_pool()
  local t_all = now()
  for _, w in ipairs(ORDER) do
    if wanted[w] then
      local t0 = now()
      RUNNERS[w](S, R)
      if verbose then
        io.stderr:write(string.format("[luv_peer] %s: %.1f s\n", w, (now() - t0) / 1e9))
      end
    end
  end
  if verbose then
    io.stderr:write(string.format("[luv_peer] total: %.1f s\n", (now() - t_all) / 1e9))
  end
  uv.loop_close()
end

main(arg)
