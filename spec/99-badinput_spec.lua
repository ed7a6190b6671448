--- The bad-input catalogue: every public function given wrong types,
-- missing arguments, negative or NaN timeouts, huge counts and values that
-- cannot cross. Each call must fail with a clear error (a plain string
-- naming the argument for misuse, an error object of the documented class
-- for a library condition), never crash or hang, and the library must
-- stay usable afterwards.
local futures = require "concurrent.futures"
local concurrent = require "concurrent"
local thread = require "concurrent.thread"
local process = require "concurrent.process"
local helpers = require "helpers"

local NaN = 0 / 0
local INF = math.huge
local BIG = math.maxinteger or 2 ^ 63     -- 5.1: past every integer

local function nest(depth)
  local t = {}
  for _ = 1, depth do t = {t} end
  return t
end

-- Objects the entries use, made once (closed at the end).
local ex = futures.ThreadPoolExecutor(2)
local done = futures.Future()
done:set_result(1)
local pending = futures.Future()
local co = coroutine.create(function() end)
local fn = function(x) return x end

-- Each entry: a description, the call, and what its error must match
-- (a Lua pattern for a string, or an error class).
local catalogue = {
  -- concurrent
  {"sleep(-1)", function() concurrent.sleep(-1) end, "bad argument #1"},
  {"sleep(NaN)", function() concurrent.sleep(NaN) end, "bad argument #1"},
  {"sleep('x')", function() concurrent.sleep("x") end, "bad argument #1"},
  {"sleep()", function() concurrent.sleep() end, "bad argument #1"},

  -- ThreadPoolExecutor
  {"ThreadPoolExecutor('x')", function() futures.ThreadPoolExecutor("x") end, "max_workers"},
  {"ThreadPoolExecutor(0)", function() futures.ThreadPoolExecutor(0) end, "max_workers"},
  {"ThreadPoolExecutor(-3)", function() futures.ThreadPoolExecutor(-3) end, "max_workers"},
  {"ThreadPoolExecutor(1.5)", function() futures.ThreadPoolExecutor(1.5) end, "max_workers"},
  {"ThreadPoolExecutor(NaN)", function() futures.ThreadPoolExecutor(NaN) end, "max_workers"},
  {"ThreadPoolExecutor(inf)", function() futures.ThreadPoolExecutor(INF) end, "max_workers"},
  {"ThreadPoolExecutor(maxinteger)", function() futures.ThreadPoolExecutor(BIG) end, "max_workers"},
  {"ThreadPoolExecutor{unknown option}", function() futures.ThreadPoolExecutor{workers = 2} end, "unknown option"},
  {"ThreadPoolExecutor{initializer = 1}", function() futures.ThreadPoolExecutor{initializer = 1} end, "initializer"},
  {"ThreadPoolExecutor{initargs = 1}", function() futures.ThreadPoolExecutor{initializer = fn, initargs = 1} end, "initargs"},
  {"ThreadPoolExecutor{initargs with a coroutine}", function()
    futures.ThreadPoolExecutor{initializer = fn, initargs = {co}} end, "cannot send coroutine"},
  {"ThreadPoolExecutor{thread_name_prefix = {}}", function() futures.ThreadPoolExecutor{thread_name_prefix = {}} end, "thread_name_prefix"},

  -- submit
  {"submit()", function() ex:submit() end, "bad argument #1 to 'submit'"},
  {"submit(42)", function() ex:submit(42) end, "bad argument #1 to 'submit'"},
  {"submit on a non-executor", function() ex.submit(42, fn) end, "bad argument #1"},
  {"submit(fn, coroutine)", function() ex:submit(fn, co) end, "cannot send coroutine at args%[1%]"},
  {"submit(fn, io.stdout)", function() ex:submit(fn, io.stdout) end, "cannot send userdata %(FILE%*%) at args%[1%]"},
  {"submit(fn, {file = io.stdout})", function() ex:submit(fn, {file = io.stdout}) end, "args%[1%]%.file"},
  {"submit(fn, nested 1000 deep)", function() ex:submit(fn, nest(1000)) end, "nested deeper"},
  {"submit(C closure with upvalues)", function() ex:submit(string.gmatch("a", "a")) end, "cannot send"},
  {"submit(fn with a coroutine upvalue)", function() ex:submit(function() return co end) end, "cannot send coroutine"},

  -- Future
  {"result(-1)", function() done:result(-1) end, "bad argument #1"},
  {"result(NaN)", function() done:result(NaN) end, "bad argument #1"},
  {"result('soon')", function() done:result("soon") end, "bad argument #1"},
  {"result(-inf)", function() pending:result(-INF) end, "bad argument #1"},
  {"result on a non-future", function() done.result(42) end, "bad argument #1"},
  {"exception(-0.5)", function() done:exception(-0.5) end, "bad argument #1"},
  {"result(0) of a pending future", function() pending:result(0) end, futures.TimeoutError},
  {"exception(0.01) of a pending future", function() pending:exception(0.01) end, futures.TimeoutError},
  {"set_result twice", function() done:set_result(2) end, futures.InvalidStateError},
  {"set_exception on a finished future", function() done:set_exception("e") end, futures.InvalidStateError},
  {"set_exception()", function() futures.Future():set_exception() end, "bad argument #1"},
  {"set_result(coroutine)", function() futures.Future():set_result(co) end, "cannot send coroutine"},
  {"add_done_callback(42)", function() pending:add_done_callback(42) end, "bad argument #1"},
  {"add_done_callback()", function() pending:add_done_callback() end, "bad argument #1"},
  {"cancel on a non-future", function() done.cancel({}) end, "bad argument #1"},

  -- waiting
  {"wait(nil)", function() futures.wait(nil) end, "bad argument #1"},
  {"wait({42})", function() futures.wait({42}) end, "bad argument #1"},
  {"wait(fs, -1)", function() futures.wait({done}, -1) end, "bad argument #2"},
  {"wait(fs, NaN)", function() futures.wait({done}, NaN) end, "bad argument #2"},
  {"wait(fs, nil, 'SOON')", function() futures.wait({done}, nil, "SOON") end, "bad argument #3"},
  {"as_completed(nil)", function() futures.as_completed(nil) end, "bad argument #1"},
  {"as_completed(fs, -1)", function() futures.as_completed({done}, -1) end, "bad argument #2"},
  {"as_completed(fs, NaN)", function() futures.as_completed({done}, NaN) end, "bad argument #2"},
  {"as_completed timing out", function()
    for _ in futures.as_completed({pending}, 0.01) do end end, futures.TimeoutError},

  -- map
  {"map(nil, seq)", function() ex:map(nil, {1}) end, "bad argument #1"},
  {"map(fn)", function() ex:map(fn) end, "bad argument #2"},
  {"map(fn, 42)", function() ex:map(fn, 42) end, "bad argument #2"},
  {"map chunksize = 0", function() ex:map(fn, {1}, {chunksize = 0}) end, "chunksize"},
  {"map chunksize = 1.5", function() ex:map(fn, {1}, {chunksize = 1.5}) end, "chunksize"},
  {"map buffersize = -1", function() ex:map(fn, {1}, {buffersize = -1}) end, "buffersize"},
  {"map timeout = -1", function() ex:map(fn, {1}, {timeout = -1}) end, "timeout"},
  {"map timeout = NaN", function() ex:map(fn, {1}, {timeout = NaN}) end, "timeout"},
  {"map of a value that cannot cross", function()
    for _ in ex:map(fn, {co}) do end end, "cannot send coroutine"},

  -- shutdown
  {"shutdown('yes')", function() futures.ThreadPoolExecutor(1):shutdown("yes") end, "bad argument"},

  -- thread: Thread
  {"Thread(42)", function() thread.Thread(42) end, "bad argument"},
  {"Thread{target = 42}", function() thread.Thread{target = 42} end, "target"},
  {"Thread{unknown option}", function() thread.Thread{tagret = fn} end, "tagret"},
  {"Thread{args = 1}", function() thread.Thread{target = fn, args = 1} end, "args"},
  {"Thread start with a coroutine", function() thread.Thread{target = fn, args = {co}}:start() end, "cannot send coroutine"},
  {"Thread join(-1)", function()
    local t = thread.Thread{target = fn}
    t:start()
    local ok, err = pcall(t.join, t, -1)
    t:join()
    error(err)
  end, "bad argument"},

  -- thread: locks and friends
  {"Lock acquire('x')", function() thread.Lock():acquire("x") end, "bad argument"},
  {"Lock acquire(true, -1)", function() thread.Lock():acquire(true, -1) end, "bad argument"},
  {"Lock acquire(true, NaN)", function() thread.Lock():acquire(true, NaN) end, "bad argument"},
  {"Lock release unlocked", function() thread.Lock():release() end, "release"},
  {"RLock release not owned", function() thread.RLock():release() end, "release"},
  {"Condition wait unlocked", function() thread.Condition():wait(0) end, "lock"},
  {"Condition(42)", function() thread.Condition(42) end, "bad argument #1"},
  -- 5.1: BIG is 2^63, past every integer: refused as the argument it is
  {"Condition notify(huge) unlocked", function() thread.Condition():notify(BIG) end,
   math.maxinteger and "lock" or "bad argument #1 to .notify. %(number has no integer representation%)"},
  {"Semaphore(-1)", function() thread.Semaphore(-1) end, "bad argument #1"},
  {"Semaphore(NaN)", function() thread.Semaphore(NaN) end, "bad argument #1"},
  {"BoundedSemaphore release past its value", function() thread.BoundedSemaphore(1):release() end, "release"},
  {"Semaphore release(0)", function() thread.Semaphore(1):release(0) end, "bad argument"},
  {"Semaphore(maxinteger):release(maxinteger)", function()
    thread.Semaphore(BIG):release(BIG) end, "."},
  {"Event wait(-1)", function() thread.Event():wait(-1) end, "bad argument #1"},
  {"Event wait(NaN)", function() thread.Event():wait(NaN) end, "bad argument #1"},
  {"Barrier(0)", function() thread.Barrier(0) end, "bad argument #1"},
  {"Barrier(-5)", function() thread.Barrier(-5) end, "bad argument #1"},
  {"Barrier('x')", function() thread.Barrier("x") end, "bad argument #1"},
  {"Barrier wait(-1)", function() thread.Barrier(2):wait(-1) end, "bad argument #1"},

  -- thread: Queue, Value, Dict
  {"Queue('x')", function() thread.Queue("x") end, "bad argument #1"},
  {"Queue put(coroutine)", function() thread.Queue():put(co) end, "cannot send coroutine"},
  {"Queue put(v, true, -1)", function() thread.Queue():put(1, true, -1) end, "bad argument"},
  {"Queue get(true, NaN)", function() thread.Queue():get(true, NaN) end, "bad argument"},
  {"Queue get_nowait empty", function() thread.Queue():get_nowait() end, thread.Empty},
  {"Queue get(true, 0.01) empty", function() thread.Queue():get(true, 0.01) end, thread.Empty},
  {"Queue put_nowait full", function() local q = thread.Queue(1); q:put(1); q:put_nowait(2) end, thread.Full},
  {"Queue task_done too often", function() thread.Queue():task_done() end, "task_done"},
  {"Queue join(-1)", function() thread.Queue():join(-1) end, "bad argument"},
  {"Value(coroutine)", function() thread.Value(co) end, "cannot send coroutine"},
  {"Value set(io.stdout)", function() thread.Value(1):set(io.stdout) end, "cannot send userdata"},
  {"Value add('x')", function() thread.Value(1):add("x") end, "bad argument"},
  {"Value add to a string", function() thread.Value("s"):add(1) end, "number"},
  {"Dict set(k, coroutine)", function() thread.Dict():set("k", co) end, "cannot send coroutine"},
  {"Dict set(table key)", function() thread.Dict():set({}, 1) end, "bad argument"},
  {"Dict set(nil key)", function() thread.Dict():set(nil, 1) end, "bad argument"},
  {"Dict set(NaN key)", function() thread.Dict():set(NaN, 1) end, "bad argument"},
  {"Dict update(k, 42)", function() thread.Dict():update("k", 42) end, "bad argument"},
  {"Dict update fn returning a coroutine", function()
    thread.Dict():update("k", function() return co end) end, "cannot send coroutine"},

  -- process
  {"Process(42)", function() process.Process(42) end, "bad argument"},
  {"Process{target = 42}", function() process.Process{target = 42} end, "target"},
  {"Process join(-1)", function()
    local p = process.Process{target = fn}
    p:start()
    local ok, err = pcall(p.join, p, -1)
    p:join()
    error(err)
  end, "bad argument"},
  {"ProcessPoolExecutor(0)", function() futures.ProcessPoolExecutor(0) end, "max_workers"},
  {"ProcessPoolExecutor(NaN)", function() futures.ProcessPoolExecutor(NaN) end, "max_workers"},
  {"ProcessPoolExecutor submit(fn, Lock)", function()
    local pp <close> = futures.ProcessPoolExecutor(1)
    pp:submit(fn, thread.Lock())
  end, "cannot send lock"},
  {"ProcessPoolExecutor submit(fn, coroutine)", function()
    local pp <close> = futures.ProcessPoolExecutor(1)
    pp:submit(fn, co)
  end, "cannot send coroutine"},

  -- issue 12: the table form of shutdown is as strict as the positional one
  {"shutdown{wait = 1}", function() futures.ThreadPoolExecutor(1):shutdown{wait = 1} end, "bad argument #1 to 'shutdown' %(wait must be a boolean"},
  {"shutdown{cancel_futures = 'x'}", function() futures.ThreadPoolExecutor(1):shutdown{cancel_futures = "x"} end, "cancel_futures must be a boolean"},
  {"shutdown{unknown key}", function() futures.ThreadPoolExecutor(1):shutdown{wiat = true} end, "unknown option 'wiat'"},
  {"ProcessPoolExecutor shutdown{wait = 1}", function()
    local pp <close> = futures.ProcessPoolExecutor(1)
    pp:shutdown{wait = 1}
  end, "wait must be a boolean"},
  {"ProcessPoolExecutor shutdown{unknown key}", function()
    local pp <close> = futures.ProcessPoolExecutor(1)
    pp:shutdown{cancel = true}
  end, "unknown option 'cancel'"},
  -- issue 12: a method called with a wrong self
  {"Thread.start({})", function() thread.Thread.start({}) end, "bad argument #1 to 'start' %(Thread expected, got table%)"},
  {"Thread.start(nil)", function() thread.Thread.start(nil) end, "bad argument #1 to 'start' %(Thread expected, got nil%)"},
  {"Thread.join(nil)", function() thread.Thread.join(nil) end, "bad argument #1 to 'join' %(Thread expected, got nil%)"},
  {"Thread.is_alive({})", function() thread.Thread.is_alive({}) end, "bad argument #1 to 'is_alive' %(Thread expected, got table%)"},
  {"ex.map(nil, ...)", function() ex.map(nil, fn, {1}) end, "bad argument #1 to 'map' %(executor expected, got nil%)"},
  {"ex.map({}, ...)", function() ex.map({}, fn, {1}) end, "bad argument #1 to 'map' %(executor expected, got table%)"},
  {"Process.start({})", function() process.Process.start({}) end, "bad argument #1 to 'start' %(Process expected, got table%)"},
  {"Process.join(nil)", function() process.Process.join(nil) end, "bad argument #1 to 'join' %(Process expected, got nil%)"},
  -- issue 12: values that are not a result or a count
  {"set_exception(nil)", function() futures.Future():set_exception(nil) end, "bad argument #1 to 'set_exception' %(error value expected, got nil%)"},
  {"Condition notify(-1)", function()
    local c = thread.Condition()
    local _ <close> = c:guard()
    c:notify(-1)
  end, "bad argument #1 to 'notify' %(n must be a non%-negative integer"},
  {"Condition notify(1.5)", function()
    local c = thread.Condition()
    local _ <close> = c:guard()
    c:notify(1.5)
  end, "bad argument #1 to 'notify'"},
}

-- The library still works: a task, a queue, a lock, a value.
local function usable()
  assert.equal(42, ex:submit(function(x) return x * 2 end, 21):result(30))
  local q = thread.Queue()
  q:put("x")
  assert.equal("x", q:get(true, 5))
  local l = thread.Lock()
  assert.is_true(l:acquire(true, 5))
  l:release()
  assert.equal(3, thread.Value(1):add(2))
end

describe("bad input", function()
  teardown(function()
    pending:cancel()
    ex:shutdown()
  end)

  for _, case in ipairs(catalogue) do
    local desc, call, want = case[1], case[2], case[3]
    it(desc .. " fails clearly and leaves the library usable", function()
      local ok, err = pcall(call)
      assert.is_false(ok, desc .. " did not fail")
      if type(want) == "string" then
        assert.equal("string", type(err), desc .. ": error is a " .. type(err) .. ": " .. tostring(err))
        assert.matches(want, err)
      else
        assert.is_true(futures.iserror(err, want),
          desc .. ": expected " .. tostring(want.name) .. ", got " .. tostring(err))
      end
      usable()
    end)
  end

  it("an executor that refused a task still runs the next one, in order", function()
    local ex2 <close> = futures.ThreadPoolExecutor(1)
    assert.is_false(pcall(ex2.submit, ex2, fn, co))
    assert.is_false(pcall(ex2.submit, ex2, fn, nest(1000)))
    assert.equal("ok", ex2:submit(function() return "ok" end):result(30))
  end)

  it("names the method, not '?', when it is called through pcall, at the caller's file:line", function()
    local f, q, l, e = futures.Future(), thread.Queue(), thread.Lock(), thread.Event()
    local v, s, c = thread.Value(1), thread.Semaphore(1), thread.Condition()
    local cases = {
      {"bad argument #1 to 'result' %(number expected, got string%)", f.result, f, "x"},
      {"bad argument #1 to 'exception' %(number expected, got string%)", f.exception, f, "x"},
      {"bad argument #1 to 'set_exception' %(error value expected", f.set_exception, f, nil},
      {"bad argument #1 to 'submit' %(function expected, got number%)", ex.submit, ex, 42},
      {"bad argument #1 to 'shutdown' %(boolean expected, got string%)", ex.shutdown, ex, "yes"},
      {"bad argument #1 to 'get' %(boolean expected, got string%)", q.get, q, "x"},
      {"bad argument #3 to 'put' %(number expected, got string%)", q.put, q, 1, true, "x"},
      {"bad argument #2 to 'acquire' %(number expected, got string%)", l.acquire, l, true, "x"},
      {"bad argument #1 to 'wait' %(number expected, got string%)", e.wait, e, "x"},
      {"bad argument #1 to 'add' %(number expected, got string%)", v.add, v, "x"},
      {"bad argument #1 to 'release' %(n must be a positive integer%)", s.release, s, 0},
      {"bad argument #1 to 'notify' %(n must be a non%-negative integer", c.notify, c, -1},
      {"calling 'result' on bad self %(concurrent%.Future expected, got nil%)", f.result, nil},
      {"calling 'acquire' on bad self %(concurrent%.Lock expected, got table%)", l.acquire, {}},
    }
    for _, case in ipairs(cases) do
      local ok, err = pcall(case[2], table.unpack(case, 3, 6))
      assert.is_false(ok)
      assert.matches("^[^:]*99%-badinput_spec%.lua:%d+: " .. case[1], err)
    end
  end)

  it("Value:add wraps around on integer overflow, as Lua's + does", function()
    -- (busted's pending: this file's `pending` is a Future)
    if not helpers.HAS_INTEGERS then return (getfenv and getfenv(1) or _ENV).pending(helpers.NO_INTEGERS) end
    assert.equal(BIG + 1, thread.Value(BIG):add(1))
    assert.equal(math.mininteger, thread.Value(BIG):add(1))
  end)

  it("submit after shutdown is a plain error, then and forever", function()
    local ex2 = futures.ThreadPoolExecutor(1)
    ex2:shutdown()
    for _ = 1, 3 do
      local ok, err = pcall(ex2.submit, ex2, fn, 1)
      assert.is_false(ok)
      assert.matches("cannot schedule new futures after shutdown", err)
    end
  end)
end)
