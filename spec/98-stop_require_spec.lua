--- A task stopped while it is inside `require` does not poison the module
-- for the worker's later tasks. Lua 5.1's and LuaJIT's require keep a
-- sentinel in package.loaded[name] while the module loads; an error that
-- ends the load leaves it there, and every later require of the name
-- raises "loop or previous error loading module". After a task ended by
-- an interruption the worker removes those sentinels (5.4 and 5.3 keep
-- none: there this holds anyway).
local concurrent = require "concurrent"
local futures = require "concurrent.futures"
local thread = require "concurrent.thread"
local helpers = require "helpers"

local LATE = 3.0    -- generous: the machine is loaded

-- A module on package.path whose loading, if the worker's global SLOW is
-- set, says it started (LOADING:set(), or in another process by making
-- the file MARK) and then sleeps long enough for an interrupt to land.
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir " .. dir))
local modfile = dir .. "/c98slow.lua"
do
  local fh = assert(io.open(modfile, "w"))
  fh:write([[
local concurrent = require "concurrent"
if SLOW then
  if MARK then assert(io.open(MARK, "w")):close() else LOADING:set() end
  concurrent.sleep(30)
end
return {value = 42}
]])
  fh:close()
end

teardown(function()
  os.remove(modfile)
  os.remove(dir)
end)

describe("a task interrupted inside require", function()
  local ex, saved_path
  setup(function()
    saved_path = package.path
    package.path = dir .. "/?.lua;" .. package.path
    ex = helpers.pool(1)          -- made after the path change: it has dir
  end)
  teardown(function()
    ex:shutdown()
    package.path = saved_path
  end)

  it("leaves the module loadable by the next task on the same worker", function()
    local ev = thread.Event()
    local f = ex:submit(function(ev)
      SLOW, LOADING = true, ev
      return require("c98slow").value
    end, ev)
    assert.is_true(ev:wait(LATE), "the module started loading")
    assert.is_true(f:interrupt())
    local err = helpers.error_of(f.result, f)
    assert.is_true(futures.iserror(err, futures.CancelledError), tostring(err))
    -- The same worker (a pool of 1) loads it again, and gets it.
    local g = ex:submit(function()
      SLOW, LOADING = nil, nil
      local ok, m = pcall(require, "c98slow")
      if not ok then return "require failed: " .. tostring(m) end
      return m.value
    end)
    assert.equal(42, g:result(LATE))
  end)

  it("leaves the worker's other modules alone", function()
    -- A module loaded before the interrupted load stays loaded (the same
    -- table): only what the interrupted load left behind is removed.
    local ev = thread.Event()
    local before = ex:submit(function()
      KEEP = require "concurrent.thread"
      return tostring(KEEP)
    end):result(LATE)
    local f = ex:submit(function(ev)
      package.loaded.c98slow = nil
      SLOW, LOADING = true, ev
      return require("c98slow").value
    end, ev)
    assert.is_true(ev:wait(LATE), "the module started loading")
    assert.is_true(f:interrupt())
    assert.is_true(futures.iserror(helpers.error_of(f.result, f), futures.CancelledError))
    local after, same, value = ex:submit(function()
      SLOW, LOADING = nil, nil
      local t = require "concurrent.thread"
      return tostring(t), rawequal(t, KEEP), require("c98slow").value
    end):result(LATE)
    assert.equal(before, after)
    assert.is_true(same)
    assert.equal(42, value)
  end)
end)

describe("a process pool's task interrupted inside require #nosan", function()
  it("leaves the module loadable by the next task in the same process", function()
    local saved_path = package.path
    package.path = dir .. "/?.lua;" .. package.path
    local ex = futures.ProcessPoolExecutor(1)     -- made after the path change
    package.path = saved_path
    local mark = os.tmpname()
    os.remove(mark)
    local ok, err = pcall(function()
      assert.equal(1, ex:submit(function() return 1 end):result(LATE))
      local before = ex:_pids()
      local f = ex:submit(function(mark)
        SLOW, MARK = true, mark
        return require("c98slow").value
      end, mark)
      local t0 = concurrent.monotonic()
      while not io.open(mark) do
        assert(concurrent.monotonic() - t0 < LATE, "the module started loading")
        concurrent.sleep(0.01)
      end
      assert.is_true(f:interrupt())
      assert.is_true(futures.iserror(helpers.error_of(f.result, f), futures.CancelledError))
      assert.equal(42, ex:submit(function()
        SLOW, MARK = nil, nil
        local ok, m = pcall(require, "c98slow")
        if not ok then return "require failed: " .. tostring(m) end
        return m.value
      end):result(LATE))
      assert.same(before, ex:_pids())           -- the same process: not a fresh state
    end)
    ex:shutdown()
    os.remove(mark)
    assert(ok, err)
  end)
end)
