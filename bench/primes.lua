--[[
primes.lua -- a CPU-bound job (counting primes below N by trial division)
run serially, on a 2-worker ProcessPoolExecutor and on a 2-worker
ThreadPoolExecutor, in one run; prints the median time of each and the
speedup of each pool against the serial run.

  lua5.4 bench/primes.lua [--n N] [--chunks K] [--workers W] [--repeat R]

Defaults: N = 1,500,000 (about 1-2 s serially here), the range cut into
K = 32 chunks (one task each), W = 2 workers, R = 3 runs of each (median).
The pools are made and warmed (every worker started) before timing, so the
figures are of the job, not of starting workers. Run from the repository
root (or set CONCURRENT_CPATH, default build/?.so).
--]]

package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("CONCURRENT_CPATH") or "build/?.so") .. ";" .. package.cpath

local futures = require "concurrent.futures"
local concurrent = require "concurrent"

local opts = {n = 1500000, chunks = 32, workers = 2, ["repeat"] = 3}
do
  local i = 1
  while i <= #arg do
    local key = arg[i]:match("^%-%-(%a+)$")
    if key == nil or opts[key] == nil or not tonumber(arg[i + 1]) then
      io.stderr:write("usage: lua5.4 bench/primes.lua [--n N] [--chunks K] [--workers W] [--repeat R]\n")
      os.exit(2)
    end
    opts[key] = math.tointeger(tonumber(arg[i + 1])) or opts[key]
    i = i + 2
  end
end

-- The primes in [lo, hi), by trial division by odd numbers.
local function count_primes(lo, hi)
  local count = 0
  for n = math.max(lo, 2), hi - 1 do
    if n < 4 then
      count = count + 1
    elseif n % 2 ~= 0 then
      local prime, d = true, 3
      while d * d <= n do
        if n % d == 0 then prime = false break end
        d = d + 2
      end
      if prime then count = count + 1 end
    end
  end
  return count
end

local function ranges()
  local step = (opts.n + opts.chunks - 1) // opts.chunks
  local los, his = {}, {}
  for lo = 0, opts.n - 1, step do
    los[#los + 1] = lo
    his[#his + 1] = math.min(lo + step, opts.n)
  end
  return los, his
end

local function on_pool(ex)
  local los, his = ranges()
  local total = 0
  for _, c in ex:map(count_primes, los, his) do total = total + c end
  return total
end

local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2]
end

local function time(fn)
  local t0 = concurrent.monotonic()
  local r = fn()
  return concurrent.monotonic() - t0, r
end

local function warm(ex)
  local fs = {}
  for i = 1, opts.workers do
    fs[i] = ex:submit(function() require("concurrent").sleep(0.05) end)
  end
  for i = 1, opts.workers do fs[i]:result() end
end

local procs <close> = futures.ProcessPoolExecutor(opts.workers)
local threads <close> = futures.ThreadPoolExecutor(opts.workers)
warm(procs)
warm(threads)

local times = {serial = {}, process = {}, thread = {}}
local jobs = {
  serial = function() return count_primes(0, opts.n) end,
  process = function() return on_pool(procs) end,
  thread = function() return on_pool(threads) end,
}
local expected
-- Interleaved, and in a rotated order each round, so that noise on this
-- machine and any order effect fall on all three alike.
local order = {"serial", "process", "thread"}
for round = 1, opts["repeat"] do
  for k = 0, 2 do
    local name = order[(round + k - 1) % 3 + 1]
    local t, r = time(jobs[name])
    expected = expected or r
    assert(r == expected, name .. " counted " .. r .. ", expected " .. expected)
    times[name][#times[name] + 1] = t
  end
end

local serial = median(times.serial)
print(("primes below %d: %d (%d chunks, %d workers, median of %d, %d CPUs)"):format(
  opts.n, expected, opts.chunks, opts.workers, opts["repeat"], concurrent.cpu_count()))
print(("  serial               %7.3f s"):format(serial))
for _, name in ipairs{"process", "thread"} do
  local m = median(times[name])
  print(("  %-7s pool (%d)     %7.3f s   speedup %.2fx"):format(name, opts.workers, m, serial / m))
end
