--- game.lua -- the script side of the host example (examples/host/host.c).
--
-- The host calls: game.on_c_task(future, what) with the future of a C
-- task it submitted to game.pool; game.on_host_result(what, ...) with the
-- values of a C future it polled itself; game.update(frame, callbacks_run)
-- once per frame (after running the queued callbacks and coroutine
-- resumes), which returns whether the game goes on; game.finish() at the
-- end. Between frames the host waits on futures.fd(), so callbacks and
-- resumes may also run there. `host` is the host's C library, in this
-- state and in every worker state. host.score (main state only) is a C
-- object of the host, a host.Counter: passed to a task, it crosses by
-- reference, so the task adds to the same counter.
local concurrent = require "concurrent"
local futures = require "concurrent.futures"

local game = {}

-- One pool for the whole program: the host submits its C tasks to it too.
game.pool = futures.ThreadPoolExecutor{max_workers = 2}

local pending = 0   -- futures whose done-callback has not run yet

local score = host.score

-- Values as text; tables (the C tasks' arrays and maps) by their
-- contents, keys sorted.
local function show(v)
  if type(v) ~= "table" then return tostring(v) end
  local parts, keys = {}, {}
  for i = 1, #v do parts[i] = show(v[i]) end
  for k in pairs(v) do
    if type(k) ~= "number" or k % 1 ~= 0 or k < 1 or k > #v then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. show(v[k]) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local function describe(...)
  local t = {n = select("#", ...), ...}
  for i = 1, t.n do t[i] = show(t[i]) end
  return table.concat(t, ", ")
end

local function watch(f, what)
  pending = pending + 1
  f:add_done_callback(function(done)
    pending = pending - 1
    host.log(("%s = %s (callback on the main thread: %s)"):format(
      what, describe(done:result()), tostring(host.is_main_thread())))
  end)
end

-- A script task. It runs in a worker state, where the host's setup hook
-- registered `host`: the task calls into the program.
local function find_path(from, to, points)
  concurrent.sleep(0.01 * (to - from))   -- pretend to search
  host.hit()                              -- thread-safe C counter
  points:add(to - from)                   -- the host's shared C object
  return to - from, host.is_main_thread()
end

for i = 1, 3 do
  watch(game.pool:submit(find_path, 0, i * 5, score),
        ("script task find_path(0, %d) -> steps, on main thread"):format(i * 5))
end

-- A spawned coroutine: its result() suspends it, not the host's frame.
pending = pending + 1
futures.spawn(function()
  local steps = game.pool:submit(find_path, 0, 20, score):result()
  pending = pending - 1
  host.log(("spawned coroutine: find_path(0, 20) -> %d steps (on the main thread: %s)"):format(
    steps, tostring(host.is_main_thread())))
end)

function game.on_c_task(f, what)
  watch(f, what .. " -> limit, primes")
end

function game.on_host_result(what, ...)
  host.log(("%s = %s (delivered by the host)"):format(what, describe(...)))
end

function game.update(frame, callbacks_run)
  return pending > 0
end

function game.finish()
  -- The counter comes back from a task as this state's own box.
  local back = game.pool:submit(function(s) return s end, score):result()
  game.pool:shutdown()
  host.log(("script: all done, host.hits() = %d, %s (the same box back: %s)"):format(
    host.hits(), tostring(score), tostring(rawequal(back, score))))
end

return game
