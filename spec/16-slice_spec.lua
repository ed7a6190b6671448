--- concurrent.slice(t [, i [, j]]): a view of t[i..j] that crosses as the
-- array of those values, read when it is sent.
local futures = require "concurrent.futures"
local concurrent = require "concurrent"
local thread = require "concurrent.thread"
local helpers = require "helpers"

describe("concurrent.slice", function()
  local ex
  setup(function() ex = helpers.pool(2) end)
  teardown(function() ex:shutdown() end)

  it("crosses as the array t[i..j], each value by the usual rules", function()
    local t = {10, 20, "x", {a = 1, b = {2}}, 3.5, true, 70}
    local r = helpers.roundtrip(ex, concurrent.slice(t, 2, 6))
    assert.equal("table", type(r))
    assert.same({20, "x", {a = 1, b = {2}}, 3.5, true}, r)
    assert.is_nil(getmetatable(r))
    assert.is_not.equal(t[4], r[3])            -- a copy, not the sender's table
    if helpers.HAS_INTEGERS then
      assert.equal("integer", math.type(r[1]))
      assert.equal("float", math.type(r[4]))
    end
  end)

  it("defaults to 1 and the raw length, and may be empty", function()
    local t = setmetatable({1, 2, 3}, {__len = function() return 99 end,
                                       __index = function() return "meta" end})
    assert.same({1, 2, 3}, helpers.roundtrip(ex, concurrent.slice(t)))
    assert.same({2, 3}, helpers.roundtrip(ex, concurrent.slice(t, 2)))
    assert.same({}, helpers.roundtrip(ex, concurrent.slice(t, 3, 2)))
    assert.same({}, helpers.roundtrip(ex, concurrent.slice({})))
    -- raw reads: past the end is nil, not __index's value
    local r = helpers.roundtrip(ex, concurrent.slice(t, 2, 5))
    assert.equal(2, r[1])
    assert.equal(3, r[2])
    assert.is_nil(r[3])
    assert.is_nil(r[4])
  end)

  it("keeps holes as nils at their places", function()
    local a, b, c, d = ex:submit(function(x) return x[1], x[2], x[3], x[4] end,
      concurrent.slice({1, nil, 3, nil, 5}, 1, 4)):result()
    assert.same({1, nil, 3, nil}, {a, b, c, d})
  end)

  it("reads t when it is sent, not when it is made", function()
    local t = {1, 2, 3}
    local s = concurrent.slice(t, 1, 3)
    t[2] = "changed"
    local f = ex:submit(function(x) return x[2] end, s)
    t[2] = "after the send"
    assert.equal("changed", f:result())
    -- the bounds are fixed when it is made
    t[4] = 4
    assert.equal(3, #helpers.roundtrip(ex, s))
    assert.equal(3, #s)
  end)

  it("sends a long array of integers whole", function()
    local big = {}
    for i = 1, 600000 do big[i] = i end
    local n, sum, first, last = ex:submit(function(x)
      local s = 0
      for i = 1, #x do s = s + x[i] end
      return #x, s, x[1], x[#x]
    end, concurrent.slice(big, 100001, 600000)):result()
    assert.equal(500000, n)
    assert.equal(175000250000, sum)
    assert.equal(100001, first)
    assert.equal(600000, last)
  end)

  it("is one table where it appears twice in one transfer", function()
    local s = concurrent.slice({1, 2, 3}, 1, 2)
    local same, inner = ex:submit(function(a, b, c) return a == b, c.s == a end,
      s, s, {s = s}):result()
    assert.is_true(same)
    assert.is_true(inner)
  end)

  it("crosses wherever values cross: results, queues, a process", function()
    local r = ex:submit(function()
      local c = require "concurrent"
      return c.slice({"a", "b", "c"}, 2, 3)
    end):result()
    assert.same({"b", "c"}, r)
    local q = thread.Queue()
    q:put(concurrent.slice({5, 6, 7}, 3))
    assert.same({7}, q:get())
    local pex = futures.ProcessPoolExecutor(1)
    local ok, got = pcall(function()
      return pex:submit(function(x) return x end, concurrent.slice({1, 2, 3}, 2)):result()
    end)
    pex:shutdown()
    assert.is_true(ok, tostring(got))
    assert.same({2, 3}, got)
  end)

  it("names an element that cannot cross, and queues nothing", function()
    local function sent(st) return st.pending + st.running + st.completed + st.failed end
    local before = sent(ex:stats())
    local err = helpers.error_of(ex.submit, ex, function(x) return x end,
      concurrent.slice({1, coroutine.create(function() end)}))
    assert.matches("cannot send coroutine at args%[1%]%[2%]", err)
    assert.equal(before, sent(ex:stats()))
    err = helpers.error_of(ex.submit, ex, function(x) return x end,
      {inner = concurrent.slice({1, 2, io.stdout}, 2)})
    assert.matches("at args%[1%]%.inner%[2%]", err)
  end)

  it("has a length and a name, and nothing else reads it", function()
    local s = concurrent.slice({1, 2, 3, 4}, 2, 3)
    assert.equal(2, #s)
    assert.matches("^concurrent%.slice %[2%.%.3%]", tostring(s))
    assert.equal("userdata", type(s))
  end)

  it("refuses bad arguments", function()
    assert.matches("table expected", helpers.error_of(concurrent.slice, 5))
    assert.matches("table expected", helpers.error_of(concurrent.slice))
    assert.matches("first index must be at least 1",
      helpers.error_of(concurrent.slice, {}, 0))
    assert.matches("last index must be at least the first minus 1",
      helpers.error_of(concurrent.slice, {1, 2, 3}, 3, 1))
    assert.matches("number expected", helpers.error_of(concurrent.slice, {}, "x"))
    if helpers.HAS_INTEGERS then
      assert.matches("integer", helpers.error_of(concurrent.slice, {}, 1.5))
      assert.matches("slice too long",
        helpers.error_of(concurrent.slice, {}, 1, math.maxinteger))
    end
  end)
end)
