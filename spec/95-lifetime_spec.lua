--- Lifetimes: states that close with work in flight, executors collected
-- while their futures live on, futures shared across states, and workers
-- that run out of memory. Whole-program cases run in a child lua5.4
-- ($CONCURRENT_LUA under the sanitizers) under `timeout`, so a hang at exit
-- fails the spec instead of the suite.
local futures = require "concurrent.futures"
local concurrent = require "concurrent"
local thread = require "concurrent.thread"

local helpers = require "helpers"

-- Run src in a fresh process (package paths of this one) killed after
-- `limit` seconds; returns stdout, stderr and the exit status (124: killed
-- by the timeout).
local function run_script(src, limit)
  return helpers.run_script(src, ("timeout -s KILL %d "):format(limit or 60))
end

describe("lifetime", function()
  it("closes the main state with executors busy, threads running, callbacks queued and futures shared", function()
    local out, err, status = run_script([[
      local futures = require "concurrent.futures"
      local thread = require "concurrent.thread"
      local concurrent = require "concurrent"
      local shared = futures.Future()              -- set by nobody before close
      local ex = futures.ThreadPoolExecutor(2)
      local ex2 = futures.ThreadPoolExecutor{max_workers = 1}
      -- busy workers, a long queue, and tasks blocked on a shared future
      for i = 1, 20 do ex:submit(function() require("concurrent").sleep(0.01) return i end) end
      local waiter = ex2:submit(function(f) return f:result(2) end, shared)
      -- callbacks queued on futures that finish after the state is gone
      for i = 1, 5 do
        ex:submit(function() require("concurrent").sleep(0.05) end)
          :add_done_callback(function() print("callback after close?!") end)
      end
      -- a thread still running, holding the shared future and a queue
      local q = thread.Queue()
      local t = thread.Thread{target = function(f, q)
        require("concurrent").sleep(0.2)
        q:put(f:done())
      end, args = {shared, q}}
      t:start()
      -- an executor dropped without shutdown, its tasks still queued
      do
        local lost = futures.ThreadPoolExecutor(1)
        for i = 1, 5 do lost:submit(function() require("concurrent").sleep(0.01) end) end
      end
      print("leaving with work in flight")
    ]])
    assert.equal(0, status, err)
    assert.matches("leaving with work in flight", out)
    assert.not_matches("callback after close", out)
    assert.equal("", err)
  end)

  it("survives os.exit(0, true) from the middle of busy work", function()
    local out, err, status = run_script([[
      local futures = require "concurrent.futures"
      local ex = futures.ThreadPoolExecutor(2)
      for i = 1, 50 do ex:submit(function() require("concurrent").sleep(0.005) return i end) end
      local f = ex:submit(function() return "done" end)
      f:add_done_callback(function() end)
      print("exiting")
      os.exit(0, true)
    ]])
    assert.equal(0, status, err)
    assert.matches("exiting", out)
    assert.equal("", err)
  end)

  it("survives a plain os.exit while worker states still run Lua", function()
    local out, err, status = run_script([[
      local futures = require "concurrent.futures"
      local ex = futures.ThreadPoolExecutor(2)
      for i = 1, 4 do
        ex:submit(function()
          local t = {}
          for k = 1, 2e6 do t[k % 100 + 1] = tostring(k) end
        end)
      end
      require("concurrent").sleep(0.02)
      print("exiting without closing")
      os.exit(3)
    ]])
    assert.equal(3, status, err)
    assert.matches("exiting without closing", out)
  end)

  it("lets futures outlive an executor collected mid-flight", function()
    local fs, callbacks = {}, 0
    do
      local ex = futures.ThreadPoolExecutor(2)
      for i = 1, 40 do
        fs[i] = ex:submit(function(x) require("concurrent").sleep(0.002) return x * 3 end, i)
        fs[i]:add_done_callback(function() callbacks = callbacks + 1 end)
      end
    end
    collectgarbage()
    collectgarbage()
    for i = 1, 40 do assert.equal(i * 3, fs[i]:result(30)) end
    local deadline = concurrent.monotonic() + 10
    while callbacks < 40 and concurrent.monotonic() < deadline do
      futures.poll()
      concurrent.sleep(0.001)
    end
    assert.equal(40, callbacks)
  end)

  it("lets another state wait on the futures of an executor collected mid-flight", function()
    local fs = {}
    do
      local ex = futures.ThreadPoolExecutor(1)
      for i = 1, 10 do
        fs[i] = ex:submit(function(x) require("concurrent").sleep(0.005) return x + 1 end, i)
      end
    end
    collectgarbage()
    collectgarbage()
    local other <close> = futures.ThreadPoolExecutor(2)
    local sum = other:submit(function(fs)
      local s = 0
      for i = 1, #fs do s = s + fs[i]:result(30) end
      return s
    end, fs)
    assert.equal(65, sum:result(60))
  end)

  it("lets a future made in a worker's own executor outlive that worker's state", function()
    local inner = futures.with(futures.ThreadPoolExecutor(1), function(ex)
      return ex:submit(function()
        local futures = require "concurrent.futures"
        local nested = futures.ThreadPoolExecutor(1)
        return nested:submit(function() require("concurrent").sleep(0.05) return "from the inner pool" end)
      end):result(30)
    end)                                  -- the worker's state is closed here
    collectgarbage()
    assert.equal("from the inner pool", inner:result(30))
  end)

  it("shares a future across states: set in one, awaited in workers and a thread", function()
    local shared = futures.Future()
    local ex <close> = futures.ThreadPoolExecutor(3)
    local q = thread.Queue()
    local waiting = {}
    for i = 1, 3 do
      waiting[i] = ex:submit(function(f, i) return f:result(30) + i end, shared, i)
    end
    local t = thread.Thread{target = function(f, q) q:put(f:result(30)) end, args = {shared, q}}
    t:start()
    concurrent.sleep(0.02)
    shared:set_result(100)
    for i = 1, 3 do assert.equal(100 + i, waiting[i]:result(30)) end
    assert.equal(100, q:get(true, 30))
    assert.is_true(t:join(30))
    -- finished once: a second set, from any state, is refused
    local again = ex:submit(function(f) return pcall(f.set_result, f, 1) end, shared)
    assert.is_false((again:result(30)))
    assert.equal(100, shared:result())
  end)

  it("drops a worker-side future whose state closed before it finished", function()
    local ex = futures.ThreadPoolExecutor(1)
    local f = ex:submit(function()
      local futures = require "concurrent.futures"
      local f = futures.Future()
      f:add_done_callback(function() end)   -- queued for a state about to go
      return f
    end):result(30)
    ex:shutdown(true)                      -- the worker's state is closed
    f:set_result("late")                   -- its callback inbox is gone
    assert.equal("late", f:result(0))
  end)

  describe("memory_limit", function()
    it("fails a task that runs out of memory with an error, and the worker keeps working", function()
      local ex <close> = futures.ThreadPoolExecutor{max_workers = 1, memory_limit = 8 * 1024 * 1024}
      local hog = ex:submit(function()
        local t = {}
        for i = 1, 1e8 do t[i] = ("x"):rep(64) .. i end
        return #t
      end)
      local ok, err = pcall(hog.result, hog, 60)
      assert.is_false(ok)
      assert.matches("not enough memory", tostring(err))
      -- the same worker, its memory back
      assert.equal("still here", ex:submit(function() return "still here" end):result(30))
      local big = ex:submit(function() return #("y"):rep(64 * 1024 * 1024) end)
      assert.matches("not enough memory", tostring(select(2, pcall(big.result, big, 60))))
      assert.equal(1024, ex:submit(function() return #("z"):rep(1024) end):result(30))
    end)

    it("caps each worker state on its own", function()
      local ex <close> = futures.ThreadPoolExecutor{max_workers = 2, memory_limit = 4 * 1024 * 1024}
      local fs = {}
      for i = 1, 8 do
        fs[i] = ex:submit(function(i)
          local t = {}
          for k = 1, 20000 do t[k] = k end   -- well under the cap
          return i, #t
        end, i)
      end
      for i = 1, 8 do
        local a, b = fs[i]:result(30)
        assert.equal(i, a)
        assert.equal(20000, b)
      end
    end)

    it("refuses a memory_limit that is not a positive integer", function()
      for _, bad in ipairs{0, -1, 1.5, "1000", true} do
        local ok, err = pcall(futures.ThreadPoolExecutor, {max_workers = 1, memory_limit = bad})
        assert.is_false(ok)
        assert.matches("memory_limit must be a positive integer", err)
      end
    end)
  end)
end)
