--- The pool as a to-be-closed variable: Python's `with ... as executor`.
-- Leaving the block shuts the pool down and waits for its tasks, so no
-- join is needed (and none can be forgotten).
-- Seed: "也可以通过with关键字" (thread_function is the one of "An Intro to
-- Threading in Python", which the seed elides as "[rest of code]").
local dir = arg and arg[0] and arg[0]:match("^(.*)/") or "."
pcall(dofile, dir .. "/_path.lua")   -- find the library in this checkout

local concurrent = require "concurrent"
local futures = require "concurrent.futures"

local SPEED = tonumber(os.getenv("DEMO_SPEED")) or 1
io.stdout:setvbuf("line")

local function thread_function(name)
  io.write(("Thread %d: starting\n"):format(name))
  concurrent.sleep(2 / SPEED)
  io.write(("Thread %d: finishing\n"):format(name))
end

local function range(n)   -- Python's range(n): 0 .. n-1
  local t = {}
  for i = 0, n - 1 do t[#t + 1] = i end
  return t
end

do
  local executor <close> = futures.ThreadPoolExecutor{max_workers = 3}
  executor:map(thread_function, range(3))   -- submits all three at once
end   -- executor:shutdown(true) runs here: it waits for the three threads
print("Main: all done")

-- Prints, in some order, "Thread 0: starting" .. "Thread 2: starting",
-- then the three "finishing" lines, then "Main: all done".
