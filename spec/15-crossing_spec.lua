--- What crosses by a rule of its own (issue 14): module tables by name at
-- every depth, real libraries' values (cjson.null, cjson.encode, lpeg),
-- C loaders of package.preload, and __reduce.
local futures = require "concurrent.futures"
local thread = require "concurrent.thread"
local helpers = require "helpers"

local function optional(name)
  local ok, m = pcall(require, name)
  return ok and m or nil
end

local cjson, lpeg = optional("cjson"), optional("lpeg")

-- A directory of small modules on package.path, written for this file.
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir " .. dir))
local function write(name, text)
  local f = assert(io.open(dir .. "/" .. name .. ".lua", "w"))
  f:write(text)
  f:close()
end
write("c14conf", "return {x = 1}")
write("c14mod", "return {defaults = {size = 10}}")
local saved_path = package.path
package.path = dir .. "/?.lua;" .. package.path

describe("module tables", function()
  local ex, conf, mod
  setup(function()
    ex = helpers.pool(1)          -- made after the path change: it has dir
    conf = require "c14conf"
    mod = require "c14mod"
  end)
  teardown(function()
    ex:shutdown()
    package.loaded.c14conf, package.loaded.c14mod, package.loaded.c14adhoc = nil, nil, nil
    package.path = saved_path
    os.remove(dir .. "/c14conf.lua")
    os.remove(dir .. "/c14mod.lua")
    os.remove(dir)
  end)

  it("cross by name at every depth: the worker uses its own, as loaded", function()
    conf.x = 2                    -- changed after loading: workers see 1
    assert.equal(1, ex:submit(function() return conf.x end):result())
    assert.equal(1, ex:submit(function(c) return c.x end, conf):result())
    assert.equal(1, ex:submit(function(t) return t.inner[1].x end, {inner = {conf}}):result())
    local q = thread.Queue()
    q:put({conf = conf})
    assert.equal(1, ex:submit(function(qq) return qq:get().conf.x end, q):result())
    conf.x = 1
  end)

  it("treat a module's own tables the same as an upvalue and inside an argument", function()
    local defaults = mod.defaults
    defaults.size = 99
    local up = ex:submit(function() return defaults.size end):result()
    local nested = ex:submit(function(t) return t[1].size end, {defaults}):result()
    assert.equal(10, up)
    assert.equal(10, nested)
    defaults.size = 10
  end)

  it("come back as the receiver's own table", function()
    local back = ex:submit(function() return {require("c14mod").defaults} end):result()
    assert.is_true(rawequal(back[1], mod.defaults))
    local t = helpers.roundtrip(ex, {m = mod, c = conf})
    assert.is_true(rawequal(t.m, mod))
    assert.is_true(rawequal(t.c, conf))
  end)

  it("are copied when the receiver could not require them", function()
    package.loaded.c14adhoc = {v = 1}
    local adhoc = package.loaded.c14adhoc
    assert.equal(1, ex:submit(function() return adhoc.v end):result())
    assert.equal(1, ex:submit(function(t) return t.a.v end, {a = adhoc}):result())
    local back = helpers.roundtrip(ex, adhoc)
    assert.same({v = 1}, back)
    assert.is_false(rawequal(back, adhoc))
  end)

  it("take package.path when the executor is made", function()
    local other = dir .. "2"
    assert(os.execute("mkdir " .. other))
    local f = assert(io.open(other .. "/c14late.lua", "w"))
    f:write("return 'late'")
    f:close()
    local before <close> = futures.ThreadPoolExecutor(1)
    local old = package.path
    package.path = other .. "/?.lua;" .. package.path
    local after <close> = futures.ThreadPoolExecutor(1)
    package.path = old
    local ok = before:submit(function() return pcall(require, "c14late") end):result()
    assert.is_false(ok)
    assert.equal("late", after:submit(function() return require "c14late" end):result())
    os.remove(other .. "/c14late.lua")
    os.remove(other)
  end)
end)

describe("real libraries' values", function()
  local ex, pex
  setup(function()
    ex = helpers.pool(1)
    pex = futures.ProcessPoolExecutor(1)
  end)
  teardown(function()
    ex:shutdown()
    pex:shutdown()
  end)

  -- #nosan (here and below where a process worker is forked): the
  -- process pool's manager forks while the thread pool's worker (and, in
  -- the preload case, a Thread) may be allocating: a sanitizer runtime's
  -- child can then spin in its allocator lock (spec/sanitize.sh; seen once
  -- in the tsan suite, the preload case).
  it("cjson.null (a NULL light userdata) comes back from a worker, thread or process #nosan", function()
    if not cjson then
      pending("lua-cjson is not installed (apt-get install lua-cjson)")
      return
    end
    local task = function() return require("cjson").decode("[1,null]") end
    for _, e in ipairs({ex, pex}) do
      local r = e:submit(task):result()
      assert.equal(1, r[1])
      assert.is_true(r[2] == cjson.null)
    end
  end)

  it("light userdata cross between threads as the same pointer, to processes only NULL", function()
    if not debug.upvalueid then
      return pending("Lua 5.1 has no debug.upvalueid: no non-NULL light userdata to make from Lua")
    end
    local function f() return f end
    local id = debug.upvalueid(f, 1)           -- a non-NULL light userdata
    assert.equal("userdata", type(id))
    assert.is_true(helpers.roundtrip(ex, id) == id)
    assert.matches("cannot send light userdata at args%[1%]%.k: only a NULL one crosses to another process",
      helpers.error_of(pex.submit, pex, print, {k = id}))
  end)

  it("C functions of modules cross by name, upvalues and all (cjson.encode) #nosan", function()
    if not cjson then
      pending("lua-cjson is not installed (apt-get install lua-cjson)")
      return
    end
    if _VERSION ~= "Lua 5.1" then            -- 5.1's lua-cjson keeps none
      assert.is_not_nil(debug.getupvalue(cjson.encode, 1))   -- a C closure
    end
    assert.equal("[1,2,3]", ex:submit(cjson.encode, {1, 2, 3}):result())
    assert.equal("[1,2,3]", pex:submit(cjson.encode, {1, 2, 3}):result())
    assert.is_true(rawequal(helpers.roundtrip(ex, cjson.encode), cjson.encode))
  end)

  it("an unnamed C function without upvalues crosses between threads, not to processes", function()
    local seek = getmetatable(io.stdout).__index.seek   -- in no module
    local back = helpers.roundtrip(ex, seek)
    if _VERSION == "Lua 5.1" then   -- each push makes a new C closure there
      assert.equal("C", debug.getinfo(back, "S").what)
    else
      assert.is_true(back == seek)
    end
    assert.equal("function", ex:submit(function(t) return type(t[1]) end, {seek}):result())
    assert.matches("cannot send C function at args%[1%]: not found in any loaded module",
      helpers.error_of(pex.submit, pex, print, seek))
  end)

  it("refused userdata are named by their __name (an lpeg pattern)", function()
    if not lpeg then
      pending("lua-lpeg is not installed (apt-get install lua-lpeg)")
      return
    end
    local p = lpeg.P("a") * lpeg.R("09")
    assert.matches("cannot send userdata %(lpeg%-pattern%) at args%[1%]",
      helpers.error_of(ex.submit, ex, function(x) return x end, p))
    assert.matches("cannot send userdata %(lpeg%-pattern%) at args%[2%]%.p",
      helpers.error_of(ex.submit, ex, print, 1, {p = p}))
  end)

  it("C loaders of package.preload are copied into new worker states #nosan", function()
    if not lpeg then
      pending("lua-lpeg is not installed (apt-get install lua-lpeg)")
      return
    end
    local so = assert(package.searchpath("lpeg", package.cpath))
    local loader = assert(package.loadlib(so, "luaopen_lpeg"))
    package.preload.c14lpeg = loader                -- as a host would
    local task = function() return type(require("c14lpeg").match) end
    local pool <close> = futures.ThreadPoolExecutor(1)
    local procs <close> = futures.ProcessPoolExecutor(1)
    local q = thread.Queue()
    local t = thread.Thread{target = function(qq) qq:put((require("c14lpeg").match("a", "ab"))) end,
                            args = {q}}
    t:start()
    package.preload.c14lpeg = nil
    assert.equal("function", pool:submit(task):result())
    assert.equal("function", procs:submit(task):result())
    t:join()
    assert.equal(2, q:get())
    assert.is_false(ex:submit(function() return pcall(require, "c14lpeg") end):result())
  end)
end)

describe("__reduce", function()
  local ex, pex
  setup(function()
    ex = helpers.pool(1)
    pex = futures.ProcessPoolExecutor(1)
  end)
  teardown(function()
    ex:shutdown()
    pex:shutdown()
  end)

  local Point = {}
  Point.__index = Point
  function Point.new(x, y) return setmetatable({x = x, y = y}, Point) end
  function Point:norm2() return self.x * self.x + self.y * self.y end
  function Point.__reduce(p) return Point.new, p.x, p.y end

  -- #nosan: pex forks (see "real libraries' values" above).
  it("sends a Lua class by value: methods work there, and it comes back one #nosan", function()
    for _, e in ipairs({ex, pex}) do
      local n, back = e:submit(function(p) return p:norm2(), p end, Point.new(3, 4)):result()
      assert.equal(25, n)
      assert.equal(3, back.x)
      assert.equal(25, back:norm2())
    end
  end)

  it("rebuilds a value met twice once, and keeps it shared", function()
    local p = Point.new(1, 2)
    local same, back = ex:submit(function(t) return t[1] == t[2], t end, {p, p, k = p}):result()
    assert.is_true(same)
    assert.is_true(back[1] == back[2] and back.k == back[1])
    assert.is_false(back[1] == p)        -- a copy, rebuilt
  end)

  it("calls __reduce on the sending side and the function on the receiving one", function()
    local calls = 0
    local C = {}
    C.__reduce = function(v) calls = calls + 1 return function(a) return {rebuilt = a} end, v.a end
    local r = helpers.roundtrip(ex, setmetatable({a = 5}, C))
    assert.equal(1, calls)
    assert.same({rebuilt = 5}, r)
  end)

  it("reports errors inside __reduce and the rebuilding call with the path", function()
    local bad = setmetatable({}, {__reduce = function() error("no way") end})
    assert.matches("cannot send table at args%[1%]%.k: its __reduce failed: .*no way",
      helpers.error_of(ex.submit, ex, print, {k = bad}))
    local notfn = setmetatable({}, {__reduce = function() return 42 end})
    assert.matches("cannot send table at args%[1%]: its __reduce must return a function",
      helpers.error_of(ex.submit, ex, print, notfn))
    local deep = setmetatable({}, {__reduce = function() return print, coroutine.create(function() end) end})
    assert.matches("cannot send coroutine at args%[1%]<__reduce>",
      helpers.error_of(ex.submit, ex, print, deep))
    local self_ref = setmetatable({}, {__reduce = function(s) return print, s end})
    assert.matches("its __reduce gives back the value itself",
      helpers.error_of(ex.submit, ex, print, self_ref))
    local fails = setmetatable({}, {__reduce = function() return function() error("cannot rebuild") end end})
    local f = ex:submit(function(x) return x end, {{p = fails}})
    assert.matches("cannot rebuild the value at value 2%[1%]%.p %(sent by its __reduce%): .*cannot rebuild",
      helpers.error_of(f.result, f))
    assert.equal(3, ex:submit(function() return 3 end):result())   -- still usable
  end)

  it("sends a full userdata through its library's constructor (a file reopened)", function()
    local path = os.tmpname()
    local w = assert(io.open(path, "w"))
    w:write("hello from a file")
    w:close()
    local paths = setmetatable({}, {__mode = "k"})
    local fmt = getmetatable(io.stdout)
    fmt.__reduce = function(fh) return io.open, assert(paths[fh], "not a reopenable file"), "r" end
    local ok, res = pcall(function()
      local fh = assert(io.open(path, "r"))
      paths[fh] = path
      local text = ex:submit(function(f) return f:read("*a") end, fh):result()
      fh:close()
      return text
    end)
    fmt.__reduce = nil
    os.remove(path)
    assert.is_true(ok, res)
    assert.equal("hello from a file", res)
  end)
end)

describe("Dict", function()
  it("holds copies: changing a value read from it changes a copy; update changes it", function()
    local d = thread.Dict()
    d.t = {a = 1}
    d.t.a = 2                                  -- a copy, dropped
    assert.equal(1, d.t.a)
    d:update("t", function(t) t.a = 2 return t end)
    assert.equal(2, d.t.a)
  end)
end)
