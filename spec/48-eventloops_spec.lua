--- Real event loops driving the library through futures.fd(): luv
-- (lua-luv) and cqueues (lua-cqueues), in this process. Each is skipped
-- (pending, with the package to install) when its module is missing.
local futures = require "concurrent.futures"
local concurrent = require "concurrent"
local helpers = require "helpers"

local monotonic = concurrent.monotonic
local has_luv, uv = pcall(require, "luv")
local has_cqueues, cqueues = pcall(require, "cqueues")

local function sleeper(s, v)
  require("concurrent").sleep(s)
  return v
end

describe("luv: uv.new_poll(futures.fd()) drives futures.poll", function()
  if not has_luv then
    it("needs lua-luv", function() pending("lua-luv is not installed (apt-get install lua-luv)") end)
    return
  end

  -- uv.run() until nothing keeps the loop alive; a hung loop stops after
  -- 30 s (the test then fails, not hangs).
  local function run_loop()
    local guard = uv.new_timer()
    guard:start(30000, 0, function() uv.stop() end)
    guard:unref()
    uv.run()
    guard:close()
  end

  -- Watch the fd until stop() is called; returns the handle and a counter.
  local function watch_fd()
    local stats = {wakeups = 0, ran = 0}
    local w = uv.new_poll(futures.fd())
    w:start("r", function()
      stats.wakeups = stats.wakeups + 1
      stats.ran = stats.ran + futures.poll()
    end)
    return w, stats
  end

  it("a spawned coroutine awaits pool results while a luv timer keeps ticking on time", function()
    if not helpers.YIELD_ACROSS_C then return pending(helpers.NO_YIELD_ACROSS_C) end
    local ex <close> = helpers.pool(2)
    local watcher, stats = watch_fd()
    local ticks, worst_gap, last = 0, 0, uv.hrtime()
    local ticker = uv.new_timer()
    ticker:start(10, 10, function()
      local t = uv.hrtime()
      worst_gap = math.max(worst_gap, (t - last) / 1e9)
      last = t
      ticks = ticks + 1
    end)
    local order = {}
    local ticks_at_start
    local job = futures.spawn(function()
      ticks_at_start = ticks
      local fs = {ex:submit(sleeper, 0.3, "c"), ex:submit(sleeper, 0.1, "a")}
      for f in futures.as_completed(fs) do order[#order + 1] = f:result() end
      order[#order + 1] = ex:submit(sleeper, 0.1, "d"):result()
      ticker:stop()
      watcher:stop()
      return ticks - ticks_at_start
    end)
    assert.is_false(job:done())
    run_loop()
    ticker:close()
    watcher:close()
    uv.run("nowait")
    assert.is_true(job:done(), "the luv loop ended before the coroutine")
    assert.same({"a", "c", "d"}, order)
    local ticked = job:result()
    -- ~0.4 s of waiting at one tick per 10 ms: a blocked loop ticks ~0
    assert.is_true(ticked >= 10, "the timer ticked only " .. ticked .. " times")
    assert.is_true(worst_gap < 0.2, ("a gap of %.3f s between ticks"):format(worst_gap))
    assert.is_true(stats.wakeups >= 2 and stats.ran >= 2)
  end)

  it("a sleep inside spawn wakes the luv loop through the fd, on time", function()
    local watcher = watch_fd()
    local t0 = monotonic()
    local job = futures.spawn(function()
      concurrent.sleep(0.15)
      watcher:stop()
      return monotonic() - t0
    end)
    run_loop()
    watcher:close()
    uv.run("nowait")
    assert.is_true(job:done())
    local slept = job:result()
    assert.is_true(slept >= 0.15 * helpers.EARLY and slept < 0.15 + helpers.LATE,
      ("woke after %.3f s"):format(slept))
  end)

  -- The fd is raised only once what it announces is queued: a worker
  -- preempted between the two (busy CPUs: the burners below) once left
  -- the fd readable over an inbox that looked empty, and the poll handler
  -- ran empty-handed hundreds of times, a busy spin.
  it("every wake of the fd finds work to run, with the CPUs busy", function()
    local ex <close> = helpers.pool(2)
    local burners <close> = helpers.pool(2)
    local stop = require("concurrent.thread").Event()
    local stopper <close> = setmetatable({}, {__close = function() stop:set() end})
    for _ = 1, 2 do
      burners:submit(function(ev)
        local x = 0
        while not ev:is_set() do for i = 1, 10000 do x = x + i end end
        return x
      end, stop)
    end
    local BATCHES, PER = 200, 10
    local called, batches, wakeups, empty = 0, 0, 0, 0
    local function count() called = called + 1 end
    local watcher = uv.new_poll(futures.fd())
    local function next_batches()           -- a callback of a done future runs at once
      while called == batches * PER do
        if batches == BATCHES then return watcher:stop() end
        batches = batches + 1
        for i = 1, PER do ex:submit(math.abs, i):add_done_callback(count) end
      end
    end
    watcher:start("r", function()
      wakeups = wakeups + 1
      if futures.poll() == 0 then empty = empty + 1 end
      next_batches()
    end)
    next_batches()
    run_loop()
    watcher:close()
    uv.run("nowait")
    assert.are.equal(BATCHES * PER, called)
    assert.is_true(wakeups >= BATCHES / 4, "woke " .. wakeups .. " times")
    assert.are.equal(0, empty, ("%d of %d wakes found nothing to run"):format(empty, wakeups))
  end)
end)

describe("cqueues: a cqueues coroutine waits on futures.fd()", function()
  if not has_cqueues then
    it("needs lua-cqueues", function() pending("lua-cqueues is not installed (apt-get install lua-cqueues)") end)
    return
  end

  it("sleeps in cqueues.poll until the library has work, while other cqueues coroutines run", function()
    local ex <close> = helpers.pool(2)
    local library = {pollfd = futures.fd(), events = "r"}
    futures.poll()
    local job = futures.spawn(function()
      local a, b = ex:submit(sleeper, 0.2, 20), ex:submit(sleeper, 0.1, 1)
      concurrent.sleep(0.05)
      return a:result() + b:result()
    end)
    local cq = cqueues.new()
    local wakeups, ran, ticks = 0, 0, 0
    cq:wrap(function()
      while not job:done() do
        cqueues.poll(library)
        wakeups = wakeups + 1
        ran = ran + futures.poll()
      end
    end)
    cq:wrap(function()
      while not job:done() do
        ticks = ticks + 1
        cqueues.sleep(0.01)
      end
    end)
    local t0 = monotonic()
    local ok, err = cq:loop(30)
    assert.is_true(ok, tostring(err))
    assert.is_true(job:done(), "cqueues' loop ended before the coroutine")
    assert.equal(21, job:result())
    assert.is_true(monotonic() - t0 < 0.2 + helpers.LATE)
    -- ~0.2 s of waiting at one tick per 10 ms (fewer under a sanitizer):
    -- a pump that blocked the loop would let it tick once or twice
    assert.is_true(ticks >= 4, "the other coroutine ticked only " .. ticks .. " times")
    -- The pump slept on the fd: a few wakeups, not one per tick.
    assert.is_true(wakeups >= 1 and wakeups < ticks, ("%d wakeups, %d ticks"):format(wakeups, ticks))
    assert.is_true(ran >= 1)
  end)
end)
