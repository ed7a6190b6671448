--- "A function sent again to the same worker is not reloaded each time"
-- (API.md, Lua functions): a worker keeps the function it loaded (a
-- template, ARCHITECTURE.md) and runs it again for the next task that
-- sends it, its upvalues refreshed. Seen from Lua: the closure that runs
-- is the object an earlier task of that worker ran, not a new one. It
-- matters beyond the load's own cost: LuaJIT compiles traces per function
-- prototype, so a function loaded afresh for each task is traced afresh
-- each time (docs/reference.md, Lua versions).
local futures = require "concurrent.futures"
local helpers = require "helpers"

local SENDS = 5

-- Run task SENDS times, one after the other, on a fresh 1-worker pool;
-- returns what each run returned (task says whether its worker had run
-- the closure it checks before).
local function runs_of(task, ...)
  local ex = futures.ThreadPoolExecutor(1)
  local again = {}
  for i = 1, SENDS do again[i] = ex:submit(task, ...):result() end
  ex:shutdown()
  return again
end

local function first_only_new()
  local t = {false}
  for i = 2, SENDS do t[i] = true end
  return t
end

-- The checks: these functions are leaves (their only free names are
-- globals), so they read and write the worker's own globals.
local function seen_before(fn)
  local seen = reload_spec_seen
  if not seen then
    seen = setmetatable({}, {__mode = "k"})
    reload_spec_seen = seen
  end
  local again = seen[fn] == true
  seen[fn] = true
  return again
end

describe("a function sent again to the same worker", function()
  it("runs as the same closure when it has no upvalues (every version)", function()
    local function leaf_task()
      return reload_spec_check(debug.getinfo(1, "f").func)
    end
    local ex = futures.ThreadPoolExecutor(1)
    -- the worker's check, a global there (sent once)
    ex:submit(function(check) reload_spec_check = check end, seen_before):result()
    local again = {}
    for i = 1, SENDS do again[i] = ex:submit(leaf_task):result() end
    ex:shutdown()
    assert.same(first_only_new(), again)
  end)

  it("runs as the same closure with upvalues, which are refreshed each time", function()
    if not helpers.HAS_UPVALUEID then return pending(helpers.RELOADS_TASKS_WITH_UPVALUES) end
    local check = seen_before
    local function up_task(n)
      return check(debug.getinfo(1, "f").func), n
    end
    local ex = futures.ThreadPoolExecutor(1)
    for i = 1, SENDS do
      local again, n = ex:submit(up_task, i):result()
      assert.equal(i > 1, again)
      assert.equal(i, n)
    end
    ex:shutdown()
  end)

  it("keeps a leaf function that the task reaches through an upvalue", function()
    local function leaf_helper(x) return x + 1 end
    local check = seen_before
    local function task()
      assert(leaf_helper(1) == 2)
      return check(leaf_helper)
    end
    assert.same(first_only_new(), runs_of(task))
  end)

  it("keeps a function with upvalues that the task reaches through an upvalue", function()
    if not helpers.KEEPS_INNER_FUNCTIONS then return pending(helpers.RELOADS_INNER_FUNCTIONS) end
    local function fib(n)            -- an upvalue of its own: itself
      if n < 2 then return n end
      return fib(n - 1) + fib(n - 2)
    end
    local check = seen_before
    local function task()
      assert(fib(10) == 55)
      return check(fib)
    end
    assert.same(first_only_new(), runs_of(task))
  end)
end)
