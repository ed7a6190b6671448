--- concurrent._compat: what the Lua modules use that differs between Lua
-- 5.4, 5.3, 5.1 and LuaJIT (no `<close>` before 5.4, no integer subtype
-- before 5.3). Internal; docs/reference.md lists the differences.
local compat = {}

compat.unpack = table.unpack or unpack
compat.maxinteger = math.maxinteger or 2 ^ 53

if math.type then
  compat.tointeger = math.tointeger
  function compat.isinteger(v) return math.type(v) == "integer" end
else
  -- No integer subtype: a whole number within the range doubles count
  -- exactly is the integer.
  function compat.tointeger(v)
    if type(v) == "number" and v == math.floor(v) and v >= -2 ^ 53 and v <= 2 ^ 53 then
      return v
    end
    return nil
  end
  function compat.isinteger(v) return compat.tointeger(v) ~= nil end
end

-- Lua 5.1 (not LuaJIT) cannot yield across pcall: a wait that runs
-- under pcall cannot suspend a spawned coroutine there.
compat.yield_in_pcall = _VERSION ~= "Lua 5.1" or type(rawget(_G, "jit")) == "table"

--- closing(close, obj, pcall(fn, ...)): call close(obj), then return
-- what fn returned or raise its error again: the to-be-closed variable of
-- 5.4 for every version (the `with` helpers).
function compat.closing(close, obj, ok, ...)
  close(obj)
  if not ok then error((...), 0) end
  return ...
end

return compat
