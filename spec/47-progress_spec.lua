--- futures.progress: a progress line around as_completed, map and tables
-- of futures. It yields what it wraps, counts what failed, and draws on a
-- terminal (checked for real under tmux) or prints plain lines elsewhere.
local futures = require "concurrent.futures"
local concurrent = require "concurrent"
local thread = require "concurrent.thread"
local helpers = require "helpers"

local LUA = os.getenv("LUA") or "lua5.4"

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  return (os.getenv("PWD") or ".") .. "/" .. path
end

local CORE = absolute(assert(package.searchpath("concurrent.core", package.cpath)))
local BUILD = CORE:gsub("/concurrent/core%.so$", "")
local ROOT = absolute(".")
local PATHS = ("LUA_PATH=%s LUA_CPATH=%s"):format(
  shell_quote(ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;;"),
  shell_quote(BUILD .. "/?.so;;"))

-- Run a Lua chunk in a fresh interpreter (stdout and stderr apart, stderr
-- a file: not a terminal). Returns stdout, stderr, ok.
local function run_chunk(src)
  local script, errfile = os.tmpname(), os.tmpname()
  local fh = assert(io.open(script, "w"))
  fh:write(src)
  fh:close()
  local p = assert(io.popen(("%s %s %s 2>%s"):format(PATHS, LUA,
    shell_quote(script), shell_quote(errfile))))
  local out = p:read("*a")
  local ok = p:close()
  local ef = assert(io.open(errfile))
  local err = ef:read("*a")
  ef:close()
  os.remove(script)
  os.remove(errfile)
  return out, err, ok
end

local function slow_square(x)
  require("concurrent").sleep(0.002)
  return x * x, "sq"
end

-- A record of every on_progress call.
local function recorder()
  local calls = {}
  return calls, function(done, total, failed)
    calls[#calls + 1] = {done, total, failed}
  end
end

describe("futures.progress", function()
  it("yields what map yields, every value of every item, in order", function()
    local ex <close> = helpers.pool(2)
    local t = {}
    for i = 1, 50 do t[i] = i end
    local plain, wrapped = {}, {}
    for i, a, b in ex:map(slow_square, t) do plain[#plain + 1] = {i, a, b} end
    for i, a, b in futures.progress(ex:map(slow_square, t), {quiet = true}) do
      wrapped[#wrapped + 1] = {i, a, b}
    end
    assert.same(plain, wrapped)
    assert.equal(50, #wrapped)
  end)

  it("yields each future of a table once, as as_completed does", function()
    local ex <close> = helpers.pool(2)
    local fs = {}
    for i = 1, 20 do fs[i] = ex:submit(slow_square, i) end
    local seen = {}
    for f in futures.progress(fs, {quiet = true}) do
      assert.is_true(f:done())
      seen[f:result()] = (seen[f:result()] or 0) + 1
    end
    for i = 1, 20 do assert.equal(1, seen[i * i]) end
    -- and the same through an as_completed iterator
    local n = 0
    for f in futures.progress(futures.as_completed(fs), {quiet = true}) do
      n = n + 1
      assert.is_true(f:done())
    end
    assert.equal(20, n)
  end)

  it("counts the futures that raised, and calls on_progress with the totals", function()
    local ex <close> = helpers.pool(2)
    local fs = {}
    for i = 1, 12 do
      fs[i] = ex:submit(function(x)
        require("concurrent").sleep(0.005)
        if x % 4 == 0 then error("bad " .. x) end
        return x
      end, i)
    end
    local calls, cb = recorder()
    local n = 0
    for _ in futures.progress(fs, {on_progress = cb}) do n = n + 1 end
    assert.equal(12, n)
    assert.same({12, 12, 3}, calls[#calls])   -- done, total, failed
    for k = 2, #calls do                        -- never goes back
      assert.is_true(calls[k][1] >= calls[k - 1][1])
      assert.is_true(calls[k][3] >= calls[k - 1][3])
    end
  end)

  it("counts a failed map item and raises its error at that item", function()
    local ex <close> = helpers.pool(2)
    local calls, cb = recorder()
    local got = {}
    local ok, err = pcall(function()
      for i, v in futures.progress(ex:map(function(x)
        if x == 4 then error("item four failed", 0) end
        return x
      end, {1, 2, 3, 4, 5, 6}), {on_progress = cb}) do
        got[#got + 1] = v
      end
    end)
    assert.is_false(ok)
    assert.equal("item four failed", err)
    assert.same({1, 2, 3}, got)
    assert.same({4, 6, 1}, calls[#calls])
  end)

  it("counts exactly inside map chunks: a failed item, and a break", function()
    if not helpers.HAS_CLOSE then return pending(helpers.NO_CLOSE) end
    local ex <close> = helpers.pool(2)
    local t = {}
    for i = 1, 9 do t[i] = i end
    local calls, cb = recorder()
    local got = {}
    local ok, err = pcall(function()
      for _, v in futures.progress(ex:map(function(x)
        if x == 5 then error("five", 0) end
        return x
      end, t, {chunksize = 3}), {on_progress = cb}) do
        got[#got + 1] = v
      end
    end)
    assert.is_false(ok)
    assert.equal("five", err)
    assert.same({1, 2, 3, 4}, got)
    assert.same({5, 9, 1}, calls[#calls])
    calls, cb = recorder()
    for i in futures.progress(ex:map(function(x) return x end, t, {chunksize = 3}),
                              {on_progress = cb}) do
      if i == 5 then break end
    end
    assert.same({5, 9, 0}, calls[#calls])
  end)

  it("does not count an error of the loop body as a failed item", function()
    if not helpers.HAS_CLOSE then return pending(helpers.NO_CLOSE) end
    local ex <close> = helpers.pool(2)
    local calls, cb = recorder()
    local ok, err = pcall(function()
      for i in futures.progress(ex:map(function(x) return x end, {1, 2, 3}), {on_progress = cb}) do
        if i == 2 then error("body", 0) end
      end
    end)
    assert.is_false(ok)
    assert.equal("body", err)
    assert.same({2, 3, 0}, calls[#calls])
  end)

  it("knows map's total from its tables, takes opts.total for iterators", function()
    local ex <close> = helpers.pool(2)
    local calls, cb = recorder()
    for _ in futures.progress(ex:map(function(a, b) return a + b end, {1, 2, 3, 4}, {1, 2, 3}),
                              {on_progress = cb}) do end
    assert.same({3, 3, 0}, calls[#calls])   -- the shortest sequence
    local k = 0
    local function gen() k = k + 1 if k <= 5 then return k end end
    calls, cb = recorder()
    for _ in futures.progress(ex:map(function(x) return x end, gen), {on_progress = cb}) do end
    assert.same({5, nil, 0}, calls[#calls])   -- unknown length
    k = 0
    calls, cb = recorder()
    for _ in futures.progress(ex:map(function(x) return x end, gen), {total = 5, on_progress = cb}) do end
    assert.same({5, 5, 0}, calls[#calls])
  end)

  it("calls on_progress at most about ten times a second, and at the end", function()
    local ex <close> = helpers.pool(2)
    local t = {}
    for i = 1, 200 do t[i] = i end
    local calls, cb = recorder()
    local t0 = concurrent.monotonic()
    for _ in futures.progress(ex:map(function(x)
      require("concurrent").sleep(0.003)
      return x
    end, t), {on_progress = cb}) do end
    local elapsed = concurrent.monotonic() - t0
    assert.same({200, 200, 0}, calls[#calls])
    assert.is_true(#calls <= elapsed * 10 + 2, #calls .. " calls in " .. elapsed .. " s")
    assert.is_true(#calls >= 2)
  end)

  it("closes the wrapped map when the loop breaks: pending items are cancelled", function()
    if not helpers.HAS_CLOSE then return pending(helpers.NO_CLOSE) end
    local ex <close> = helpers.pool(1)
    local ran = thread.Value(0)
    local t = {}
    for i = 1, 40 do t[i] = i end
    for _ in futures.progress(ex:map(function(x, counter)
      counter:add(1)
      require("concurrent").sleep(0.02)
      return x
    end, t, (function() local c = {} for i = 1, 40 do c[i] = ran end return c end)()),
      {quiet = true}) do
      break
    end
    ex:shutdown(true)
    assert.is_true(ran:get() < 40, ran:get() .. " of 40 items ran after the break")
  end)

  it("works with a generic iterator and its closing value passed along", function()
    if not helpers.HAS_CLOSE then return pending(helpers.NO_CLOSE) end
    local closed = false
    local closing = setmetatable({}, {__close = function() closed = true end})
    local k = 0
    local function iter() k = k + 1 if k <= 3 then return k, k * 10 end end
    local got = {}
    for i, v in futures.progress(iter, nil, nil, closing, {quiet = true}) do got[#got + 1] = i + v end
    assert.same({11, 22, 33}, got)
    assert.is_true(closed)
  end)

  it("prints a plain line every opts.every percent when stderr is not a terminal", function()
    local out, err, ok = run_chunk([[
      local futures = require "concurrent.futures"
      local ex = futures.ThreadPoolExecutor(2)
      local t = {}
      for i = 1, 40 do t[i] = i end
      local n = 0
      for _ in futures.progress(ex:map(function(x) return x end, t), {every = 25, desc = "squares"}) do n = n + 1 end
      ex:shutdown()
      print(n)
    ]])
    assert.is_true(ok, err)
    assert.equal("40\n", out)
    local lines = {}
    for l in err:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(4, #lines, err)
    assert.matches("^squares:%s+25%% 10/40 ", lines[1])
    assert.matches("^squares:%s+50%% 20/40 ", lines[2])
    assert.matches("^squares:%s+75%% 30/40 ", lines[3])
    assert.matches("^squares: 100%% 40/40 .* 0 failed$", lines[4])
    assert.is_nil(err:find("\r", 1, true))   -- no terminal redraws
  end)

  it("prints nothing with quiet", function()
    local out, err, ok = run_chunk([[
      local futures = require "concurrent.futures"
      local ex = futures.ThreadPoolExecutor(2)
      local n = 0
      for _ in futures.progress(ex:map(function(x) return x end, {1, 2, 3}), {quiet = true}) do n = n + 1 end
      ex:shutdown()
      print(n)
    ]])
    assert.is_true(ok, err)
    assert.equal("3\n", out)
    assert.equal("", err)
  end)

  it("is loaded only when used: require 'concurrent.futures' does not load it", function()
    local out, err, ok = run_chunk([[
      local futures = require "concurrent.futures"
      print(package.loaded["concurrent.progress"] == nil)
      for _ in futures.progress({}, {quiet = true}) do end
      print(package.loaded["concurrent.progress"] ~= nil)
    ]])
    assert.is_true(ok, err)
    assert.equal("true\ntrue\n", out)
  end)

  describe("bad input", function()
    local ex
    before_each(function() ex = helpers.pool(1) end)
    after_each(function() ex:shutdown() end)

    it("refuses what is neither an iterator nor a table of futures", function()
      assert.error_matches(function() futures.progress(42) end,
        "bad argument #1 to 'progress' %(iterator function or table of futures expected, got number%)")
      assert.error_matches(function() futures.progress() end,
        "bad argument #1 to 'progress' %(.*got nil%)")
      assert.error_matches(function() futures.progress("abc") end, "got string")
      local f = ex:submit(function() return 1 end)
      assert.error_matches(function() futures.progress(f) end,
        "got a Future %(pass a table of futures%)")
      assert.error_matches(function() futures.progress({f, 3}) end,
        "bad argument #1 to 'progress' %(fs%[2%] is a number, not a Future%)")
    end)

    it("names the bad option", function()
      local fs = {ex:submit(function() return 1 end)}
      assert.error_matches(function() futures.progress(fs, {colour = true}) end,
        "bad argument #2 to 'progress' %(unknown option 'colour'%)")
      assert.error_matches(function() futures.progress(fs, {total = -1}) end,
        "total must be a non%-negative integer, got %-1")
      assert.error_matches(function() futures.progress(fs, {total = 2.5}) end,
        "total must be a non%-negative integer")
      assert.error_matches(function() futures.progress(fs, {every = 0}) end,
        "every must be a percentage in %(0, 100%], got 0")
      assert.error_matches(function() futures.progress(fs, {quiet = "yes"}) end,
        "quiet must be a boolean")
      assert.error_matches(function() futures.progress(fs, {on_progress = 5}) end,
        "on_progress must be a function")
      assert.error_matches(function() futures.progress(fs, "fast") end,
        "bad argument #2 to 'progress' %(options table expected, got string%)")
      assert.error_matches(function()
        futures.progress(ex:map(function(x) return x end, {1}), {timeout = 1})
      end, "timeout is an option for a table of futures only")
    end)

    it("names the caller's line", function()
      if not helpers.TAIL_POSITIONS then return pending(helpers.NO_TAIL_POSITIONS) end
      local ok, err = pcall(function() futures.progress(42) end)
      assert.is_false(ok)
      assert.matches("47%-progress_spec%.lua:%d+:", err)
      ok, err = pcall(function() futures.progress({}, {total = "x"}) end)
      assert.is_false(ok)
      assert.matches("47%-progress_spec%.lua:%d+:", err)
    end)
  end)
end)

describe("futures.progress on a real terminal (tmux)", function()
  local have_tmux = helpers.run_ok("command -v tmux >/dev/null 2>&1")

  it("redraws one line in place that reaches 100% with the final counts", function()
    if not have_tmux then
      pending("tmux is not installed (apt-get install tmux): terminal drawing not tested")
      return
    end
    local script = os.tmpname()
    local fh = assert(io.open(script, "w"))
    fh:write([[
      local futures = require "concurrent.futures"
      local ex = futures.ThreadPoolExecutor(2)
      local fs = {}
      for i = 1, 30 do
        fs[i] = ex:submit(function(x)
          require("concurrent").sleep(0.03)
          if x % 10 == 0 then error("bad") end
          return x
        end, i)
      end
      local n = 0
      for _ in futures.progress(fs) do n = n + 1 end
      ex:shutdown()
      print("loop saw " .. n)
    ]])
    fh:close()
    local sock = "concurrent-spec-" .. tostring(os.time()) .. "-" .. tostring(math.random(1e6))
    local tmux = "tmux -L " .. sock
    local cmd = ("%s %s %s; echo END-OF-RUN; sleep 60"):format(PATHS, LUA, shell_quote(script))
    assert.is_true(helpers.run_ok(("%s -f /dev/null new-session -d -x 120 -y 12 %s"):format(
      tmux, shell_quote(cmd))))
    local screen = ""
    local deadline = concurrent.monotonic() + 30
    while concurrent.monotonic() < deadline do
      local p = assert(io.popen(tmux .. " capture-pane -p 2>/dev/null"))
      screen = p:read("*a")
      p:close()
      if screen:find("END-OF-RUN", 1, true) then break end
      concurrent.sleep(0.1)
    end
    os.execute(tmux .. " kill-server >/dev/null 2>&1")
    os.remove(script)
    assert.matches("END%-OF%-RUN", screen)
    assert.matches("loop saw 30", screen)
    -- one progress line, redrawn in place, ending full with the counts
    local bars = {}
    for l in screen:gmatch("[^\n]+") do
      if l:find("/30", 1, true) then bars[#bars + 1] = l end
    end
    assert.equal(1, #bars, screen)
    assert.matches("100%% %[=+%] 30/30 .* 3 failed", bars[1])
    assert.matches("elapsed %d+:%d%d", bars[1])
  end)
end)
