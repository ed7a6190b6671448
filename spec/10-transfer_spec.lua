--- The transfer layer: what crosses between states, and what does not.
local futures = require "concurrent.futures"
local concurrent = require "concurrent"
local helpers = require "helpers"

describe("transfer", function()
  local ex
  setup(function() ex = helpers.pool(2) end)
  teardown(function() ex:shutdown() end)

  it("keeps scalars and the integer/float subtype", function()
    if not helpers.HAS_INTEGERS then return pending(helpers.NO_INTEGERS) end
    local a, b, c, d, e, f, g = helpers.roundtrip(ex, nil, true, false, 3, 3.0,
      math.maxinteger, -2^63)
    assert.is_nil(a)
    assert.is_true(b)
    assert.is_false(c)
    assert.equal("integer", math.type(d))
    assert.equal("float", math.type(e))
    assert.equal(math.maxinteger, f)
    assert.equal("float", math.type(g))
    local inf, nan, neg = helpers.roundtrip(ex, math.huge, 0/0, -0.0)
    assert.equal(math.huge, inf)
    assert.is_true(nan ~= nan)
    assert.equal("-0.0", tostring(neg))
  end)

  it("keeps nils between values and trailing nils", function()
    local r = table.pack(helpers.roundtrip(ex, 1, nil, 3, nil))
    assert.equal(4, r.n)
    assert.same({1, nil, 3, nil, n = 4}, r)
  end)

  it("copies binary strings of any size", function()
    local bin = "a\0b\255\0" .. string.rep("x", 100000)
    local s = helpers.roundtrip(ex, bin)
    assert.equal(#bin, #s)
    assert.equal(bin, s)
    assert.equal("", helpers.roundtrip(ex, ""))
  end)

  it("copies nested tables with holes, mixed keys and float keys", function()
    local t = {1, 2, nil, 4, x = {y = {z = "deep"}}, [1.5] = "f", [true] = "b",
               [-1] = "neg"}
    local r = helpers.roundtrip(ex, t)
    assert.same(t, r)
    assert.equal("f", r[1.5])
    assert.equal("neg", r[-1])
  end)

  it("keeps 64-bit integers and their float twins apart in long arrays", function()
    if not helpers.HAS_INTEGERS then return pending(helpers.NO_INTEGERS) end
    local big = 1099511627776      -- 2^40, an integer (no << on 5.1)
    local t = {}
    for i = 1, 1000 do
      if i % 3 == 0 then t[i] = big + i + 0.0 else t[i] = big * (i % 2 == 0 and 1 or -1) + i end
    end
    t[500] = math.mininteger
    local r = helpers.roundtrip(ex, t)
    for i = 1, 1000 do
      assert.equal(t[i], r[i])
      assert.equal(math.type(t[i]), math.type(r[i]))
    end
  end)

  -- Up to 450,000 elements an array is made on the stack in one step
  -- (when the stack can take twice its length), longer ones set one by
  -- one; both read integers inline: floats, NaN, -0.0, 64-bit integers,
  -- strings, tables and nil holes in between must come back as they were.
  for _, n in ipairs({250000, 449999, 600000}) do
    it("copies an array of " .. n .. " with its holes, subtypes and hash part", function()
      if not helpers.HAS_INTEGERS then return pending(helpers.NO_INTEGERS) end
      local t = {}
      for i = 1, n do t[i] = i * 3 - n end
      t[7] = 7.0
      t[8] = 0/0
      t[9] = -0.0
      t[10] = math.maxinteger
      t[11] = "s"
      t[12] = {x = 1}
      t[n - 1] = nil                  -- a hole inside the array part
      t.k = "hash"
      local r = helpers.roundtrip(ex, t)
      assert.equal(math.type(1), math.type(r[1]))
      assert.equal(1 * 3 - n, r[1])
      assert.equal("float", math.type(r[7]))
      assert.is_true(r[8] ~= r[8])
      assert.equal("-0.0", tostring(r[9]))
      assert.equal(math.maxinteger, r[10])
      assert.equal("s", r[11])
      assert.same({x = 1}, r[12])
      assert.is_nil(r[n - 1])
      assert.equal(n * 3 - n, r[n])
      assert.equal("integer", math.type(r[n]))
      assert.equal("hash", r.k)
      local count = 0
      for _ in pairs(r) do count = count + 1 end
      assert.equal(n, count)          -- n - 1 elements and the key k
      for i = 13, n - 2, 997 do assert.equal(i * 3 - n, r[i]) end
    end)
  end

  it("makes a long array where the stack is already deep (200,000 over 650,000)", function()
    -- the array cannot go on the stack twice over: it is set one by one,
    -- not a stack overflow raised from the decode
    if not helpers.HAS_INTEGERS then return pending(helpers.NO_INTEGERS) end
    local n = 200000
    local t = {}
    for i = 1, n do t[i] = i * 2 end
    t[5] = 5.0
    local depth, len, last, ty, five = ex:submit(function(x)
      local f = futures.Future()
      f:set_result(x)
      local filler = {}
      for i = 1, 650000 do filler[i] = i end
      local function deep(count, ...)  -- (... is left where it is)
        local back = f:result()       -- decoded with 650,000 values below
        return count, #back, back[#back], math.type(back[#back]),
               math.type(back[5])
      end
      return deep(#filler, table.unpack(filler))
    end, t):result()
    assert.equal(650000, depth)
    assert.equal(n, len)
    assert.equal(2 * n, last)
    assert.equal("integer", ty)
    assert.equal("float", five)
  end)

  it("preserves shared references and cycles within one transfer", function()
    local shared = {v = 1}
    local t = {a = shared, b = shared}
    t.self = t
    local r, same, cyc = ex:submit(function(x)
      return x, x.a == x.b, x.self == x
    end, t):result()
    assert.is_true(same)
    assert.is_true(cyc)
    assert.equal(r.a, r.b)
    assert.equal(r, r.self)
  end)

  it("copies strings met again (keys and values) in small and large transfers", function()
    -- a repeated short string crosses once and is referred to after
    local small = {"a", "a", a = "a"}
    local r = helpers.roundtrip(ex, small)
    assert.same({"a", "a", a = "a"}, r)
    local recs = {}
    for i = 1, 300 do
      recs[i] = {id = i, name = "n" .. (i % 7), [("k"):rep(40)] = ("v"):rep(41),
                 tags = {"x", "y", i % 2 == 0 and "x" or ""}}
    end
    local back = helpers.roundtrip(ex, recs, "n3", "n3")
    assert.same(recs, back)
    local s1, s2 = select(2, helpers.roundtrip(ex, recs, "n3", "n3"))
    assert.equal("n3", s1)
    assert.equal("n3", s2)
  end)

  it("finds repeats among many tables, and again after hundreds of transfers", function()
    -- 30,000 tables (the seen set grows and rehashes), each record naming
    -- the one before and a shared leaf; then 300 small transfers, so the
    -- set's per-transfer stamps wrap, each one new and still exact.
    local leaf = {}
    local big = {}
    for i = 1, 10000 do
      big[i] = {prev = big[i - 1] or false, leaf = leaf, tags = {i}}
    end
    local ok = ex:submit(function(t)
      for i = 2, #t do
        if t[i].prev ~= t[i - 1] or t[i].leaf ~= t[1].leaf or t[i].tags[1] ~= i then
          return false
        end
      end
      return true
    end, big):result()
    assert.is_true(ok)
    for i = 1, 300 do
      local s = {i}
      local a, b, c = ex:submit(function(x, y, z) return x == y, x ~= z, z[1] end,
        s, s, {i}):result()
      assert.is_true(a and b)
      assert.equal(i, c)
    end
  end)

  it("keeps metatables (copied with the table)", function()
    local Point = {}
    Point.__index = Point
    function Point:norm2() return self.x * self.x + self.y * self.y end
    local p = setmetatable({x = 3, y = 4}, Point)
    local r = ex:submit(function(q) return q:norm2(), q end, p):result()
    assert.equal(25, r)
  end)

  it("sends Lua functions with their upvalues, as snapshots", function()
    local base, step = 10, 5
    local function add(x) return base + step * x end
    local f = ex:submit(function(n) return add(n) end, 2)
    assert.equal(20, f:result())
    local counter = 0
    local function bump() counter = counter + 1; return counter end
    assert.equal(1, ex:submit(bump):result())
    assert.equal(1, ex:submit(bump):result())  -- a snapshot each time
    assert.equal(0, counter)
  end)

  it("loads a function sent again to the same worker only once", function()
    if not helpers.HAS_UPVALUEID then return pending(helpers.NO_UPVALUEID) end
    local one <close> = futures.ThreadPoolExecutor(1)
    local k = 3
    local function whoami(x) return tostring(debug.getinfo(1, "f").func), x + k end
    local a, ra = one:submit(whoami, 1):result()
    local b, rb = one:submit(whoami, 2):result()
    assert.equal(a, b)                 -- the same loaded closure
    assert.equal(4, ra)
    assert.equal(5, rb)
    local other = one:submit(function() return tostring(debug.getinfo(1, "f").func) end):result()
    assert.not_equal(a, other)
  end)

  it("sends recursive local functions", function()
    local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
    assert.equal(6765, ex:submit(fib, 20):result())
  end)

  it("binds _ENV to the worker's own globals", function()
    local env = setmetatable({}, {__index = _G})
    local fn = helpers.load_in("x_in_worker = (x_in_worker or 0) + 1 return x_in_worker, type(print)",
      "=sandboxed", env)
    local one = futures.ThreadPoolExecutor(1)
    local a = one:submit(fn):result()
    local b, tp = one:submit(fn):result()
    one:shutdown()
    assert.equal(1, a)
    assert.equal(2, b)               -- worker globals persist between tasks
    assert.equal("function", tp)
    assert.is_nil(rawget(env, "x_in_worker"))
  end)

  it("sends C functions of loaded modules by name", function()
    local fmt, sqrt = string.format, math.sqrt
    local r = ex:submit(function(f, g) return f("%d", 7), g(16) end, fmt, sqrt):result()
    assert.equal("7", r)
    assert.equal(4.0, select(2, ex:submit(function(f, g) return f("%d", 7), g(16) end,
      fmt, sqrt):result()))
  end)

  it("copies tables kept in globals, as arguments, upvalues and results", function()
    transfer_spec_config = {b = 2}
    local cfg = transfer_spec_config
    assert.equal(2, ex:submit(function(c) return c.b end, transfer_spec_config):result())
    assert.equal(2, ex:submit(function() return cfg.b end):result())
    local r = ex:submit(function() worker_config = {a = 1}; return worker_config end):result()
    assert.same({a = 1}, r)
    transfer_spec_config = nil
  end)

  it("sends module tables captured as upvalues by name", function()
    local c = concurrent
    assert.equal(concurrent.cpu_count(), ex:submit(function() return c.cpu_count() end):result())
  end)

  it("sends the library's objects by reference", function()
    local f = futures.Future()
    local g = ex:submit(function(fut) return fut:result(5) end, f)
    f:set_result("from main")
    assert.equal("from main", g:result(5))
  end)

  it("refuses userdata and names its path", function()
    local err = helpers.error_of(ex.submit, ex, function() end, 1, {file = io.stdout})
    assert.matches("cannot send userdata %(FILE%*%) at args%[2%]%.file", err)
  end)

  it("refuses coroutines, light C closures and unknown C functions", function()
    local co = coroutine.create(function() end)
    assert.matches("cannot send coroutine at args%[1%]%[2%]",
      helpers.error_of(ex.submit, ex, print, {1, co}))
    local closure = string.gmatch("a", "a")   -- a C closure with upvalues
    assert.matches("cannot send C function at args%[1%]%.k: it has upvalues",
      helpers.error_of(ex.submit, ex, print, {k = closure}))
  end)

  it("refuses LuaJIT's FFI cdata and ctypes, naming the path; the ffi module crosses by name", function()
    if not helpers.JIT then return pending("FFI cdata exist in LuaJIT only") end
    local ffi = require "ffi"
    assert.matches("cannot send cdata at args%[1%]%.n",
      helpers.error_of(ex.submit, ex, print, {n = ffi.new("int", 3)}))
    assert.matches("cannot send cdata at args%[1%]",
      helpers.error_of(ex.submit, ex, print, ffi.typeof("int")))
    assert.equal(4, ex:submit(function() return ffi.sizeof("int") end):result())
  end)

  it("gives a function sent to a worker the worker's globals, on every version", function()
    rawset(_G, "where_am_i", "caller")
    local function where() return rawget(_G, "where_am_i") end
    assert.is_nil(ex:submit(where):result())       -- the worker's own globals
    rawset(_G, "where_am_i", nil)
  end)

  it("names the path inside upvalues, metatables and odd keys", function()
    local handle = io.stderr
    local function uses() return handle end
    assert.matches("cannot send userdata %(FILE%*%) at function<upvalue handle>",
      helpers.error_of(ex.submit, ex, uses))
    local t = setmetatable({}, {__index = io.stdout})
    assert.matches("cannot send userdata %(FILE%*%) at args%[1%]<metatable>%.__index",
      helpers.error_of(ex.submit, ex, print, t))
    assert.matches('cannot send userdata %(FILE%*%) at args%[1%]%["a b"%]',
      helpers.error_of(ex.submit, ex, print, {["a b"] = io.stdout}))
  end)

  it("refuses tables nested deeper than the limit, without a crash", function()
    local deep = {}
    local cur = deep
    for _ = 1, 1000 do cur.next = {}; cur = cur.next end
    assert.matches("nested deeper than 200 levels",
      helpers.error_of(ex.submit, ex, print, deep))
    local ok = {}
    cur = ok
    for _ = 1, 150 do cur.next = {}; cur = cur.next end
    local depth = ex:submit(function(t)
      local n = 0
      while t.next do n = n + 1; t = t.next end
      return n
    end, ok):result()
    assert.equal(150, depth)
  end)

  it("queues nothing when a value cannot cross, and stays usable", function()
    local one <close> = futures.ThreadPoolExecutor(1)
    local ran = futures.Future()
    assert.has_error(function()
      one:submit(function(f) f:set_result(true) end, ran, io.stdout)
    end)
    assert.equal(7, one:submit(function() return 7 end):result())
    assert.is_false(ran:done())
  end)

  it("refuses results that cannot cross, as the task's error", function()
    local f = ex:submit(function() return coroutine.create(function() end) end)
    local err = helpers.error_of(f.result, f)
    assert.matches("cannot send coroutine at results%[1%]", err)
  end)

  it("keeps closures that share an upvalue sharing it on the other side", function()
    if not helpers.HAS_UPVALUEID then return pending(helpers.NO_UPVALUEID) end
    local counter = 0
    local function incr() counter = counter + 1 end
    local function task() for _ = 1, 10 do incr() end return counter end
    assert.equal(10, ex:submit(task):result())
    assert.equal(10, ex:submit(task):result())   -- a fresh snapshot each task
    assert.equal(0, counter)
    -- Two closures passed as separate arguments of one call: one transfer.
    local n = 1
    local function get() return n end
    local function set(v) n = v end
    assert.equal(42, ex:submit(function(g, s) s(42) return g() end, get, set):result())
    -- A closure that is the value of an upvalue it shares (the first
    -- function is still being received when the second joins it).
    local shared = {}
    local x = 5
    shared.bump = function() x = x + 1 return x end
    local function read() local _ = shared return x end
    assert.equal(7, ex:submit(function() shared.bump() shared.bump() return read() end):result())
  end)

  it("refuses an object that cannot cross at the call that sends it, in a task and in its upvalues", function()
    local inner = require("concurrent.core").waiter()   -- a waiter stays in its state
    assert.matches("cannot send concurrent%.Waiter at args%[1%]",
      helpers.error_of(ex.submit, ex, print, inner))
    assert.matches("cannot send concurrent%.Waiter at function<upvalue inner>",
      helpers.error_of(ex.submit, ex, function() return inner end))
    assert.equal(3, ex:submit(function() return 3 end):result())   -- still usable
  end)

  it("sends an executor by reference, in a task and in its upvalues", function()
    local inner <close> = futures.ThreadPoolExecutor(1)
    assert.equal(5, ex:submit(function(e) return e:submit(function() return 5 end):result() end, inner):result())
    assert.is_true(rawequal(inner, ex:submit(function() return inner end):result()))
  end)

  it("recognises the library's objects by their metatable, not by a field", function()
    local lock = require("concurrent.thread").Lock()
    local real = getmetatable(lock)
    local forged = {}
    for k, v in pairs(real) do forged[k] = v end
    debug.setmetatable(lock, forged)            -- looks the same, is not the class
    local ok, err = pcall(ex.submit, ex, print, lock)
    debug.setmetatable(lock, real)
    assert.is_false(ok)
    assert.matches("cannot send userdata %(concurrent%.Lock%) at args%[1%]", err)
    local file = io.tmpfile()
    local fmt = getmetatable(file)
    debug.setmetatable(file, {__concurrent = true, __name = "concurrent.Lock"})
    ok, err = pcall(ex.submit, ex, print, file)
    debug.setmetatable(file, fmt)
    file:close()
    assert.is_false(ok)
    assert.matches("cannot send userdata %(concurrent%.Lock%) at args%[1%]", err)
    assert.is_true(helpers.roundtrip(ex, lock) == lock)   -- the real one still crosses
  end)

  it("copies a 100,000-number array there and back", function()
    local t = {}
    for i = 1, 100000 do t[i] = i * 0.5 end
    local r = helpers.roundtrip(ex, t)
    assert.equal(100000, #r)
    assert.equal(50000.0, r[100000])
    assert.equal(0.5, r[1])
  end)

  it("copies many records whose short keys repeat, with shared parts and a cycle", function()
    local shared = {tag = "s"}
    local recs = {}
    for i = 1, 2000 do
      local r = {shared = shared}
      for k = 1, 30 do r["k" .. (i * 7 + k) % 97] = i * k end
      r["key-" .. i] = "v" .. i
      recs[i] = r
    end
    recs.loop = recs
    local r, same, cyc = ex:submit(function(t) return t, t[1].shared == t[2000].shared, t.loop == t end,
      recs):result()
    assert.is_true(same)
    assert.is_true(cyc)
    for i = 1, 2000, 97 do
      for k, v in pairs(recs[i]) do
        if k ~= "shared" then assert.equal(v, r[i][k]) end
      end
      assert.equal("v" .. i, r[i]["key-" .. i])
    end
    assert.equal(r[1].shared, r[1999].shared)
  end)

  it("copies 10,000 records", function()
    local recs = {}
    for i = 1, 10000 do recs[i] = {id = i, name = "name" .. i, tags = {"a", "b"}} end
    local r = helpers.roundtrip(ex, recs)
    assert.equal(10000, #r)
    assert.same(recs[9999], r[9999])
  end)
  -- A deep comparison that also tells integers from floats (assert.same
  -- takes 3 == 3.0) and says where two values first differ.
  local function differ(a, b, path)
    path = path or "value"
    if type(a) ~= type(b) then return path .. ": " .. type(a) .. " ~= " .. type(b) end
    if type(a) ~= "table" then
      if a ~= a and b ~= b then return nil end            -- NaN
      if a ~= b then return path .. ": " .. tostring(a) .. " ~= " .. tostring(b) end
      if math.type and math.type(a) ~= math.type(b) then return path .. ": subtype" end
      if a == 0 and 1 / a ~= 1 / b then return path .. ": sign of zero" end
      return nil
    end
    if getmetatable(a) ~= nil and getmetatable(b) == nil then return path .. ": metatable lost" end
    for k, v in pairs(a) do
      local d = differ(v, rawget(b, k), path .. "[" .. tostring(k) .. "]")
      if d then return d end
    end
    for k in pairs(b) do
      if rawget(a, k) == nil then return path .. ": extra key " .. tostring(k) end
    end
    return nil
  end

  it("copies record fields of every kind, read after their keys: subtypes, strings at the length limits, keys of every kind", function()
    local long127, long128 = string.rep("x", 127), string.rep("y", 128)
    local recs = {}
    for i = 1, 600 do
      recs[i] = {
        int = i, neg = -i, big = 2^40 + i, float = i + 0.5, whole = 3.0,
        negzero = -0.0, inf = math.huge,
        empty = "", short = "s" .. i, bin = "a\0b" .. i, s127 = long127, s128 = long128,
        yes = true, no = false, nested = {i, "t", k = i},
        [string.rep("k", 24)] = i, [string.rep("q", 25)] = -i,  -- the key cache's limit
        [1.5] = "float key", [true] = "boolean key", [-7] = "negative key",
      }
      if helpers.HAS_INTEGERS then recs[i].big = math.tointeger(2^40) + i end
    end
    local r = helpers.roundtrip(ex, recs)
    assert.is_nil(differ(recs, r))
    if helpers.HAS_INTEGERS then
      assert.equal("integer", math.type(r[600].big))
      assert.equal("float", math.type(r[600].whole))
    end
  end)

  it("copies records whose shapes differ by one key, and keys repeated across nested tables", function()
    local recs = {}
    for i = 1, 3000 do
      local r = {a = i, b = "b" .. i}
      if i % 2 == 0 then r.c = i else r.d = i end       -- one key differs
      if i % 3 == 0 then r.e = nil; r.a = nil end       -- one fewer
      r.inner = {a = -i, b = {a = i, b = {a = "deepest"}}, c = i % 7 == 0 or nil}
      recs[i] = r
    end
    local r = helpers.roundtrip(ex, recs)
    assert.is_nil(differ(recs, r))
    assert.is_nil(r[3].a)
    assert.equal(2, r[2].c)
    assert.is_nil(r[2].d)
    assert.equal("deepest", r[3000].inner.b.b.a)
  end)

  it("copies a record with 5,000 keys of every length and a record list longer than the stack takes", function()
    local wide = {}
    for i = 1, 5000 do wide[string.rep(string.char(97 + i % 26), 1 + i % 40) .. i] = i end
    local r = helpers.roundtrip(ex, wide)
    assert.is_nil(differ(wide, r))
    local many = {}
    for i = 1, 210000 do many[i] = {id = i} end
    local back = helpers.roundtrip(ex, many)
    assert.equal(210000, #back)
    assert.equal(210000, back[210000].id)
    assert.equal(12345, back[12345].id)
  end)

  it("copies arrays of tables about as long as 5.1's and LuaJIT's C stack limit (8,000 slots)", function()
    -- The decoder pushes an array's elements before making it (when the
    -- stack takes them) and each table among them asks for room as it
    -- starts: near the limit both must still work or step aside.
    for n = 7950, 8000, 2 do
      local t = {}
      for i = 1, n do t[i] = {i} end
      local r = helpers.roundtrip(ex, t)
      assert.equal(n, #r)
      assert.equal(n, r[n][1])
    end
  end)

  it("keeps metatables of records, with and without __reduce, among plain ones, nested to the depth limit", function()
    local Plain = {__index = {kind = "plain"}}
    local R = {}
    R.__reduce = function(v) return function(x) return {rebuilt = x} end, v.x end
    local recs = {}
    for i = 1, 300 do
      local t = {x = i}
      if i % 3 == 1 then setmetatable(t, Plain) elseif i % 3 == 2 then setmetatable(t, R) end
      recs[i] = t
    end
    local r = ex:submit(function(t)
      local kinds = {}
      for i = 1, #t do kinds[i] = t[i].kind or (t[i].rebuilt and "rebuilt") or "none" end
      return kinds, t
    end, recs):result()
    for i = 1, 300 do
      assert.equal(({"plain", "rebuilt", "none"})[(i - 1) % 3 + 1], r[i])
    end
    -- 199 levels deep, each a record with siblings in both parts, and __reduce
    -- results of many tables: the walk's stack room is checked as it goes.
    local deep = {}
    local cur = deep
    for d = 1, 196 do
      cur.next = {d, {d}, name = "n" .. d, tags = {"a", {"b"}}}
      cur = cur.next
    end
    local many = setmetatable({}, {__reduce = function()
      local args = {}
      for i = 1, 200 do args[i] = {i, {i, {i}}, k = {i}} end
      return function(...) return select("#", ...) end, (table.unpack or unpack)(args)
    end})
    local n, back = ex:submit(function(t, m)
      local k = 0
      while t.next do k = k + 1; t = t.next end
      return k, m
    end, deep, {m = many}):result()
    assert.equal(196, n)
    assert.equal(200, back.m)
  end)

  it("gives back its context and scratch buffer when it runs out of memory mid-encode", function()
    -- In a worker capped by memory_limit: fill the state to ~40 KB short
    -- of the cap, then send 3000 new functions (each needs a proto box):
    -- the encode fails for memory inside the walk. Afterwards the state's
    -- context must be free again (busy false), so the next encode of an
    -- already sent function reuses its cached dump (no new dump); the
    -- same through the scratch buffer of an executor's submit.
    local capped <close> = futures.ThreadPoolExecutor{max_workers = 1, memory_limit = 4 * 1024 * 1024}
    local f = capped:submit(function()
      local core = require "concurrent.core"
      local thread = require "concurrent.thread"
      local futures = require "concurrent.futures"
      local q = thread.Queue()
      local inner = futures.ThreadPoolExecutor{max_workers = 1}
      local function g() return 1 end
      q:put(g); q:get()
      local function squeezed(send, sign)
        local many = {}
        for i = 1, 3000 do many[i] = (loadstring or load)("return " .. sign .. i) end
        local hog = {}
        pcall(function() for k = 1, 1e6 do hog[k] = ("x"):rep(200) .. k end end)
        for k = #hog, #hog - 200, -1 do hog[k] = nil end
        collectgarbage()
        local ok, err = pcall(send, many)
        hog, many = nil, nil
        collectgarbage()
        return ok, tostring(err)
      end
      local r = {}
      r.ok1, r.err1 = squeezed(function(v) q:put(v) end, "")
      r.dumps1, r.busy1, r.scratch1 = core._transfer_stats()
      q:put(g); q:get()
      r.dumps2 = core._transfer_stats()
      r.ok2, r.err2 = squeezed(function(v) inner:submit(function() end, v) end, "-")
      r.dumps3, r.busy2, r.scratch2 = core._transfer_stats()
      r.fine = inner:submit(function(t) return #t end, {1, 2, 3}):result(30)
      inner:shutdown()
      return r
    end)
    local r = f:result(60)
    assert.is_false(r.ok1)
    assert.matches("not enough memory", r.err1)
    assert.is_false(r.busy1)
    assert.is_false(r.scratch1)
    assert.equal(r.dumps1, r.dumps2)      -- g's dump was reused
    if helpers.JIT and r.ok2 then          -- the first squeeze passed above
      return pending("LuaJIT: the second squeeze left room this time (no emergency collection: the heap is not filled as tightly)")
    end
    assert.is_false(r.ok2)
    assert.matches("not enough memory", r.err2)
    assert.is_false(r.busy2)
    assert.is_false(r.scratch2)
    assert.equal(3, r.fine)
  end)
end)
