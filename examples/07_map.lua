--- map: one function over a sequence, results in input order.
-- Seed: "线程池 3. map".
local dir = arg and arg[0] and arg[0]:match("^(.*)/") or "."
pcall(dofile, dir .. "/_path.lua")   -- find the library in this checkout

local concurrent = require "concurrent"
local futures = require "concurrent.futures"

local SPEED = tonumber(os.getenv("DEMO_SPEED")) or 1
io.stdout:setvbuf("line")

local function get_html(times)
  concurrent.sleep(times / SPEED)
  io.write(("get page %ds finished\n"):format(times))
  return times
end

local executor = futures.ThreadPoolExecutor{max_workers = 2}
local urls = {3, 2, 4}   -- not really urls

-- The iterator yields the position (from 1) and the task's results, so
-- a task returning nil does not end the loop.
for _, data in executor:map(get_html, urls) do
  io.write(("in main: get page %ds success\n"):format(data))
end
executor:shutdown()

-- Prints (the 2 s page finishes first, but results come in input order):
-- get page 2s finished
-- get page 3s finished
-- in main: get page 3s success
-- in main: get page 2s success
-- get page 4s finished
-- in main: get page 4s success
