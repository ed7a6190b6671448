--- Future: states, results, errors, cancel, set_result/set_exception.
local futures = require "concurrent.futures"
local concurrent = require "concurrent"
local helpers = require "helpers"

describe("Future", function()
  it("returns every value of the task", function()
    local ex <close> = helpers.pool(1)
    local r = table.pack(ex:submit(function() return 1, nil, "three" end):result())
    assert.same({1, nil, "three", n = 3}, r)
    assert.equal(0, select("#", ex:submit(function() end):result()))
  end)

  it("re-raises a string error with its position, and keeps the traceback", function()
    local ex <close> = helpers.pool(1)
    local f = ex:submit(function() error("it broke") end)
    local err = helpers.error_of(f.result, f)
    assert.matches("^spec/20%-future_spec%.lua:%d+: it broke$", err)
    assert.matches("^spec/20%-future_spec%.lua:%d+: it broke$", f:exception())
    assert.matches("stack traceback", f:traceback())
    assert.matches("20%-future_spec%.lua", f:traceback())
  end)

  it("re-raises a table error value as a copy", function()
    local ex <close> = helpers.pool(1)
    local f = ex:submit(function() error({code = 42, msg = "bad"}) end)
    local err = helpers.error_of(f.result, f)
    assert.same({code = 42, msg = "bad"}, err)
    assert.same({code = 42, msg = "bad"}, f:exception())
  end)

  it("returns nil from exception() and traceback() for a task that returned", function()
    local ex <close> = helpers.pool(1)
    local f = ex:submit(function() return 1 end)
    assert.is_nil(f:exception())
    assert.is_nil(f:traceback())
  end)

  it("raises TimeoutError from result(0) on a pending future, and the task goes on", function()
    local ex <close> = helpers.pool(1)
    local gate = futures.Future()
    local f = ex:submit(function(g) return g:result() end, gate)
    local err = helpers.error_of(f.result, f, 0)
    assert.is_true(futures.iserror(err, futures.TimeoutError))
    assert.matches("^TimeoutError: ", tostring(err))
    local t0 = concurrent.monotonic()
    err = helpers.error_of(f.exception, f, 0.1)
    assert.is_true(futures.iserror(err, futures.TimeoutError))
    assert.is_true(concurrent.monotonic() - t0 >= 0.1 * helpers.EARLY)
    gate:set_result("open")
    assert.equal("open", f:result(5))
  end)

  it("reports its states: pending, running, finished, cancelled", function()
    local ex <close> = helpers.pool(1)
    local gate = futures.Future()
    local started = futures.Future()
    local f1 = ex:submit(function(g, s) s:set_result(true); return g:result() end, gate, started)
    local f2 = ex:submit(function() return 2 end)
    started:result(5)
    assert.is_true(f1:running())
    assert.matches("%(running%)", tostring(f1))
    assert.matches("%(pending%)", tostring(f2))
    assert.is_false(f1:cancel())             -- running: cannot
    assert.is_true(f2:cancel())              -- pending: can
    assert.is_true(f2:cancel())              -- and stays cancelled
    assert.is_true(f2:cancelled())
    assert.is_true(f2:done())
    assert.matches("%(cancelled%)", tostring(f2))
    gate:set_result(1)
    assert.equal(1, f1:result(5))
    assert.is_false(f1:cancel())
    assert.matches("%(finished%)", tostring(f1))
    local err = helpers.error_of(f2.result, f2)
    assert.is_true(futures.iserror(err, futures.CancelledError))
    assert.is_true(futures.iserror(helpers.error_of(f2.exception, f2), futures.CancelledError))
  end)

  it("can be made and finished by hand", function()
    local f = futures.Future()
    assert.is_false(f:done())
    f:set_result("a", 2)
    assert.same({"a", 2}, {f:result()})
    local err = helpers.error_of(f.set_result, f, 3)
    assert.is_true(futures.iserror(err, futures.InvalidStateError))
    local g = futures.Future()
    g:set_exception("nope")
    assert.equal("nope", helpers.error_of(g.result, g))
    assert.is_true(futures.iserror(helpers.error_of(g.set_exception, g, "x"),
      futures.InvalidStateError))
    local c = futures.Future()
    assert.is_true(c:cancel())
    assert.is_true(futures.iserror(helpers.error_of(c.set_result, c, 1),
      futures.InvalidStateError))
  end)

  it("can be finished from a worker and waited on in the main state", function()
    local ex <close> = helpers.pool(2)
    local f = futures.Future()
    ex:submit(function(fut) require("concurrent").sleep(0.05); fut:set_result("late") end, f)
    assert.equal("late", f:result(5))
  end)

  it("checks its arguments", function()
    local f = futures.Future()
    f:set_result(1)
    assert.matches("timeout must be a non%-negative number", helpers.error_of(f.result, f, -1))
    assert.matches("timeout must be a non%-negative number", helpers.error_of(f.result, f, 0/0))
    assert.matches("number expected", helpers.error_of(f.result, f, "soon"))
    assert.matches("concurrent.Future expected", helpers.error_of(f.result, {}))
    assert.matches("bad argument #1 to 'set_exception'", helpers.error_of(f.set_exception, futures.Future()))
  end)

  it("has an error class hierarchy that iserror follows", function()
    local e = futures.BrokenThreadPool("gone")
    assert.is_true(futures.iserror(e, futures.BrokenThreadPool))
    assert.is_true(futures.iserror(e, futures.BrokenExecutor))
    assert.is_true(futures.iserror(e))
    assert.is_false(futures.iserror(e, futures.TimeoutError))
    assert.is_false(futures.iserror("text", futures.TimeoutError))
    assert.is_false(futures.iserror({name = "TimeoutError"}, futures.TimeoutError))
    assert.equal("BrokenThreadPool: gone", tostring(e))
    assert.equal("BrokenThreadPool", e.name)
    assert.equal("gone", e.message)
  end)

  it("raises a task's error value with its type: integer, float, NaN", function()
    if not helpers.HAS_INTEGERS then return pending(helpers.NO_INTEGERS) end
    local ex <close> = helpers.pool(1)
    for _, v in ipairs{7, 7.5, math.mininteger, 0/0, -0.0} do
      local f = ex:submit(function(x) error(x) end, v)
      local err = helpers.error_of(f.result, f)
      assert.equal(math.type(v), math.type(err))
      assert.equal(math.type(v), math.type(f:exception()))
      if v == v then assert.equal(v, err) else assert.is_true(err ~= err) end
      assert.equal(tostring(v), tostring(err))
    end
    local f = ex:submit(function() error(7) end)
    assert.equal(7, f:exception())
    assert.matches("^7\nstack traceback:", f:traceback())
  end)

  it("keeps an error object whose __tostring raises, yields or recurses", function()
    local ex <close> = helpers.pool(1)
    local bodies = {
      raises = function() error("from __tostring") end,
      yields = function() coroutine.yield("nope") end,
      recurses = function(self) return tostring(self) end,
    }
    -- LuaJIT's own tostring never ends on a __tostring that calls it (run
    -- it in plain luajit: it spins): that case is the next test's.
    if helpers.JIT then bodies.recurses = nil end
    for how, body in pairs(bodies) do
      local f = ex:submit(function(b, h)
        error(setmetatable({how = h}, {__tostring = b}))
      end, body, how)
      local err = helpers.error_of(f.result, f)
      assert.equal("table", type(err))
      assert.equal(how, err.how)
      assert.equal(how, f:exception().how)
      assert.matches("^%(error object is a table value%)\nstack traceback:", f:traceback())
    end
  end)

  it("keeps an error object whose __tostring calls tostring on itself", function()
    if helpers.JIT then
      return pending("LuaJIT's tostring does not end on a __tostring that calls tostring(self), with or without this library")
    end
    local ex <close> = helpers.pool(1)
    local f = ex:submit(function()
      error(setmetatable({how = "recurses"}, {__tostring = function(self) return tostring(self) end}))
    end)
    assert.equal("recurses", helpers.error_of(f.result, f).how)
    assert.matches("^%(error object is a table value%)\nstack traceback:", f:traceback())
  end)

  it("gives an error value that cannot be copied as its tostring text", function()
    local ex <close> = helpers.pool(1)
    local f = ex:submit(function() error(coroutine.create(function() end)) end)
    assert.matches("^thread: 0x%x+$", helpers.error_of(f.result, f))
    f = ex:submit(function() error(io.stdout) end)
    assert.matches("^file %(0x%x+%)$", f:exception())
    f = ex:submit(function()
      error(setmetatable({co = coroutine.create(function() end)}, {__tostring = function() return "text" end}))
    end)
    assert.equal("text", f:exception())
    -- Its __tostring raises too: the text says what it was, and the worker lives.
    f = ex:submit(function()
      error(setmetatable({co = coroutine.create(function() end)}, {__tostring = function() error("no") end}))
    end)
    assert.equal("(error object is a table value)", f:exception())
    assert.equal(1, ex:submit(function() return 1 end):result())
  end)

  it("comes back from a worker as the same Lua value, so it works as a table key", function()
    local ex <close> = helpers.pool(2)
    local f = futures.Future()
    local seen = {[f] = "mine"}
    local back = ex:submit(function(x) return x end, f):result()
    assert.is_true(rawequal(f, back))
    assert.equal("mine", seen[back])
    -- One that a worker made and returned twice is one value here too.
    local a, b = ex:submit(function()
      local g = require("concurrent.futures").Future()
      return g, {g}
    end):result()
    assert.is_true(rawequal(a, b[1]))
    assert.is_true(rawequal(a, ex:submit(function(x) return x end, a):result()))
  end)

  it("keeps error classes' identity across states", function()
    local ex <close> = helpers.pool(1)
    local f = ex:submit(function()
      error(require("concurrent.futures").TimeoutError("inner"))
    end)
    local err = helpers.error_of(f.result, f)
    assert.is_true(futures.iserror(err, futures.TimeoutError))
    assert.equal("TimeoutError: inner", tostring(err))
  end)
end)
