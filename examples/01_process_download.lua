--- Two download processes, each printing its own process id.
-- Seed: "Multiprocessing with python" (multiprocessing.Process, os.getpid).
-- DEMO_SPEED=10 makes every sleep ten times shorter; the printed seconds
-- are the seed's (5 to 10 "seconds" per download).
local dir = arg and arg[0] and arg[0]:match("^(.*)/") or "."
pcall(dofile, dir .. "/_path.lua")   -- find the library in this checkout

local concurrent = require "concurrent"
local process = require "concurrent.process"

local SPEED = tonumber(os.getenv("DEMO_SPEED")) or 1
io.stdout:setvbuf("line")   -- whole lines, even when several processes share a pipe

local function download_task(filename)
  -- A forked child starts with a copy of its parent's random state
  -- (Python reseeds after fork): seed from the pid, or both children
  -- would draw the same download time.
  math.randomseed(process.getpid())
  io.write(("启动下载进程，进程号[%d].\n"):format(process.getpid()))
  io.write(("开始下载%s...\n"):format(filename))
  local time_to_download = math.random(5, 10)
  concurrent.sleep(time_to_download / SPEED)
  io.write(("%s下载完成! 耗费了%d秒\n"):format(filename, time_to_download))
end

local function main()
  local start = concurrent.monotonic()
  local p1 = process.Process{target = download_task, args = {"Python从入门到住院.pdf"}}
  p1:start()
  local p2 = process.Process{target = download_task, args = {"Peking Hot.avi"}}
  p2:start()
  p1:join()
  p2:join()
  local finish = concurrent.monotonic()
  io.write(("总共耗费了%.2f秒.\n"):format(finish - start))
end

main()
