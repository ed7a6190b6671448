--- as_completed and wait: completion order against input order.
local futures = require "concurrent.futures"
local concurrent = require "concurrent"
local thread = require "concurrent.thread"
local helpers = require "helpers"

-- A task that blocks until its event is set, then returns (or raises) v.
local function gated(ex, ev, v, fail)
  return ex:submit(function(e, value, raise)
    e:wait()
    if raise then error(value, 0) end
    return value
  end, ev, v, fail)
end

local function done_future(v)
  local f = futures.Future()
  f:set_result(v)
  return f
end

describe("as_completed", function()
  it("yields in completion order, those already done first", function()
    local ex <close> = helpers.pool(3)
    local e1, e2 = thread.Event(), thread.Event()
    local f1, f2 = gated(ex, e1, "one"), gated(ex, e2, "two")
    local f0 = done_future("zero")
    local got = {}
    for f in futures.as_completed({f1, f2, f0}) do
      got[#got + 1] = f:result()
      if f == f0 then e2:set() end   -- f1 stays blocked until f2 is out
      if f == f2 then e1:set() end
    end
    assert.same({"zero", "two", "one"}, got)
  end)

  it("yields the same future objects it was given", function()
    local a, b = done_future(1), done_future(2)
    local seen = {}
    for f in futures.as_completed({a, b}) do seen[f] = true end
    assert.is_true(seen[a])
    assert.is_true(seen[b])
  end)

  it("yields a future given several times once", function()
    local a, b = done_future(1), done_future(2)
    local n = 0
    for _ in futures.as_completed({a, b, a, a, b}) do n = n + 1 end
    assert.equal(2, n)
  end)

  it("yields nothing for an empty sequence", function()
    for _ in futures.as_completed({}) do error("yielded") end
  end)

  it("yields each of 1,000 futures of mixed durations exactly once", function()
    local ex <close> = helpers.pool(4)
    local fs, index = {}, {}
    for i = 1, 1000 do
      fs[i] = ex:submit(function(k)
        if k % 7 == 0 then require("concurrent").sleep(0.002)
        elseif k % 3 == 0 then require("concurrent").sleep(0.0005) end
        return k
      end, i)
      index[fs[i]] = i
    end
    local count, seen = 0, {}
    for f in futures.as_completed(fs) do
      local k = f:result(0)          -- done: no waiting
      assert.equal(index[f], k)
      assert.is_nil(seen[k])
      seen[k] = true
      count = count + 1
    end
    assert.equal(1000, count)
  end)

  it("raises TimeoutError from the iterator, the timeout counted from the call", function()
    local ex <close> = helpers.pool(1)
    local ev = thread.Event()
    local slow = gated(ex, ev, "late")
    local quick = done_future("early")
    local t0 = concurrent.monotonic()
    local iter, s, c, closing = futures.as_completed({slow, quick}, 0.3)
    concurrent.sleep(0.2)              -- part of the timeout is used up here
    local yielded = {}
    local ok, err = pcall(function()
      for f in iter, s, c, closing do yielded[#yielded + 1] = f end
    end)
    local elapsed = concurrent.monotonic() - t0
    ev:set()
    assert.is_false(ok)
    assert.is_true(futures.iserror(err, futures.TimeoutError))
    assert.matches("1 %(of 2%) futures unfinished", tostring(err))
    assert.same({quick}, yielded)
    assert.is_true(elapsed >= 0.3 * helpers.EARLY)
    assert.is_true(elapsed < 0.3 + helpers.LATE)
    assert.is_true(elapsed < 0.5 + 0.2 * helpers.LATE, "timeout is not counted from the call")
    assert.equal(0, closing:pending())   -- the waiter was removed
  end)

  it("does not time out when everything is done, even with a timeout of 0", function()
    local n = 0
    for _ in futures.as_completed({done_future(1), done_future(2)}, 0) do n = n + 1 end
    assert.equal(2, n)
  end)

  it("removes its waiter from every future when the loop is left early", function()
    if not helpers.HAS_CLOSE then return pending(helpers.NO_CLOSE) end
    local ex <close> = helpers.pool(2)
    local ev = thread.Event()
    local a, b = done_future(1), gated(ex, ev, 2)
    local iter, s, c, closing = futures.as_completed({a, b})
    assert.equal(2, closing:pending())
    for _ in iter, s, c, closing do break end
    assert.equal(0, closing:pending())
    ev:set()
    assert.equal(2, b:result())
    assert.is_nil(closing:next(0))       -- b finished after: not queued
  end)

  it("removes its waiter when the loop body raises", function()
    if not helpers.HAS_CLOSE then return pending(helpers.NO_CLOSE) end
    local ev = thread.Event()
    local ex <close> = helpers.pool(1)
    local pending = gated(ex, ev, 1)
    local iter, s, c, closing = futures.as_completed({done_future(1), pending})
    local ok = pcall(function()
      for _ in iter, s, c, closing do error("stop") end
    end)
    assert.is_false(ok)
    assert.equal(0, closing:pending())
    ev:set()
  end)

  it("keeps its waiter in the calling state (it cannot be sent)", function()
    local ex <close> = helpers.pool(1)
    local _, _, _, closing = futures.as_completed({done_future(1)})
    assert.matches("cannot send concurrent%.Waiter at args%[1%]: it cannot cross", helpers.error_of(ex.submit, ex, function() end, closing))
    closing:close()
  end)

  it("also yields cancelled futures", function()
    local f = futures.Future()
    assert.is_true(f:cancel())
    local got
    for x in futures.as_completed({f}) do got = x end
    assert.equal(f, got)
    assert.is_true(got:cancelled())
  end)

  it("rejects what is not a sequence of futures", function()
    assert.matches("bad argument #1 to 'as_completed' %(table of futures expected, got number%)",
      helpers.error_of(futures.as_completed, 3))
    assert.matches("bad argument #1 to 'as_completed' %(fs%[2%] is a string, not a Future%)",
      helpers.error_of(futures.as_completed, {done_future(1), "x"}))
    assert.matches("bad argument #2 to 'as_completed' %(timeout must be a non%-negative number",
      helpers.error_of(futures.as_completed, {}, -1))
  end)
end)

describe("wait", function()
  it("waits for all by default and keeps the order of fs", function()
    local ex <close> = helpers.pool(3)
    local fs = {}
    for i = 1, 3 do
      fs[i] = ex:submit(function(k) require("concurrent").sleep(0.01 * (4 - k)); return k end, i)
    end
    local done, not_done = futures.wait(fs)
    assert.same({}, not_done)
    assert.equal(3, #done)
    for i = 1, 3 do
      assert.equal(fs[i], done[i])
      assert.equal(i, done[i]:result(0))
    end
  end)

  it("returns what is done when the timeout passes", function()
    local ex <close> = helpers.pool(1)
    local ev = thread.Event()
    local slow, quick = gated(ex, ev, 1), done_future(2)
    local t0 = concurrent.monotonic()
    local done, not_done = futures.wait({slow, quick}, 0.2)
    local elapsed = concurrent.monotonic() - t0
    ev:set()
    assert.same({quick}, done)
    assert.same({slow}, not_done)
    assert.is_true(elapsed >= 0.2 * helpers.EARLY)
    assert.is_true(elapsed < 0.2 + helpers.LATE)
  end)

  it("returns at once with a timeout of 0", function()
    local pending = futures.Future()
    local t0 = concurrent.monotonic()
    local done, not_done = futures.wait({pending, done_future(1)}, 0)
    assert.is_true(concurrent.monotonic() - t0 < helpers.LATE)
    assert.equal(1, #done)
    assert.same({pending}, not_done)
  end)

  it("FIRST_COMPLETED returns as soon as one is done", function()
    local ex <close> = helpers.pool(2)
    local ev1, ev2 = thread.Event(), thread.Event()
    local a, b = gated(ex, ev1, "a"), gated(ex, ev2, "b")
    ev2:set()
    local t0 = concurrent.monotonic()
    local done, not_done = futures.wait({a, b}, 30, futures.FIRST_COMPLETED)
    local elapsed = concurrent.monotonic() - t0
    ev1:set()
    assert.same({b}, done)
    assert.same({a}, not_done)
    assert.is_true(elapsed < helpers.LATE)
  end)

  it("FIRST_EXCEPTION returns as soon as one fails", function()
    local ex <close> = helpers.pool(3)
    local ok_ev, fail_ev, slow_ev = thread.Event(), thread.Event(), thread.Event()
    local good = gated(ex, ok_ev, "fine")
    local bad = gated(ex, fail_ev, "broken", true)
    local slow = gated(ex, slow_ev, "slow")
    ok_ev:set()
    assert.equal("fine", good:result())
    fail_ev:set()
    local t0 = concurrent.monotonic()
    local done, not_done = futures.wait({good, bad, slow}, 30, futures.FIRST_EXCEPTION)
    local elapsed = concurrent.monotonic() - t0
    slow_ev:set()
    assert.same({good, bad}, done)
    assert.same({slow}, not_done)
    assert.equal("broken", bad:exception())
    assert.is_true(elapsed < helpers.LATE)
  end)

  it("FIRST_EXCEPTION counts a task that raised nil", function()
    local ex <close> = helpers.pool(2)
    local ev = thread.Event()
    local bad = ex:submit(function() error(nil) end)
    local slow = gated(ex, ev, "slow")
    local done, not_done = futures.wait({bad, slow}, 30, futures.FIRST_EXCEPTION)
    ev:set()
    assert.same({bad}, done)
    assert.same({slow}, not_done)
  end)

  it("FIRST_EXCEPTION does not count a cancelled future, and waits for all without a failure", function()
    local ex <close> = helpers.pool(2)
    local ev = thread.Event()
    local cancelled = futures.Future()
    cancelled:cancel()
    local a = gated(ex, ev, "a")
    -- a is still blocked when wait starts; this task lets it go later
    local t = ex:submit(function(e) require("concurrent").sleep(0.1); e:set(); return "t" end, ev)
    local done, not_done = futures.wait({cancelled, a, t}, 30, futures.FIRST_EXCEPTION)
    assert.same({cancelled, a, t}, done)
    assert.same({}, not_done)
  end)

  it("lists a future given several times once", function()
    local a = done_future(1)
    local done, not_done = futures.wait({a, a, a})
    assert.same({a}, done)
    assert.same({}, not_done)
  end)

  it("rejects a bad return_when, timeout or sequence", function()
    assert.matches("bad argument #3 to 'wait' %(ALL_COMPLETED, FIRST_COMPLETED or FIRST_EXCEPTION expected, got bogus%)",
      helpers.error_of(futures.wait, {}, nil, "bogus"))
    assert.matches("bad argument #2 to 'wait' %(timeout must be a non%-negative number",
      helpers.error_of(futures.wait, {}, 0 / 0))
    assert.matches("bad argument #1 to 'wait'", helpers.error_of(futures.wait, nil))
  end)
end)
