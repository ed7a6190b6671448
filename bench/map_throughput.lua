--[[
map_throughput.lua -- items per second of executor:map against a plain
serial Lua loop, in the same run.

  lua5.4 bench/map_throughput.lua [--items N] [--chunksize C] [--workers W]
                                  [--repeat R] [--quick]

Measures `for i, v in ex:map(function(x) return x + 1 end, t, {chunksize=C})`
over N items on W workers (default 1,000,000 items, chunksize 1000, 2 workers)
and a serial `for i = 1, #t do local v = t[i] + 1 end`-style loop that does
the same per-item work (call the function, keep the result), each R times
(default 5); prints the median of each as items/second and us/item, and
checks every result once. Run from the repository root (or set LUA_PATH /
LUA_CPATH to find concurrent and build/concurrent/core.so).
--]]

package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("CONCURRENT_CPATH") or "build/?.so") .. ";" .. package.cpath

local futures = require "concurrent.futures"
local concurrent = require "concurrent"

local opts = {items = 1000000, chunksize = 1000, workers = 2, ["repeat"] = 5}
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == "--quick" then
      opts.items, opts["repeat"] = 100000, 3
    else
      local k = a:match("^%-%-(%w+)$")
      if not k or opts[k] == nil then error("unknown argument " .. a) end
      opts[k] = math.tointeger(tonumber(arg[i + 1])) or error("bad value for " .. a)
      i = i + 1
    end
    i = i + 1
  end
end

local N = opts.items
local t = {}
for i = 1, N do t[i] = i end
local function inc(x) return x + 1 end

local function median(xs)
  local s = {table.unpack(xs)}
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

-- The serial loop does what map's consumer sees: each result, in order.
local function serial()
  local fn, sum = inc, 0
  local t0 = concurrent.monotonic()
  for i = 1, N do
    local v = fn(t[i])
    sum = sum + v
  end
  local dt = concurrent.monotonic() - t0
  assert(sum == N * (N + 1) // 2 + N, "serial: wrong sum")
  return dt
end

local function mapped(ex, check)
  local sum, expect = 0, 1
  local t0 = concurrent.monotonic()
  for i, v in ex:map(inc, t, {chunksize = opts.chunksize}) do
    if check and (i ~= expect or v ~= i + 1) then
      error(string.format("map: item %d gave %s at %s", expect, tostring(v), tostring(i)))
    end
    expect = expect + 1
    sum = sum + v
  end
  local dt = concurrent.monotonic() - t0
  assert(expect == N + 1 and sum == N * (N + 1) // 2 + N, "map: wrong results")
  return dt
end

local ex <close> = futures.ThreadPoolExecutor{max_workers = opts.workers}
mapped(ex, true)   -- warm up the workers (states, function cache) and check

local ts, tm = {}, {}
for r = 1, opts["repeat"] do
  ts[r] = serial()
  tm[r] = mapped(ex, false)
end

local s, m = median(ts), median(tm)
print(string.format("map_throughput: %d items, chunksize %d, %d workers, median of %d",
  N, opts.chunksize, opts.workers, opts["repeat"]))
print(string.format("  serial loop : %12.0f items/s  (%.4f us/item)", N / s, s * 1e6 / N))
print(string.format("  ex:map      : %12.0f items/s  (%.4f us/item)", N / m, m * 1e6 / N))
print(string.format("  map/serial  : %.3f", s / m))
local function runs(xs)
  local out = {}
  for i, x in ipairs(xs) do out[i] = string.format("%.3f", x * 1e6 / N) end
  return table.concat(out, " ")
end
print("  runs (us/item): serial " .. runs(ts) .. " | map " .. runs(tm))
