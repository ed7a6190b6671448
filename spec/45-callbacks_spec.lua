--- Done-callbacks and futures.poll: callbacks run in the state that added
-- them, at once when already done, else at that state's next poll or
-- inside one of its blocking calls.
local futures = require "concurrent.futures"
local concurrent = require "concurrent"
local thread = require "concurrent.thread"
local helpers = require "helpers"

local run_script = helpers.run_script

-- Spin (without any call that runs callbacks) until f is done.
local function spin_until_done(f)
  local t0 = concurrent.monotonic()
  while not f:done() do
    assert(concurrent.monotonic() - t0 < 30, "future never finished")
  end
end

describe("add_done_callback", function()
  it("runs at once, with the future itself, when the future is already done", function()
    local f = futures.Future()
    f:set_result(7)
    local got
    f:add_done_callback(function(x) got = x end)
    assert.is_true(rawequal(f, got))
  end)

  it("waits for poll when the future finishes in another thread", function()
    local ex <close> = helpers.pool(1)
    -- Still running when the callback is added (a done one runs it at once).
    local f = ex:submit(function() require("concurrent").sleep(0.1) return 5 end)
    local calls = {}
    f:add_done_callback(function(x) calls[#calls + 1] = x:result() end)
    spin_until_done(f)
    assert.same({}, calls)
    assert.equal(1, futures.poll())
    assert.same({5}, calls)
    assert.equal(0, futures.poll())
  end)

  it("runs the callbacks of one future in the order they were added", function()
    local f = futures.Future()
    local order = {}
    for i = 1, 5 do f:add_done_callback(function() order[#order + 1] = i end) end
    f:set_result(true)
    futures.poll()
    assert.same({1, 2, 3, 4, 5}, order)
  end)

  it("runs callbacks when a future is cancelled", function()
    local f = futures.Future()
    local seen
    f:add_done_callback(function(x) seen = x:cancelled() end)
    assert.is_true(f:cancel())
    futures.poll()
    assert.is_true(seen)
  end)

  it("runs, before a blocking call returns, the callbacks of a future that finished during it", function()
    local ex <close> = helpers.pool(1)
    local calls = {
      result = function(g) return g:result() end,
      exception = function(g) return g:exception() end,
      as_completed = function(g) for _ in futures.as_completed({g}) do end end,
      wait = function(g) futures.wait({g}) end,
      sleep = function(g) repeat concurrent.sleep(0.01) until g:done() end,
      event = function(_, ev) ev:wait(30) end,
    }
    for name, call in pairs(calls) do
      local f, fin = futures.Future(), thread.Event()
      local ran
      f:add_done_callback(function(x) ran = x:result() end)
      -- The task finishes f (which queues f's callback for this state),
      -- then ends: f finishes while this state is blocked in `call`, and
      -- before what `call` waits for.
      local g = ex:submit(function(fut, last)
        require("concurrent").sleep(0.05)
        fut:set_result("f")
        last:set()
        return "g"
      end, f, fin)
      assert.is_nil(ran, name)
      call(g, fin)
      assert.equal("f", ran, name)
    end
  end)

  it("reports an error in a callback on stderr and still runs the others", function()
    local out, err = run_script([[
      local futures = require "concurrent.futures"
      local f = futures.Future()
      f:add_done_callback(function() error("first one fails") end)
      f:add_done_callback(function() io.write("second ran;") end)
      f:add_done_callback(function() error(setmetatable({}, {__tostring = function() return "object error" end})) end)
      f:add_done_callback(function() io.write("fourth ran;") end)
      f:set_result(1)
      io.write("polled ", futures.poll(), ";")
      local g = futures.Future()
      g:set_result(2)
      g:add_done_callback(function() error("at once") end)
      io.write("survived")
    ]])
    assert.equal("second ran;fourth ran;polled 0;survived", out)
    assert.matches("exception calling callback for future: [^\n]*first one fails", err)
    assert.matches("exception calling callback for future: object error", err)
    assert.matches("exception calling callback for future: [^\n]*at once", err)
    assert.matches("stack traceback", err)
  end)

  it("lets a callback make blocking calls and poll without running anything twice", function()
    local a, b, c = futures.Future(), futures.Future(), futures.Future()
    local count = {a = 0, b = 0, c = 0}
    a:add_done_callback(function()
      count.a = count.a + 1
      c:set_result(true)          -- queues c's callback while a's runs
      futures.poll()
      b:result()
    end)
    b:add_done_callback(function() count.b = count.b + 1 end)
    c:add_done_callback(function() count.c = count.c + 1 end)
    local ex <close> = helpers.pool(1)
    ex:submit(function(x, y) x:set_result(1); y:set_result(2) end, a, b):result()
    futures.poll()
    assert.same({a = 1, b = 1, c = 1}, count)
  end)

  it("takes callable tables and rejects what cannot be called", function()
    local f = futures.Future()
    local hit = false
    f:add_done_callback(setmetatable({}, {__call = function() hit = true end}))
    f:set_result(1)
    assert.is_true(hit)
    assert.matches("bad argument #1 to 'add_done_callback' %(function expected",
      helpers.error_of(function() f:add_done_callback(3) end))
  end)
end)

describe("futures.poll", function()
  it("returns 0 at once when nothing is queued", function()
    local t0 = concurrent.monotonic()
    assert.equal(0, futures.poll())
    assert.is_true(concurrent.monotonic() - t0 < helpers.LATE)
  end)
end)

describe("callbacks added in a worker", function()
  it("run in that worker, after its next task", function()
    local ex <close> = helpers.pool(1)
    local g = futures.Future()
    local main_ident = thread.get_ident()
    local worker_ident = ex:submit(function(fut)
      local th = require("concurrent.thread")
      fut:add_done_callback(function(x) CB_G, CB_IDENT = x:result(), th.get_ident() end)
      return th.get_ident()
    end, g):result()
    g:set_result(42)
    assert.equal(0, futures.poll())                 -- not queued in the main state
    -- a task that neither polls nor blocks does not run them, but the
    -- worker does after it (or after the previous task, if g was set
    -- before that one's end), so the task after sees them
    ex:submit(function() return CB_G end):result()
    assert.same({42, worker_ident}, {ex:submit(function() return CB_G, CB_IDENT end):result()})
    assert.are_not.equal(main_ident, worker_ident)
  end)

  it("run at the worker's poll", function()
    local ex <close> = helpers.pool(1)
    local h, ready = futures.Future(), thread.Event()
    local task = ex:submit(function(fut, r)
      local fs, c = require("concurrent.futures"), require("concurrent")
      fut:add_done_callback(function(x) CB_H = x:result() end)
      r:set()
      local n, t0 = 0, c.monotonic()
      repeat n = fs.poll() until n > 0 or c.monotonic() - t0 > 30
      return n, CB_H
    end, h, ready)
    assert.is_true(ready:wait(30))
    h:set_result("h")
    assert.same({1, "h"}, {task:result()})
  end)

  it("run inside a blocking call of the worker", function()
    local ex <close> = helpers.pool(1)
    local g, gate = futures.Future(), thread.Event()
    local f = ex:submit(function(fut, e)
      local seen
      fut:add_done_callback(function(x) seen = x:result() end)
      e:wait(30)                    -- fut finishes while this blocks
      return seen
    end, g, gate)
    g:set_result("in the wait")
    gate:set()
    assert.equal("in the wait", f:result())
  end)

  it("are dropped safely when the worker's state is closed first", function()
    local g = futures.Future()
    futures.with(helpers.pool(1), function(ex)
      ex:submit(function(fut)
        fut:add_done_callback(function() error("must never run") end)
      end, g):result()
    end)                                            -- worker state closed
    g:set_result(1)
    assert.equal(0, futures.poll())
    assert.equal(1, g:result())
  end)
  it("runs a future's callbacks before wait, as_completed or result returns on it", function()
    local ex <close> = futures.ThreadPoolExecutor(2)
    local late = {wait = 0, ac = 0, result = 0}
    for _, how in ipairs{"wait", "ac", "result"} do
      for i = 1, 5000 do
        local f = ex:submit(function(x) return x end, i)
        local seen = false
        f:add_done_callback(function() seen = true end)
        if how == "wait" then futures.wait({f})
        elseif how == "ac" then for _ in futures.as_completed({f}) do end
        else f:result() end
        if not seen then late[how] = late[how] + 1 end
      end
    end
    assert.same({wait = 0, ac = 0, result = 0}, late)
  end)
end)
