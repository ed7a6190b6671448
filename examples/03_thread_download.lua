--- Two download threads. Seed: "threading with python" (threading.Thread).
-- DEMO_SPEED=10 makes every sleep ten times shorter; the printed seconds
-- are the seed's.
local dir = arg and arg[0] and arg[0]:match("^(.*)/") or "."
pcall(dofile, dir .. "/_path.lua")   -- find the library in this checkout

local concurrent = require "concurrent"
local thread = require "concurrent.thread"

local SPEED = tonumber(os.getenv("DEMO_SPEED")) or 1
io.stdout:setvbuf("line")

-- Runs in the thread's own Lua state: SPEED and `concurrent` are copied
-- there with the function (its upvalues).
local function download(filename)
  io.write(("开始下载%s...\n"):format(filename))
  local time_to_download = math.random(5, 10)
  concurrent.sleep(time_to_download / SPEED)
  io.write(("%s下载完成! 耗费了%d秒\n"):format(filename, time_to_download))
end

local function main()
  local start = concurrent.monotonic()
  local t1 = thread.Thread{target = download, args = {"Python从入门到住院.pdf"}}
  t1:start()
  local t2 = thread.Thread{target = download, args = {"Peking Hot.avi"}}
  t2:start()
  t1:join()
  t2:join()
  local finish = concurrent.monotonic()
  io.write(("总共耗费了%.3f秒\n"):format(finish - start))
end

main()
