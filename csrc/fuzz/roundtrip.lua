--- csrc/fuzz/roundtrip.lua -- the Lua half of fuzz_roundtrip.c: build(s)
-- turns fuzz bytes into values, same(...) compares what came back with
-- what left.
local futures = require "concurrent.core"

local RT = {}
local FUTURE = futures.Future()
local CFUNCS = {print, string.format, math.max, table.concat, futures.Future}
local MODULES = {math, string, table}
local MAX_VALUES = 64
-- An unnamed C function without upvalues (in no module): crosses between
-- threads as itself.
local UNNAMED = getmetatable(io.stdout).__index.seek
-- A class that crosses by __reduce: rebuilt by Point.new on the other side.
local Point = {}
Point.__index = Point
function Point.new(x, y) return setmetatable({x = x, y = y}, Point) end
function Point.__reduce(p) return Point.new, rawget(p, "x"), rawget(p, "y") end

-- Tables the builder must not change: modules (shared with the whole
-- state) and Points (only x and y cross).
local function is_module(t)
  if getmetatable(t) == Point then return true end
  for _, m in ipairs(MODULES) do if rawequal(t, m) then return true end end
  return false
end

--- build(bytes, for_process) -> values. Each byte is an operation on a
-- stack of values; operands come from the following bytes.
function RT.build(s, for_process)
  local pos, n, st = 1, 0, {}
  local function byte()
    local b = s:byte(pos) or 0
    pos = pos + 1
    return b
  end
  local function push(v) n = n + 1; st[n] = v end
  local function pop()
    if n == 0 then return nil end
    local v = st[n]
    st[n] = nil
    n = n - 1
    return v
  end
  local function any() return n > 0 and st[byte() % n + 1] or nil end
  while pos <= #s and n < MAX_VALUES do
    local op = byte() % 23
    if op == 0 then push(nil)
    elseif op == 1 then push(true)
    elseif op == 2 then push(false)
    elseif op == 3 then push(byte() - 128)
    elseif op == 4 then                      -- any 64-bit integer
      local v = 0
      for _ = 1, 8 do v = (v << 8) | byte() end
      push(v)
    elseif op == 5 then                      -- any double, NaN and inf too
      local raw = {}
      for k = 1, 8 do raw[k] = string.char(byte()) end
      push((string.unpack("<d", table.concat(raw))))
    elseif op == 6 then                      -- a string of the next bytes
      local len = byte()
      push(s:sub(pos, pos + len - 1))
      pos = pos + len
    elseif op == 7 then push({})
    elseif op == 8 then                      -- t[k] = v
      local v, k, t = pop(), pop(), st[n]
      -- Metamethod names could make a table weak (__mode) or finalized
      -- (__gc): only the harmless ones are allowed.
      local meta = type(k) == "string" and k:sub(1, 2) == "__"
          and k ~= "__index" and k ~= "__name"
      if type(t) == "table" and k ~= nil and k == k and not meta and not is_module(t) then
        rawset(t, k, v)
      end
    elseif op == 9 then                      -- t[#t + 1] = v
      local v, t = pop(), st[n]
      if type(t) == "table" and v ~= nil and not is_module(t) then rawset(t, #t + 1, v) end
    elseif op == 10 then                     -- setmetatable(t, mt)
      local mt, t = pop(), st[n]
      -- (no __gc or __metatable: finalizers would run fuzzed functions)
      if type(t) == "table" and type(mt) == "table" and rawget(mt, "__gc") == nil
          and rawget(mt, "__metatable") == nil and not is_module(t)
          and not is_module(mt) then
        setmetatable(t, mt)
      end
    elseif op == 11 then push(any())         -- share a value already made
    elseif op == 12 then                     -- a closure over a value
      local u = pop()
      push(function() return u end)
    elseif op == 13 then                     -- closures over two, one shared
      local a, b = pop(), pop()
      local function g(x) return a, b, x end
      push(g)
      push(function() return g, a end)
    elseif op == 14 then                     -- a recursive local function
      local function rec(k) if k > 0 then return rec(k - 1) end return 0 end
      push(rec)
    elseif op == 15 then push(CFUNCS[byte() % #CFUNCS + 1])
    elseif op == 16 then
      -- A module crosses by name wherever it is: it comes back as itself.
      local m = MODULES[byte() % #MODULES + 1]
      if byte() % 2 == 0 then push(m) else push(function() return m end) end
    elseif op == 17 then                     -- a table in a cycle with itself
      local t = {}
      t[t] = t
      t.me = t
      push(t)
    elseif op == 18 then                     -- a deep chain
      local t = {}
      local head = t
      for _ = 1, byte() do local u = {}; t[1] = u; t = u end
      push(head)
    elseif op == 19 then                     -- a value rebuilt by __reduce
      local x, y = pop(), pop()
      push(Point.new(x, y))
    elseif op == 20 then                     -- light userdata
      if for_process or byte() % 2 == 0 then push(futures.null)
      else push(debug.upvalueid(RT.build, 1)) end
    elseif op == 21 then                     -- an unnamed C function
      if not for_process then push(UNNAMED) else push(byte()) end
    else
      if not for_process then push(FUTURE) else push(byte()) end
    end
  end
  return table.unpack(st, 1, n)
end

--- same(copies..., originals...) -> boolean: deep equality that keeps
-- the shape: a value met twice among the originals must come back as one
-- value met twice (the map checks it).
function RT.same(...)
  local n = select("#", ...) // 2
  local all = table.pack(...)
  local map, back = {}, {}
  local upmap, upback = {}, {}   -- upvalue ids: shared ones stay shared
  local eq
  local function show(v)   -- no __tostring: a fuzzed metatable may have any
    if type(v) == "string" then return ("%q"):format(v) end
    if type(v) == "number" or type(v) == "boolean" or v == nil then return tostring(v) end
    return type(v)
  end
  local function why(msg, a, b)
    io.stderr:write("roundtrip mismatch: ", msg, ": ", show(a), " vs ", show(b), "\n")
    return false
  end
  function eq(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return why("types", ta, tb) end
    if ta == "number" then
      if math.type(a) ~= math.type(b) then return why("subtype", a, b) end
      if a ~= a then return b ~= b or why("NaN", a, b) end
      return a == b or why("number", a, b)
    elseif ta ~= "table" and ta ~= "function" then
      if ta == "userdata" then
        if rawequal(a, b) then return true end   -- light userdata
        if debug.getmetatable(a) == nil then return why("light userdata", a, b) end
        local id = require("concurrent.core").future_id
        return id(a) == id(b) or why("object", a, b)
      end
      return a == b or why(ta, a, b)
    end
    if map[a] ~= nil then                    -- seen: same copy again?
      return rawequal(map[a], b) or why("sharing", a, b)
    end
    if back[b] ~= nil then return why("two values merged", a, b) end
    map[a], back[b] = b, a
    if ta == "function" then
      if debug.getinfo(a, "S").what == "C" then
        return rawequal(a, b) or why("C function", a, b)
      end
      if string.dump(a) ~= string.dump(b) then return why("bytecode", a, b) end
      local i = 1
      while true do
        local na, va = debug.getupvalue(a, i)
        local nb, vb = debug.getupvalue(b, i)
        if na ~= nb then return why("upvalue name", na, nb) end
        if na == nil then break end
        if na == "_ENV" then
          if not rawequal(vb, _G) then return why("_ENV", va, vb) end
        else
          local ia, ib = debug.upvalueid(a, i), debug.upvalueid(b, i)
          if upmap[ia] == nil and upback[ib] == nil then
            upmap[ia], upback[ib] = ib, ia
          elseif upmap[ia] ~= ib or upback[ib] ~= ia then
            return why("shared upvalue " .. na, va, vb)
          end
          if not eq(va, vb) then return why("upvalue " .. na, va, vb) end
        end
        i = i + 1
      end
      return true
    end
    -- Module tables cross by name: the same table comes back.
    for _, m in ipairs(MODULES) do
      if rawequal(a, m) then return rawequal(a, b) or why("module", a, b) end
    end
    local count = 0
    for k, v in next, a do
      count = count + 1
      local tk = type(k)   -- keys that are copies are counted, not looked up
      if tk == "string" or tk == "number" or tk == "boolean" then
        if not eq(v, rawget(b, k)) then return why("field " .. tostring(k), v, rawget(b, k)) end
      end
    end
    for _ in next, b do count = count - 1 end
    if count ~= 0 then return why("size", a, b) end
    local ma, mb = debug.getmetatable(a), debug.getmetatable(b)
    if (ma == nil) ~= (mb == nil) then return why("metatable", ma, mb) end
    if ma ~= nil and not eq(ma, mb) then return false end
    return true
  end
  for i = 1, n do
    if not eq(all[n + i], all[i]) then return why("value #" .. i, all[n + i], all[i]) end
  end
  return true
end

return RT
