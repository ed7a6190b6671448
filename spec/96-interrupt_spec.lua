--- Ctrl-C: in the standalone interpreter, SIGINT during any blocking call
-- of the library raises "interrupted!" within 0.5 s, as it does in a Lua
-- loop, and an idle wait still costs no CPU to speak of. Each case runs a
-- real interpreter process ($CONCURRENT_LUA: the Lua the suite runs on,
-- as `make busted` sets it; spec/sanlua.c under the sanitizers, which
-- answers SIGINT as lua.c does) that prints "ready" and then blocks; the
-- spec sends it a real SIGINT and reads its stderr.
local concurrent = require "concurrent"
local helpers = require "helpers"

local LUA = os.getenv("CONCURRENT_LUA") or "lua5.4"
-- Seconds from the signal to "interrupted!": the contract's 0.5 s, or
-- 2.5 s under the sanitizers (sanlua), whose code runs several times
-- slower on a machine that CI may share.
local CONTRACT = LUA:find("sanlua", 1, true) and 2.5 or 0.5

local function read_file(path)
  local fh = io.open(path)
  if not fh then return "" end
  local s = fh:read("*a")
  fh:close()
  return s
end

local function alive(pid)
  local r = os.execute("kill -0 " .. pid .. " 2>/dev/null")
  return r == true or r == 0                 -- 5.1: the exit status
end

-- Start src (after the package paths of this process) in the background;
-- returns its pid and the paths of its script, stdout and stderr.
local function spawn(src)
  local path, outpath, errpath = os.tmpname(), os.tmpname(), os.tmpname()
  local fh = assert(io.open(path, "w"))
  fh:write(("package.path = %q\npackage.cpath = %q\n"):format(package.path, package.cpath))
  fh:write(src)
  fh:close()
  local p = io.popen(("%s %s >%s 2>%s & echo $!"):format(LUA, path, outpath, errpath))
  local pid = tonumber(p:read("*l"))
  p:close()
  return pid, {path, outpath, errpath}
end

local function wait_for(pred, limit)
  local t0 = concurrent.monotonic()
  while not pred() do
    if concurrent.monotonic() - t0 > limit then return false end
    concurrent.sleep(0.005)
  end
  return true
end

-- Run src, which must print "ready" and then block in setup's call; send
-- SIGINT; return the seconds until "interrupted!" reached stderr (nil if
-- it never did), its stderr and stdout, and whether the process ended.
local function interrupt(src)
  local pid, files = spawn(src)
  local ok, elapsed, ended = pcall(function()
    assert(wait_for(function() return read_file(files[2]):find("ready") end, 30),
      "the script never got ready: " .. read_file(files[3]))
    concurrent.sleep(0.3)         -- well inside the blocking call by now
    assert(alive(pid), "the script ended early: " .. read_file(files[3]))
    local t0 = concurrent.monotonic()
    os.execute("kill -INT " .. pid)
    local seen = wait_for(function() return read_file(files[3]):find("interrupted!") end, 3)
    local elapsed = seen and concurrent.monotonic() - t0 or nil
    local ended = wait_for(function() return not alive(pid) end, 10)
    return elapsed, ended
  end)
  if alive(pid) then os.execute("kill -9 " .. pid) end
  local out, errtext = read_file(files[2]), read_file(files[3])
  for _, f in ipairs(files) do os.remove(f) end
  assert(ok, elapsed)
  return elapsed, errtext, out, ended
end

local PRELUDE = [[
local concurrent = require "concurrent"
local futures = require "concurrent.futures"
local thread = require "concurrent.thread"
local process = require "concurrent.process"
local function ready() io.stdout:write("ready\n") io.stdout:flush() end
]]

-- Each case: a name and the code that blocks (after calling ready()).
-- Whatever a case starts ends within about a second, so that the process
-- can exit (its threads are joined at exit, as Python joins them).
local CASES = {
  {"Future:result()", [[local f = futures.Future() ready() f:result()]]},
  {"Future:result(timeout)", [[local f = futures.Future() ready() f:result(3600)]]},
  {"Future:exception()", [[local f = futures.Future() ready() f:exception()]]},
  {"a ThreadPoolExecutor future's result()", [[
    local ex = futures.ThreadPoolExecutor(1)
    local f = ex:submit(function() require("concurrent").sleep(1) end)
    ready() f:result()]]},
  {"concurrent.sleep", [[ready() concurrent.sleep(3600)]]},
  {"as_completed", [[ready() for _ in futures.as_completed({futures.Future()}) do end]]},
  {"as_completed(timeout)", [[ready() for _ in futures.as_completed({futures.Future()}, 3600) do end]]},
  {"wait", [[ready() futures.wait({futures.Future()})]]},
  {"wait(FIRST_COMPLETED)", [[ready() futures.wait({futures.Future()}, nil, futures.FIRST_COMPLETED)]]},
  {"the map iterator", [[
    local ex = futures.ThreadPoolExecutor(1)
    ready()
    for _ in ex:map(function(x) require("concurrent").sleep(x) end, {1, 1, 1}) do end]]},
  {"the map iterator with a timeout", [[
    local ex = futures.ThreadPoolExecutor(1)
    ready()
    for _ in ex:map(function(x) require("concurrent").sleep(x) end, {1}, {timeout = 3600}) do end]]},
  {"ThreadPoolExecutor:shutdown(true)", [[
    local ex = futures.ThreadPoolExecutor(1)
    ex:submit(function() require("concurrent").sleep(1) end)
    ready() ex:shutdown(true)]]},
  {"Queue:get", [[local q = thread.Queue() ready() q:get()]]},
  {"Queue:get(true, timeout)", [[local q = thread.Queue() ready() q:get(true, 3600)]]},
  {"Queue:put on a full queue", [[local q = thread.Queue(1) q:put(1) ready() q:put(2)]]},
  {"Queue:join", [[local q = thread.Queue() q:put(1) ready() q:join()]]},
  {"Event:wait", [[local e = thread.Event() ready() e:wait()]]},
  {"Lock:acquire", [[local l = thread.Lock() l:acquire() ready() l:acquire()]]},
  {"Lock:acquire(true, timeout)", [[local l = thread.Lock() l:acquire() ready() l:acquire(true, 3600)]]},
  -- Before 5.4 (no <close>) the portable lock:with blocks the same way.
  helpers.HAS_CLOSE and
    {"Lock:guard", [[local l = thread.Lock() l:acquire() ready() local _ <close> = l:guard()]]} or
    {"Lock:with", [[local l = thread.Lock() l:acquire() ready() l:with(function() end)]]},
  {"RLock:acquire held by another thread", [[
    local r, e = thread.RLock(), thread.Event()
    thread.Thread{target = function(r, e)
      r:acquire() e:set() require("concurrent").sleep(1) r:release()
    end, args = {r, e}}:start()
    e:wait()
    ready() r:acquire()]]},
  {"Condition:acquire held by another thread", [[
    local c, e = thread.Condition(), thread.Event()
    thread.Thread{target = function(c, e)
      c:acquire() e:set() require("concurrent").sleep(1) c:release()
    end, args = {c, e}}:start()
    e:wait()
    ready() c:acquire()]]},
  {"Semaphore:acquire", [[local s = thread.Semaphore(0) ready() s:acquire()]]},
  {"BoundedSemaphore:acquire", [[local s = thread.BoundedSemaphore(1) s:acquire() ready() s:acquire()]]},
  {"Condition:wait", [[local c = thread.Condition() c:acquire() ready() c:wait()]]},
  {"Condition:wait(timeout)", [[local c = thread.Condition(thread.Lock()) c:acquire() ready() c:wait(3600)]]},
  {"Condition:wait_for", [[
    local c = thread.Condition() c:acquire() ready() c:wait_for(function() return false end)]]},
  {"Barrier:wait", [[local b = thread.Barrier(2) ready() b:wait()]]},
  {"Thread:join", [[
    local t = thread.Thread{target = function() require("concurrent").sleep(1) end}
    t:start() ready() t:join()]]},
  {"Process:join #nosan", [[
    local p = process.Process{target = function() require("concurrent").sleep(1) end}
    p:start() ready() p:join()]]},
  {"Process:join(timeout) #nosan", [[
    local p = process.Process{target = function() require("concurrent").sleep(1) end}
    p:start() ready() p:join(3600)]]},
  {"a ProcessPoolExecutor future's result() #nosan", [[
    local ex = futures.ProcessPoolExecutor(1)
    local f = ex:submit(function() require("concurrent").sleep(1) end)
    ready() f:result()]]},
  {"ProcessPoolExecutor:shutdown(true) #nosan", [[
    local ex = futures.ProcessPoolExecutor(1)
    ex:submit(function() require("concurrent").sleep(1) end)
    ready() ex:shutdown(true)]]},
  -- With spawned coroutines suspended, these waits first run them (on the
  -- state's poll fd), and that wait is sliced too.
  {"result() of a spawned coroutine's future", [[
    local f = futures.spawn(function() futures.Future():result() end)
    ready() f:result()]]},
  {"concurrent.sleep with a spawned coroutine suspended", [[
    futures.spawn(function() concurrent.sleep(3600) end)
    ready() concurrent.sleep(3600)]]},
  {"as_completed with a spawned coroutine suspended", [[
    futures.spawn(function() futures.Future():result() end)
    ready() for _ in futures.as_completed({futures.Future()}) do end]]},
  {"a blocking call inside a coroutine", [[
    local q = thread.Queue()
    local co = coroutine.wrap(function() ready() q:get() end)
    co()]]},
}

describe("Ctrl-C", function()
  for _, case in ipairs(CASES) do
    local name, body = case[1], case[2]
    it("interrupts " .. name .. " within 0.5 s", function()
      local elapsed, err, out, ended = interrupt(PRELUDE .. body .. "\nprint('returned')\n")
      assert.is_not_nil(elapsed, name .. ": no 'interrupted!' on stderr: " .. err)
      if os.getenv("INTERRUPT_TIMES") then   -- for the figures of the report
        io.stderr:write(("%-50s %.3f s\n"):format(name, elapsed))
      end
      assert.is_true(elapsed <= CONTRACT,
        ("%s: 'interrupted!' came %.3f s after SIGINT"):format(name, elapsed))
      assert.is_nil(out:find("returned"), name .. ": the call returned")
      assert.is_true(ended, name .. ": the process did not exit")
    end)
  end

  it("leaves a waiting process idle: no CPU to speak of over a 2 s wait", function()
    local pid, files = spawn(PRELUDE .. [[
      local q, l = thread.Queue(), thread.Lock()
      l:acquire()
      local c0 = os.clock()
      ready()
      pcall(q.get, q, true, 1)
      l:acquire(true, 1)
      print(("cpu=%.4f"):format(os.clock() - c0))
    ]])
    assert.is_true(wait_for(function() return not alive(pid) end, 30))
    local out = read_file(files[2])
    for _, f in ipairs(files) do os.remove(f) end
    local cpu = tonumber(out:match("cpu=([%d.]+)"))
    assert.is_not_nil(cpu, out)
    assert.is_true(cpu < 0.05, ("%.4f s of CPU for 2 s of waiting"):format(cpu or -1))
  end)
end)
