--- Tasks that make tasks: executors inside tasks, waits that help, worker
-- recycling, stats.
local futures = require "concurrent.futures"
local thread = require "concurrent.thread"
local process = require "concurrent.process"
local helpers = require "helpers"
local concurrent = require "concurrent"

-- Recursive fib by submit on the executor that runs it.
local function fib(ex, n)
  if n < 2 then return n end
  local a = ex:submit(fib, ex, n - 1)
  local b = ex:submit(fib, ex, n - 2)
  return a:result() + b:result()
end

-- Merge sort of t[lo..hi] by submitting both halves down to a cutoff.
local function msort(ex, t, cutoff)
  local n = #t
  if n <= cutoff then
    table.sort(t)
    return t
  end
  local mid = math.floor(n / 2)                -- no // nor table.move on 5.1
  local left, right = {}, {}
  for i = 1, mid do left[i] = t[i] end
  for i = mid + 1, n do right[i - mid] = t[i] end
  local fl = ex:submit(msort, ex, left, cutoff)
  local fr = ex:submit(msort, ex, right, cutoff)
  local a, b = fl:result(), fr:result()
  local out, i, j = {}, 1, 1
  for k = 1, n do
    if j > #b or (i <= #a and a[i] <= b[j]) then out[k] = a[i]; i = i + 1
    else out[k] = b[j]; j = j + 1 end
  end
  return out
end

local function random_list(n, seed)
  math.randomseed(seed)
  local t = {}
  for i = 1, n do t[i] = math.random(1, 1000000) end
  return t
end

-- Poll ex:stats() until pred holds (the workers go back to sleep a little
-- after the last result); returns the last stats.
local function settled_stats(ex, pred)
  local s
  for _ = 1, 500 do
    s = ex:stats()
    if pred(s) then return s end
    concurrent.sleep(0.01)
  end
  return s
end

describe("tasks that make tasks", function()
  for _, workers in ipairs{1, 2} do
    it("recursive fib by submit finishes on max_workers = " .. workers, function()
      local ex <close> = futures.ThreadPoolExecutor(workers)
      assert.equal(6765, ex:submit(fib, ex, 20):result(60))
      assert.equal(55, fib(ex, 10))     -- from the main state too
    end)

    it("recursive merge sort by submit is right on max_workers = " .. workers, function()
      local ex <close> = futures.ThreadPoolExecutor(workers)
      local data = random_list(5000, workers)
      local sorted = ex:submit(msort, ex, data, 100):result(60)
      table.sort(data)
      assert.same(data, sorted)
    end)
  end

  it("never reports a timeout to a wait without one, after a poke it did not need", function()
    -- t1 sleeps waiting on t2; t2 submits a task (a poke for t1) and runs
    -- it itself, so t2 is often done by the time t1 looks again.
    local ex <close> = futures.ThreadPoolExecutor(2)
    for _ = 1, 300 do
      local go, started = thread.Event(), thread.Event()
      local t2 = ex:submit(function(e, g, st)
        st:set()
        assert(g:wait(30))
        return e:submit(function() return 1 end):result()
      end, ex, go, started)
      assert.is_true(started:wait(30))
      local t1 = ex:submit(function(f) return f:result() end, t2)
      concurrent.sleep(0.001)
      go:set()
      assert.equal(1, t1:result(30))
    end
  end)

  it("maps on its own pool from inside a task (chunked or not)", function()
    local ex <close> = futures.ThreadPoolExecutor(1)
    local r = ex:submit(function(e)
      local out = {}
      for i, v in e:map(function(x) return x * x end, {1, 2, 3, 4, 5}) do out[i] = v end
      for i, v in e:map(function(x, y) return x + y end, {1, 2, 3, 4, 5, 6, 7},
                        {10, 20, 30, 40, 50, 60, 70}, {chunksize = 3}) do
        out[#out + 1] = v
        assert(i == #out - 5)
      end
      return out
    end, ex):result(60)
    assert.same({1, 4, 9, 16, 25, 11, 22, 33, 44, 55, 66, 77}, r)
  end)

  it("runs as_completed and wait over subtasks inside a task", function()
    local ex <close> = futures.ThreadPoolExecutor(1)
    local r = ex:submit(function(e)
      local fu = require "concurrent.futures"
      local fs = {}
      for i = 1, 20 do fs[i] = e:submit(function(x) return x * 2 end, i) end
      local sum, n = 0, 0
      for f in fu.as_completed(fs) do sum = sum + f:result(); n = n + 1 end
      local more = {}
      for i = 1, 5 do more[i] = e:submit(function(x) return x end, i) end
      local done, not_done = fu.wait(more)
      return sum, n, #done, #not_done
    end, ex)
    assert.same({420, 20, 5, 0}, {r:result(60)})
  end)

  it("gives waiters results or CancelledError when shut down with tasks waiting", function()
    for _, cancel in ipairs{true, false} do
      local ex = futures.ThreadPoolExecutor(1)
      local gate, entered = thread.Event(), thread.Event()
      local top = ex:submit(function(e, g, ent)
        local fu = require "concurrent.futures"
        local fs = {}
        for i = 1, 5 do
          fs[i] = e:submit(function(k, gg, en)
            en:set()
            assert(gg:wait(30), "gate never opened")
            return k
          end, i, g, ent)
        end
        local got, cancelled = {}, 0
        for i = 1, 5 do
          local ok, v = pcall(fs[i].result, fs[i])
          if ok then got[#got + 1] = v
          elseif fu.iserror(v, fu.CancelledError) then cancelled = cancelled + 1
          else error(v, 0) end
        end
        return got, cancelled
      end, ex, gate, entered)
      assert.is_true(entered:wait(30))      -- a subtask runs nested, on the gate
      ex:shutdown{wait = false, cancel_futures = cancel}
      gate:set()
      local got, cancelled = top:result(30)
      if cancel then
        assert.same({1}, got)
        assert.equal(4, cancelled)
      else
        assert.same({1, 2, 3, 4, 5}, got)
        assert.equal(0, cancelled)
      end
      ex:shutdown()                         -- returns: nothing hangs
    end
  end)

  it("nests 100 waits deep on one worker, each level on its own thread of the state", function()
    local ex <close> = futures.ThreadPoolExecutor(1)
    local function chain(e, n)
      if n == 0 then return 0 end
      return e:submit(chain, e, n - 1):result() + 1
    end
    assert.equal(100, ex:submit(chain, ex, 100):result(60))
  end)

  it("wakes a sleeping waiter when a task is submitted, to run it", function()
    local ex <close> = futures.ThreadPoolExecutor(2)
    local go, t2_started = thread.Event(), thread.Event()
    local t2 = ex:submit(function(e, g, st)
      local th = require "concurrent.thread"
      st:set()
      assert(g:wait(30))
      local f = e:submit(function() return require("concurrent.thread").get_ident() end)
      require("concurrent").sleep(0.3)    -- not waiting: the other worker must take it
      return f:result(), th.get_ident()
    end, ex, go, t2_started)
    assert.is_true(t2_started:wait(30))
    local t1 = ex:submit(function(f)      -- waits on t2: nothing queued, it sleeps
      return {f:result()}, require("concurrent.thread").get_ident()
    end, t2)
    concurrent.sleep(0.1)
    go:set()
    local inner, t1_thread = t1:result(30)
    local g_thread, t2_thread = inner[1], inner[2]
    assert.are_not.equal(t2_thread, t1_thread)
    assert.equal(t1_thread, g_thread)     -- the sleeping waiter ran it
  end)

  it("hands a nested task's error to its waiter, which goes on", function()
    local ex <close> = futures.ThreadPoolExecutor(1)
    local r = ex:submit(function(e)
      local f = e:submit(function() error("leaf failed") end)
      local ok, err = pcall(f.result, f)
      local g = e:submit(function() return GLOBAL_SET end)
      GLOBAL_SET = "shared state"
      return ok, err, g:result()
    end, ex)
    local ok, err, shared = r:result(60)
    assert.is_false(ok)
    assert.matches("leaf failed", err)
    assert.equal("shared state", shared)   -- nested in the same worker state
  end)

  it("keeps a memory_limit in force under a nested task that hits it", function()
    local ex <close> = futures.ThreadPoolExecutor{max_workers = 1, memory_limit = 8 * 1024 * 1024}
    local r = ex:submit(function(e)
      local f = e:submit(function() local t = {} for i = 1, 1e7 do t[i] = i end return #t end)
      local ok, err = pcall(f.result, f)
      local ok2 = pcall(function() local t = {} for i = 1, 1e7 do t[i] = i end end)
      return ok, err, ok2
    end, ex)
    local ok, err, ok2 = r:result(60)
    assert.is_false(ok)
    assert.matches("not enough memory", err)
    assert.is_false(ok2)                  -- the cap holds again in the waiter
  end)

  it("finishes a recursion deeper than the nesting bound on two workers", function()
    local ex <close> = futures.ThreadPoolExecutor(2)
    local function chain(e, n)
      if n == 0 then return 0 end
      return e:submit(chain, e, n - 1):result() + 1
    end
    assert.equal(200, ex:submit(chain, ex, 200):result(60))
  end)

  it("helps only with its own pool: a wait on another pool's future blocks", function()
    local a <close> = futures.ThreadPoolExecutor(1)
    local b <close> = futures.ThreadPoolExecutor(1)
    local gate = thread.Event()
    -- a's worker waits on b's future while a task of a is queued: it must
    -- not run it (it would return "ran" first).
    local order = thread.Queue()
    local waiting = a:submit(function(pb, g, q)
      local f = pb:submit(function(gg) assert(gg:wait(30)) return "b" end, g)
      local v = f:result()
      q:put("waiter")
      return v
    end, b, gate, order)
    concurrent.sleep(0.05)
    local queued = a:submit(function(q) q:put("queued") return true end, order)
    concurrent.sleep(0.1)
    assert.is_true(order:empty())           -- the queued task of a waits
    gate:set()
    assert.equal("b", waiting:result(30))
    assert.is_true(queued:result(30))
    assert.equal("waiter", order:get(true, 5))
    assert.equal("queued", order:get(true, 5))
  end)
end)

describe("executors that cross", function()
  it("come back from a task as the same value, and stay usable", function()
    local ex <close> = futures.ThreadPoolExecutor(2)
    local back = ex:submit(function(e) return e end, ex):result()
    assert.is_true(rawequal(ex, back))
    -- a received executor collected in the task does not shut the pool down
    ex:submit(function(e) e = nil collectgarbage() collectgarbage() end, ex):result()
    assert.equal(3, ex:submit(function() return 3 end):result())
    -- nor does a worker state holding one when it is closed
    assert.equal("ThreadPoolExecutor", tostring(back):match("^%a+"))
  end)

  it("lets a thread-pool task submit to a process pool by reference", function()
    local pp <close> = futures.ProcessPoolExecutor(1)
    local ex <close> = futures.ThreadPoolExecutor(1)
    local pid = ex:submit(function(p)
      return p:submit(function() return require("concurrent.process").getpid() end):result()
    end, pp):result(60)
    assert.is_number(pid)
    assert.are_not.equal(process.getpid(), pid)
  end)

  it("are refused, at the sending call, to a process pool worker", function()
    local pp <close> = futures.ProcessPoolExecutor(1)
    local ex <close> = futures.ThreadPoolExecutor(1)
    assert.matches("cannot send pool at args%[1%]: shared objects cannot be sent to another process",
      helpers.error_of(pp.submit, pp, print, ex))
    assert.matches("cannot send procpool at args%[1%]%.p: shared objects cannot be sent to another process",
      helpers.error_of(pp.submit, pp, print, {p = pp}))
    assert.equal(2, pp:submit(function() return 2 end):result(60))
  end)
end)

describe("worker recycling", function()
  it("max_tasks_per_worker = 1 gives every task fresh globals and runs the initializer each time", function()
    local inits = thread.Value(0)
    local ex <close> = futures.ThreadPoolExecutor{max_workers = 1, max_tasks_per_worker = 1,
      initializer = function(v) v:add(1) INIT = (INIT or 0) + 1 end, initargs = {inits}}
    for _ = 1, 5 do
      local seen, init = ex:submit(function()
        local s = SEEN
        SEEN = true
        return s, INIT
      end):result()
      assert.is_nil(seen)
      assert.equal(1, init)
    end
    assert.is_true(inits:get() >= 5)
  end)

  it("max_tasks_per_worker = 2 keeps a state for two tasks", function()
    local ex <close> = futures.ThreadPoolExecutor{max_workers = 1, max_tasks_per_worker = 2}
    local seen = {}
    for i = 1, 6 do
      seen[i] = ex:submit(function() local s = COUNT COUNT = (COUNT or 0) + 1 return s end):result() or 0
    end
    assert.same({0, 1, 0, 1, 0, 1}, seen)
  end)

  it("max_tasks_per_child = 2 changes the worker pid every two tasks", function()
    local ex <close> = futures.ProcessPoolExecutor{max_workers = 1, max_tasks_per_child = 2}
    local pids = {}
    for i = 1, 6 do
      pids[i] = ex:submit(function() return require("concurrent.process").getpid() end):result(60)
    end
    assert.equal(pids[1], pids[2])
    assert.equal(pids[3], pids[4])
    assert.equal(pids[5], pids[6])
    assert.are_not.equal(pids[1], pids[3])
    assert.are_not.equal(pids[3], pids[5])
    assert.are_not.equal(pids[1], pids[5])
    local s = ex:stats()
    assert.equal(6, s.completed)
  end)
end)

describe("stats", function()
  it("counts 1,000 mixed tasks exactly once they are settled", function()
    local ex <close> = futures.ThreadPoolExecutor(2)
    local gate = thread.Event()
    local blockers = {}
    for i = 1, 2 do blockers[i] = ex:submit(function(g) return g:wait(30) end, gate) end
    local fs, cancelled = {}, 0
    for i = 1, 998 do
      if i % 7 == 0 then fs[i] = ex:submit(error, "boom")
      else fs[i] = ex:submit(function(x) return x end, i) end
    end
    local s = settled_stats(ex, function(t) return t.running == 2 end)
    assert.equal(2, s.workers)
    assert.equal(0, s.idle)
    assert.equal(2, s.running)
    assert.equal(998, s.pending)
    for i = 3, 998, 10 do
      if fs[i]:cancel() then cancelled = cancelled + 1 end
    end
    gate:set()
    for i = 1, 998 do pcall(fs[i].result, fs[i]) end
    s = settled_stats(ex, function(t) return t.pending == 0 and t.idle == t.workers end)
    local failed = 0
    for i = 7, 998, 7 do if not fs[i]:cancelled() then failed = failed + 1 end end
    assert.equal(1000, s.completed + s.failed + s.cancelled)
    assert.equal(cancelled, s.cancelled)
    assert.equal(failed, s.failed)
    assert.same({workers = 2, idle = 2, pending = 0, running = 0}, {workers = s.workers,
      idle = s.idle, pending = s.pending, running = s.running})
  end)

  it("counts the futures of a broken pool as failed, none running", function()
    local ex <close> = futures.ThreadPoolExecutor{max_workers = 1, initializer = function() error("no") end}
    local fs = {}
    for i = 1, 3 do fs[i] = ex:submit(function() return 1 end) end
    for i = 1, 3 do assert.is_false((pcall(fs[i].result, fs[i], 30))) end
    local s = settled_stats(ex, function(t) return t.workers == 0 end)
    assert.equal(3, s.failed)
    assert.equal(0, s.running)
    assert.equal(0, s.completed)
    assert.equal(0, s.pending)
  end)

  it("counts a process pool's tasks", function()
    local ex <close> = futures.ProcessPoolExecutor(1)
    local fs = {}
    for i = 1, 10 do fs[i] = ex:submit(i % 2 == 0 and error or tostring, i) end
    for i = 1, 10 do pcall(fs[i].result, fs[i], 60) end
    local s = settled_stats(ex, function(t) return t.running == 0 end)
    assert.equal(5, s.completed)
    assert.equal(5, s.failed)
    assert.equal(0, s.cancelled)
    assert.equal(0, s.pending)
    assert.equal(1, s.workers)
    assert.equal(1, s.idle)
  end)
end)

describe("bad input for tasks that make tasks", function()
  it("refuses max_tasks_per_worker and max_tasks_per_child that are not positive integers", function()
    for _, bad in ipairs{0, -1, 1.5, "2", true} do
      assert.matches("bad argument #1 to 'ThreadPoolExecutor' %(max_tasks_per_worker must be a positive integer, got",
        helpers.error_of(futures.ThreadPoolExecutor, {max_tasks_per_worker = bad}))
      assert.matches("bad argument #1 to 'ProcessPoolExecutor' %(max_tasks_per_child must be a positive integer, got",
        helpers.error_of(futures.ProcessPoolExecutor, {max_tasks_per_child = bad}))
    end
  end)

  it("refuses stats on a wrong self", function()
    -- no tail calls: LuaJIT names no function called from one (docs, Lua versions)
    local ex <close> = futures.ThreadPoolExecutor(1)
    local pp <close> = futures.ProcessPoolExecutor(1)
    assert.matches("bad argument #1 to 'stats' %(concurrent%.ThreadPoolExecutor expected, got nil%)",
      helpers.error_of(function() ex.stats(nil) end))
    assert.matches("bad argument #1 to 'stats' %(concurrent%.ThreadPoolExecutor expected, got table%)",
      helpers.error_of(function() ex.stats({}) end))
    assert.matches("bad argument #1 to 'stats' %(concurrent%.ProcessPoolExecutor expected, got concurrent%.ThreadPoolExecutor%)",
      helpers.error_of(function() pp.stats(ex) end))
  end)
end)
