--- Never blocking a host's loop: futures.spawn (coroutines whose waits
-- suspend them), futures.poll with budgets, futures.fd.
local futures = require "concurrent.futures"
local concurrent = require "concurrent"
local thread = require "concurrent.thread"
local process = require "concurrent.process"
local helpers = require "helpers"

local monotonic = concurrent.monotonic

local run_script = helpers.run_script

-- A frame loop: poll once a frame until every future is done; returns the
-- number of frames and the longest frame (without the poll's own time it
-- is the sleep: a frame that blocks shows here).
local function frame_loop(fs, frame, limit)
  frame, limit = frame or 0.002, limit or 30
  local frames, worst, t0 = 0, 0, monotonic()
  local function all_done()
    for i = 1, #fs do if not fs[i]:done() then return false end end
    return true
  end
  while not all_done() do
    local s = monotonic()
    futures.poll()
    concurrent.sleep(frame)
    frames = frames + 1
    worst = math.max(worst, monotonic() - s)
    assert(monotonic() - t0 < limit, "the frame loop never ended")
  end
  return frames, worst
end

local function sleeper(s, v)
  require("concurrent").sleep(s)
  return v
end

describe("futures.spawn", function()
  it("runs fn at once until it first waits, and returns a Future of its results", function()
    local ran = false
    local f = futures.spawn(function(a, b)
      ran = true
      return a + b, "x"
    end, 2, 3)
    assert.is_true(ran)
    assert.is_true(f:done())
    local a, b = f:result()
    assert.equal(5, a)
    assert.equal("x", b)
  end)

  it("suspends on a slow task while the main loop keeps counting frames", function()
    local ex <close> = helpers.pool(2)
    local before, after = false, false
    local frames_while_waiting
    local frames = 0
    local f = futures.spawn(function()
      before = true
      local v = ex:submit(sleeper, 0.3, 42):result()
      frames_while_waiting = frames
      after = true
      return v + 1
    end)
    assert.is_true(before)
    assert.is_false(after)          -- spawn returned while it waits
    assert.is_false(f:done())
    local t0 = monotonic()
    while not f:done() do
      frames = frames + 1
      futures.poll()
      concurrent.sleep(0.005)
      assert(monotonic() - t0 < 30)
    end
    assert.equal(43, f:result())
    assert.is_true(frames_while_waiting >= 10,
      "only " .. tostring(frames_while_waiting) .. " frames while it waited")
  end)

  it("f:exception() suspends too, and returns the task's error", function()
    local ex <close> = helpers.pool(1)
    local f = futures.spawn(function()
      local g = ex:submit(function() require("concurrent").sleep(0.1) error("bad task", 0) end)
      return g:exception()
    end)
    assert.is_false(f:done())
    frame_loop({f})
    assert.equal("bad task", f:result())
  end)

  it("as_completed inside spawn yields each future in finishing order", function()
    if not helpers.YIELD_ACROSS_C then return pending(helpers.NO_YIELD_ACROSS_C) end
    local ex <close> = helpers.pool(3)
    local order = {}
    local f = futures.spawn(function()
      local fs = {ex:submit(sleeper, 0.45, "slow"), ex:submit(sleeper, 0.05, "fast"),
                  ex:submit(sleeper, 0.25, "middle")}
      for g in futures.as_completed(fs) do order[#order + 1] = g:result() end
      return #order
    end)
    assert.is_false(f:done())
    local frames = frame_loop({f})
    assert.equal(3, f:result())
    assert.same({"fast", "middle", "slow"}, order)
    assert.is_true(frames > 10)
  end)

  it("futures.wait and the map iterator suspend inside spawn", function()
    if not helpers.YIELD_ACROSS_C then return pending(helpers.NO_YIELD_ACROSS_C) end
    local ex <close> = helpers.pool(2)
    local f = futures.spawn(function()
      local a, b = ex:submit(sleeper, 0.05, 1), ex:submit(sleeper, 0.6, 2)
      local done, not_done = futures.wait({a, b}, nil, futures.FIRST_COMPLETED)
      local out = {#done, #not_done}
      for _, v in ex:map(function(x) require("concurrent").sleep(0.02) return x * 10 end, {1, 2, 3}) do
        out[#out + 1] = v
      end
      b:cancel()
      return out
    end)
    assert.is_false(f:done())
    frame_loop({f})
    assert.same({1, 1, 10, 20, 30}, f:result())
  end)

  it("a timeout inside spawn raises TimeoutError in the coroutine, on time", function()
    if not helpers.YIELD_ACROSS_C then return pending(helpers.NO_YIELD_ACROSS_C) end
    local ex <close> = helpers.pool(1)
    local f = futures.spawn(function()
      local g = ex:submit(sleeper, 0.5)
      local t0 = monotonic()
      local ok, err = pcall(g.result, g, 0.1)
      return ok, futures.iserror(err, futures.TimeoutError), monotonic() - t0
    end)
    assert.is_false(f:done())
    frame_loop({f})
    local ok, is_timeout, waited = f:result()
    assert.is_false(ok)
    assert.is_true(is_timeout)
    assert.is_true(waited >= 0.1 * helpers.EARLY and waited < 0.1 + helpers.LATE)
  end)

  it("a timeout of as_completed inside spawn raises TimeoutError there", function()
    local ex <close> = helpers.pool(1)
    local f = futures.spawn(function()
      local ok, err = pcall(function()
        for _ in futures.as_completed({ex:submit(sleeper, 0.5)}, 0.05) do end
      end)
      return ok, futures.iserror(err, futures.TimeoutError)
    end)
    frame_loop({f})
    local ok, is_timeout = f:result()
    assert.is_false(ok)
    assert.is_true(is_timeout)
  end)

  it("concurrent.sleep inside spawn does not block the main loop", function()
    local f = futures.spawn(function()
      local t0 = monotonic()
      concurrent.sleep(0.3)
      return monotonic() - t0
    end)
    assert.is_false(f:done())
    local frames, worst = frame_loop({f}, 0.005)
    local slept = f:result()
    assert.is_true(slept >= 0.3 * helpers.EARLY, "slept only " .. slept)
    assert.is_true(frames >= 10, "only " .. frames .. " frames")
    assert.is_true(worst < 0.15, ("a frame took %.3f s"):format(worst))
  end)

  it("10,000 spawned coroutines each awaiting a task all finish, none resumed twice", function()
    local ex <close> = helpers.pool(2)
    local N = 10000
    local after = {}
    local fs = {}
    local gate = futures.Future()
    for i = 1, N do
      fs[i] = futures.spawn(function()
        local v = ex:submit(function(g, x) g:result() return x end, gate, i):result()
        after[i] = (after[i] or 0) + 1
        return v
      end)
    end
    gate:set_result(true)           -- resumes run here and in poll
    frame_loop(fs, 0.001, 120)
    concurrent.sleep(0.05)
    assert.equal(0, futures.poll())  -- no resume left over
    for i = 1, N do
      assert.equal(i, fs[i]:result())
      assert.equal(1, after[i])
    end
  end)

  it("a spawned coroutine awaits another's future, and spawns from inside spawn", function()
    local ex <close> = helpers.pool(1)
    local inner
    local outer = futures.spawn(function()
      inner = futures.spawn(function() return ex:submit(sleeper, 0.05, 7):result() end)
      return inner:result() * 2
    end)
    assert.is_false(outer:done())
    frame_loop({outer})
    assert.equal(7, inner:result())
    assert.equal(14, outer:result())
  end)

  it("an error in the coroutine fails its future with a traceback; the others still run", function()
    local ex <close> = helpers.pool(1)
    local bad = futures.spawn(function()
      ex:submit(sleeper, 0.02):result()
      error("boom in spawn", 0)
    end)
    local good = futures.spawn(function() return ex:submit(sleeper, 0.05, "fine"):result() end)
    frame_loop({bad, good})
    assert.equal("boom in spawn", bad:exception())
    assert.truthy(bad:traceback():find("46%-spawn_spec"))
    assert.equal("fine", good:result())
  end)

  it("the main chunk blocking on a spawned coroutine runs it meanwhile (no deadlock)", function()
    local ex <close> = helpers.pool(1)
    local t0 = monotonic()
    local f = futures.spawn(function()
      concurrent.sleep(0.05)
      return ex:submit(sleeper, 0.05, 5):result()
    end)
    assert.equal(5, f:result(10))             -- result() runs the coroutine
    assert.is_true(monotonic() - t0 < 0.1 + helpers.LATE)
    local g = futures.spawn(function() concurrent.sleep(0.05) return 6 end)
    for done in futures.as_completed({g}, 10) do assert.equal(6, done:result()) end
    local h = futures.spawn(function() concurrent.sleep(0.02) return 7 end)
    concurrent.sleep(0.1)                     -- a sleep runs it too
    assert.is_true(h:done())
    local slow = futures.spawn(function() concurrent.sleep(30) end)
    t0 = monotonic()
    local err = helpers.error_of(slow.result, slow, 0.1)   -- timeouts hold
    assert.is_true(futures.iserror(err, futures.TimeoutError))
    assert.is_true(monotonic() - t0 >= 0.1 * helpers.EARLY)
  end)

  it("outside spawn (a plain coroutine) the waits block as before", function()
    local ex <close> = helpers.pool(1)
    local co = coroutine.wrap(function()
      return ex:submit(sleeper, 0.05, "blocked"):result(), concurrent.sleep(0)
    end)
    assert.equal("blocked", co())
  end)

  it("a coroutine made inside spawn blocks too (only spawn's own coroutine suspends)", function()
    local ex <close> = helpers.pool(1)
    local f = futures.spawn(function()
      local inner = coroutine.wrap(function() return ex:submit(sleeper, 0.05, 3):result() end)
      return inner()
    end)
    assert.is_true(f:done())
    assert.equal(3, f:result())
  end)

  it("results that cannot cross fail the future with the reason", function()
    local f = futures.spawn(function() return coroutine.create(function() end) end)
    local err = f:exception()
    assert.truthy(tostring(err):find("results%[1%]"), tostring(err))
  end)

  it("a plain coroutine.yield() inside spawn fails its future with a clear error", function()
    local f = futures.spawn(function() coroutine.yield(1, 2) return "never" end)
    assert.is_true(f:done())
    local err = f:exception()
    assert.truthy(err:find("coroutine.yield() in a coroutine made by futures.spawn", 1, true))
    assert.truthy(f:traceback():find("46%-spawn_spec"))
  end)

  it("refuses a non-callable with a clear error", function()
    local err = helpers.error_of(futures.spawn, 42)
    assert.truthy(err:find("bad argument #1 to '.-spawn' %(function expected, got number%)"), err)
    assert.truthy(helpers.error_of(futures.spawn):find("function expected, got no value"))
    local callable = setmetatable({}, {__call = function(_, x) return x end})
    assert.equal(5, futures.spawn(callable, 5):result())
  end)

  it("spawns inside a forked Process use the child's own inbox", function()
    local ex <close> = helpers.pool(1)
    local pending = futures.spawn(function() return ex:submit(sleeper, 0.3, 1):result() end)
    local p = process.Process{target = function()
      local fu = require "concurrent.futures"
      local c = require "concurrent"
      local f = fu.spawn(function() c.sleep(0.05) return 5 end)
      local t0 = c.monotonic()
      while not f:done() and c.monotonic() - t0 < 10 do fu.poll() c.sleep(0.005) end
      os.exit(f:done() and f:result() == 5 and 0 or 3)
    end}
    p:start()
    p:join()
    assert.equal(0, p.exitcode)
    frame_loop({pending})
    assert.equal(1, pending:result())
  end)
end)

describe("futures.poll budgets", function()
  it("poll{max_callbacks = 10} with 100 callbacks queued returns 10, true", function()
    local ran = 0
    local fs = {}
    for i = 1, 100 do
      fs[i] = futures.Future()
      fs[i]:add_done_callback(function() ran = ran + 1 end)
    end
    local setter = thread.Thread{target = function(list)
      for i = 1, #list do list[i]:set_result(i) end
    end, args = {fs}}
    setter:start()
    while setter:is_alive() do end  -- join() would run the callbacks
    local n, more = futures.poll{max_callbacks = 10}
    assert.equal(10, n)
    assert.is_true(more)
    assert.equal(10, ran)
    n, more = futures.poll()
    assert.equal(90, n)
    assert.is_false(more)
    assert.equal(100, ran)
    setter:join()
  end)

  it("poll{max_seconds = s} stops once the time is spent, the rest keeps its order", function()
    local order = {}
    local fs = {}
    for i = 1, 50 do
      fs[i] = futures.Future()
      fs[i]:add_done_callback(function() order[#order + 1] = i concurrent.sleep(0.01) end)
    end
    local setter = thread.Thread{target = function(list)
      for i = 1, #list do list[i]:set_result(i) end
    end, args = {fs}}
    setter:start()
    while setter:is_alive() do end
    local t0 = monotonic()
    local n, more = futures.poll{max_seconds = 0.03}
    local took = monotonic() - t0
    assert.is_true(n >= 1 and n < 50, "ran " .. n)
    assert.is_true(more)
    assert.is_true(took < 0.03 + 0.5, ("took %.3f s"):format(took))
    local m, more2 = futures.poll()
    assert.equal(50, n + m)
    assert.is_false(more2)
    for i = 1, 50 do assert.equal(i, order[i]) end
    setter:join()
  end)

  it("poll{idle = s, max_callbacks = 0} sleeps s and runs nothing; the queue waits for the next poll", function()
    local ran = 0
    local f = futures.Future()
    f:add_done_callback(function() ran = ran + 1 end)
    local setter = thread.Thread{target = function(g) g:set_result(1) end, args = {f}}
    setter:start()
    while setter:is_alive() do end
    local t0 = monotonic()
    local n, more = futures.poll{idle = 0.1, max_callbacks = 0}
    local took = monotonic() - t0
    assert.equal(0, n)
    assert.is_true(more)
    assert.equal(0, ran)
    assert.is_true(took >= 0.1 * helpers.EARLY and took < 0.1 + helpers.LATE)
    assert.equal(1, futures.poll{max_callbacks = 1})
    assert.equal(1, ran)
    setter:join()
  end)

  it("resumes of spawned coroutines count against the budget, blocking calls in them resume no others", function()
    local ex <close> = helpers.pool(1)
    local N = 30
    local fs, after = {}, 0
    for i = 1, N do
      fs[i] = futures.spawn(function()
        concurrent.sleep(0)
        after = after + 1
        ex:submit(function() end):result(5)   -- runs the inbox when outside spawn
        return i
      end)
    end
    local n, more = futures.poll{max_callbacks = 7}
    assert.equal(7, n)
    assert.equal(7, after)
    assert.is_true(more)
    frame_loop(fs)
    assert.equal(N, after)
    for i = 1, N do assert.equal(i, fs[i]:result()) end
  end)

  it("refuses a bad budget table, naming the option", function()
    local function err_of(...) return helpers.error_of(futures.poll, ...) end
    assert.truthy(err_of({max_callbacks = -1}):find("max_callbacks must be a non-negative integer, got -1", 1, true))
    assert.truthy(err_of({max_callbacks = 1.5}):find("max_callbacks must be a non-negative integer", 1, true))
    assert.truthy(err_of({idle = -0.5}):find("idle must be a non-negative number of seconds, got -0.5", 1, true))
    assert.truthy(err_of({max_seconds = -1}):find("max_seconds must be a non-negative number, got -1", 1, true))
    assert.truthy(err_of({max_seconds = "x"}):find("max_seconds must be a non-negative number", 1, true))
    assert.truthy(err_of({max_frames = 3}):find("unknown option 'max_frames'", 1, true))
    assert.truthy(err_of(5):find("bad argument #1 to '.-poll' %(table or nil expected, got number%)"))
  end)

  it("a callback error is reported and the other callbacks and coroutines still run", function()
    local out, err = run_script([[
      local futures = require "concurrent.futures"
      local concurrent = require "concurrent"
      local ex = futures.ThreadPoolExecutor(1)   -- no <close>: any Lua
      local f = ex:submit(function() require("concurrent").sleep(0.05) return 1 end)
      local ran = 0
      f:add_done_callback(function() error("callback boom") end)
      f:add_done_callback(function() ran = ran + 1 end)
      local bad = futures.spawn(function() f:result() error("coroutine boom", 0) end)
      local good = futures.spawn(function() return f:result() + 1 end)
      while not (bad:done() and good:done() and ran == 1) do
        futures.poll() concurrent.sleep(0.002)
      end
      print(ran, good:result(), bad:exception())
      ex:shutdown()
    ]])
    assert.equal("1\t2\tcoroutine boom\n", out)
    assert.truthy(err:find("exception calling callback for future: .-callback boom"), err)
  end)
end)

describe("futures.poll budgets and the collector", function()
  local function busy(seconds)
    local t = monotonic()
    while monotonic() - t < seconds do end
  end

  it("poll{max_seconds = 0.002} stops within a margin with 1,000 coroutines ready", function()
    local N, resumed = 1000, 0
    local cos = {}
    for i = 1, N do
      cos[i] = futures.spawn(function()
        concurrent.sleep(0.001)
        busy(0.0002)                  -- 0.2 ms of work a resume
        resumed = resumed + 1
      end)
    end
    busy(0.01)                        -- every sleep is due
    futures.poll{max_callbacks = 0}   -- due timers queue their coroutines
    local t0 = monotonic()
    local ran, more = futures.poll{max_seconds = 0.002}
    local took = monotonic() - t0
    assert.is_true(ran >= 1 and ran < N, "ran " .. ran)
    assert.is_true(more)
    assert.equal(ran, resumed)
    assert.is_true(took < 0.002 + 0.0002 + 0.1, ("the poll took %.1f ms"):format(took * 1e3))
    local deadline = monotonic() + 30
    while resumed < N do
      assert(monotonic() < deadline, "the coroutines never all ran")
      futures.poll()
    end
    for i = 1, N do assert.is_true(cos[i]:done()) end
  end)

  it("runs the items of a timed poll with the collector stopped, and only those", function()
    if not helpers.GC_ISRUNNING then return pending(helpers.NO_GC_ISRUNNING) end
    local seen = {}
    local co = futures.spawn(function()
      concurrent.sleep(0.001)
      seen[#seen + 1] = collectgarbage("isrunning")
    end)
    busy(0.005)
    futures.poll{max_seconds = 1}
    assert.same({false}, seen)
    assert.is_true(collectgarbage("isrunning"))
    assert.is_true(co:done())
    local co2 = futures.spawn(function()
      concurrent.sleep(0.001)
      seen[#seen + 1] = collectgarbage("isrunning")
    end)
    busy(0.005)
    futures.poll()                    -- no time budget: the collector runs
    assert.same({false, true}, seen)
    assert.is_true(co2:done())
  end)

  it("pays the collector work owed by timed polls in poll{idle =}", function()
    if not helpers.GC_ISRUNNING then return pending(helpers.NO_GC_ISRUNNING) end
    local stop = false
    local co = futures.spawn(function()
      while not stop do
        local t = {}
        for k = 1, 2000 do t[k] = {k} end
        concurrent.sleep(0)
      end
    end)
    -- The loops allocate nothing but in the items (one table each for
    -- the options): an allocation out of them would let the collector run.
    local idle, timed = {idle = 0.05, max_callbacks = 0}, {max_seconds = 0.05}
    for _ = 1, 5 do futures.poll(idle) end   -- pay what earlier specs owe
    for _ = 1, 30 do futures.poll(timed) end   -- ~4.5 MB, not collected
    local before = collectgarbage("count")
    for _ = 1, 10 do futures.poll(idle) end
    local after = collectgarbage("count")
    stop = true
    busy(0.002)
    futures.poll()
    assert.is_true(co:done())
    assert.is_true(after < before - 1024,
      ("%.1f MB before poll{idle}, %.1f MB after"):format(before / 1024, after / 1024))
  end)

  it("keeps memory bounded when a host only ever makes timed polls", function()
    -- Each resume leaves ~150 KB of garbage, 400 polls ~60 MB: a collector
    -- stopped for good would keep it all.
    local stop = false
    local cos = {}
    for i = 1, 4 do
      cos[i] = futures.spawn(function()
        while not stop do
          local t = {}
          for k = 1, 2000 do t[k] = {k} end
          concurrent.sleep(0)
        end
      end)
    end
    collectgarbage()
    local base = collectgarbage("count")
    local peak, timed = base, {max_seconds = 0.05}   -- nothing allocated out of the items
    for _ = 1, 400 do
      futures.poll(timed)
      local kb = collectgarbage("count")
      if kb > peak then peak = kb end
    end
    stop = true
    busy(0.002)
    futures.poll()
    for i = 1, 4 do assert.is_true(cos[i]:done()) end
    assert.is_true(peak - base < 40 * 1024, ("grew by %.1f MB"):format((peak - base) / 1024))
  end)
end)

describe("futures.fd", function()
  local has_luv, uv = pcall(require, "luv")

  -- Is fd readable now? (luv's poll handle, one loop turn without waiting)
  local function readable(fd)
    local hit = false
    local p = uv.new_poll(fd)
    p:start("r", function() hit = true end)
    uv.run("nowait")
    p:stop()
    p:close()
    uv.run("nowait")
    return hit
  end

  -- The readability checks need luv: false (the test pending) without it.
  local function luv_here()
    if not has_luv then
      pending("lua-luv is not installed (apt-get install lua-luv): no readability check")
    end
    return has_luv
  end

  -- Wait (without polling: concurrent.sleep would) until fd is readable;
  -- returns the time it took.
  local function until_readable(fd)
    local t0 = monotonic()
    while not readable(fd) do
      assert(monotonic() - t0 < 10, "the fd never became readable")
      uv.sleep(5)
    end
    return monotonic() - t0
  end

  it("returns the same integer fd each time", function()
    local fd = futures.fd()
    assert.equal(math.floor(fd), fd)
    if helpers.HAS_INTEGERS then assert.equal("integer", math.type(fd)) end
    assert.is_true(fd >= 0)
    assert.equal(fd, futures.fd())
  end)

  it("is readable after a task finishes and not after poll() drained it", function()
    if not luv_here() then return end
    local ex <close> = helpers.pool(1)
    local fd = futures.fd()
    futures.poll()
    assert.is_false(readable(fd))
    local got
    local f = ex:submit(sleeper, 0.05, 9)
    f:add_done_callback(function(d) got = d:result() end)
    assert.is_false(readable(fd))
    until_readable(fd)
    assert.is_nil(got)                -- callbacks run in poll() only
    futures.poll()
    -- An item an earlier spec left (a late completion: the tsan suite saw
    -- one) may have made the fd readable first: then this task's callback
    -- makes it readable again (until_readable fails after 10 s if not).
    while got == nil do
      until_readable(fd)
      futures.poll()
    end
    assert.equal(9, got)
    assert.is_false(readable(fd))
  end)

  it("is readable when a spawned coroutine's sleep is due", function()
    if not luv_here() then return end
    local fd = futures.fd()
    futures.poll()
    local f = futures.spawn(function() concurrent.sleep(0.5) return "woke" end)
    assert.is_false(readable(fd))
    assert.is_true(until_readable(fd) >= 0.1 * helpers.EARLY)
    futures.poll()
    assert.equal("woke", f:result())
    assert.is_false(readable(fd))
  end)

  it("is not left readable by a blocking wait that ran spawned coroutines", function()
    if not luv_here() then return end
    local ex <close> = helpers.pool(1)
    local fd = futures.fd()
    local live = futures.spawn(function() concurrent.sleep(30) end)   -- keeps the state pumping
    assert.equal(3, ex:submit(sleeper, 0.05, 3):result())   -- waits on the fd, poked when done
    futures.poll()
    assert.is_false(readable(fd))
    assert.is_false(live:done())
  end)

  it("is not readable while another thread still runs the awaited future's callbacks", function()
    -- A worker finishes f and then runs 100,000 done-callbacks of its own
    -- state's (a long window in which f is done but not settled). The
    -- spawned coroutine awaiting f must be woken once, when f settles:
    -- woken earlier it finds f unsettled and waits again, and a host
    -- watching the fd wakes (and polls) for nothing over and over.
    if not luv_here() then return end
    local ex <close> = helpers.pool(1)
    local fd = futures.fd()
    futures.poll()
    local f = futures.Future()
    local job = futures.spawn(function() return f:result() + 1 end)
    local setter = ex:submit(function(fut, n)
      for _ = 1, n do fut:add_done_callback(function() end) end
      fut:set_result(41)
      return true
    end, f, 100000)
    local wakes, useless, t0 = 0, 0, monotonic()
    while not job:done() do
      assert(monotonic() - t0 < 30, "the spawned coroutine never ended")
      if readable(fd) then
        wakes = wakes + 1
        local ran, more = futures.poll()
        if not job:done() then useless = useless + 1 end
        if not more then assert.is_false(readable(fd)) end
        assert.is_true(ran >= 1)
      else
        uv.sleep(1)                   -- concurrent.sleep would poll
      end
    end
    assert.equal(42, job:result())
    assert.is_true(setter:result())
    assert.is_true(f:done())
    assert.equal(0, useless, ("%d of %d wakes resumed the coroutine for nothing"):format(useless, wakes))
    assert.is_false(readable(fd))
  end)

  it("raises a clear error when the fd cannot be made (no file descriptors left)", function()
    local out, err = run_script([[
      local futures = require "concurrent.futures"
      local held = {}
      while true do                       -- use up every descriptor
        local fh = io.open("/dev/null")
        if not fh then break end
        held[#held + 1] = fh
      end
      local ok1, e1 = pcall(futures.fd)
      local ok2, e2 = pcall(futures.fd)
      for _, fh in ipairs(held) do fh:close() end
      local ok3, fd = pcall(futures.fd)
      print(ok1, e1)
      print(ok2, e2)
      print(ok3, type(fd) == "number" and fd == math.floor(fd) and fd >= 0)
    ]], "ulimit -n 64; ")
    assert.equal("", err)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.truthy(lines[1]:find("^false\t.*futures%.fd: cannot make the file descriptor %(Too many open files%)"), lines[1])
    assert.truthy(lines[2]:find("^false\t.*futures%.fd: cannot make the file descriptor"), lines[2])
    assert.equal("true\ttrue", lines[3])
  end)
end)

describe("closing a state with spawned coroutines still suspended", function()
  it("in a thread: no leak, no crash, their futures end broken", function()
    local gate = futures.Future()
    local q = thread.Queue()
    local th = thread.Thread{target = function(g, out)
      local fu = require "concurrent.futures"
      local c = require "concurrent"
      local fs = {}
      for i = 1, 50 do
        fs[#fs + 1] = fu.spawn(function() return g:result() end)
        fs[#fs + 1] = fu.spawn(function() c.sleep(100) end)
        fs[#fs + 1] = fu.spawn(function()   -- no for: 5.1 cannot yield in its iterator
          local it = fu.as_completed({g})
          while it() do end
        end)
      end
      fu.fd()
      out:put(fs[1])
      out:put(fs[2])
    end, args = {gate, q}}
    th:start()
    th:join()
    gate:set_result(true)           -- wakes into a closed inbox: dropped
    concurrent.sleep(0.05)
    for _ = 1, 2 do
      local f = q:get()
      assert.is_true(f:done())
      local err = f:exception()
      assert.is_true(futures.iserror(err, futures.BrokenThreadPool))
      assert.truthy(tostring(err):find("the Lua state closed while the spawned coroutine was suspended", 1, true))
    end
  end)

  it("in a process's main state at exit (checked under make asan)", function()
    local out, err, status = run_script([[
      local futures = require "concurrent.futures"
      local concurrent = require "concurrent"
      local ex = futures.ThreadPoolExecutor(1)
      local gate = futures.Future()
      local fs = {}
      for i = 1, 100 do
        fs[#fs + 1] = futures.spawn(function() return gate:result() end)
        fs[#fs + 1] = futures.spawn(function() concurrent.sleep(100) end)
        fs[#fs + 1] = futures.spawn(function() return ex:submit(function() return 1 end):result(30) end)
        fs[#fs + 1] = futures.spawn(function() return futures.wait({gate}) end)
      end
      futures.fd()
      print(#fs)
    ]])
    assert.equal("", err)
    assert.equal(0, status)
    assert.equal("400\n", out)
  end)
end)
