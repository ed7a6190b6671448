--[[
roundtrip.lua -- the two quick figures of the core: the time of one
submit + result round trip of a no-op task on a 2-worker pool (one task at
a time), 100,000 tasks submitted then collected, and a 100,000-float table
sent to a worker and back.

  lua5.4 bench/roundtrip.lua        (from the repository root, after make)

Each figure is the median of 5 runs. CONCURRENT_CPATH overrides build/?.so.
]]
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("CONCURRENT_CPATH") or "build/?.so") .. ";" .. package.cpath
local futures = require "concurrent.futures"
local c = require "concurrent"

local ex <close> = futures.ThreadPoolExecutor(2)
local function noop() end
local function inc(x) return x + 1 end
ex:submit(noop):result()

local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2]
end

local rt, batch, arr = {}, {}, {}
local t = {}
for i = 1, 100000 do t[i] = i + 0.5 end
for r = 1, 5 do
  local n = 20000
  local t0 = c.monotonic()
  for _ = 1, n do ex:submit(noop):result() end
  rt[r] = (c.monotonic() - t0) / n * 1e6

  local fs = {}
  t0 = c.monotonic()
  for i = 1, 100000 do fs[i] = ex:submit(inc, i) end
  for i = 1, 100000 do fs[i]:result() end
  batch[r] = (c.monotonic() - t0) / 100000 * 1e6

  t0 = c.monotonic()
  local back = ex:submit(function(x) return x end, t):result()
  arr[r] = (c.monotonic() - t0) * 1e3
  assert(#back == #t)
end
print(("submit + result round trip (no-op, 2 workers): %.2f us"):format(median(rt)))
print(("100,000 tasks submitted then collected:        %.2f us/task"):format(median(batch)))
print(("100,000-float table to a worker and back:      %.2f ms"):format(median(arr)))
