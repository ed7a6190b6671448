--- ThreadPoolExecutor: construction, submit, shutdown, lifetime.
local futures = require "concurrent.futures"
local concurrent = require "concurrent"
local helpers = require "helpers"

-- Threads of this process right now (Linux).
local function thread_count()
  for line in io.lines("/proc/self/status") do
    local n = line:match("^Threads:%s*(%d+)")
    if n then return tonumber(n) end
  end
end

-- Run a Lua script in a fresh lua5.4 process; returns its output and status.
local function run_script(src)
  local path = os.tmpname()
  local fh = assert(io.open(path, "w"))
  fh:write(("package.path = %q\npackage.cpath = %q\n"):format(package.path, package.cpath))
  fh:write(src)
  fh:close()
  local p = io.popen((os.getenv("CONCURRENT_LUA") or "lua5.4") .. " " .. path .. " 2>&1; echo \"exit=$?\"")
  local out = p:read("*a")
  p:close()
  os.remove(path)
  return out
end

describe("ThreadPoolExecutor", function()
  it("takes max_workers positionally or in a table, with a Python default", function()
    local a <close> = futures.ThreadPoolExecutor(3)
    local b <close> = futures.ThreadPoolExecutor{max_workers = 5}
    local c <close> = futures.ThreadPoolExecutor()
    local d <close> = futures.ThreadPoolExecutor{}
    assert.equal(3, a:_max_workers())
    assert.equal(5, b:_max_workers())
    local default = math.min(32, concurrent.cpu_count() + 4)
    assert.equal(default, c:_max_workers())
    assert.equal(default, d:_max_workers())
  end)

  it("rejects bad constructor arguments", function()
    assert.matches("max_workers must be a positive integer", helpers.error_of(futures.ThreadPoolExecutor, 0))
    assert.matches("max_workers must be a positive integer", helpers.error_of(futures.ThreadPoolExecutor, -2))
    assert.matches("max_workers must be a positive integer", helpers.error_of(futures.ThreadPoolExecutor, 1.5))
    assert.matches("max_workers must be a positive integer", helpers.error_of(futures.ThreadPoolExecutor, "2"))
    assert.matches("unknown option 'max_worker'", helpers.error_of(futures.ThreadPoolExecutor, {max_worker = 2}))
    assert.matches("initializer must be a function", helpers.error_of(futures.ThreadPoolExecutor, {initializer = 3}))
    assert.matches("initargs must be a table", helpers.error_of(futures.ThreadPoolExecutor,
      {initializer = print, initargs = 3}))
    assert.matches("thread_name_prefix must be a string", helpers.error_of(futures.ThreadPoolExecutor,
      {thread_name_prefix = 7}))
  end)

  it("makes workers only as needed and reuses idle ones", function()
    local ex <close> = futures.ThreadPoolExecutor(4)
    assert.equal(0, ex:_thread_count())
    for i = 1, 10 do assert.equal(i, ex:submit(function(x) return x end, i):result()) end
    assert.equal(1, ex:_thread_count())
  end)

  it("never runs more than max_workers tasks at once", function()
    local ex <close> = futures.ThreadPoolExecutor(3)
    local fs = {}
    for i = 1, 9 do
      fs[i] = ex:submit(function()
        local c = require "concurrent"
        local t0 = c.monotonic(); c.sleep(0.05); return t0, c.monotonic()
      end)
    end
    local spans = {}
    for i = 1, 9 do spans[i] = {fs[i]:result()} end
    -- At any start time, at most 3 spans overlap it.
    for i = 1, 9 do
      local overlap = 0
      for j = 1, 9 do
        if spans[j][1] <= spans[i][1] and spans[i][1] < spans[j][2] then overlap = overlap + 1 end
      end
      assert.is_true(overlap <= 3)
    end
    assert.is_true(ex:_thread_count() <= 3)
  end)

  it("names worker threads with thread_name_prefix", function()
    local ex <close> = futures.ThreadPoolExecutor{max_workers = 1, thread_name_prefix = "tile"}
    local name = ex:submit(function()
      local fh = io.open("/proc/thread-self/comm")
      local s = fh:read("*l")
      fh:close()
      return s
    end):result()
    assert.equal("tile_0", name)
  end)

  it("runs the initializer once per worker, before its first task", function()
    local ex <close> = futures.ThreadPoolExecutor{max_workers = 1,
      initializer = function(a, b) setup_value = a .. b; init_runs = (init_runs or 0) + 1 end,
      initargs = {"x", "y"}}
    for _ = 1, 3 do
      assert.same({"xy", 1}, {ex:submit(function() return setup_value, init_runs end):result()})
    end
  end)

  it("takes a callable table as initializer, as everywhere a function is taken", function()
    local init = setmetatable({tag = "called"}, {__call = function(self, a)
      setup_value = self.tag .. a
    end})
    local ex <close> = futures.ThreadPoolExecutor{max_workers = 1, initializer = init,
      initargs = {"!"}}
    assert.equal("called!", ex:submit(function() return setup_value end):result(30))
    assert.matches("initializer must be a function",
      helpers.error_of(futures.ThreadPoolExecutor, {initializer = setmetatable({}, {})}))
  end)

  it("is broken when the initializer fails: pending and later futures fail", function()
    local ex <close> = futures.ThreadPoolExecutor{max_workers = 2,
      initializer = function() error("no database") end}
    local fs = {}
    for i = 1, 5 do fs[i] = ex:submit(function() return 1 end) end
    for i = 1, 5 do
      local err = helpers.error_of(fs[i].result, fs[i], 5)
      assert.is_true(futures.iserror(err, futures.BrokenThreadPool))
      assert.is_true(futures.iserror(err, futures.BrokenExecutor))
      assert.matches("initializer failed: .*no database", err.message)
    end
    local later = ex:submit(function() return 1 end)
    assert.is_true(futures.iserror(later:exception(5), futures.BrokenThreadPool))
  end)

  it("shows an initializer's error by its text: a number, a __tostring, a failing __tostring", function()
    if not helpers.NUMBER_ERRORS then return pending(helpers.STRING_ERRORS) end
    local cases = {
      {function() error(7) end, "initializer failed: 7$"},
      {function() error(7.5) end, "initializer failed: 7%.5$"},
      {function() error(setmetatable({}, {__tostring = function() return "no database" end})) end,
       "initializer failed: no database$"},
      {function() error(setmetatable({}, {__tostring = function() error("bad") end})) end,
       "initializer failed: %(error object is a table value%)$"},
    }
    for _, case in ipairs(cases) do
      local ex <close> = futures.ThreadPoolExecutor{max_workers = 1, initializer = case[1]}
      local err = ex:submit(function() return 1 end):exception(10)
      assert.is_true(futures.iserror(err, futures.BrokenThreadPool))
      assert.matches(case[2], err.message)
    end
  end)

  it("refuses an object that cannot cross in initargs when the pool is made", function()
    local inner = require("concurrent.core").waiter()
    assert.matches("cannot send concurrent%.Waiter at initargs%[1%]",
      helpers.error_of(futures.ThreadPoolExecutor, {initializer = print, initargs = {inner}}))
  end)

  it("refuses submit after shutdown with a plain error", function()
    local ex = futures.ThreadPoolExecutor(1)
    ex:shutdown()
    assert.matches("cannot schedule new futures after shutdown",
      helpers.error_of(ex.submit, ex, print))
    ex:shutdown()          -- idempotent
    ex:shutdown{wait = false}
  end)

  it("checks submit's arguments", function()
    local ex <close> = futures.ThreadPoolExecutor(1)
    assert.matches("bad argument #1 to 'submit' %(function expected",
      helpers.error_of(function() ex:submit() end))  -- not a tail call: 5.1 names it
    assert.matches("bad argument #1 to 'submit' %(function expected",
      helpers.error_of(function() ex:submit(42) end))
    assert.matches("ThreadPoolExecutor expected", helpers.error_of(ex.submit, {}, print))
    assert.matches("bad argument #1 to 'shutdown' %(boolean expected",
      helpers.error_of(function() ex:shutdown("yes") end))
  end)

  it("accepts callable tables as tasks", function()
    local ex <close> = futures.ThreadPoolExecutor(1)
    local callable = setmetatable({k = 2}, {__call = function(self, x) return self.k * x end})
    assert.equal(14, ex:submit(callable, 7):result())
  end)

  it("shutdown(wait) runs queued tasks; cancel_futures cancels them", function()
    local ex = futures.ThreadPoolExecutor(1)
    local fs = {}
    for i = 1, 6 do fs[i] = ex:submit(function(x) require("concurrent").sleep(0.02) return x end, i) end
    ex:shutdown(true)
    for i = 1, 6 do assert.equal(i, fs[i]:result(0)) end
    assert.equal(0, ex:_thread_count())

    local ex2 = futures.ThreadPoolExecutor(1)
    local gs = {}
    for i = 1, 6 do gs[i] = ex2:submit(function(x) require("concurrent").sleep(0.05) return x end, i) end
    ex2:shutdown{wait = true, cancel_futures = true}
    local cancelled = 0
    for i = 1, 6 do
      assert.is_true(gs[i]:done())
      if gs[i]:cancelled() then cancelled = cancelled + 1 else assert.equal(i, gs[i]:result(0)) end
    end
    assert.is_true(cancelled >= 4)
  end)

  it("close() shuts down waiting, as <close> does (every Lua version)", function()
    local ex = futures.ThreadPoolExecutor(1)
    local f = ex:submit(function() require("concurrent").sleep(0.05) return "done" end)
    ex:close()
    assert.is_true(f:done())
    assert.equal("done", f:result(0))
    assert.matches("cannot schedule new futures after shutdown",
      helpers.error_of(ex.submit, ex, print))
    ex:close()                                  -- idempotent
  end)

  it("futures.with(ex, fn, ...) shuts down on return and on error", function()
    local f
    local a, b = futures.with(futures.ThreadPoolExecutor(1), function(ex, x)
      f = ex:submit(function() require("concurrent").sleep(0.05) return "done" end)
      return x * 2, ex
    end, 21)
    assert.equal(42, a)
    assert.is_true(f:done())                    -- shutdown waited
    assert.matches("cannot schedule new futures after shutdown",
      helpers.error_of(b.submit, b, print))
    local err, kept = {}, nil
    local ok, e = pcall(futures.with, futures.ThreadPoolExecutor(1), function(ex)
      kept = ex
      f = ex:submit(function() require("concurrent").sleep(0.05) return "done" end)
      error(err)
    end)
    assert.is_false(ok)
    assert.equal(err, e)                        -- the error value itself
    assert.is_true(f:done())
    assert.matches("cannot schedule new futures after shutdown",
      helpers.error_of(kept.submit, kept, print))
    assert.matches("bad argument #1 to 'with' %(executor expected, got nil%)",
      helpers.error_of(futures.with, nil, print))
    assert.matches("bad argument #2 to 'with' %(function expected, got number%)",
      helpers.error_of(futures.with, futures.ThreadPoolExecutor(1), 3))
  end)

  it("shuts down (waiting) at the end of a <close> scope", function()
    if not helpers.HAS_CLOSE then return pending(helpers.NO_CLOSE) end
    local f
    do
      local ex <close> = futures.ThreadPoolExecutor(1)
      f = ex:submit(function() require("concurrent").sleep(0.05) return "done" end)
    end
    assert.is_true(f:done())
    assert.equal("done", f:result(0))
  end)

  it("resolves 10,000 futures", function()
    local ex <close> = futures.ThreadPoolExecutor(2)
    local fs = {}
    for i = 1, 10000 do fs[i] = ex:submit(function(x) return x * 2 end, i) end
    local sum = 0
    for i = 1, 10000 do sum = sum + fs[i]:result() end
    assert.equal(10000 * 10001, sum)
  end)

  it("keeps worker globals between tasks and gives workers the creator's package.path", function()
    local ex <close> = futures.ThreadPoolExecutor(1)
    ex:submit(function() counter_global = 41 end):result()
    assert.equal(42, ex:submit(function() counter_global = counter_global + 1 return counter_global end):result())
    assert.equal(package.path, ex:submit(function() return package.path end):result())
    assert.equal(0.8, ex:submit(function() return require("helpers").EARLY end):result())
  end)

  it("turns os.exit in a worker into an error", function()
    local ex <close> = futures.ThreadPoolExecutor(1)
    local f = ex:submit(function() os.exit(3) end)
    assert.matches("os.exit cannot be called in a worker thread", helpers.error_of(f.result, f))
    assert.equal(1, ex:submit(function() return 1 end):result())
  end)

  it("runs queued tasks when collected while busy, and then lets its threads go", function()
    local before = thread_count()
    local fs = {}
    do
      local ex = futures.ThreadPoolExecutor(2)
      for i = 1, 8 do
        fs[i] = ex:submit(function(x) require("concurrent").sleep(0.02) return x end, i)
      end
    end
    collectgarbage()
    collectgarbage()
    for i = 1, 8 do assert.equal(i, fs[i]:result(10)) end
    local deadline = concurrent.monotonic() + 5
    while thread_count() > before and concurrent.monotonic() < deadline do concurrent.sleep(0.01) end
    assert.equal(before, thread_count())
  end)

  it("finishes queued tasks when the state closes with the executor busy", function()
    local out = run_script([[
      local futures = require "concurrent.futures"
      local ex = futures.ThreadPoolExecutor(2)
      local path = os.tmpname()
      for i = 1, 6 do
        ex:submit(function(p, n)
          require("concurrent").sleep(0.03)
          local fh = io.open(p, "a"); fh:write(n, "\n"); fh:close()
        end, path, i)
      end
      print("path=" .. path)
      -- no shutdown: lua_close joins the workers
    ]])
    assert.matches("exit=0", out)
    local path = out:match("path=(%S+)")
    local lines = {}
    for l in io.lines(path) do lines[#lines + 1] = tonumber(l) end
    os.remove(path)
    table.sort(lines)
    assert.same({1, 2, 3, 4, 5, 6}, lines)
  end)

  it("survives the state closing with an executor shut down without waiting", function()
    local out = run_script([[
      local futures = require "concurrent.futures"
      local ex = futures.ThreadPoolExecutor(2)
      local f = ex:submit(function() require("concurrent").sleep(0.1) return 1 end)
      ex:shutdown(false)
      print("submitted")
    ]])
    assert.matches("submitted\nexit=0", out)
  end)
end)
