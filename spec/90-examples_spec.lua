--- The examples (examples/*.lua), the tour and the host program
-- (build/host) run as separate programs with short timings, and print what
-- the seed says they print, in the orders it promises.
-- They use the build this suite loaded concurrent.core from (busted
-- --cpath), and $LUA (default lua5.4) as the interpreter.
local concurrent = require "concurrent"
local helpers = require "helpers"

local LUA = os.getenv("LUA") or "lua5.4"
local monotonic = concurrent.monotonic

local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  return (os.getenv("PWD") or ".") .. "/" .. path
end

local core_so = assert(package.searchpath("concurrent.core", package.cpath),
  "concurrent.core not found on package.cpath")
local BUILD = absolute(core_so:gsub("/concurrent/core%.so$", ""))
local ROOT = absolute(".")

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Run a command with DEMO_SPEED=speed; returns its stdout lines, its
-- stderr text, whether it exited with 0, and the wall time.
local function run(cmd, speed, dir)
  local errfile, statusfile = os.tmpname(), os.tmpname()
  -- The exit status through a file: 5.1's and LuaJIT's popen close does
  -- not give it.
  local full = ("cd %s && DEMO_SPEED=%s CONCURRENT_BUILD=%s %s 2>%s; echo $? >%s"):format(
    shell_quote(dir or ROOT), tostring(speed), shell_quote(BUILD), cmd,
    shell_quote(errfile), shell_quote(statusfile))
  local s0 = monotonic()
  local p = assert(io.popen(full, "r"))
  local out = p:read("*a")
  p:close()
  local elapsed = monotonic() - s0
  local ef = io.open(errfile, "r")
  local err = ef and ef:read("*a") or ""
  if ef then ef:close() end
  os.remove(errfile)
  local sf = io.open(statusfile, "r")
  local ok = sf ~= nil and sf:read("*l") == "0"
  if sf then sf:close() end
  os.remove(statusfile)
  local lines = {}
  for line in out:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  return lines, err, ok, elapsed, out
end

-- run, for a command that must exit with 0 and write nothing to stderr;
-- returns its stdout lines and the wall time.
local function run_clean(cmd, speed, dir)
  local lines, err, ok, elapsed = run(cmd, speed, dir)
  assert.are.equal("", err)
  assert.is_true(ok)
  return lines, elapsed
end

local function example(name, speed)
  return run_clean(LUA .. " examples/" .. name, speed)
end

local function index_of(lines, pattern)
  for i, line in ipairs(lines) do
    if line:find(pattern) then return i end
  end
  return nil
end

local function count_matching(lines, pattern)
  local n = 0
  for _, line in ipairs(lines) do
    if line:find(pattern) then n = n + 1 end
  end
  return n
end

local FILES = {"Python从入门到住院.pdf", "Peking Hot.avi"}

local function escape(s)
  return (s:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"))
end

-- The two downloads of the seed: each file starts, then finishes after
-- 5 to 10 (scaled) seconds, both at once; the total comes last.
local function check_downloads(lines, speed, total_pattern)
  local seconds = {}
  for _, file in ipairs(FILES) do
    local s = index_of(lines, "^开始下载" .. escape(file) .. "%.%.%.$")
    assert.is_truthy(s, "no start line for " .. file)
    local f = index_of(lines, "^" .. escape(file) .. "下载完成! 耗费了%d+秒$")
    assert.is_truthy(f, "no finish line for " .. file)
    assert.is_true(s < f)
    local n = tonumber(lines[f]:match("耗费了(%d+)秒"))
    assert.is_true(n >= 5 and n <= 10, "download time out of 5..10: " .. n)
    seconds[#seconds + 1] = n
  end
  local last = lines[#lines]
  local total = tonumber(last:match(total_pattern))
  assert.is_truthy(total, "last line is not the total: " .. tostring(last))
  local longest = math.max(seconds[1], seconds[2])
  -- Both slept: the total covers the longer download...
  assert.is_true(total >= longest / speed * 0.9,
    ("total %.3f s < longest download %.3f s"):format(total, longest / speed))
  -- ...and they ran at the same time: well under the two in sequence.
  assert.is_true(total < (seconds[1] + seconds[2]) / speed,
    ("total %.3f s: the downloads did not overlap"):format(total))
end

describe("examples", function()
  it("01_process_download: two processes with their own pids download at once", function()
    local lines = example("01_process_download.lua", 10)
    local pids = {}
    for _, line in ipairs(lines) do
      local pid = line:match("^启动下载进程，进程号%[(%d+)%]%.$")
      if pid then pids[#pids + 1] = tonumber(pid) end
    end
    assert.are.equal(2, #pids)
    assert.are_not.equal(pids[1], pids[2])
    check_downloads(lines, 10, "^总共耗费了(%d+%.%d%d)秒%.$")
    assert.are.equal(7, #lines)
  end)

  it("02_process_pingpong: each child has its own counter (Ping and Pong 10 times each)", function()
    local lines = example("02_process_pingpong.lua", 10)
    local first = lines[1]
    local _, pings = first:gsub("Ping", "")
    local _, pongs = first:gsub("Pong", "")
    assert.are.equal(10, pings)
    assert.are.equal(10, pongs)
    assert.are.equal("", (first:gsub("Ping", ""):gsub("Pong", "")))
    assert.are.equal("counter in the parent: 0", lines[2])
    assert.are.equal(2, #lines)
  end)

  it("03_thread_download: two threads download at once", function()
    local lines = example("03_thread_download.lua", 10)
    check_downloads(lines, 10, "^总共耗费了(%d+%.%d%d%d)秒$")
    assert.are.equal(5, #lines)
  end)

  it("04_thread_subclass: DownloadTask threads run their own run()", function()
    local lines = example("04_thread_subclass.lua", 10)
    check_downloads(lines, 10, "^总共耗费了(%d+%.%d%d)秒%.$")
    assert.are.equal(5, #lines)
  end)

  it("05_pool_submit: false, false (task2 already running), 2s then 3s, true, 3", function()
    local lines = example("05_pool_submit.lua", 5)
    assert.are.same({"false", "false", "get page 2s finished",
                     "get page 3s finished", "true", "3"}, lines)
  end)

  it("06_as_completed: futures in completion order, the 2 s page first", function()
    local lines = example("06_as_completed.lua", 5)
    assert.are.same({
      "get page 2s finished", "in main: get page 2s success",
      "get page 3s finished", "in main: get page 3s success",
      "get page 4s finished", "in main: get page 4s success",
    }, lines)
  end)

  it("07_map: results in input order although the 2 s page finishes first", function()
    local lines = example("07_map.lua", 5)
    assert.are.same({
      "get page 2s finished", "get page 3s finished",
      "in main: get page 3s success", "in main: get page 2s success",
      "get page 4s finished", "in main: get page 4s success",
    }, lines)
  end)

  it("08_pool_close: leaving the block waits for every task", function()
    if not helpers.HAS_CLOSE then return pending(helpers.NO_CLOSE .. " (08_pool_close.lua uses it)") end
    local lines = example("08_pool_close.lua", 5)
    assert.are.equal(7, #lines)
    local starting, finishing = {}, {}
    for i = 1, 3 do starting[#starting + 1] = lines[i] end
    for i = 4, 6 do finishing[#finishing + 1] = lines[i] end
    table.sort(starting)
    table.sort(finishing)
    assert.are.same({"Thread 0: starting", "Thread 1: starting", "Thread 2: starting"}, starting)
    assert.are.same({"Thread 0: finishing", "Thread 1: finishing", "Thread 2: finishing"}, finishing)
    assert.are.equal("Main: all done", lines[7])
  end)

  it("09_latest_wins: only the last search's result is printed, the stale ones stopped", function()
    local lines = example("09_latest_wins.lua", 10)
    assert.are.equal(8, #lines)
    for i, q in ipairs {"c", "co", "con", "conc", "concu", "concur"} do
      assert.are.equal(("typed %q"):format(q), lines[i])
    end
    local n, words = lines[7]:match('^results for "concur": (%d+) words: (.*)$')
    assert.are.equal(21, tonumber(n))
    for w in words:gmatch("[^, ]+") do assert.are.equal("concur", w:sub(1, 6)) end
    local stale, running, queued = lines[8]:match("^(%d+) stale searches: (%d+) stopped while running, (%d+) cancelled before they ran; only the last one printed$")
    assert.are.equal(5, tonumber(stale))
    assert.are.equal(5, tonumber(running) + tonumber(queued))
  end)

  it("10_game_loop: 60 fps, every NPC home, the worst frame within a few ms", function()
    local lines = example("10_game_loop.lua", 10)
    assert.are.equal(6, count_matching(lines, "^npc %d is home after %d+ steps$"))
    for npc = 1, 6 do
      assert.are.equal(1, count_matching(lines, "^npc " .. npc .. " is home"))
    end
    local frames = tonumber(lines[#lines - 1]:match("^(%d+) frames at 60 fps, %d+ callbacks and resumes run by poll$"))
    assert.is_truthy(frames, lines[#lines - 1])
    assert.is_true(frames >= 60)
    local worst = tonumber(lines[#lines]:match("^worst frame time: ([%d.]+) ms %(poll budget 2 ms a frame%)$"))
    assert.is_truthy(worst, lines[#lines])
    -- the budget is 2 ms; a loaded machine adds its own delays
    assert.is_true(worst < 25, ("worst frame %.2f ms"):format(worst))
    assert.are.equal(8, #lines)
  end)

  it("11_luv_loop: results in finishing order while the luv timer ticks", function()
    local lines = example("11_luv_loop.lua", 10)
    if lines[1]:find("^skipped:") then
      pending(lines[1])
      return
    end
    assert.are.same({"got weather", "got news", "got map tiles"}, {lines[1], lines[2], lines[3]})
    if not helpers.YIELD_ACROSS_C then   -- the order holds; the ticking cannot
      return pending(helpers.NO_YIELD_ACROSS_C .. " (the example waits in a for loop)")
    end
    local ticks, gap = lines[4]:match("^the timer ticked (%d+) times meanwhile, worst gap ([%d.]+) ms")
    assert.is_truthy(ticks, lines[4])
    assert.is_true(tonumber(ticks) >= 15, "ticked " .. ticks)
    assert.is_true(tonumber(gap) < 200, "gap " .. gap)
    assert.are.equal(4, #lines)
  end)

  it("12_cqueues_loop: map results in input order, the pump sleeping on the fd (woken at most 10 times)", function()
    local lines = example("12_cqueues_loop.lua", 10)
    if lines[1]:find("^skipped:") then
      pending(lines[1])
      return
    end
    assert.are.same({"square 9", "square 1", "square 4"}, {lines[1], lines[2], lines[3]})
    if not helpers.YIELD_ACROSS_C then   -- the results hold; the wake count cannot
      return pending(helpers.NO_YIELD_ACROSS_C .. " (the example waits in a for loop)")
    end
    local wakeups, ticks = lines[4]:match("^sum 14; the fd woke the pump (%d+) times, the other coroutine ticked (%d+) times$")
    assert.is_truthy(wakeups, lines[4])
    -- three results, each at most one wake (the fd is readable only while
    -- work waits); a pump that spun on a readable fd woke hundreds of times
    assert.is_true(tonumber(wakeups) >= 1 and tonumber(wakeups) <= 10, lines[4])
    assert.are.equal(4, #lines)
  end)

  it("run from another directory, through their own path helper", function()
    local lines = run_clean(LUA .. " " .. shell_quote(ROOT .. "/examples/07_map.lua"), 5, "/")
    assert.are.equal("in main: get page 3s success", lines[3])
  end)
end)

-- The tour's time: 15 s, or 40 s under the sanitizers (sanlua), whose code
-- runs several times slower on a machine that CI may share.
local TOUR_LIMIT = (os.getenv("CONCURRENT_LUA") or ""):find("sanlua") and 40 or 15

describe("the tour (make demo)", function()
  it("runs all twelve programs under headings in less than 15 s (40 s under the sanitizers)", function()
    if not helpers.HAS_CLOSE then return pending(helpers.NO_CLOSE .. " (08_pool_close.lua uses it)") end
    local lines, elapsed = run_clean("sh examples/tour.sh " .. LUA, 10)
    assert.are.equal(12, count_matching(lines, "^=== %d+%. "))
    assert.is_truthy(index_of(lines, "^tour: all 12 programs ran in"))
    assert.is_true(elapsed < TOUR_LIMIT, ("the tour took %.1f s"):format(elapsed))
  end)
end)

describe("the host program (build/host)", function()
  it("shares one pool between C and script tasks, and runs callbacks on the main thread once per frame", function()
    local lines = run_clean(shell_quote(BUILD .. "/host") .. " examples/host/game.lua", 1)
    local expected = {
      -- script tasks: ran in workers, called host.hit there
      "script task find_path%(0, 5%) %-> steps, on main thread = 5, false %(callback on the main thread: true%)",
      "script task find_path%(0, 10%) %-> steps, on main thread = 10, false %(callback on the main thread: true%)",
      "script task find_path%(0, 15%) %-> steps, on main thread = 15, false %(callback on the main thread: true%)",
      -- a C task on the script's pool, its future handed to the script;
      -- its values (numbers, an array, a map) written with cf_payload_*
      "C task count_primes%(200000%) %-> limit, primes = 200000, 17984, {2, 3, 5, 7, 11}, {limit=200000, primes=17984} %(callback on the main thread: true%)",
      -- a C task the host polled itself and delivered with its values
      "C task count_primes%(50000%) = 50000, 5133, {2, 3, 5, 7, 11}, {limit=50000, primes=5133} %(delivered by the host%)",
      -- a spawned coroutine awaiting a script task without blocking a frame
      "spawned coroutine: find_path%(0, 20%) %-> 20 steps %(on the main thread: true%)",
    }
    for _, pattern in ipairs(expected) do
      assert.are.equal(1, count_matching(lines, "^%[frame %d+%] " .. pattern .. "$"), pattern)
    end
    -- host.score, the host's C object shared by reference: the four script
    -- tasks added 5 + 10 + 15 + 20 to it and the two C tasks 1 each, and it came
    -- back from a task as the script's own box
    assert.is_truthy(lines[#lines - 1]:find("^%[frame %d+%] script: all done, host%.hits%(%) = 6, " ..
      "host%.Counter%(52%) %(the same box back: true%)$"))
    local frames, hits, score = lines[#lines]:match("^host: (%d+) frames, (%d+) hits counted by the host, score (%d+)$")
    assert.are.equal("6", hits)
    assert.are.equal("52", score)
    assert.is_true(tonumber(frames) > 1)   -- the work spanned several frames
    assert.are.equal(8, #lines)
  end)

  it("reports a script error and exits non-zero", function()
    local tmp = os.tmpname()
    local f = assert(io.open(tmp, "w"))
    f:write("error('boom from the script')\n")
    f:close()
    local lines, err, ok = run(shell_quote(BUILD .. "/host") .. " " .. shell_quote(tmp), 1)
    os.remove(tmp)
    assert.is_falsy(ok)
    assert.are.equal(0, #lines)
    assert.is_truthy(err:find("boom from the script", 1, true))
  end)
end)
