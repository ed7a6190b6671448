--- concurrent.process: Process (fork), and ProcessPoolExecutor (forked
-- workers with fresh states), with the thread pool busy beside them.
local futures = require "concurrent.futures"
local process = require "concurrent.process"
local concurrent = require "concurrent"
local core = require "concurrent.core"
local helpers = require "helpers"

local getpid = process.getpid

-- Children of this process in state Z (zombies).
local function zombies()
  local z = {}
  for pid, state in pairs(core._children()) do
    if state == "Z" then z[#z + 1] = pid end
  end
  return z
end

-- Children of this process, whatever their state.
local function child_count()
  local n = 0
  for _ in pairs(core._children()) do n = n + 1 end
  return n
end

local function exists(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if f then f:close() end
  return f ~= nil
end

-- Poll pred() for up to `within` seconds.
local function eventually(pred, within)
  local deadline = concurrent.monotonic() + (within or 5)
  repeat
    if pred() then return true end
    concurrent.sleep(0.01)
  until concurrent.monotonic() > deadline
  return pred()
end

local function thread_count()
  for line in io.lines("/proc/self/status") do
    local n = line:match("^Threads:%s*(%d+)")
    if n then return tonumber(n) end
  end
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- Run a Lua script in a fresh lua5.4 process; returns its stdout+stderr
-- (with "exit=N" last) and its wall time.
local function run_script(src)
  local path = os.tmpname()
  local fh = assert(io.open(path, "w"))
  fh:write(("package.path = %q\npackage.cpath = %q\n"):format(package.path, package.cpath))
  fh:write(src)
  fh:close()
  local t0 = concurrent.monotonic()
  local p = io.popen((os.getenv("CONCURRENT_LUA") or "lua5.4") .. " " .. path .. " 2>&1; echo \"exit=$?\"")
  local out = p:read("*a")
  p:close()
  os.remove(path)
  return out, concurrent.monotonic() - t0
end

describe("Process", function()
  it("runs each child in its own copy of memory (Ping/Pong)", function()
    local path = os.tmpname()
    local counter = 0
    local function sub_task(str)
      local f = assert(io.open(path, "a"))
      while counter < 10 do
        f:write(str, "\n")
        f:flush()
        counter = counter + 1
        concurrent.sleep(0.001)
      end
      f:close()
    end
    local ping = process.Process{target = sub_task, args = {"Ping"}}
    local pong = process.Process{target = sub_task, args = {"Pong"}}
    ping:start()
    pong:start()
    assert.is_true(ping:join(10))
    assert.is_true(pong:join(10))
    local text = read_file(path)
    os.remove(path)
    local pings, pongs = 0, 0
    for line in text:gmatch("[^\n]+") do
      if line == "Ping" then pings = pings + 1 elseif line == "Pong" then pongs = pongs + 1 end
    end
    assert.equal(10, pings)          -- each child counted from its own 0
    assert.equal(10, pongs)
    assert.equal(0, counter)         -- and the parent's counter never moved
    assert.equal(0, ping.exitcode)
    assert.equal(0, pong.exitcode)
  end)

  it("gives the child its own pid, seen as p.pid in the parent", function()
    local path = os.tmpname()
    local p = process.Process{target = function()
      local f = io.open(path, "w"); f:write(getpid()); f:close()
    end}
    assert.is_nil(p.pid)
    p:start()
    assert.is_true(p:join(10))
    local child = tonumber(read_file(path))
    os.remove(path)
    assert.equal(p.pid, child)
    assert.are_not.equal(getpid(), child)
    assert.is_true(process.cpu_count() >= 1 and process.cpu_count() % 1 == 0)
    if helpers.HAS_INTEGERS then assert.equal("integer", math.type(process.cpu_count())) end
  end)

  it("reports exit codes: 0, os.exit(n), os.exit(true/false), -N for signal N", function()
    local function exit_with(fn)
      local p = process.Process{target = fn}
      p:start()
      assert.is_true(p:join(10))
      return p.exitcode
    end
    assert.equal(0, exit_with(function() end))
    assert.equal(7, exit_with(function() os.exit(7) end))
    assert.equal(0, exit_with(function() os.exit(true) end))
    assert.equal(1, exit_with(function() os.exit(false) end))
    assert.equal(-9, exit_with(function()
      os.execute("kill -9 " .. getpid()); concurrent.sleep(10)
    end))
  end)

  it("kill() reports -9 and terminate() -15; join with a timeout returns on time", function()
    local p = process.Process{target = function() concurrent.sleep(30) end}
    p:start()
    assert.is_true(p:is_alive())
    assert.is_nil(p.exitcode)
    local t0 = concurrent.monotonic()
    assert.is_false(p:join(0.2))
    local waited = concurrent.monotonic() - t0
    assert.is_true(waited >= 0.2 * helpers.EARLY and waited < 0.2 + helpers.LATE)
    assert.is_false(p:join(0))
    p:kill()
    assert.is_true(p:join(10))
    assert.equal(-9, p.exitcode)
    assert.is_false(p:is_alive())
    p:kill()                          -- reaped already: nothing to signal
    assert.matches("exitcode=%-9", tostring(p))

    local q = process.Process{target = function() concurrent.sleep(30) end}
    q:start()
    q:terminate()
    assert.is_true(q:join(10))
    assert.equal(-15, q.exitcode)
  end)

  it("prints a child's error with its traceback and exits with 1", function()
    local out = run_script([[
      local process = require "concurrent.process"
      local p = process.Process{name = "failing", target = function(x) error("boom " .. x) end, args = {42}}
      p:start(); p:join()
      print("exitcode", p.exitcode)
    ]])
    assert.matches("Process failing:", out)
    assert.matches(":4: boom 42", out)   -- line 4: after the two path lines
    assert.matches("stack traceback:", out)
    assert.matches("exitcode\t1", out)
    assert.matches("exit=0", out)
  end)

  it("prints a child's number error as the number, and a failing __tostring by its type", function()
    if not helpers.NUMBER_ERRORS then return pending(helpers.STRING_ERRORS) end
    local out = run_script([[
      local process = require "concurrent.process"
      local p = process.Process{name = "number", target = function() error(7) end}
      p:start(); p:join()
      local q = process.Process{name = "badstring", target = function()
        error(setmetatable({}, {__tostring = function() error("from __tostring") end}))
      end}
      q:start(); q:join()
      print("codes", p.exitcode, q.exitcode)
    ]])
    assert.matches("Process number:\n7\nstack traceback:", out)
    assert.matches("Process badstring:\n%(error object is a table value%)\nstack traceback:", out)
    assert.matches("codes\t1\t1", out)
  end)

  it("neither loses nor duplicates buffered output across fork and exit", function()
    local out = run_script([[
      local process = require "concurrent.process"
      io.stdout:setvbuf("full")
      io.write("before-fork;")           -- still buffered when we fork
      local p = process.Process{target = function() io.write("child-unflushed;"); os.exit(4) end}
      p:start(); p:join()
      local q = process.Process{target = function() io.write("child-returns;") end}
      q:start(); q:join()
      io.write("codes=", p.exitcode, ",", q.exitcode, ";")
    ]])
    local function count(pat) local _, n = out:gsub(pat, "") return n end
    assert.equal(1, count("before%-fork;"))
    assert.equal(1, count("child%-unflushed;"))
    assert.equal(1, count("child%-returns;"))
    assert.matches("codes=4,0;", out)
  end)

  it("supports subclasses with run(), as Python does", function()
    local path = os.tmpname()
    local Writer = process.Process:extend()
    function Writer:init(text) self.text = text end
    function Writer:run()
      local f = io.open(path, "w"); f:write(self.text, " from ", self.name); f:close()
    end
    local w = Writer("hello")
    assert.matches("^Process%-%d+$", w.name)
    w:start()
    assert.is_true(w:join(10))
    assert.equal(0, w.exitcode)
    assert.equal("hello from " .. w.name, read_file(path))
    os.remove(path)
  end)

  it("rejects misuse with clear errors", function()
    assert.matches("target must be a function", helpers.error_of(process.Process, {target = 3}))
    assert.matches("unknown option 'targte'", helpers.error_of(process.Process, {targte = print}))
    assert.matches("args must be a table", helpers.error_of(process.Process, {target = print, args = 1}))
    local p = process.Process{target = function() end}
    assert.matches("before it is started", helpers.error_of(p.join, p))
    assert.matches("before it is started", helpers.error_of(p.kill, p))
    assert.is_false(p:is_alive())
    p:start()
    assert.matches("only be started once", helpers.error_of(p.start, p))
    assert.matches("timeout must be a non%-negative number", helpers.error_of(p.join, p, -1))
    assert.is_true(p:join(10))
  end)

  it("makes a forked child's copy of a thread pool inert instead of hanging", function()
    local ex <close> = futures.ThreadPoolExecutor(2)
    assert.equal(1, ex:submit(function() return 1 end):result())
    local p = process.Process{target = function()
      -- The pool's threads do not exist here: submit must fail, not hang.
      local err = ex:submit(function() return 2 end):exception(5)
      ex:shutdown()                      -- and shutdown must not wait for them
      os.exit(futures.iserror(err, futures.BrokenThreadPool) and 0 or 3)
    end}
    p:start()
    assert.is_true(p:join(20))
    assert.equal(0, p.exitcode)
    assert.equal(3, ex:submit(function() return 3 end):result())  -- ours still works
  end)

  it("reaps a child whose Process object is collected while it runs", function()
    local pid
    do
      local p = process.Process{target = function() concurrent.sleep(0.2) end}
      p:start()
      pid = p.pid
    end
    collectgarbage()
    collectgarbage()
    assert.is_true(eventually(function() return not exists(pid) end, 10))
    assert.same({}, zombies())
  end)

  it("waits for running children when the state closes, and terminates daemons", function()
    local out, elapsed = run_script([[
      local process = require "concurrent.process"
      local concurrent = require "concurrent"
      local d = process.Process{daemon = true, target = function() concurrent.sleep(60) end}
      d:start()
      print("daemon", d.pid)
      process.Process{target = function()
        concurrent.sleep(0.3); io.write("child finished\n")
      end}:start()
    ]])
    assert.matches("child finished", out)
    assert.matches("exit=0", out)
    assert.is_true(elapsed < 30)
    local daemon = tonumber(out:match("daemon\t(%d+)"))
    assert.is_true(eventually(function() return not exists(daemon) end, 10))
  end)

  it("starts and joins 200 processes while a thread pool is busy, leaving no zombie #nosan", function()
    -- The pool's threads allocate, write through stdio and finish futures
    -- with done-callbacks while we fork: a child must never inherit one of
    -- their locks held (it would hang on it).
    local ex <close> = futures.ThreadPoolExecutor(2)
    local function churn(n)
      local c = require "concurrent"
      local f = io.open("/dev/null", "w")
      local t = {}
      for k = 1, 20 do t[k] = string.rep("x", k * 50); f:write(t[k]) end
      f:close()
      c.sleep(0.002)
      return n
    end
    local callbacks, fs = 0, {}
    local function count() callbacks = callbacks + 1 end
    local exited = 0
    local t0 = concurrent.monotonic()
    for i = 1, 200 do
      for _ = 1, 2 do
        local f = ex:submit(churn, i)
        f:add_done_callback(count)
        fs[#fs + 1] = f
      end
      local p = process.Process{args = {i}, target = function(k)
        local t = {}
        for j = 1, 100 do t[j] = {j} end
        local null = io.open("/dev/null", "w")   -- 5.1's write returns true
        null:write(#t)
        null:close()
        futures.poll()
        if k % 50 == 0 then os.exit(0) end
      end}
      p:start()
      assert.is_true(p:join(30))
      if p.exitcode == 0 then exited = exited + 1 end
    end
    assert.equal(200, exited)
    assert.is_true(concurrent.monotonic() - t0 < 120)
    for _, f in ipairs(fs) do f:result(30) end
    -- (a callback may be queued just after result() returns)
    assert.is_true(eventually(function() futures.poll() return callbacks == 400 end, 10))
    assert.same({}, zombies())
  end)
end)

describe("ProcessPoolExecutor #nosan", function()   -- see spec/sanitize.sh
  it("runs tasks in other processes and returns every value, subtypes kept", function()
    local ex <close> = futures.ProcessPoolExecutor(2)
    local f = ex:submit(function(a, b) return a + b, 1.5, math.type and math.type(a), require("concurrent.process").getpid(), {x = {y = "z"}} end, 40, 2)
    local sum, fl, mt, pid, t = f:result(30)
    assert.equal(42, sum)
    if helpers.HAS_INTEGERS then assert.equal("integer", math.type(sum)) end
    assert.equal(1.5, fl)
    if helpers.HAS_INTEGERS then assert.equal("integer", mt) end
    assert.are_not.equal(getpid(), pid)
    assert.equal("z", t.x.y)
    assert.equal(2, ex:_max_workers())
    local nil_first = {ex:submit(function() return nil, 3 end):result(30)}
    assert.equal(3, nil_first[2])
  end)

  it("sends functions with their upvalues, never the globals", function()
    local ex <close> = futures.ProcessPoolExecutor(1)
    local base = 100
    local function add(x) return x + base end
    rawset(_G, "SPEC_PROCESS_GLOBAL", "parent")
    local f = ex:submit(function(x) return add(x), rawget(_G, "SPEC_PROCESS_GLOBAL") end, 5)
    local v, g = f:result(30)
    rawset(_G, "SPEC_PROCESS_GLOBAL", nil)
    assert.equal(105, v)
    assert.is_nil(g)
    -- Worker globals persist from one task to the next.
    ex:submit(function() rawset(_G, "kept", 7) end):result(30)
    assert.equal(7, ex:submit(function() return rawget(_G, "kept") end):result(30))
  end)

  it("maps in input order, with chunksize and buffersize", function()
    local ex <close> = futures.ProcessPoolExecutor(2)
    local input = {}
    for i = 1, 25 do input[i] = i end
    local function square(x) return x * x end
    for _, opts in ipairs{{}, {chunksize = 4}, {buffersize = 3}, {chunksize = 3, buffersize = 2}} do
      local got = {}
      local args = {square, input}
      if next(opts) then args[3] = opts end
      for i, v in ex:map(table.unpack(args)) do got[i] = v end
      assert.equal(25, #got)
      for i = 1, 25 do assert.equal(i * i, got[i]) end
    end
    local seen = 0
    local ok, err = pcall(function()
      for i, v in ex:map(function(x) if x == 4 then error("four") end return x end, input, {chunksize = 3}) do
        seen = i
      end
    end)
    assert.is_false(ok)
    assert.matches("four", tostring(err))
    assert.equal(3, seen)
  end)

  it("refuses the library's shared objects, at submit, and stays usable", function()
    local ex <close> = futures.ProcessPoolExecutor(1)
    local err = helpers.error_of(ex.submit, ex, function(f) return f end, futures.Future())
    assert.matches("cannot send future at args%[1%]: shared objects cannot be sent to another process", err)
    err = helpers.error_of(ex.submit, ex, function(t) return t end, {nested = {f = futures.Future()}})
    assert.matches("shared objects cannot be sent to another process", err)
    local fut = futures.Future()
    err = helpers.error_of(ex.submit, ex, function() return fut end)
    assert.matches("shared objects cannot be sent to another process", err)
    err = helpers.error_of(ex.submit, ex, function(x) return x end, io.stdout)
    assert.matches("cannot send userdata", err)
    -- A task that makes one in the worker cannot send it back either.
    local f = ex:submit(function() return require("concurrent.futures").Future() end)
    assert.matches("shared objects cannot be sent to another process", tostring(f:exception(30)))
    assert.equal(9, ex:submit(function() return 9 end):result(30))
  end)

  it("re-raises a task's error with its position, and keeps the traceback", function()
    local ex <close> = futures.ProcessPoolExecutor(1)
    local f = ex:submit(function() error("bad task") end)
    local err = f:exception(30)
    assert.matches("80%-process_spec.lua:%d+: bad task", err)
    assert.matches("stack traceback", f:traceback())
    local ok, raised = pcall(f.result, f)
    assert.is_false(ok)
    assert.equal(err, raised)
    local e = ex:submit(function() error({code = 5}) end):exception(30)
    assert.equal(5, e.code)
    assert.equal(2, ex:submit(function() return 2 end):result(30))
  end)

  it("breaks when a task calls os.exit: its future and the next submit fail", function()
    local ex <close> = futures.ProcessPoolExecutor(2)
    assert.equal(1, ex:submit(function() return 1 end):result(30))
    local f = ex:submit(function() os.exit(3) end)
    local err = f:exception(30)
    assert.is_true(futures.iserror(err, futures.BrokenProcessPool))
    assert.is_true(futures.iserror(err, futures.BrokenExecutor))
    assert.matches("exit code 3", tostring(err))
    local g = ex:submit(function() return 2 end)
    assert.is_true(g:done())
    assert.is_true(futures.iserror(g:exception(), futures.BrokenProcessPool))
    assert.is_true(eventually(function() return ex:_process_count() == 0 end, 10))
    assert.same({}, zombies())
  end)

  it("breaks when a worker is killed: in-flight and queued futures fail, nothing hangs", function()
    local ex <close> = futures.ProcessPoolExecutor(2)
    local fs = {}
    for i = 1, 6 do
      fs[i] = ex:submit(function() require("concurrent").sleep(30) end)
    end
    assert.is_true(eventually(function() return #ex:_pids() == 2 end, 10))
    local victim = ex:_pids()[1]
    os.execute("kill -9 " .. victim)
    local t0 = concurrent.monotonic()
    for i = 1, 6 do
      local e = fs[i]:exception(20)
      assert.is_true(futures.iserror(e, futures.BrokenProcessPool))
    end
    assert.is_true(concurrent.monotonic() - t0 < 20)
    assert.matches("signal 9", tostring(fs[1]:exception()) .. tostring(fs[2]:exception()))
    assert.is_true(futures.iserror(ex:submit(print):exception(), futures.BrokenProcessPool))
    ex:shutdown()
    assert.equal(0, ex:_process_count())
    assert.is_false(exists(victim))
    assert.same({}, zombies())
  end)

  it("raises a task's error value with its type; one that cannot be copied as its text", function()
    if not helpers.HAS_INTEGERS then return pending(helpers.NO_INTEGERS) end
    local ex <close> = futures.ProcessPoolExecutor(1)
    for _, v in ipairs{7, 7.5, math.mininteger} do
      local f = ex:submit(function(x) error(x) end, v)
      local err = helpers.error_of(f.result, f, 30)
      assert.equal(math.type(v), math.type(err))
      assert.equal(v, err)
      assert.equal(v, f:exception())
    end
    local f = ex:submit(function() error(io.stdout) end)
    assert.matches("^file %(0x%x+%)$", helpers.error_of(f.result, f, 30))
    f = ex:submit(function() error(setmetatable({x = 1}, {__tostring = function() error("no") end})) end)
    assert.equal(1, helpers.error_of(f.result, f, 30).x)
  end)

  it("keeps closures that share an upvalue sharing it in the worker", function()
    if not helpers.HAS_UPVALUEID then return pending(helpers.NO_UPVALUEID) end
    local ex <close> = futures.ProcessPoolExecutor(1)
    local counter = 0
    local function incr() counter = counter + 1 end
    local function task() for _ = 1, 10 do incr() end return counter end
    assert.equal(10, ex:submit(task):result(30))
    assert.equal(0, counter)
  end)

  it("shows an initializer's error by its __tostring text", function()
    local ex <close> = futures.ProcessPoolExecutor{max_workers = 1,
      initializer = function() error(setmetatable({}, {__tostring = function() return "no init" end})) end}
    local err = ex:submit(function() return 1 end):exception(30)
    assert.is_true(futures.iserror(err, futures.BrokenProcessPool))
    assert.matches("initializer failed: no init$", err.message)
  end)

  it("runs the initializer in each worker; a failing one breaks the pool", function()
    futures.with(futures.ProcessPoolExecutor{max_workers = 2,
        initializer = function(v) rawset(_G, "INIT", v) end, initargs = {"ready"}}, function(ex)
      assert.equal("ready", ex:submit(function() return rawget(_G, "INIT") end):result(30))
    end)
    futures.with(futures.ProcessPoolExecutor{max_workers = 1,
        initializer = function() error("no init") end}, function(ex)
      local err = ex:submit(function() return 1 end):exception(30)
      assert.is_true(futures.iserror(err, futures.BrokenProcessPool))
      assert.matches("initializer failed: .*no init", tostring(err))
      assert.is_true(futures.iserror(ex:submit(print):exception(), futures.BrokenProcessPool))
    end)
    assert.same({}, zombies())
  end)

  it("shuts down: refuses new work, cancels queued work if asked, reaps every worker", function()
    local threads = thread_count()
    local ex <close> = futures.ProcessPoolExecutor(1)
    local first = ex:submit(function() require("concurrent").sleep(0.3) return "first" end)
    assert.is_true(eventually(function() return first:running() end, 10))
    local queued = {}
    for i = 1, 4 do queued[i] = ex:submit(function() return i end) end
    ex:shutdown{cancel_futures = true}
    assert.equal("first", first:result())
    for i = 1, 4 do assert.is_true(queued[i]:cancelled()) end
    assert.matches("cannot schedule new futures after shutdown",
      helpers.error_of(ex.submit, ex, print))
    ex:shutdown()                       -- idempotent
    assert.equal(0, ex:_process_count())
    -- the manager thread is gone too (it ends just after it signals)
    assert.is_true(eventually(function() return thread_count() <= threads end, 5))
    assert.same({}, zombies())
    assert.equal(0, child_count())
  end)

  it("works with as_completed, wait and done-callbacks like any future", function()
    local ex <close> = futures.ProcessPoolExecutor(2)
    local slow = ex:submit(function() require("concurrent").sleep(0.4) return "slow" end)
    local fast = ex:submit(function() return "fast" end)
    local order = {}
    for f in futures.as_completed({slow, fast}, 30) do order[#order + 1] = f:result() end
    assert.same({"fast", "slow"}, order)
    local done, not_done = futures.wait({slow, fast}, 30)
    assert.equal(2, #done)
    assert.equal(0, #not_done)
    local called
    local f = ex:submit(function() require("concurrent").sleep(0.1) return 5 end)
    f:add_done_callback(function(g) called = g:result() end)
    f:result(30)
    futures.poll()
    assert.equal(5, called)
  end)

  it("never runs more than max_workers processes, and defaults to cpu_count", function()
    local ex <close> = futures.ProcessPoolExecutor(2)
    local fs = {}
    for i = 1, 8 do fs[i] = ex:submit(function() require("concurrent").sleep(0.05) return require("concurrent.process").getpid() end) end
    local pids = {}
    for i = 1, 8 do pids[fs[i]:result(30)] = true end
    local n = 0
    for _ in pairs(pids) do n = n + 1 end
    assert.is_true(n >= 1 and n <= 2)
    assert.is_true(ex:_process_count() <= 2)
    local d <close> = futures.ProcessPoolExecutor()
    assert.equal(process.cpu_count(), d:_max_workers())
    assert.equal(0, d:_process_count())     -- none until the first submit
  end)

  it("rejects bad constructor arguments", function()
    assert.matches("max_workers must be a positive integer", helpers.error_of(futures.ProcessPoolExecutor, 0))
    assert.matches("max_workers must be a positive integer", helpers.error_of(futures.ProcessPoolExecutor, 1.5))
    assert.matches("unknown option 'max_worker'", helpers.error_of(futures.ProcessPoolExecutor, {max_worker = 2}))
    assert.matches("initializer must be a function", helpers.error_of(futures.ProcessPoolExecutor, {initializer = 3}))
    assert.matches("initargs must be a table", helpers.error_of(futures.ProcessPoolExecutor,
      {initializer = print, initargs = 3}))
    local ok, err = pcall(function() local ex = futures.ProcessPoolExecutor(0) return ex end)
    assert.is_false(ok)
    assert.matches("^80%-process_spec.lua:%d+: ", err:match("[^/]*$"))  -- the caller's position
    local ex <close> = futures.ProcessPoolExecutor(1)
    assert.matches("bad argument #1 to 'submit' %(function expected",
      helpers.error_of(function() ex:submit(3) end))  -- not a tail call: 5.1 names it
    assert.matches("ProcessPoolExecutor expected", helpers.error_of(ex.submit, {}, print))
  end)

  it("takes its workers down with it when the parent process is killed", function()
    -- The workers keep the script's stdout open: popen's read ends when
    -- the last of them is gone, not when the killed parent is.
    local out, elapsed = run_script([[
      local futures = require "concurrent.futures"
      local process = require "concurrent.process"
      local ex = futures.ProcessPoolExecutor(2)
      local fs = {ex:submit(function() require("concurrent").sleep(60) end),
                  ex:submit(function() require("concurrent").sleep(60) end)}
      while #ex:_pids() < 2 or not (fs[1]:running() and fs[2]:running()) do
        require("concurrent").sleep(0.01)
      end
      print("workers " .. table.concat(ex:_pids(), " "))
      io.stdout:flush()
      os.execute("kill -9 " .. process.getpid())
    ]])
    assert.matches("workers %d+ %d+", out)
    assert.is_true(elapsed < 30, "workers outlived their parent for " .. elapsed .. " s")
    for pid in out:match("workers ([%d ]+)"):gmatch("%d+") do
      assert.is_true(eventually(function() return not exists(pid) end, 10))
    end
  end)

  it("leaves no worker behind when collected without shutdown, or when the state closes", function()
    local pids
    do
      local ex = futures.ProcessPoolExecutor(2)
      local fs = {ex:submit(function() return 1 end), ex:submit(function() return 2 end)}
      fs[1]:result(30); fs[2]:result(30)
      pids = ex:_pids()
    end
    assert.is_true(#pids >= 1)
    collectgarbage()
    collectgarbage()
    for _, pid in ipairs(pids) do
      assert.is_true(eventually(function() return not exists(pid) end, 10))
    end
    assert.same({}, zombies())
    local out, elapsed = run_script([[
      local futures = require "concurrent.futures"
      local ex = futures.ProcessPoolExecutor(2)
      local f = ex:submit(function() require("concurrent").sleep(0.2) return "late" end)
      _G.keep = {ex, f:add_done_callback(function() end)}
      print("pids", table.concat(ex:_pids(), ","))
      -- no shutdown: closing the state joins the pool
    ]])
    assert.matches("exit=0", out)
    assert.is_true(elapsed < 30)
  end)
end)
