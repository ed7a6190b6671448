--- Stopping work that is running: f:interrupt(), concurrent.interrupted(),
-- the stop hook, interruptible blocking calls, shutdown{interrupt=true},
-- Thread:interrupt(), ex:submit_with{timeout=, priority=, key=}, on thread
-- and process pools.
local concurrent = require "concurrent"
local futures = require "concurrent.futures"
local thread = require "concurrent.thread"
local helpers = require "helpers"

local LATE = 3.0    -- generous: the machine is loaded

-- Wait until pred() or fail after `limit` seconds.
local function eventually(pred, limit)
  local t0 = concurrent.monotonic()
  while not pred() do
    assert(concurrent.monotonic() - t0 < (limit or LATE), "timed out waiting")
    concurrent.sleep(0.002)
  end
end

-- A task that says it started (Event) and then runs `body`.
local function started_task(ex, ev, body, ...)
  return ex:submit(function(ev, body, ...)
    ev:set()
    return body(...)
  end, ev, body, ...)
end

local function busy() local x = 0 while true do x = x + 1 end end

-- LuaJIT runs no hook inside a compiled trace: a pure Lua loop that calls
-- nothing is not stopped there (docs/reference.md, Lua versions).
local NO_HOOK_IN_TRACES = "LuaJIT's compiled traces run no count hook: a pure Lua loop is not stopped (docs/reference.md, Lua versions)"
local function loops_stop()
  if helpers.JIT then pending(NO_HOOK_IN_TRACES) return false end
  return true
end

local function expect_interrupted(f)
  local err = helpers.error_of(f.result, f)
  assert.is_true(futures.iserror(err, futures.CancelledError))
  assert.matches("interrupted", tostring(err))
  assert.is_true(f:cancelled())
end

-- f:interrupt() (a future's or a spawned coroutine's) is accepted and f
-- ends interrupted in less than `limit` seconds; returns the time taken.
local function interrupt_within(f, limit, what)
  local t0 = concurrent.monotonic()
  assert.is_true(f:interrupt(), what)
  expect_interrupted(f)
  local dt = concurrent.monotonic() - t0
  assert.is_true(dt < limit, ("%s took %.3f s"):format(what or "the interrupt", dt))
  return dt
end

-- A task that set ev when it started and then blocks in a wait: once it
-- has had time to block, its interrupt ends it at once (0.5 s).
local function interrupt_blocked(f, ev, what)
  assert.is_true(ev:wait(LATE), what)
  concurrent.sleep(0.02)     -- let it block
  interrupt_within(f, 0.5, what)
end

describe("f:interrupt() on a thread pool", function()
  it("stops a busy pure-Lua loop and the worker runs the next task", function()
    if not loops_stop() then return end
    local ex <close> = futures.ThreadPoolExecutor(1)
    local ev = thread.Event()
    local f = started_task(ex, ev, busy)
    assert.is_true(ev:wait(LATE))
    interrupt_within(f, 1)
    assert.equal(42, ex:submit(function() return 42 end):result())
    assert.equal(1, ex:_thread_count())
  end)

  it("stops a loop that pcall keeps catching the interruption in", function()
    if not loops_stop() then return end
    local ex <close> = futures.ThreadPoolExecutor(1)
    for _, body in ipairs {
      function() while true do pcall(function() while true do end end) end end,
      function() while true do pcall(pcall, function() while true do end end) end end,
      function() pcall(function() while true do pcall(function() while true do end end) end end) end,
      function() while true do xpcall(function() while true do end end, debug.traceback) end end,
    } do
      local ev = thread.Event()
      local f = started_task(ex, ev, body)
      assert.is_true(ev:wait(LATE))
      assert.is_true(f:interrupt())
      expect_interrupted(f)
    end
    assert.equal(1, ex:submit(function() return 1 end):result())
  end)

  it("stops a task blocked in Queue:get, Event:wait, sleep, f:result, Lock, Condition, Semaphore, Barrier, join at once", function()
    local ex <close> = futures.ThreadPoolExecutor(2)
    local other <close> = futures.ThreadPoolExecutor(1)
    local never = other:submit(function(e) e:wait() end, thread.Event())
    local lock = thread.Lock()
    lock:acquire()
    local cases = {
      function(q) q:get() end,
      function(_, e) e:wait() end,
      function() require("concurrent").sleep(60) end,
      function(_, _, f) f:result() end,
      function(_, _, _, l) l:acquire() end,
      function() local c = require("concurrent.thread").Condition() c:acquire() c:wait() end,
      function() local s = require("concurrent.thread").Semaphore(0) s:acquire() end,
      function() local b = require("concurrent.thread").Barrier(2) b:wait() end,
      function(q) local t = require("concurrent.thread").Thread{target = function(q) q:get() end, args = {q}, daemon = true}
        t:start() t:join() end,
    }
    for i, body in ipairs(cases) do
      local ev = thread.Event()
      local f = started_task(ex, ev, body, thread.Queue(), thread.Event(), never, lock)
      interrupt_blocked(f, ev, "case " .. i)
    end
    lock:release()
    never:cancel()
    other:shutdown{interrupt = true}
  end)

  it("stops a task waiting in a process's join #nosan", function()
    local ex <close> = futures.ThreadPoolExecutor(1)
    local ev = thread.Event()
    local f = started_task(ex, ev, function()   -- its end is polled every 5 ms
      local p = require("concurrent.process").Process{target = function() require("concurrent").sleep(2) end}
      p:start()
      p:join()
    end)
    assert.is_true(ev:wait(LATE))
    concurrent.sleep(0.05)
    interrupt_within(f, 0.5)
  end)

  it("closes the task's to-be-closed variables", function()
    if not helpers.HAS_CLOSE then return pending(helpers.NO_CLOSE) end
    if not loops_stop() then return end
    local ex <close> = futures.ThreadPoolExecutor(1)
    local closed, ev = thread.Value(false), thread.Event()
    local f = ex:submit(function(closed, ev)
      local guard <close> = setmetatable({}, {__close = function() closed:set(true) end})
      ev:set()
      while true do end
    end, closed, ev)
    assert.is_true(ev:wait(LATE))
    f:interrupt()
    expect_interrupted(f)
    assert.is_true(closed:get())
  end)

  it("cancels a pending task, returns false for a finished one", function()
    local ex <close> = futures.ThreadPoolExecutor(1)
    local ev = thread.Event()
    local running = started_task(ex, ev, function(e) e:wait() end, thread.Event())
    local pending = ex:submit(function() return "ran" end)
    assert.is_true(ev:wait(LATE))
    assert.is_true(pending:interrupt())
    assert.is_true(pending:cancelled())
    assert.is_true(running:interrupt())
    expect_interrupted(running)
    local done = ex:submit(function() return 1 end)
    assert.equal(1, done:result())
    assert.is_false(done:interrupt())
    assert.equal(1, done:result())
  end)

  it("ends the future only once the task's code has stopped", function()
    if not loops_stop() then return end
    local ex <close> = futures.ThreadPoolExecutor(1)
    local v, ev = thread.Value(0), thread.Event()
    local f = ex:submit(function(v, ev)
      ev:set()
      while true do pcall(function() for _ = 1, 100 do v:add(1) end end) end
    end, v, ev)
    assert.is_true(ev:wait(LATE))
    f:interrupt()
    expect_interrupted(f)
    local seen = v:get()
    concurrent.sleep(0.05)
    assert.equal(seen, v:get())
  end)

  it("concurrent.interrupted() says so inside the task, false outside", function()
    if not helpers.HAS_CLOSE then return pending(helpers.NO_CLOSE) end
    if not loops_stop() then return end
    local ex <close> = futures.ThreadPoolExecutor(1)
    local saw, ev = thread.Value(false), thread.Event()
    assert.is_false(concurrent.interrupted())
    local f = ex:submit(function(saw, ev)
      local c = require "concurrent"
      local before = c.interrupted()
      -- runs as the interruption unwinds the task
      local _ <close> = setmetatable({}, {__close = function()
        saw:set(c.interrupted() and not before)
      end})
      ev:set()
      while true do end
    end, saw, ev)
    assert.is_true(ev:wait(LATE))
    f:interrupt()
    expect_interrupted(f)
    assert.is_true(saw:get())
    assert.is_false(ex:submit(function() return require("concurrent").interrupted() end):result())
  end)

  it("shutdown{interrupt = true} stops the running tasks", function()
    if not loops_stop() then return end
    local ex = futures.ThreadPoolExecutor(2)
    local evs, fs = {}, {}
    for i = 1, 2 do
      evs[i] = thread.Event()
      fs[i] = started_task(ex, evs[i], busy)
    end
    for i = 1, 2 do assert.is_true(evs[i]:wait(LATE)) end
    local t0 = concurrent.monotonic()
    ex:shutdown{interrupt = true}
    assert.is_true(concurrent.monotonic() - t0 < LATE)
    for i = 1, 2 do expect_interrupted(fs[i]) end
  end)

  it("every future ends once, finished or cancelled, with interrupts racing completion", function()
    local ex <close> = futures.ThreadPoolExecutor(4)
    local N = 10000
    local ends = thread.Value(0)
    local fs = {}
    math.randomseed(15)
    for i = 1, N do
      local kind = i % 3
      if kind == 0 then
        fs[i] = ex:submit(function(n) local x = 0 for j = 1, n do x = x + j end return x end, math.random(0, 3000))
      elseif kind == 1 then
        fs[i] = ex:submit(function() return 1 end)
      else
        fs[i] = ex:submit(function(t) require("concurrent").sleep(t) return 2 end, math.random() * 0.0005)
      end
      fs[i]:add_done_callback(function() ends:add(1) end)
      if math.random() < 0.5 then
        local j = math.random(math.max(1, i - 20), i)
        fs[j]:interrupt()
      end
    end
    local finished, cancelled = 0, 0
    for i = 1, N do
      local ok, err = pcall(fs[i].result, fs[i], 30)
      assert.is_true(fs[i]:done())
      if fs[i]:cancelled() then cancelled = cancelled + 1
      else
        assert.is_true(ok, tostring(err))
        finished = finished + 1
      end
    end
    futures.poll()
    assert.equal(N, finished + cancelled)
    assert.equal(N, ends:get())
    assert.is_true(cancelled > 0 and finished > 0)
    assert.equal(4, ex:_thread_count())
    assert.equal(7, ex:submit(function() return 7 end):result())
  end)
end)

describe("ex:submit_with", function()
  it("times a loop out with a TimeoutError that names the limit", function()
    if not loops_stop() then return end
    local ex <close> = futures.ThreadPoolExecutor(1)
    local t0 = concurrent.monotonic()
    local f = ex:submit_with({timeout = 0.1}, busy)
    local err = helpers.error_of(f.result, f)
    assert.is_true(futures.iserror(err, futures.TimeoutError))
    assert.matches("0.1", tostring(err))
    assert.is_true(concurrent.monotonic() - t0 >= 0.1 * helpers.EARLY)
    assert.is_false(f:cancelled())
    assert.equal(3, ex:submit_with({timeout = 5}, function() return 3 end):result())
  end)

  it("times the running time, not the time queued", function()
    local ex <close> = futures.ThreadPoolExecutor(1)
    local first = ex:submit(function() require("concurrent").sleep(0.3) return 1 end)
    local f = ex:submit_with({timeout = 0.2}, function() require("concurrent").sleep(0.05) return 2 end)
    assert.equal(1, first:result())
    assert.equal(2, f:result())
  end)

  it("runs pending tasks by priority, first in first out within one", function()
    local ex <close> = futures.ThreadPoolExecutor(1)
    local order, ev, go = thread.Queue(), thread.Event(), thread.Event()
    local blocker = started_task(ex, ev, function(g) g:wait() end, go)
    assert.is_true(ev:wait(LATE))
    local fs = {}
    for _, p in ipairs {0, 5, -1, 5, 0, 10} do
      fs[#fs + 1] = ex:submit_with({priority = p}, function(q, tag) q:put(tag) end, order, #fs + 1)
    end
    go:set()
    blocker:result()
    for _, f in ipairs(fs) do f:result() end
    local got = {}
    for i = 1, #fs do got[i] = order:get() end
    assert.same({6, 2, 4, 1, 5, 3}, got)
  end)

  it("a key cancels the older pending task with that key", function()
    local ex <close> = futures.ThreadPoolExecutor(1)
    local ev, go = thread.Event(), thread.Event()
    local blocker = started_task(ex, ev, function(g) g:wait() end, go)
    assert.is_true(ev:wait(LATE))
    local a = ex:submit_with({key = "search"}, function() return "a" end)
    local other = ex:submit_with({key = "other"}, function() return "o" end)
    local b = ex:submit_with({key = "search"}, function() return "b" end)
    assert.is_true(a:cancelled())
    go:set()
    blocker:result()
    assert.equal("b", b:result())
    assert.equal("o", other:result())
  end)

  it("refuses bad options, naming them, and queues nothing", function()
    local ex <close> = futures.ThreadPoolExecutor(1)
    local ran = thread.Value(0)
    local task = function(v) v:add(1) end
    for _, case in ipairs {
      {{colour = 1}, "unknown option 'colour'"},
      {{timeout = -1}, "timeout must be"},
      {{timeout = 0 / 0}, "timeout must be"},
      {{timeout = "1"}, "timeout must be"},
      {{priority = 1.5}, "priority must be an integer"},
      {{priority = "high"}, "priority must be an integer"},
      {{key = 3}, "key must be a string"},
      {"fast", "table of options expected"},
    } do
      -- not a tail call: LuaJIT names no function called from one
      local err = helpers.error_of(function() local f = ex:submit_with(case[1], task, ran) return f end)
      assert.matches(case[2], tostring(err), 1, true)
      assert.matches("submit_with", tostring(err), 1, true)
    end
    ex:shutdown()
    assert.equal(0, ran:get())
  end)
end)

describe("Thread:interrupt()", function()
  it("stops a thread's loop and its blocking calls", function()
    if not loops_stop() then return end
    local ev = thread.Event()
    local t = thread.Thread{target = function(e) e:set() while true do end end, args = {ev}}
    t:start()
    assert.is_true(ev:wait(LATE))
    assert.is_true(t:interrupt())
    assert.is_true(t:join(LATE))
    local q = thread.Queue()
    local ev2 = thread.Event()
    local t2 = thread.Thread{target = function(q, e) e:set() q:get() end, args = {q, ev2}}
    t2:start()
    assert.is_true(ev2:wait(LATE))
    concurrent.sleep(0.02)
    assert.is_true(t2:interrupt())
    assert.is_true(t2:join(LATE))
    assert.is_false(t2:interrupt())
  end)
end)

describe("interrupting a process pool's task #nosan", function()
  it("stops a busy loop in the worker and keeps the worker", function()
    if not loops_stop() then return end
    local ex <close> = futures.ProcessPoolExecutor(1)
    assert.equal(1, ex:submit(function() return 1 end):result())
    local before = ex:_pids()
    local f = ex:submit(busy)
    concurrent.sleep(0.2)
    assert.is_true(f:interrupt())
    expect_interrupted(f)
    assert.equal(5, ex:submit(function() return 5 end):result())
    assert.same(before, ex:_pids())
  end)

  it("kills and replaces a worker stuck in a C call 2 s after the request", function()
    local ex <close> = futures.ProcessPoolExecutor(1)
    local f = ex:submit(function() os.execute("sleep 30") return "woke" end)
    concurrent.sleep(0.3)
    local dt = interrupt_within(f, 2 + LATE)
    assert.is_true(dt >= 1.5, "took " .. dt)
    assert.equal(6, ex:submit(function() return 6 end):result())
  end)

  it("submit_with{timeout=} and priorities work across processes", function()
    local ex <close> = futures.ProcessPoolExecutor(1)
    local f = ex:submit_with({timeout = 0.2}, busy)
    local err = helpers.error_of(f.result, f)
    assert.is_true(futures.iserror(err, futures.TimeoutError))
    assert.equal(8, ex:submit_with({priority = 3, key = "k"}, function() return 8 end):result())
  end)
end)

describe("interrupts and nested tasks (a worker waiting in a task runs others)", function()
  it("interrupting a nested task stops it only: the task beneath goes on", function()
    if not loops_stop() then return end
    local ex <close> = futures.ThreadPoolExecutor(1)
    local q, ev = thread.Queue(), thread.Event()
    local outer = ex:submit(function(ex, q, ev, busy)
      local g = ex:submit(function(ev, busy) ev:set(); busy() end, ev, busy)
      q:put(g)
      local ok = pcall(g.result, g)    -- the worker runs g nested, here
      return not ok and g:cancelled() and "inner stopped" or "inner ran"
    end, ex, q, ev, busy)
    local g = q:get(true, LATE)
    assert.is_true(ev:wait(LATE))
    assert.is_true(g:interrupt())
    expect_interrupted(g)
    assert.equal("inner stopped", outer:result(LATE))
  end)

  it("interrupting the task beneath lets the nested one end as it would, then stops", function()
    local ex <close> = futures.ThreadPoolExecutor(1)
    local q, ev, go = thread.Queue(), thread.Event(), thread.Event()
    local outer = ex:submit(function(ex, q, ev, go)
      local g = ex:submit(function(ev, go) ev:set(); go:wait(); return 7 end, ev, go)
      q:put(g)
      return g:result() + 1
    end, ex, q, ev, go)
    local g = q:get(true, LATE)
    assert.is_true(ev:wait(LATE))
    assert.is_true(outer:interrupt())
    concurrent.sleep(0.1)
    assert.is_false(g:done())          -- not stopped by the hook beneath it
    assert.is_false(outer:done())      -- g runs on its stack
    go:set()
    assert.equal(7, g:result(LATE))    -- its future ends as it would have
    expect_interrupted(outer)          -- and the stop takes effect after it
    assert.equal(42, ex:submit(function() return 42 end):result(LATE))
  end)

  it("a task stopped before it waits leaves the task it queued to the worker", function()
    local ex <close> = futures.ThreadPoolExecutor(1)
    local q, ev = thread.Queue(), thread.Event()
    local outer = ex:submit(function(ex, q, ev)
      local g = ex:submit(function() return "ran" end)
      q:put(g)
      ev:wait()                        -- interrupted here
      return g:result()
    end, ex, q, ev)
    local g = q:get(true, LATE)
    concurrent.sleep(0.05)
    assert.is_true(outer:interrupt())
    expect_interrupted(outer)
    assert.equal("ran", g:result(LATE))   -- run by the worker afterwards
  end)
end)

describe("interrupts and spawned coroutines (futures.spawn)", function()
  it("stops a task blocked on what its own spawned coroutines do, at once, and keeps the worker", function()
    local ex <close> = futures.ThreadPoolExecutor(1)
    -- Each body spawns a coroutine that sleeps long, so its wait runs the
    -- state's coroutines (polling its fd) instead of a plain wait.
    local cases = {
      function(c) return c:result() end,
      function(c) return c:exception() end,
      function(c) for _ in require("concurrent.futures").as_completed({c}) do end end,
      function(c) return require("concurrent.futures").wait({c}) end,
      function() require("concurrent").sleep(60) end,
      function() require("concurrent.futures").poll{idle = 60, max_callbacks = 0} end,
    }
    for i, body in ipairs(cases) do
      local ev = thread.Event()
      local f = ex:submit(function(ev, body)
        local c = require("concurrent.futures").spawn(function()
          require("concurrent").sleep(60)
        end)
        ev:set()
        return body(c)
      end, ev, body)
      interrupt_blocked(f, ev, "case " .. i)
    end
    assert.equal(42, ex:submit(function() return 42 end):result(LATE))
  end)

  it("a coroutine spawned by a stopped task is work of its own: its await goes on", function()
    local ex <close> = futures.ThreadPoolExecutor(1)
    local other <close> = futures.ThreadPoolExecutor(1)
    local go, ev, q = thread.Event(), thread.Event(), thread.Queue()
    local g = other:submit(function(go) go:wait() return "g done" end, go)
    local f = ex:submit(function(g, q, ev)
      local c = require("concurrent.futures").spawn(function() q:put(g:result()) end)
      ev:set()
      return c:result()                -- interrupted here
    end, g, q, ev)
    assert.is_true(ev:wait(LATE))
    concurrent.sleep(0.02)
    assert.is_true(f:interrupt())
    expect_interrupted(f)
    go:set()
    assert.equal("g done", g:result(LATE))
    -- The worker's next task sleeps, which resumes the coroutine.
    local h = ex:submit(function(q)
      local c = require("concurrent")
      for _ = 1, 200 do
        if q:qsize() > 0 then return "resumed" end
        c.sleep(0.01)
      end
      return "never resumed"
    end, q)
    assert.equal("resumed", h:result(LATE))
    assert.equal("g done", q:get(true, LATE))
  end)

  it("a spawned coroutine awaiting an interrupted task gets its CancelledError", function()
    if not loops_stop() then return end
    local ex <close> = futures.ThreadPoolExecutor(1)
    local ev = thread.Event()
    local f = started_task(ex, ev, busy)
    assert.is_true(ev:wait(LATE))
    local c = futures.spawn(function() return f:result() end)
    assert.is_false(c:done())           -- suspended, not blocking this thread
    assert.is_true(f:interrupt())
    assert.matches("interrupted", tostring(c:exception(LATE)))
  end)

  it("f:interrupt() of a spawned coroutine stops it at its wait, closing its variables", function()
    local log = {}
    local c = futures.spawn(function()
      local _ <close> = setmetatable({}, {__close = function() log[#log + 1] = "closed" end})
      concurrent.sleep(60)
      log[#log + 1] = "ran on"
    end)
    assert.is_false(c:done())
    interrupt_within(c, 0.5)
    -- before 5.4 spec/compat.lua closes it when the test ends
    assert.same(helpers.HAS_CLOSE and {"closed"} or {}, log)
    -- interrupted() says so inside one, and its next wait raises (inside
    -- a pcall: not on 5.1, where a wait there cannot suspend)
    if not helpers.YIELD_ACROSS_C then return end
    local saw = {}
    local d = futures.spawn(function()
      while not concurrent.interrupted() do
        saw[#saw + 1] = "waited"
        local ok, err = pcall(concurrent.sleep, 0.01)
        if not ok then saw[#saw + 1] = tostring(err) break end
      end
      return concurrent.interrupted()
    end)
    assert.is_false(concurrent.interrupted())
    concurrent.sleep(0.05)
    assert.is_true(d:interrupt())
    -- it caught the raise and returned: its future ends cancelled all the same
    expect_interrupted(d)
    assert.matches("interrupted", saw[#saw])
    assert.equal("waited", saw[1])
  end)
end)
