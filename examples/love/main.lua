--- examples/love/main.lua: procedural terrain made by a ThreadPoolExecutor
-- inside LÖVE 11.4 (LuaJIT), without ever blocking a frame.
--
--   love examples/love          (from the repository root, after
--                                `make LUA_VERSION=jit`)
--
-- The world is a grid of chunks. love.load submits one task per chunk
-- (value noise of several octaves, then a few smoothing passes: real work
-- for a worker's own LuaJIT state), and spawns a coroutine (futures.spawn)
-- that takes them with futures.as_completed: its waits suspend it, not the
-- game. love.update calls futures.poll() (it never blocks), which resumes
-- the coroutine when chunks are done; the coroutine queues them and
-- love.update turns a few into images each frame; love.draw
-- draws the chunks that are ready and a grey square for the others, and a
-- spinner that moves every frame. Scroll with the arrow keys.
--
-- Environment: CONCURRENT_BUILD (default <repo>/build-jit) is where
-- concurrent/core.so is. LOVE_AUTOQUIT=S quits S seconds after every
-- chunk is in (and checks each chunk against one made on the main
-- thread); LOVE_SCREENSHOT=FILE saves a PNG of the last frame there.
-- Output: a few lines on stdout ("frames: ...", "chunks: ..."), which the
-- spec reads.
local root = love.filesystem.getSource():gsub("/examples/love/?$", "")
local build = os.getenv("CONCURRENT_BUILD") or (root .. "/build-jit")
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = build .. "/?.so;" .. package.cpath

local futures = require "concurrent.futures"

local CHUNK, CELL = 40, 4            -- cells a chunk side, pixels a cell
local COLS, ROWS = 8, 6              -- chunks on screen
local WORLD_COLS = 12                -- chunks in the world (scrolls right)
local SEED = 1234.5

-- The task: the terrain classes (1..7) of one chunk as a string, one byte
-- a cell. It crosses to the worker as bytecode; it uses nothing but its
-- arguments and the worker's own math library.
local function make_chunk(cx, cy, size, seed)
  local floor, sin = math.floor, math.sin
  local function hash(x, y)
    local n = sin(x * 127.1 + y * 311.7 + seed) * 43758.5453
    return n - floor(n)
  end
  local function noise(x, y)
    local ix, iy = floor(x), floor(y)
    local fx, fy = x - ix, y - iy
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    local a, b = hash(ix, iy), hash(ix + 1, iy)
    local c, d = hash(ix, iy + 1), hash(ix + 1, iy + 1)
    return a + (b - a) * fx + (c - a) * fy + (a - b - c + d) * fx * fy
  end
  local h = {}
  for j = 0, size - 1 do
    for i = 0, size - 1 do
      local x, y = (cx * size + i) / 48, (cy * size + j) / 48
      local v, amp, freq, total = 0, 1, 1, 0
      for _ = 1, 7 do
        v = v + noise(x * freq, y * freq) * amp
        total = total + amp
        amp, freq = amp * 0.5, freq * 2
      end
      h[j * size + i + 1] = v / total
    end
  end
  for _ = 1, 3 do                      -- smoothing passes (erosion, crudely)
    local s = {}
    for j = 0, size - 1 do
      for i = 0, size - 1 do
        local sum, n = 0, 0
        for dj = -1, 1 do
          for di = -1, 1 do
            local ii, jj = i + di, j + dj
            if ii >= 0 and ii < size and jj >= 0 and jj < size then
              sum, n = sum + h[jj * size + ii + 1], n + 1
            end
          end
        end
        s[j * size + i + 1] = sum / n
      end
    end
    h = s
  end
  local bytes = {}
  for k = 1, size * size do
    local v = h[k]
    bytes[k] = v < 0.40 and 1 or v < 0.46 and 2 or v < 0.49 and 3 or v < 0.56 and 4
      or v < 0.62 and 5 or v < 0.68 and 6 or 7
  end
  return string.char(unpack(bytes))
end

local COLORS = {
  {0.10, 0.20, 0.50}, {0.20, 0.40, 0.75}, {0.85, 0.80, 0.55}, {0.35, 0.65, 0.25},
  {0.15, 0.45, 0.15}, {0.50, 0.45, 0.40}, {0.95, 0.95, 0.95},
}

local ex
local chunks = {}                   -- [cy * WORLD_COLS + cx] = {image=, data=}
local submitted, ready = 0, 0
local frames, frames_busy, t_start, t_ready = 0, 0, 0, nil
local scroll, spin = 0, 0
local autoquit = tonumber(os.getenv("LOVE_AUTOQUIT") or "")
local screenshot = os.getenv("LOVE_SCREENSHOT")

-- One pixel a cell, drawn scaled up with the nearest filter.
local function to_image(data)
  local img = love.image.newImageData(CHUNK, CHUNK)
  for y = 0, CHUNK - 1 do
    for x = 0, CHUNK - 1 do
      local c = COLORS[data:byte(y * CHUNK + x + 1)]
      img:setPixel(x, y, c[1], c[2], c[3], 1)
    end
  end
  local image = love.graphics.newImage(img)
  image:setFilter("nearest", "nearest")
  return image
end

-- Chunks whose task finished, waiting for their image: a few are made
-- each frame, so a frame never does them all at once.
local arrived = {}

local loader   -- the coroutine that takes the chunks as they finish

function love.load()
  ex = futures.ThreadPoolExecutor(4)
  t_start = love.timer.getTime()
  local fs, keys = {}, {}
  for cy = 0, ROWS - 1 do
    for cx = 0, WORLD_COLS - 1 do
      local f = ex:submit(make_chunk, cx, cy, CHUNK, SEED)
      fs[#fs + 1], keys[f] = f, cy * WORLD_COLS + cx
      submitted = submitted + 1
    end
  end
  -- Runs inside futures.poll(): each wait of as_completed suspends it
  -- until a chunk is done, and the frame goes on meanwhile.
  loader = futures.spawn(function()
    for f in futures.as_completed(fs) do
      arrived[#arrived + 1] = {keys[f], f:result()}  -- raises the task's error
    end
  end)
end

local quitting = false
local function finish()
  quitting = true
  local correct = 0
  for key, c in pairs(chunks) do
    local cx, cy = key % WORLD_COLS, math.floor(key / WORLD_COLS)
    if c.data == make_chunk(cx, cy, CHUNK, SEED) then correct = correct + 1 end
  end
  print(("love: %s, LÖVE %d.%d"):format(jit and jit.version or _VERSION, love.getVersion()))
  print(("frames: %d drawn, %d of them while tasks ran"):format(frames, frames_busy))
  print(("chunks: %d of %d correct, all in after %.2f s"):format(correct, submitted, t_ready - t_start))
  ex:shutdown()
  if screenshot then
    love.graphics.captureScreenshot(function(image)
      local fh = assert(io.open(screenshot, "wb"))
      fh:write(image:encode("png"):getString())
      fh:close()
      print("screenshot: " .. screenshot)
      love.event.quit(0)
    end)
  else
    love.event.quit(0)
  end
end

function love.update(dt)
  futures.poll()                      -- resumes the loader, never blocks
  if loader:done() then loader:result() end   -- its error, if it failed
  for _ = 1, math.min(4, #arrived) do
    local key, data = unpack(table.remove(arrived, 1))
    chunks[key] = {data = data, image = to_image(data)}
    ready = ready + 1
  end
  spin = spin + dt * 4
  if love.keyboard.isDown("right") then scroll = math.min(scroll + dt * 200, (WORLD_COLS - COLS) * CHUNK * CELL) end
  if love.keyboard.isDown("left") then scroll = math.max(scroll - dt * 200, 0) end
  if ready == submitted and not t_ready then t_ready = love.timer.getTime() end
  if autoquit then scroll = math.min((love.timer.getTime() - t_start) * 60, (WORLD_COLS - COLS) * CHUNK * CELL) end
  if autoquit and t_ready and not quitting and love.timer.getTime() - t_ready > autoquit then finish() end
  love.timer.sleep(0.005)             -- leave the cores to the workers a little
end

function love.draw()
  frames = frames + 1
  if ready < submitted then frames_busy = frames_busy + 1 end
  local size = CHUNK * CELL
  for key = 0, ROWS * WORLD_COLS - 1 do
    local cx, cy = key % WORLD_COLS, math.floor(key / WORLD_COLS)
    local x, y = cx * size - scroll, cy * size
    if x > -size and x < 640 then
      local c = chunks[key]
      if c then
        love.graphics.setColor(1, 1, 1)
        love.graphics.draw(c.image, x, y, 0, CELL, CELL)
      else
        love.graphics.setColor(0.3, 0.3, 0.3)
        love.graphics.rectangle("fill", x + 2, y + 2, size - 4, size - 4)
      end
    end
  end
  love.graphics.setColor(1, 1, 1)
  love.graphics.circle("fill", 610 + math.cos(spin) * 14, 30 + math.sin(spin) * 14, 6)
  love.graphics.print(("chunks %d/%d  frames %d"):format(ready, submitted, frames), 10, 10)
end

function love.errorhandler(msg)
  print("love error: " .. tostring(msg))
  print(debug.traceback())
  if ex then ex:shutdown{wait = false, cancel_futures = true} end
  return nil                            -- quit, with no error screen
end
