--- A thread class of one's own: DownloadTask extends Thread and overrides
-- run. Seed: "class DownloadTask(Thread)".
local dir = arg and arg[0] and arg[0]:match("^(.*)/") or "."
pcall(dofile, dir .. "/_path.lua")   -- find the library in this checkout

local concurrent = require "concurrent"
local thread = require "concurrent.thread"

local SPEED = tonumber(os.getenv("DEMO_SPEED")) or 1
io.stdout:setvbuf("line")

local DownloadTask = thread.Thread:extend()

-- Python's __init__ (the base class is set up for us: no super() call).
function DownloadTask:init(filename)
  self._filename = filename
end

-- start() copies the instance into the new thread's state and calls this.
function DownloadTask:run()
  io.write(("开始下载%s...\n"):format(self._filename))
  local time_to_download = math.random(5, 10)
  concurrent.sleep(time_to_download / SPEED)
  io.write(("%s下载完成! 耗费了%d秒\n"):format(self._filename, time_to_download))
end

local function main()
  local start = concurrent.monotonic()
  local t1 = DownloadTask("Python从入门到住院.pdf")
  t1:start()
  local t2 = DownloadTask("Peking Hot.avi")
  t2:start()
  t1:join()
  t2:join()
  local finish = concurrent.monotonic()
  io.write(("总共耗费了%.2f秒.\n"):format(finish - start))
end

main()
