--[[
spawn.lua -- the benchmark rows of "never blocking a host's loop"
(futures.spawn, futures.fd, futures.poll budgets), run by ours.lua:

  wake    wake-up latency: a task finishes in a worker -> the luv loop's
          poll handle on futures.fd() has run futures.poll and the done-
          callback; the median over 200 tasks (each run), us. Needs luv.
  frame   a 60 fps frame loop with 1,000 tasks in flight (1,000 spawned
          coroutines, each submitting a small task and awaiting it, again
          and again): futures.poll{max_seconds = 0.002} once a frame, the
          rest of the frame idle (poll{idle =, max_callbacks = 0}); the
          worst frame time (the poll and nothing else) over 600 frames, ms.
          Each run then times the same frames spending the budget in plain
          Lua work, with no library and no worker (floor_worst_ms: what
          the machine itself gives a loop that keeps to its budget).
  Mspawn  in fresh processes: 10,000 coroutines suspended, each holding
          its own pending future: made by spawn and awaiting it, against
          plain coroutines suspended in coroutine.yield(); the RSS growth
          of the first beyond the second, bytes a coroutine.

As a script it is the child of Mspawn:
  lua5.4 bench/spawn.lua --_mem-child spawn|plain N  -> "<rss growth MB>"
--]]

local mode, kind, count = ...

local function rss_mb()
  local fh = assert(io.open("/proc/self/status"))
  for line in fh:lines() do
    local kb = line:match("^VmRSS:%s+(%d+)")
    if kb then fh:close() return tonumber(kb) / 1024 end
  end
  fh:close()
  error("no VmRSS in /proc/self/status")
end

if mode == "--_mem-child" then
  package.path = (os.getenv("CONCURRENT_LPATH") or "lua/?.lua;lua/?/init.lua") .. ";" .. package.path
  package.cpath = (os.getenv("CONCURRENT_CPATH") or "build/?.so") .. ";" .. package.cpath
  local futures = require "concurrent.futures"
  local n = math.floor(tonumber(count))   -- 5.1 has no math.tointeger
  -- Warm the allocator and the library (a few of each kind, then freed).
  local warm = {}
  for i = 1, 100 do
    local f = futures.Future()
    warm[i] = kind == "spawn" and futures.spawn(function() return f:result() end)
              or coroutine.create(function() return f, coroutine.yield() end)
    if kind ~= "spawn" then coroutine.resume(warm[i]) end
    f:set_result(i)
  end
  futures.poll()
  warm = nil
  collectgarbage()
  collectgarbage()
  local before = rss_mb()
  local held, fs = {}, {}
  for i = 1, n do
    local f = futures.Future()
    fs[i] = f
    if kind == "spawn" then
      held[i] = futures.spawn(function() return f:result() end)
    else
      local co = coroutine.create(function() return f, coroutine.yield() end)
      coroutine.resume(co)
      held[i] = co
    end
  end
  collectgarbage()
  collectgarbage()
  local after = rss_mb()
  print(string.format("%.6f", after - before))
  return
end

---------------------------------------------------------------------------

return function(env)
  local futures, now, emit, median = env.futures, env.now, env.emit, env.median
  local LUA = env.LUA
  local rows = {}

  local function stamp_after(d)
    local c = require "concurrent"
    c.sleep(d)
    return c.monotonic()
  end

  function rows.wake(S, R)
    local ok, uv = pcall(require, "luv")
    if not ok then error("luv is not installed (apt-get install lua-luv)") end
    local n = S.wake_n
    local ex = futures.ThreadPoolExecutor(1)   -- shut down below (no <close> before 5.4)
    for _ = 1, 20 do ex:submit(stamp_after, 0):result() end
    local watcher = uv.new_poll(futures.fd())
    watcher:start("r", function() futures.poll() end)
    local runs, all = {}, {}
    for _ = 1, R do
      local lat, i = {}, 0
      local function next_task()
        i = i + 1
        if i > n then uv.stop() return end
        -- the task sleeps 1 ms first, so it finishes while the loop waits
        ex:submit(stamp_after, 0.001):add_done_callback(function(f)
          lat[#lat + 1] = (now() - f:result()) * 1e6
          next_task()
        end)
      end
      next_task()
      uv.run()
      runs[#runs + 1] = median(lat)
      for _, v in ipairs(lat) do all[#all + 1] = v end
    end
    watcher:stop()
    watcher:close()
    uv.run("nowait")
    ex:shutdown()
    table.sort(all)
    emit("wake", runs, "us", {tasks_per_run = n, p90_us = all[math.ceil(#all * 0.9)],
      max_us = all[#all], loop = "luv uv.new_poll(futures.fd())"})
  end

  local function small_task(x)
    local s = 0
    for k = 1, 100 do s = s + k end
    return x + s
  end

  -- 60 frames a second: each frame idles in poll{idle =} until its start,
  -- then runs work(); the frames' times (work alone), sorted, in ms.
  local function run_frames(nframes, work)
    local FRAME, times = 1 / 60, {}
    local target = now()
    for frame = 1, nframes do
      target = target + FRAME
      local left = target - now()
      if left > 0 then futures.poll{idle = left, max_callbacks = 0} end
      local t0 = now()
      work()
      times[frame] = (now() - t0) * 1e3
    end
    table.sort(times)
    return times
  end

  local function p99(times) return times[math.ceil(#times * 0.99)] end

  -- The frame loop's floor: the same frames, each spending the budget in
  -- plain Lua work (small tables, as the coroutines make) with no library
  -- in it and no other thread: the worst frame this machine gives a loop
  -- that does nothing but keep to its budget. On a VM it is often far
  -- above the budget (the host takes the vCPU away: the thread's own CPU
  -- clock runs on meanwhile, so that time looks like work).
  local function frame_floor(nframes, budget)
    local sink = 0
    local times = run_frames(nframes, function()
      local t0 = now()
      repeat
        local t = {}
        for i = 1, 40 do t[i] = i end
        sink = sink + #t
      until now() - t0 >= budget
    end)
    return times[#times], p99(times), sink
  end

  function rows.frame(S, R)
    local inflight, nframes, budget = S.frame_inflight, S.frames, 0.002
    local floor_worsts, floor_p99s = {}, {}
    local ex = futures.ThreadPoolExecutor(2)   -- shut down below (no <close> before 5.4)
    for _ = 1, 100 do ex:submit(small_task, 1):result() end
    local worsts, medians, p99s, ran_per_frame, completed = {}, {}, {}, {}, 0
    for _ = 1, math.min(R, 3) do
      local stop = false
      local cos = {}
      for i = 1, inflight do
        cos[i] = futures.spawn(function()
          local done = 0
          while not stop do
            ex:submit(small_task, i):result()
            done = done + 1
          end
          return done
        end)
      end
      local ran = 0
      local times = run_frames(nframes, function()
        ran = ran + futures.poll{max_seconds = budget}
      end)
      stop = true
      for i = 1, inflight do completed = completed + cos[i]:result() end
      floor_worsts[#floor_worsts + 1], floor_p99s[#floor_p99s + 1] =
        frame_floor(nframes, budget)
      worsts[#worsts + 1] = times[#times]
      medians[#medians + 1] = times[math.floor((#times + 1) / 2)]
      p99s[#p99s + 1] = p99(times)
      ran_per_frame[#ran_per_frame + 1] = ran / nframes
    end
    ex:shutdown()
    emit("frame", worsts, "ms", {frames = nframes, tasks_in_flight = inflight,
      max_seconds = budget, median_frame_ms = median(medians), p99_frame_ms = median(p99s),
      floor_worst_ms = median(floor_worsts), floor_p99_ms = median(floor_p99s),
      resumes_per_frame = median(ran_per_frame), tasks_completed = completed, workers = 2})
  end

  function rows.Mspawn(S, R)
    local n = S.mspawn_n
    local script = env.BENCH_DIR .. "/spawn.lua"
    local function child(kind)
      local p = assert(io.popen(("%s %s --_mem-child %s %d 2>&1"):format(LUA, script, kind, n)))
      local out = p:read("*a")
      local ok = p:close()
      local mb = tonumber(out:match("([%d.%-]+)%s*$"))
      if not ok or not mb then error("Mspawn child failed: " .. out) end
      return mb
    end
    local runs, plain, spawned = {}, {}, {}
    for _ = 1, R do
      local p, s = child("plain"), child("spawn")
      plain[#plain + 1], spawned[#spawned + 1] = p, s
      runs[#runs + 1] = math.floor((s - p) * 1024 * 1024 / n + 0.5)
    end
    emit("Mspawn", runs, "bytes", {n = n, plain_coroutines_bytes_each =
      math.floor(median(plain) * 1024 * 1024 / n + 0.5), spawned_bytes_each =
      math.floor(median(spawned) * 1024 * 1024 / n + 0.5),
      what = "RSS growth, spawned coroutine awaiting its future minus a plain coroutine in yield holding one"})
  end

  return rows
end
