--- as_completed: futures in the order they finish (the 2 s page first).
-- Seed: "线程池 2. as_completed".
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
local all_task = {}
for _, url in ipairs(urls) do
  all_task[#all_task + 1] = executor:submit(get_html, url)
end

for future in futures.as_completed(all_task) do
  local data = future:result()
  io.write(("in main: get page %ds success\n"):format(data))
end
executor:shutdown()

-- Prints:
-- get page 2s finished
-- in main: get page 2s success
-- get page 3s finished
-- in main: get page 3s success
-- get page 4s finished
-- in main: get page 4s success
