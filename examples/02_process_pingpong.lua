--- Processes have separate address spaces: each child counts to 10 with
-- its own copy of `counter`, so Ping and Pong are each printed 10 times.
-- Seed: "进程有独立的地址空间".
local dir = arg and arg[0] and arg[0]:match("^(.*)/") or "."
pcall(dofile, dir .. "/_path.lua")   -- find the library in this checkout

local concurrent = require "concurrent"
local process = require "concurrent.process"

local SPEED = tonumber(os.getenv("DEMO_SPEED")) or 1

local counter = 0

local function sub_task(str)
  while counter < 10 do
    io.write(str)
    io.stdout:flush()        -- Python's print(..., end='', flush=True)
    counter = counter + 1
    concurrent.sleep(0.01 / SPEED)
  end
end

local function main()
  local ping = process.Process{target = sub_task, args = {"Ping"}}
  local pong = process.Process{target = sub_task, args = {"Pong"}}
  ping:start()
  pong:start()
  -- Like Python, the library waits for non-daemon children when the
  -- program ends; joining here lets the parent speak after them.
  ping:join()
  pong:join()
  io.write("\n")
  io.write(("counter in the parent: %d\n"):format(counter))
end

main()
