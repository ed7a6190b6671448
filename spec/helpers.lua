--- Shared tolerances and factories for the specs.
local futures = require "concurrent.futures"

local helpers = {}

-- Timing margins: these machines are noisy, so lower bounds are a little
-- under the sleep and upper bounds are generous.
helpers.EARLY = 0.8     -- a wait of t returns after at least t * EARLY
helpers.LATE = 5.0      -- ... and before t + LATE seconds

--- A ThreadPoolExecutor to use with <close>.
function helpers.pool(n)
  return futures.ThreadPoolExecutor(n or 2)
end

--- Send values to a worker and back (an echo task).
function helpers.roundtrip(ex, ...)
  return ex:submit(function(...) return ... end, ...):result()
end

--- Run the Lua source src in a fresh interpreter ($CONCURRENT_LUA, which
-- spec/sanitize.sh sets; else lua5.4) with this one's package paths;
-- prefix goes before the command ("ulimit -n 64; ", "timeout -s KILL 60 ").
-- Returns its stdout, its stderr and its exit status (a number: read from
-- the shell, as 5.1's popen close does not give it).
function helpers.run_script(src, prefix)
  local path, errpath = os.tmpname(), os.tmpname()
  local fh = assert(io.open(path, "w"))
  fh:write(("package.path = %q\npackage.cpath = %q\n"):format(package.path, package.cpath))
  fh:write(src)
  fh:close()
  local lua = os.getenv("CONCURRENT_LUA") or "lua5.4"
  local p = assert(io.popen(("%s%s %s 2>%s; echo \"exit=$?\""):format(
    prefix or "", lua, path, errpath)))
  local out = p:read("*a")
  p:close()
  local eh = assert(io.open(errpath))
  local err = eh:read("*a")
  eh:close()
  os.remove(path)
  os.remove(errpath)
  local status = tonumber(out:match("exit=(%d+)%s*$"))
  return (out:gsub("exit=%d+%s*$", "")), err, status
end

--- The error raised by fn(...), which must fail.
function helpers.error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  return err
end

-- Lua versions: the suite runs on 5.4, 5.3, 5.1 and LuaJIT (make test-all).
helpers.HAS_INTEGERS = math.type ~= nil            -- an integer subtype: 5.3+
helpers.HAS_CLOSE = _VERSION >= "Lua 5.4"          -- <close>: 5.4+
helpers.JIT = type(rawget(_G, "jit")) == "table"
helpers.HAS_PAIRS = _VERSION ~= "Lua 5.1"           -- pairs honours __pairs: 5.2+
helpers.HAS_UPVALUEID = _VERSION ~= "Lua 5.1" or helpers.JIT   -- upvalue identity
helpers.TAIL_POSITIONS = _VERSION ~= "Lua 5.1" or helpers.JIT  -- error levels through tail calls
helpers.NUMBER_ERRORS = _VERSION ~= "Lua 5.1"       -- error(7) raises 7, not "file:7: 7"
helpers.YIELD_ACROSS_C = _VERSION ~= "Lua 5.1" or helpers.JIT  -- yield inside pcall, for iterators, metamethods
helpers.GC_ISRUNNING = _VERSION ~= "Lua 5.1" or helpers.JIT    -- collectgarbage("isrunning"), LUA_GCISRUNNING
-- A worker keeps (does not load again) a function with upvalues of its
-- own that a task reaches through an upvalue or an argument: no version
-- yet (transfer/decode.c keeps the task's function and leaf functions).
helpers.KEEPS_INNER_FUNCTIONS = false

-- Why a test is pending on this Lua: `if not helpers.HAS_CLOSE then
-- return pending(helpers.NO_CLOSE) end` (busted's pending is the spec
-- file's, not this module's).
helpers.NO_INTEGERS = _VERSION .. " has no integer subtype: numbers cross as the doubles they are"
helpers.STRING_ERRORS = _VERSION .. " turns error(7) into the string \"file:line: 7\" (as without this library)"
helpers.NO_PAIRS = _VERSION .. " has no __pairs: iterate a Dict with d:keys()"
helpers.NO_UPVALUEID = "Lua 5.1 has no upvalue identity: closures that share an upvalue get a copy each"
helpers.NO_TAIL_POSITIONS = "Lua 5.1 reports no position for an error raised at a level reached through a tail call"
helpers.NO_GC_ISRUNNING = "Lua 5.1 cannot tell whether its collector runs: timed polls leave the collector alone there (docs/reference.md, futures.poll)"
helpers.NO_CLOSE = _VERSION .. " has no <close>: the test checks where a scope or loop closes"
helpers.RELOADS_TASKS_WITH_UPVALUES = "Lua 5.1 has no upvalue identity: a task's function that has upvalues is loaded afresh each time (docs/reference.md, Lua versions)"
helpers.RELOADS_INNER_FUNCTIONS = "known limit: a function with upvalues reached through the task's upvalues or arguments is loaded afresh for each task (transfer/decode.c keeps only the task's function and leaf functions); on LuaJIT each load is traced afresh (docs/reference.md, Lua versions)"
helpers.NO_YIELD_ACROSS_C = "Lua 5.1 cannot yield across pcall, a for iterator or a metamethod: a spawned coroutine's wait there blocks the thread (docs/reference.md, Lua versions)"

--- load(src, name, "t", env) on every version (5.1: loadstring + setfenv).
-- os.execute(cmd) succeeded: true on 5.2+, the exit status 0 on 5.1.
function helpers.run_ok(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

function helpers.load_in(src, name, env)
  if setfenv and loadstring then
    local fn = assert(loadstring(src, name))
    return setfenv(fn, env)
  end
  return assert(load(src, name, "t", env))
end

-- Before 5.4, spec/compat.lua rewrites `local x <close> = e` as
-- `local x = helpers.close_at_end(finally) .. e`: x is closed when the
-- test ends (its __close, in reverse order), not when its block does;
-- tests that check the block's end are pending (NO_CLOSE).
local to_close = {}
function helpers.close_at_end(finally)
  return setmetatable({}, {__concat = function(_, v)
    if v ~= nil and v ~= false then
      if #to_close == 0 then
        finally(function()
          for i = #to_close, 1, -1 do
            local x = table.remove(to_close)
            local mt = getmetatable(x)
            if mt and mt.__close then mt.__close(x, nil) end
          end
        end)
      end
      to_close[#to_close + 1] = v
    end
    return v
  end})
end

return helpers
