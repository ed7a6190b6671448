-- quiet.lua -- waits for a quiet moment before a timed run of B.
--
-- B divides a serial time by a parallel time taken a second apart. On a
-- 2-vCPU machine shared with other work, another process busy during
-- either run moves the ratio by 15% or more, for every peer alike (see
-- README.md). Before each timed run the peers wait, up to `max_wait`
-- seconds, until /proc/stat shows the CPUs idle for a short window
-- (nothing of ours runs while we wait, so what is busy is someone
-- else's), and report how many runs started quiet. The Python peer has
-- the same in python_peer.py.

local M = {}

-- Busy and total ticks of all CPUs (steal counts as busy: the host gave
-- our vCPU to someone else).
local function ticks()
  local f = io.open("/proc/stat", "r")
  if not f then return nil end
  local line = f:read("*l")
  f:close()
  local busy, total, i = 0, 0, 0
  for v in line:gmatch("%d+") do
    i = i + 1
    v = tonumber(v)
    if i <= 8 then
      total = total + v
      if i ~= 4 and i ~= 5 then busy = busy + v end   -- idle, iowait
    end
  end
  return busy, total
end

-- sleep(seconds) is the caller's. Returns true if a quiet window was seen.
function M.wait(sleep, max_wait, window)
  max_wait, window = max_wait or 5, window or 0.25
  local b0 = ticks()
  if not b0 then return false end
  for _ = 1, math.ceil(max_wait / window) do
    sleep(window)
    local b1 = ticks()
    if b1 - b0 <= 2 then return true end   -- <= 2 ticks (20 ms) in the window
    b0 = b1
  end
  return false
end

return M
