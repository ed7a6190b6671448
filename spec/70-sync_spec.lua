--- concurrent.thread's shared objects: Lock, RLock, Condition, Semaphore,
-- BoundedSemaphore, Event, Barrier, Queue, Value, Dict -- alone and under
-- real threads (the lost-update tests, producer/consumer, barriers).
local thread = require "concurrent.thread"
local futures = require "concurrent.futures"
local concurrent = require "concurrent"
local helpers = require "helpers"

local EARLY, LATE = helpers.EARLY, helpers.LATE

-- Start a thread running fn(...); returns it.
local function spawn(fn, ...)
  local t = thread.Thread{target = fn, args = table.pack(...)}
  t:start()
  return t
end

local function join_all(ts)
  for i = 1, #ts do assert.is_true(ts[i]:join(60)) end
end

-- Seconds that fn(...) took, and its first result.
local function timed(fn, ...)
  local t0 = concurrent.monotonic()
  local r = fn(...)
  return concurrent.monotonic() - t0, r
end

describe("Lock", function()
  it("acquires, reports locked, releases", function()
    local l = thread.Lock()
    assert.is_false(l:locked())
    assert.is_true(l:acquire())
    assert.is_true(l:locked())
    assert.is_false(l:acquire(false))
    l:release()
    assert.is_false(l:locked())
    assert.matches("cannot release un%-acquired lock", helpers.error_of(l.release, l))
  end)

  it("times out an acquire on a monotonic deadline", function()
    local l = thread.Lock()
    l:acquire()
    local dt, ok = timed(l.acquire, l, true, 0.1)
    assert.is_false(ok)
    assert.is_true(dt >= 0.1 * EARLY and dt < 0.1 + LATE)
    assert.is_false(l:acquire(true, 0))
  end)

  it("checks its arguments", function()
    local l = thread.Lock()
    assert.matches("cannot specify a timeout for a non%-blocking call", helpers.error_of(l.acquire, l, false, 1))
    assert.matches("timeout must be a non%-negative number", helpers.error_of(l.acquire, l, true, -1))
    assert.matches("timeout must be a non%-negative number", helpers.error_of(l.acquire, l, true, 0 / 0))
    assert.matches("boolean expected", helpers.error_of(l.acquire, l, 5))
  end)

  it("may be released by another thread, as in Python", function()
    local l = thread.Lock()
    l:acquire()
    spawn(function(lk) lk:release() end, l):join()
    assert.is_false(l:locked())
  end)

  it("wakes a thread blocked in acquire when released", function()
    local l, got = thread.Lock(), thread.Event()
    l:acquire()
    local t = spawn(function(lk, ev) lk:acquire(true, 60); ev:set(); lk:release() end, l, got)
    assert.is_false(got:wait(0.05))
    l:release()
    assert.is_true(got:wait(10))
    t:join()
  end)

  it("guard() releases at the end of the scope, also on error", function()
    if not helpers.HAS_CLOSE then return pending(helpers.NO_CLOSE) end
    local l = thread.Lock()
    do
      local _ <close> = l:guard()
      assert.is_true(l:locked())
    end
    assert.is_false(l:locked())
    local ok = pcall(function()
      local _ <close> = l:guard()
      error("inside")
    end)
    assert.is_false(ok)
    assert.is_false(l:locked())
  end)

  it("guard(timeout) raises TimeoutError when the lock stays held", function()
    local l = thread.Lock()
    l:acquire()
    local err = helpers.error_of(l.guard, l, 0.05)
    assert.is_true(futures.iserror(err, futures.TimeoutError))
    l:release()
  end)

  it("protects a read-modify-write of a Dict entry across threads", function()
    local l, d = thread.Lock(), thread.Dict{n = 0}
    local ts = {}
    for i = 1, 4 do
      ts[i] = spawn(function(lk, dict)
        for _ = 1, 2000 do
          lk:with(function() dict.n = dict.n + 1 end)
        end
      end, l, d)
    end
    join_all(ts)
    assert.equal(8000, d.n)
  end)
end)

describe("RLock", function()
  it("is re-entrant for its owner and counts levels", function()
    local r = thread.RLock()
    assert.is_true(r:acquire())
    assert.is_true(r:acquire())
    r:release()
    assert.is_true(r:locked())
    r:release()
    assert.is_false(r:locked())
    assert.matches("cannot release un%-acquired lock", helpers.error_of(r.release, r))
  end)

  it("can only be released by the thread that holds it", function()
    local r, q = thread.RLock(), thread.Queue()
    r:acquire()
    spawn(function(lk, out)
      out:put((select(2, pcall(lk.release, lk))))
      out:put(lk:acquire(false))
    end, r, q):join()
    assert.matches("cannot release un%-acquired lock", q:get_nowait())
    assert.is_false(q:get_nowait())
    assert.is_true(r:locked())
    r:release()
  end)

  it("guard() nests", function()
    if not helpers.HAS_CLOSE then return pending(helpers.NO_CLOSE) end
    local r = thread.RLock()
    do
      local _ <close> = r:guard()
      do
        local _ <close> = r:guard()
      end
      assert.is_true(r:locked())
    end
    assert.is_false(r:locked())
  end)

  it("with(fn, ...) holds the lock while fn runs, and releases it on return and on error", function()
    for _, lock in ipairs{thread.Lock(), thread.RLock(), thread.Condition(), thread.Semaphore(1)} do
      local a, b = lock:with(function(x, y)
        if lock.locked then assert.is_true(lock:locked()) end
        return x + 1, y
      end, 1, "two")
      assert.equal(2, a)
      assert.equal("two", b)
      assert.is_true(lock:acquire(false))     -- released
      lock:release()
      local err = {}
      local ok, e = pcall(lock.with, lock, function() error(err) end)
      assert.is_false(ok)
      assert.equal(err, e)                    -- the error value itself
      assert.is_true(lock:acquire(false))     -- released after the error
      lock:release()
    end
    local lock = thread.Lock()
    assert.matches("bad argument #1 to 'with' %(function expected, got number%)",
      helpers.error_of(function() lock:with(3) end))
    assert.is_false(lock:locked())
  end)
end)

describe("Condition", function()
  it("wait() needs the lock, and returns false on timeout", function()
    local c = thread.Condition()
    assert.matches("cannot wait on un%-acquired lock", helpers.error_of(c.wait, c, 0))
    assert.matches("cannot notify on un%-acquired lock", helpers.error_of(c.notify, c))
    c:acquire()
    local dt, ok = timed(c.wait, c, 0.1)
    assert.is_false(ok)
    assert.is_true(dt >= 0.1 * EARLY and dt < 0.1 + LATE)
    c:release()
  end)

  it("wakes a waiting thread with notify", function()
    local c, v, q = thread.Condition(), thread.Value(0), thread.Queue()
    local t = spawn(function(cond, val, out)
      cond:with(function()
        while val:get() == 0 do cond:wait(10) end
        out:put(val:get())
      end)
    end, c, v, q)
    concurrent.sleep(0.05)
    c:with(function()
      v:set(42)
      c:notify()
    end)
    t:join()
    assert.equal(42, q:get_nowait())
  end)

  it("wait_for returns the predicate's value once true", function()
    local c, v = thread.Condition(thread.Lock()), thread.Value(0)
    local t = spawn(function(cond, val)
      for _ = 1, 3 do
        require("concurrent").sleep(0.02)
        cond:with(function()
          val:add(1)
          cond:notify_all()
        end)
      end
    end, c, v)
    c:acquire()
    local r = c:wait_for(function() return v:get() >= 3 and "ready" end, 10)
    c:release()
    assert.equal("ready", r)
    t:join()
  end)

  it("wait_for with a timeout returns the last false value after one deadline", function()
    local c = thread.Condition()
    local calls = 0
    local ticker = spawn(function(cond)           -- wakes it often: the deadline must hold
      local stop = require("concurrent").monotonic() + 0.3
      while require("concurrent").monotonic() < stop do
        cond:with(function()
          cond:notify_all()
          require("concurrent").sleep(0.005)
        end)
      end
    end, c)
    c:acquire()
    local dt, r = timed(c.wait_for, c, function() calls = calls + 1; return false end, 0.15)
    c:release()
    ticker:join()
    assert.is_false(r)
    assert.is_true(dt >= 0.15 * EARLY and dt < 0.15 + LATE)
    assert.is_true(calls >= 2)
  end)

  it("notify(n) wakes n waiters, notify_all the rest", function()
    local c, woke = thread.Condition(), thread.Value(0)
    local ready = thread.Semaphore(0)
    local ts = {}
    for i = 1, 3 do
      ts[i] = spawn(function(cond, w, rd)
        cond:with(function()
          rd:release()
          cond:wait(60)
          w:add(1)
        end)
      end, c, woke, ready)
    end
    for _ = 1, 3 do ready:acquire() end
    c:acquire(); c:notify(1); c:release()
    concurrent.sleep(0.1)
    assert.equal(1, woke:get())
    c:acquire(); c:notify_all(); c:release()
    join_all(ts)
    assert.equal(3, woke:get())
  end)

  it("takes only a Lock or an RLock", function()
    assert.matches("Lock or RLock expected", helpers.error_of(thread.Condition, 3))
    assert.matches("Lock or RLock expected", helpers.error_of(thread.Condition, thread.Event()))
  end)
end)

describe("Semaphore", function()
  it("counts", function()
    local s = thread.Semaphore(2)
    assert.is_true(s:acquire())
    assert.is_true(s:acquire(false))
    assert.is_false(s:acquire(false))
    assert.is_false(s:acquire(true, 0.02))
    s:release(2)
    assert.is_true(s:acquire(false))
    assert.matches("value must be a non%-negative integer", helpers.error_of(thread.Semaphore, -1))
    assert.matches("n must be a positive integer", helpers.error_of(s.release, s, 0))
  end)

  it("bounds concurrency: at most value holders at once", function()
    local s, inside, peak = thread.Semaphore(2), thread.Value(0), thread.Value(0)
    local ts = {}
    for i = 1, 5 do
      ts[i] = spawn(function(sem, cur, pk)
        for _ = 1, 20 do
          sem:with(function()
            local n = cur:add(1)
            local p = pk:get()
            while n > p and not pk:compare_and_set(p, n) do p = pk:get() end
            require("concurrent").sleep(0.001)
            cur:add(-1)
          end)
        end
      end, s, inside, peak)
    end
    join_all(ts)
    assert.is_true(peak:get() <= 2)
    assert.is_true(peak:get() >= 1)
    assert.equal(0, inside:get())
  end)

  it("BoundedSemaphore refuses to go past its initial value", function()
    local b = thread.BoundedSemaphore(1)
    assert.matches("released too many times", helpers.error_of(b.release, b))
    b:acquire()
    b:release()
    assert.matches("released too many times", helpers.error_of(b.release, b))
    local u = thread.Semaphore(1)
    u:release()                                 -- unbounded: fine
    assert.equal(2, u:_value())
  end)
end)

describe("tostring of 64-bit counts", function()
  it("shows a Semaphore's real value past 32 bits", function()
    assert.matches("value=4294967296%)", tostring(thread.Semaphore(2^32)))
    assert.matches("value=2147483648%)", tostring(thread.BoundedSemaphore(2^31)))
  end)

  it("shows a Barrier's real parties past 32 bits", function()
    assert.matches("0/4294967296 waiting", tostring(thread.Barrier(2^32)))
  end)
end)

describe("Event", function()
  it("sets, clears, waits", function()
    local e = thread.Event()
    assert.is_false(e:is_set())
    local dt, ok = timed(e.wait, e, 0.05)
    assert.is_false(ok)
    assert.is_true(dt >= 0.05 * EARLY)
    e:set()
    assert.is_true(e:is_set())
    assert.is_true(e:wait())
    e:clear()
    assert.is_false(e:is_set())
  end)

  it("wakes every waiting thread", function()
    local e, n = thread.Event(), thread.Value(0)
    local ts = {}
    for i = 1, 3 do ts[i] = spawn(function(ev, c) if ev:wait(10) then c:add(1) end end, e, n) end
    concurrent.sleep(0.05)
    e:set()
    join_all(ts)
    assert.equal(3, n:get())
  end)
end)

describe("Barrier", function()
  it("releases a round together with distinct indices", function()
    local b, q = thread.Barrier(3), thread.Queue()
    assert.equal(3, b.parties)
    assert.equal(0, b.n_waiting)
    assert.is_false(b.broken)
    local ts = {}
    for i = 1, 3 do ts[i] = spawn(function(bar, out) out:put(bar:wait(10)) end, b, q) end
    join_all(ts)
    local seen = {}
    for _ = 1, 3 do seen[q:get_nowait()] = true end
    assert.same({[0] = true, [1] = true, [2] = true}, seen)
    assert.is_false(b.broken)
  end)

  it("is reusable for several rounds", function()
    local b, total = thread.Barrier(2), thread.Value(0)
    local t = spawn(function(bar, tot) for _ = 1, 5 do bar:wait(10); tot:add(1) end end, b, total)
    for _ = 1, 5 do b:wait(10) end
    t:join()
    assert.equal(5, total:get())
  end)

  it("breaks when a wait times out: that waiter and the others get BrokenBarrierError", function()
    local b, q = thread.Barrier(3), thread.Queue()
    local t = spawn(function(bar, out)
      local ok, err = pcall(bar.wait, bar, 10)
      out:put(ok and "passed" or err.name)
    end, b, q)
    local dt = timed(function()
      local err = helpers.error_of(b.wait, b, 0.1)
      assert.is_true(futures.iserror(err, thread.BrokenBarrierError))
    end)
    assert.is_true(dt >= 0.1 * EARLY and dt < 0.1 + LATE)
    t:join()
    assert.equal("BrokenBarrierError", q:get_nowait())
    assert.is_true(b.broken)
    assert.is_true(futures.iserror(helpers.error_of(b.wait, b, 0), thread.BrokenBarrierError))
    b:reset()
    assert.is_false(b.broken)
    local t2 = spawn(function(bar) bar:wait(10) end, b)
    local t3 = spawn(function(bar) bar:wait(10) end, b)
    assert.is_number(b:wait(10))
    join_all({t2, t3})
  end)

  it("abort wakes the waiters with BrokenBarrierError until reset", function()
    local b, q = thread.Barrier(3), thread.Queue()
    local ts = {}
    for i = 1, 2 do
      ts[i] = spawn(function(bar, out)
        local ok, err = pcall(bar.wait, bar, 60)
        out:put(ok and "passed" or err.name)
      end, b, q)
    end
    local t0 = concurrent.monotonic()
    while b.n_waiting < 2 and concurrent.monotonic() - t0 < 10 do concurrent.sleep(0.005) end
    assert.equal(2, b.n_waiting)
    b:abort()
    join_all(ts)
    assert.equal("BrokenBarrierError", q:get_nowait())
    assert.equal("BrokenBarrierError", q:get_nowait())
    assert.is_true(b.broken)
    b:reset()
    assert.is_false(b.broken)
    assert.matches("parties must be a positive integer", helpers.error_of(thread.Barrier, 0))
  end)
end)

describe("Queue", function()
  it("is FIFO and copies its values", function()
    local q = thread.Queue()
    local t = {1, {2}}
    q:put(t)
    t[1] = "changed"
    q:put("s"); q:put(nil); q:put(3.5)
    assert.equal(4, q:qsize())
    local got = q:get()
    assert.same({1, {2}}, got)
    assert.equal("s", q:get())
    assert.is_nil(q:get())
    local f = q:get()
    assert.equal(3.5, f)
    if helpers.HAS_INTEGERS then assert.equal("float", math.type(f)) end
    assert.is_true(q:empty())
  end)

  it("reads maxsize as a number field, as Python's attribute", function()
    assert.equal(1, thread.Queue(1).maxsize)
    assert.equal(0, thread.Queue().maxsize)
    if helpers.HAS_INTEGERS then assert.equal("integer", math.type(thread.Queue(7).maxsize)) end
    local q = thread.Queue(2)
    q:put(1)                               -- methods are still found
    assert.equal(1, q:qsize())
  end)

  it("shows its real 64-bit maxsize in tostring", function()
    assert.matches("maxsize=2147483648%)", tostring(thread.Queue(2^31)))
    assert.matches("maxsize=4294967296%)", tostring(thread.Queue(2^32)))
  end)

  it("raises Empty and Full error objects", function()
    local q = thread.Queue(1)
    local e = helpers.error_of(q.get_nowait, q)
    assert.is_true(futures.iserror(e, thread.Empty))
    assert.equal("Empty", e.name)
    q:put_nowait(1)
    assert.is_true(q:full())
    local f = helpers.error_of(q.put_nowait, q, 2)
    assert.is_true(futures.iserror(f, thread.Full))
    assert.is_true(futures.iserror(helpers.error_of(q.put, q, 2, false), thread.Full))
    local dt = timed(function() helpers.error_of(q.put, q, 2, true, 0.05) end)
    assert.is_true(dt >= 0.05 * EARLY and dt < 0.05 + LATE)
    assert.equal(1, q:get())
    dt = timed(function()
      assert.is_true(futures.iserror(helpers.error_of(q.get, q, true, 0.05), thread.Empty))
    end)
    assert.is_true(dt >= 0.05 * EARLY and dt < 0.05 + LATE)
    assert.is_true(thread.Empty == futures.Empty or thread.Empty == require("concurrent.core").Empty)
  end)

  it("checks its arguments", function()
    local q = thread.Queue()
    assert.matches("bad argument #1 to 'put' %(value expected%)", helpers.error_of(q.put, q))
    assert.matches("boolean expected", helpers.error_of(q.get, q, 5))
    assert.matches("timeout must be a non%-negative number", helpers.error_of(q.get, q, true, -1))
    assert.matches("cannot send userdata %(FILE%*%) at item", helpers.error_of(q.put, q, io.stdout))
    assert.equal(0, q:qsize())
  end)

  it("blocks a get until a thread puts, and a put until a thread gets", function()
    local q = thread.Queue(1)
    local t = spawn(function(qq) require("concurrent").sleep(0.05); qq:put("late") end, q)
    assert.equal("late", q:get(true, 10))
    t:join()
    q:put("a")
    t = spawn(function(qq) require("concurrent").sleep(0.05); qq:get() end, q)
    q:put("b", true, 10)
    t:join()
    assert.equal("b", q:get_nowait())
  end)

  it("task_done and join count the work done", function()
    local q = thread.Queue()
    for i = 1, 10 do q:put(i) end
    assert.is_false(q:join(0.01))
    local t = spawn(function(qq)
      while true do
        local v = qq:get(true, 60)
        qq:task_done()
        if v == 10 then break end
      end
    end, q)
    assert.is_true(q:join(10))
    t:join()
    assert.matches("task_done%(%) called too many times", helpers.error_of(q.task_done, q))
  end)

  it("moves every item exactly once between several producers and consumers", function()
    local q, results = thread.Queue(8), thread.Queue()
    local PRODUCERS, CONSUMERS, N = 3, 3, 2000
    local ps, cs = {}, {}
    for p = 1, PRODUCERS do
      ps[p] = spawn(function(qq, id, n) for i = 1, n do qq:put(id * 1000000 + i) end end, q, p, N)
    end
    for c = 1, CONSUMERS do
      cs[c] = spawn(function(qq, out)
        local got = {}
        while true do
          local v = qq:get(true, 60)
          if v == false then break end
          got[#got + 1] = v
        end
        out:put(got)
      end, q, results)
    end
    join_all(ps)
    for _ = 1, CONSUMERS do q:put(false) end
    join_all(cs)
    local seen, count = {}, 0
    for _ = 1, CONSUMERS do
      for _, v in ipairs(results:get_nowait()) do
        assert.is_nil(seen[v])
        seen[v] = true
        count = count + 1
      end
    end
    assert.equal(PRODUCERS * N, count)
    for p = 1, PRODUCERS do
      for i = 1, N do assert.is_true(seen[p * 1000000 + i]) end
    end
  end)
end)

describe("what cannot cross", function()
  it("is refused by Queue:put and Value:set, with nothing lost", function()
    local ex = require("concurrent.core").waiter()   -- stays in its state
    local q = thread.Queue()
    q:put("first")
    assert.matches("cannot send concurrent%.Waiter at item",
      helpers.error_of(q.put, q, ex))
    assert.matches("cannot send concurrent%.Waiter at item%.pool",
      helpers.error_of(q.put, q, {pool = ex}))
    assert.equal(1, q:qsize())
    assert.equal("first", q:get_nowait())
    assert.is_true(q:empty())
    local v = thread.Value("kept")
    assert.matches("cannot send concurrent%.Waiter", helpers.error_of(v.set, v, ex))
    assert.equal("kept", v:get())
    local d = thread.Dict()
    assert.matches("cannot send concurrent%.Waiter", helpers.error_of(function() d.k = ex end))
    assert.is_nil(d.k)
  end)

  it("lets the library's objects come back as the same Lua value", function()
    local q = thread.Queue()
    local lock, f = thread.Lock(), futures.Future()
    q:put(lock); q:put({f = f})
    assert.is_true(rawequal(lock, q:get_nowait()))
    local keyed = {[f] = 1}
    assert.equal(1, keyed[q:get_nowait().f])
  end)
end)

describe("Value", function()
  it("gets, sets, starts as nil or the value given", function()
    assert.is_nil(thread.Value():get())
    local v = thread.Value({a = 1})
    assert.same({a = 1}, v:get())
    v:set("x")
    assert.equal("x", v:get())
  end)

  it("add keeps Lua's integer/float rules and returns the new number", function()
    if not helpers.HAS_INTEGERS then return pending(helpers.NO_INTEGERS) end
    local v = thread.Value(1)
    assert.equal(3, v:add(2))
    assert.equal("integer", math.type(v:get()))
    assert.equal(3.5, v:add(0.5))
    assert.equal("float", math.type(v:get()))
    local i = thread.Value(math.maxinteger)
    assert.equal(math.mininteger, i:add(1))      -- wraps, as Lua integers do
    assert.matches("cannot add to a Value holding string", helpers.error_of(v.add, thread.Value("s"), 1))
    assert.matches("cannot add to a Value holding nil", helpers.error_of(v.add, thread.Value(), 1))
    assert.matches("number expected", helpers.error_of(v.add, v, "1"))
  end)

  it("compare_and_set swaps only from the expected value", function()
    local v = thread.Value(1)
    assert.is_false(v:compare_and_set(2, 3))
    assert.equal(1, v:get())
    assert.is_true(v:compare_and_set(1.0, "one"))  -- 1 == 1.0, as in Lua
    assert.is_true(v:compare_and_set("one", {t = true}))
    assert.same({t = true}, v:get())
    assert.matches("nil, boolean, number or string expected",
      helpers.error_of(v.compare_and_set, v, {}, 1))
    local e = thread.Value()
    assert.is_true(e:compare_and_set(nil, false))
    assert.is_true(e:compare_and_set(false, nil))
    assert.is_nil(e:get())
  end)

  it("loses no update: 4 threads each adding 1 100,000 times end at 400,000", function()
    local v = thread.Value(0)
    local ts = {}
    for i = 1, 4 do ts[i] = spawn(function(val) for _ = 1, 100000 do val:add(1) end end, v) end
    join_all(ts)
    assert.equal(400000, v:get())
  end)

  it("loses no update with compare_and_set loops either", function()
    local v = thread.Value(0)
    local ts = {}
    for i = 1, 4 do
      ts[i] = spawn(function(val)
        for _ = 1, 5000 do
          repeat local old = val:get() until val:compare_and_set(old, old + 1)
        end
      end, v)
    end
    join_all(ts)
    assert.equal(20000, v:get())
  end)
end)

describe("Dict", function()
  it("is a shared table of copied values", function()
    local d = thread.Dict()
    local t = {1, 2}
    d.list = t
    t[1] = "changed"
    assert.same({1, 2}, d.list)
    d[1] = "one"; d[2.0] = "two"; d[true] = "yes"
    assert.equal("two", d[2])                      -- 2.0 and 2 are one key, as in Lua
    assert.equal("yes", d:get(true))
    assert.equal(4, d:len())
    assert.equal(4, #d)
    assert.same({"list", 1, 2, true}, d:keys())   -- insertion order
    d[1] = nil
    assert.is_nil(d[1])
    assert.equal(3, #d)
    d:set("k", "v")
    assert.equal("v", d.k)
    d:set("k", nil)
    assert.is_nil(d:get("k"))
    assert.equal("default", d:get("missing", "default"))
  end)

  it("refuses keys that are not scalars", function()
    local d = thread.Dict()
    assert.matches("a Dict key must be a boolean, number or string, got table",
      helpers.error_of(function() d[{}] = 1 end))
    assert.matches("key is nil", helpers.error_of(d.set, d, nil, 1))
    assert.matches("key is NaN", helpers.error_of(d.get, d, 0 / 0))
    assert.matches("cannot send userdata %(FILE%*%) at value", helpers.error_of(d.set, d, "f", io.stdout))
  end)

  it("reads methods first: a key named like one is read with get", function()
    local d = thread.Dict{keys = 1}
    assert.equal("function", type(d.keys))
    assert.equal(1, d:get("keys"))
  end)

  it("iterates with pairs", function()
    if not helpers.HAS_PAIRS then return pending(helpers.NO_PAIRS) end
    local d = thread.Dict{a = 1, b = 2, c = 3}
    local seen = {}
    for k, v in pairs(d) do seen[k] = v end
    assert.same({a = 1, b = 2, c = 3}, seen)
  end)

  it("update returns the new value; nil deletes", function()
    local d = thread.Dict()
    assert.equal(1, d:update("n", function(x) return (x or 0) + 1 end))
    assert.equal(2, d:update("n", function(x) return x + 1 end))
    assert.is_nil(d:update("n", function() return nil end))
    assert.equal(0, #d)
  end)

  it("an error in update's function releases the update for the others", function()
    local d = thread.Dict{n = 0}
    local err = helpers.error_of(d.update, d, "n", function() error("no luck") end)
    assert.matches("no luck", err)
    local t = spawn(function(dict) dict.n = 5 end, d)   -- would wait forever if still held
    assert.is_true(t:join(10))
    assert.equal(5, d.n)
  end)

  it("update is atomic against sets from other threads, and nests", function()
    local d = thread.Dict{n = 0}
    local entered, go = thread.Event(), thread.Event()
    local t
    d:update("n", function(x)
      t = spawn(function(dict, e) e:set(); dict.n = 100 end, d, entered)
      entered:wait(10)
      concurrent.sleep(0.05)
      d.other = "mine"                               -- the holder may write
      assert.equal(0, d.n)                           -- the other thread's set waits
      return x + 1
    end)
    t:join()
    assert.equal(100, d.n)
    assert.equal("mine", d.other)
    go:set()
  end)

  it("loses no update: 4 threads each updating 100,000 times end at 400,000", function()
    local d = thread.Dict()
    local ts = {}
    for i = 1, 4 do
      ts[i] = spawn(function(dict)
        local inc = function(x) return (x or 0) + 1 end
        for _ = 1, 100000 do dict:update("n", inc) end
      end, d)
    end
    join_all(ts)
    assert.equal(400000, d.n)
  end)
end)
