--- A thread pool: submit returns at once; done, cancel and result.
-- Seed: "线程池 1. 简单使用" (ThreadPoolExecutor, submit, done, cancel, result).
local dir = arg and arg[0] and arg[0]:match("^(.*)/") or "."
pcall(dofile, dir .. "/_path.lua")   -- find the library in this checkout

local concurrent = require "concurrent"
local futures = require "concurrent.futures"

local SPEED = tonumber(os.getenv("DEMO_SPEED")) or 1
io.stdout:setvbuf("line")

-- `times` stands for the time a network request takes.
local function get_html(times)
  concurrent.sleep(times / SPEED)
  io.write(("get page %ds finished\n"):format(times))
  return times
end

local executor = futures.ThreadPoolExecutor{max_workers = 2}
-- submit hands the function to the pool and returns at once.
local task1 = executor:submit(get_html, 3)
local task2 = executor:submit(get_html, 2)
-- done: has the task finished?
print(task1:done())
-- cancel only succeeds for a task no worker has taken yet. Python's
-- workers take their tasks before submit returns; ours first build a
-- Lua state, so wait (a few milliseconds) until task2 has been taken.
while not task2:running() and not task2:done() do concurrent.sleep(0.001) end
print(task2:cancel())
concurrent.sleep(4 / SPEED)
print(task1:done())
-- result: the task's return values.
print(task1:result())
executor:shutdown()

-- Prints:
-- false                  task1 has not finished
-- false                  task2 cannot be cancelled: a worker is running it
-- get page 2s finished
-- get page 3s finished
-- true                   printed after "get page 3s finished": task1 is done
-- 3                      task1's result
