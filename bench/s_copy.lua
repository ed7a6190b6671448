-- bench/s_copy.lua -- what S's copies cost against its sort, in one
-- process: the serial merge sort of S's 1,000,000 integers (cutoff
-- 262,144, as bench/ours.lua's S) and a round trip of 500,000 of them
-- (250,000 too) through a 1-worker pool, medians of R runs. S crosses its
-- values 4 million times encoded and 4 million times decoded (main -> the
-- halves 1M, a task -> its left half and back 0.5M each, the halves' runs
-- -> the merge tasks 1M, the merged runs -> main 1M), about 4 such round
-- trips of 500,000; main's own encode of 1M and decode of 1M (about one)
-- is partly on the critical path. (Before branch perf-sort: 6M encodes
-- and 8M decodes, ~7.) See bench/HISTORY.md ("S: the parallel merge sort").
--
--   lua5.4 bench/s_copy.lua [R]      (from the repository root)
package.path = (os.getenv("CONCURRENT_LPATH") or "lua/?.lua;lua/?/init.lua") .. ";" .. package.path
package.cpath = (os.getenv("CONCURRENT_CPATH") or "build/?.so") .. ";" .. package.cpath
local concurrent = require "concurrent"
local futures = require "concurrent.futures"
local now = concurrent.monotonic
local function identity(x) return x end
local ex = futures.ThreadPoolExecutor(1)
math.randomseed(18)
local n = 1000000
local data = {}
for i = 1, n do data[i] = math.random(1, 1 << 40) end
local function median(t) table.sort(t) return t[(#t + 1) // 2] end
local function merge(a, ia, ja, b, ib, jb, out, k)   -- bench/ours.lua's
  while ia <= ja and ib <= jb do
    k = k + 1
    if a[ia] <= b[ib] then out[k] = a[ia]; ia = ia + 1 else out[k] = b[ib]; ib = ib + 1 end
  end
  table.move(a, ia, ja, k + 1, out)
  return table.move(b, ib, jb, k + 1 + ja - ia + 1, out)
end
local function msort(t, cutoff)
  local m = #t
  if m <= cutoff then table.sort(t) return t end
  local mid = m // 2
  local a = msort(table.move(t, 1, mid, 1, {}), cutoff)
  local b = msort(table.move(t, mid + 1, m, 1, {}), cutoff)
  return merge(a, 1, #a, b, 1, #b, {}, 0)
end
local half = table.move(data, 1, n // 2, 1, {})
local quarter = table.move(data, 1, n // 4, 1, {})
for _ = 1, 2 do ex:submit(identity, half):result() end
local ser, rt5, rt25 = {}, {}, {}
for _ = 1, tonumber(arg[1] or 5) do
  collectgarbage()
  local t0 = now(); msort(table.move(data, 1, n, 1, {}), 262144); ser[#ser + 1] = now() - t0
  collectgarbage()
  t0 = now(); ex:submit(identity, half):result(); rt5[#rt5 + 1] = now() - t0
  collectgarbage()
  t0 = now(); ex:submit(identity, quarter):result(); rt25[#rt25 + 1] = now() - t0
end
local s, r5, r25 = median(ser), median(rt5), median(rt25)
print(string.format("serial sort %.3f s; round trip 500K %.1f ms, 250K %.1f ms; S's copies (4M encodes + 4M decodes ~ 4 round trips of 500K) ~%.3f s = %.2f of the serial sort; main's share (its encode of 1M and decode of 1M ~ 1 round trip of 500K) %.3f s",
  s, r5 * 1e3, r25 * 1e3, 4 * r5, 4 * r5 / s, r5))
ex:shutdown(true)
