--- A game's frame loop that never blocks: 60 frames a second, while
-- spawned coroutines (the NPCs) await path-finding tasks on a pool.
-- futures.poll{max_seconds = 0.002} runs once a frame: the frame's share
-- of callbacks and coroutine resumes, never more than about 2 ms of it.
-- Prints the worst frame time at the end.
local dir = arg and arg[0] and arg[0]:match("^(.*)/") or "."
pcall(dofile, dir .. "/_path.lua")   -- find the library in this checkout

local concurrent = require "concurrent"
local futures = require "concurrent.futures"

io.stdout:setvbuf("line")
local now = concurrent.monotonic
local FRAME = 1 / 60
local BUDGET = 0.002
local MIN_FRAMES = 60      -- a second at least, then until every NPC is home

local pool = futures.ThreadPoolExecutor{max_workers = 2}

-- Runs in a worker: a slow search, here a sleep.
local function find_path(npc, trip)
  require("concurrent").sleep(0.03 + 0.01 * ((npc + trip) % 4))
  return 10 * npc + trip
end

-- Each NPC is a coroutine: it asks the pool for a path and awaits it
-- (the frame goes on meanwhile), walks it (a sleep inside spawn is a
-- timer, not a block), three times.
local npcs = {}
for npc = 1, 6 do
  npcs[npc] = futures.spawn(function()
    local steps = 0
    for trip = 1, 3 do
      steps = steps + pool:submit(find_path, npc, trip):result()
      concurrent.sleep(0.02)
    end
    print(("npc %d is home after %d steps"):format(npc, steps))
    return steps
  end)
end

local function all_home()
  for _, f in ipairs(npcs) do
    if not f:done() then return false end
  end
  return true
end

local frames, worst, ran_total = 0, 0, 0
local target = now()
while frames < MIN_FRAMES or not all_home() do
  frames = frames + 1
  target = target + FRAME
  local left = target - now()
  -- Sleep out the rest of the last frame, running nothing (a plain
  -- concurrent.sleep would run everything queued meanwhile).
  if left > 0 then futures.poll{idle = left, max_callbacks = 0} end
  local start = now()
  local ran = futures.poll{max_seconds = BUDGET}    -- this frame's share
  ran_total = ran_total + ran
  -- update and draw the frame here
  local used = now() - start
  if used > worst then worst = used end
  if frames > 60 * 30 then error("the NPCs never came home") end
end
pool:shutdown()
for npc, f in ipairs(npcs) do assert(f:result() > 0, "npc " .. npc) end
print(("%d frames at 60 fps, %d callbacks and resumes run by poll"):format(frames, ran_total))
print(("worst frame time: %.2f ms (poll budget %.0f ms a frame)"):format(worst * 1e3, BUDGET * 1e3))
