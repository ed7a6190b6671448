--- A luv event loop that never blocks: uv.new_poll(futures.fd()) runs
-- futures.poll whenever the library has work for this state, and a luv
-- timer keeps ticking every 10 ms while a spawned coroutine awaits pool
-- results. Prints the results in finishing order, then the ticks.
local dir = arg and arg[0] and arg[0]:match("^(.*)/") or "."
pcall(dofile, dir .. "/_path.lua")   -- find the library in this checkout

io.stdout:setvbuf("line")
local ok, uv = pcall(require, "luv")
if not ok then
  print("skipped: luv is not installed (apt-get install lua-luv)")
  return
end
local concurrent = require "concurrent"
local futures = require "concurrent.futures"

local pool = futures.ThreadPoolExecutor{max_workers = 3}

local function fetch(name, seconds)       -- runs in a worker
  require("concurrent").sleep(seconds)
  return name
end

-- The library wakes the loop through its fd; the handler runs the queue.
local watcher = uv.new_poll(futures.fd())
watcher:start("r", function() futures.poll() end)

-- A timer that must stay on time: the longest gap between two ticks.
local ticks, worst_gap, last = 0, 0, uv.hrtime()
local ticker = uv.new_timer()
ticker:start(10, 10, function()
  local t = uv.hrtime()
  worst_gap = math.max(worst_gap, (t - last) / 1e6)
  last = t
  ticks = ticks + 1
end)

futures.spawn(function()
  local fs = {pool:submit(fetch, "map tiles", 0.3), pool:submit(fetch, "weather", 0.1),
              pool:submit(fetch, "news", 0.2)}
  for f in futures.as_completed(fs) do   -- suspends: the loop goes on
    print("got " .. f:result())
  end
  concurrent.sleep(0.05)                 -- a timer here, not a block
  ticker:stop()
  watcher:stop()
  ticker:close()
  watcher:close()
end)

uv.run()
pool:shutdown()
print(("the timer ticked %d times meanwhile, worst gap %.1f ms (every 10 ms asked)"):format(ticks, worst_gap))
