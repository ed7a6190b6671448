--- cqueues and the library: a cqueues coroutine sleeps on futures.fd()
-- (cqueues.poll) and runs futures.poll when it is readable, while another
-- cqueues coroutine keeps ticking and a spawned coroutine awaits a pool.
local dir = arg and arg[0] and arg[0]:match("^(.*)/") or "."
pcall(dofile, dir .. "/_path.lua")   -- find the library in this checkout

io.stdout:setvbuf("line")
local ok, cqueues = pcall(require, "cqueues")
if not ok then
  print("skipped: cqueues is not installed (apt-get install lua-cqueues)")
  return
end
local concurrent = require "concurrent"
local futures = require "concurrent.futures"

local pool = futures.ThreadPoolExecutor{max_workers = 2}

local function square(x)                 -- runs in a worker
  require("concurrent").sleep(0.05 * x)
  return x * x
end

-- What cqueues.poll waits on: any object with pollfd and events.
local library = {pollfd = futures.fd(), events = "r"}

local job = futures.spawn(function()
  local sum = 0
  for _, v in pool:map(square, {3, 1, 2}) do   -- results in input order
    print("square " .. v)
    sum = sum + v
  end
  return sum
end)

local cq = cqueues.new()
local wakeups, ticks = 0, 0
cq:wrap(function()                       -- the library's pump
  while not job:done() do
    cqueues.poll(library)                 -- yields this cqueues coroutine
    wakeups = wakeups + 1
    futures.poll()
  end
end)
cq:wrap(function()                       -- the rest of the program
  while not job:done() do
    ticks = ticks + 1
    cqueues.sleep(0.01)
  end
end)
assert(cq:loop())
pool:shutdown()
print(("sum %d; the fd woke the pump %d times, the other coroutine ticked %d times"):format(
  job:result(), wakeups, ticks))
