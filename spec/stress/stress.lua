--- spec/stress/stress.lua -- a million tasks through executors, with
-- random durations, cancels, timeouts on result, task errors, executors
-- (thread pools, and now and then a process pool) shut down or collected
-- mid-flight, while a Thread hammers the shared objects (Value, Dict,
-- Queue, Lock, RLock, Semaphore, Condition, Event, a shared Future) that
-- the tasks use too.
--
-- Checks, each failing the run (exit status 1):
--   * every future resolves exactly once: it ends done, its one
--     done-callback ran exactly once, and its outcome is the one its task
--     chose (result, error, or cancelled; a collected executor's queued
--     tasks still run);
--   * among many tasks racing to set_result on one shared Future, exactly
--     one wins each round;
--   * the shared counters add up (no lost update);
--   * RSS at the end is within 10% of RSS after warm-up, which is the
--     first half of the run: RSS climbs for about a million tasks (malloc
--     arenas of the threads that come and go, the per-thread free lists of
--     futures) and is flat after that (3M-task runs: 9.7-10.2 MB from 1M
--     tasks on), so the second half is where a leak would show. The
--     level after warm-up is the highest RSS sampled over the second half
--     of the warm-up, since one sample moves by several percent.
-- A deadlock shows as a stall: watchdog.sh kills the run and dumps stacks.
--
-- Usage: lua5.4 spec/stress/stress.lua [--cpath=P] [--tasks=N] [--seed=S]
--        [--quick]   (fewer tasks, for a smoke run)
-- Prints "progress ..." lines (the watchdog's heartbeat) and a summary.

local opts = {tasks = 2000000, seed = os.time()}
for _, a in ipairs(arg) do
  local k, v = a:match("^%-%-([%w_]+)=(.*)$")
  if k == "cpath" then package.cpath = v .. ";" .. package.cpath
  elseif k == "tasks" then opts.tasks = assert(math.tointeger(tonumber(v)), "--tasks")
  elseif k == "seed" then opts.seed = assert(math.tointeger(tonumber(v)), "--seed")
  elseif a == "--quick" then opts.tasks = 20000
  else error("unknown argument " .. a) end
end
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

local futures = require "concurrent.futures"
local concurrent = require "concurrent"
local thread = require "concurrent.thread"

math.randomseed(opts.seed)
local random, monotonic = math.random, concurrent.monotonic

local failures = 0
local function fail(fmt, ...)
  failures = failures + 1
  io.stderr:write("STRESS FAILURE: ", fmt:format(...), "\n")
  if failures > 20 then
    io.stderr:write("too many failures, stopping\n")
    os.exit(1)
  end
end

local function rss_kb()
  local fh = io.open("/proc/self/status")
  if not fh then return 0 end
  local s = fh:read("*a")
  fh:close()
  return tonumber(s:match("VmRSS:%s*(%d+)")) or 0
end

-- Shared objects -------------------------------------------------------------

local counter = thread.Value(0)     -- tasks and the hammer add to it
local dict = thread.Dict()
local queue = thread.Queue(1000)
local lock = thread.Lock()
local stop = thread.Event()
local hammer_adds = thread.Value(0) -- what the hammer added to counter
local sem = thread.Semaphore(2)
local rlock = thread.RLock()
local cond = thread.Condition()

-- The hammer: a Thread that hits every shared object in a loop until told
-- to stop, then reports how much it added.
local hammer = thread.Thread{name = "hammer",
  args = {counter, dict, queue, lock, stop, hammer_adds, sem, rlock, cond},
  target = function(counter, dict, queue, lock, stop, hammer_adds, sem, rlock, cond)
    local n = 0
    while not stop:is_set() do
      for _ = 1, 200 do
        counter:add(1)
        n = n + 1
        local k = "k" .. (n % 64)
        dict:update(k, function(old) return (old or 0) + 1 end)
        dict:set("last", n)
        local _ = dict:get(k)
        if lock:acquire(true, 0.01) then lock:release() end
        pcall(queue.put_nowait, queue, n)
        pcall(queue.get_nowait, queue)
        if sem:acquire(true, 0.01) then sem:release() end
        rlock:acquire(); rlock:acquire(); rlock:release(); rlock:release()
        cond:acquire(); cond:notify_all(); cond:release()
      end
      local _ = dict:keys()
    end
    hammer_adds:set(n)
  end}
hammer:start()

-- Tasks ------------------------------------------------------------------

-- What a task does is chosen by the driver and sent as its arguments; the
-- task returns (or raises) something the driver can check.
local KIND_PLAIN, KIND_SPIN, KIND_SLEEP, KIND_ERROR, KIND_ERRTABLE,
      KIND_SHARED, KIND_MULTI, KIND_RACE = 1, 2, 3, 4, 5, 6, 7, 8

local function task(kind, i, counter, dict, gate)
  if kind == 1 then
    return i * 2
  elseif kind == 2 then                      -- a random short busy loop
    local s = 0
    for k = 1, (i % 2000) do s = s + k end
    return i * 2, s
  elseif kind == 3 then
    require("concurrent").sleep(0.0005)
    return i * 2
  elseif kind == 4 then
    error("task " .. i .. " failed")
  elseif kind == 5 then
    error({code = i})
  elseif kind == 6 then                      -- the shared objects
    counter:add(1)
    dict:set("t" .. (i % 32), i)
    return i * 2
  elseif kind == 7 then
    return i * 2, "two", {three = 3}, nil
  else                                       -- race to finish the gate
    local ok = pcall(gate.set_result, gate, i)
    return i * 2, ok
  end
end

local function pick_kind()
  local r = random(1000)
  if r <= 600 then return KIND_PLAIN
  elseif r <= 750 then return KIND_SPIN
  elseif r <= 752 then return KIND_SLEEP
  elseif r <= 800 then return KIND_ERROR
  elseif r <= 830 then return KIND_ERRTABLE
  elseif r <= 900 then return KIND_SHARED
  elseif r <= 960 then return KIND_MULTI
  else return KIND_RACE end
end

-- One round ----------------------------------------------------------------

local stats = {tasks = 0, results = 0, errors = 0, cancelled = 0,
               timeouts = 0, collected = 0, shutdown_cancel = 0, rounds = 0,
               shared_adds = 0, races = 0, late_callbacks = 0,
               process_rounds = 0, process_tasks = 0}

local BATCH = 2000

local function check_future(rec, f, callbacks)
  if not f:done() then
    fail("future %d of round %d not done at the end", rec.i, stats.rounds)
    return
  end
  local n = callbacks[f] or 0
  if n ~= 1 then
    fail("future %d: done-callback ran %d times", rec.i, n)
  end
  if f:cancelled() then
    stats.cancelled = stats.cancelled + 1
    if not rec.cancel_ok and not rec.may_cancel then
      fail("future %d cancelled but nobody cancelled it", rec.i)
    end
    return
  end
  if rec.cancel_ok then
    fail("future %d: cancel() said true but it ran", rec.i)
  end
  local ok, a, b = pcall(f.result, f, 0)
  local kind = rec.kind
  if kind == KIND_ERROR then
    if ok or type(a) ~= "string" or not a:find("task " .. rec.i .. " failed", 1, true) then
      fail("future %d: expected its error, got %s %s", rec.i, tostring(ok), tostring(a))
    end
    stats.errors = stats.errors + 1
  elseif kind == KIND_ERRTABLE then
    if ok or type(a) ~= "table" or a.code ~= rec.i then
      fail("future %d: expected error table, got %s %s", rec.i, tostring(ok), tostring(a))
    end
    stats.errors = stats.errors + 1
  else
    if not ok or a ~= rec.i * 2 then
      fail("future %d (kind %d): expected %d, got %s %s", rec.i, kind, rec.i * 2,
        tostring(ok), tostring(a))
    end
    if kind == KIND_MULTI then
      local r = table.pack(f:result())
      if r.n ~= 4 or r[2] ~= "two" or r[3].three ~= 3 or r[4] ~= nil then
        fail("future %d: multiple results lost", rec.i)
      end
    elseif kind == KIND_SHARED then
      stats.shared_adds = stats.shared_adds + 1
    elseif kind == KIND_RACE and b then
      rec.round.winners = rec.round.winners + 1
    end
    stats.results = stats.results + 1
  end
end

local function round()
  stats.rounds = stats.rounds + 1
  local max_workers = random(1, 4)
  local ex = futures.ThreadPoolExecutor(max_workers)
  local gate = futures.Future()
  local this = {winners = 0, racers = 0}
  local recs, fs, callbacks = {}, {}, {}
  local function on_done(f) callbacks[f] = (callbacks[f] or 0) + 1 end
  -- How the executor ends: 1 shutdown(wait), 2 collected mid-flight,
  -- 3 shutdown(cancel_futures) mid-flight, 4 shutdown(false) mid-flight.
  local ending = random(4)
  local cut = random(BATCH)
  local base = stats.tasks
  for n = 1, BATCH do
    local i = base + n
    local kind = pick_kind()
    local f = ex:submit(task, kind, i, counter, dict, gate)
    local rec = {i = i, kind = kind, round = this}
    if kind == KIND_RACE then this.racers = this.racers + 1 end
    f:add_done_callback(on_done)
    local r = random(100)
    if r <= 3 then
      rec.cancel_ok = f:cancel()
    elseif r <= 6 then                         -- a random timeout on result
      local ok, err = pcall(f.result, f, random() * 0.0005)
      if not ok and futures.iserror(err, futures.TimeoutError) then
        stats.timeouts = stats.timeouts + 1
      end
    end
    recs[n], fs[n] = rec, f
    if n == cut then
      if ending == 2 then
        ex = nil                               -- collected with work queued
        collectgarbage()
        stats.collected = stats.collected + 1
        break
      elseif ending == 3 then
        ex:shutdown{wait = false, cancel_futures = true}
        for k = 1, n do recs[k].may_cancel = true end
        stats.shutdown_cancel = stats.shutdown_cancel + 1
        break
      elseif ending == 4 then
        ex:shutdown(false)
        break
      end
    end
  end
  local submitted = #fs
  stats.tasks = stats.tasks + submitted
  -- Every future must finish; a minute is far more than any needs.
  local done, not_done = futures.wait(fs, 60)
  if #not_done > 0 then
    fail("round %d: %d futures not done after 60 s", stats.rounds, #not_done)
  end
  futures.poll()
  -- The contract (docs/reference.md, "Callbacks and blocking calls"): a future that finishes while this state is blocked in wait()
  -- has its callbacks run before wait() returns, so none may be missing
  -- now (spec/stress/late_callbacks.lua isolates it). Give stragglers a
  -- few seconds anyway, so the count below says how bad it is.
  local late, deadline = 0, monotonic() + 5
  for k = 1, submitted do
    if fs[k]:done() and not callbacks[fs[k]] then late = late + 1 end
  end
  if late > 0 then
    fail("round %d: %d done-callbacks had not run when wait() returned", stats.rounds, late)
  end
  stats.late_callbacks = stats.late_callbacks + late
  while late > 0 and monotonic() < deadline do
    concurrent.sleep(0.001)
    futures.poll()
    late = 0
    for k = 1, submitted do
      if not callbacks[fs[k]] then late = late + 1 end
    end
  end
  for k = 1, submitted do check_future(recs[k], fs[k], callbacks) end
  if this.racers > 0 then
    local ran = 0
    for k = 1, submitted do
      if recs[k].kind == KIND_RACE and not fs[k]:cancelled() then ran = ran + 1 end
    end
    if ran > 0 and this.winners ~= 1 then
      fail("round %d: %d tasks won the race to set one future", stats.rounds, this.winners)
    end
    if ran > 0 then stats.races = stats.races + 1 end
  end
  if ex then ex:shutdown(true) end
end

-- Every PROCESS_EVERY-th round goes through a ProcessPoolExecutor: the
-- same kinds that need no shared object, cancels, errors, and the pool
-- shut down, cancelled or collected mid-flight.
local PROCESS_EVERY, PROCESS_BATCH = 40, 300

local function process_task(kind, i)
  if kind == 2 then
    local s = 0
    for k = 1, (i % 2000) do s = s + k end
    return i * 2, s
  elseif kind == 4 then
    error("task " .. i .. " failed")
  elseif kind == 5 then
    error({code = i})
  elseif kind == 7 then
    return i * 2, "two", {three = 3}, nil
  end
  return i * 2
end

local PROCESS_KINDS = {KIND_PLAIN, KIND_SPIN, KIND_ERROR, KIND_ERRTABLE, KIND_MULTI}

local function process_round()
  stats.rounds = stats.rounds + 1
  stats.process_rounds = stats.process_rounds + 1
  local ex = futures.ProcessPoolExecutor(random(1, 2))
  local recs, fs, callbacks = {}, {}, {}
  local function on_done(f) callbacks[f] = (callbacks[f] or 0) + 1 end
  local ending, cut = random(3), random(PROCESS_BATCH)
  local base = stats.tasks
  for n = 1, PROCESS_BATCH do
    local i = base + n
    local kind = PROCESS_KINDS[random(#PROCESS_KINDS)]
    local f = ex:submit(process_task, kind, i)
    f:add_done_callback(on_done)
    local rec = {i = i, kind = kind, round = {winners = 0}}
    if random(100) <= 3 then rec.cancel_ok = f:cancel() end
    recs[n], fs[n] = rec, f
    if n == cut and ending > 1 then
      if ending == 2 then
        ex = nil
        collectgarbage()
        stats.collected = stats.collected + 1
      else
        ex:shutdown{wait = false, cancel_futures = true}
        for k = 1, n do recs[k].may_cancel = true end
        stats.shutdown_cancel = stats.shutdown_cancel + 1
      end
      break
    end
  end
  stats.tasks = stats.tasks + #fs
  stats.process_tasks = stats.process_tasks + #fs
  local _, not_done = futures.wait(fs, 60)
  if #not_done > 0 then
    fail("process round %d: %d futures not done after 60 s", stats.rounds, #not_done)
  end
  local deadline = monotonic() + 5
  repeat
    futures.poll()
    local missing = 0
    for k = 1, #fs do if not callbacks[fs[k]] then missing = missing + 1 end end
    if missing > 0 then concurrent.sleep(0.001) end
  until missing == 0 or monotonic() > deadline
  for k = 1, #fs do check_future(recs[k], fs[k], callbacks) end
  if ex then ex:shutdown(true) end
end

-- Main -------------------------------------------------------------------

local t0 = monotonic()
-- The RSS level after warm-up: the highest RSS seen in the second half of
-- the warm-up (a single sample moves by several percent with malloc's
-- arenas from one moment to the next; a leak grows past any of them).
local warm_rss, warm_tasks, warm_peak = nil, nil, 0
local last_report = t0
while stats.tasks < opts.tasks do
  if stats.rounds % PROCESS_EVERY == PROCESS_EVERY - 1 then process_round() else round() end
  if warm_rss == nil and stats.tasks >= opts.tasks // 2 then
    collectgarbage()
    collectgarbage()
    warm_rss, warm_tasks = math.max(warm_peak, rss_kb()), stats.tasks
    print(("progress warm-up done after %d tasks: RSS %d kB"):format(warm_tasks, warm_rss))
  end
  if monotonic() - last_report >= 2 then
    last_report = monotonic()
    if warm_rss == nil and stats.tasks >= opts.tasks // 4 then
      warm_peak = math.max(warm_peak, rss_kb())
    end
    print(("progress %d tasks, %d rounds, %.0f s, RSS %d kB, Lua heap %.0f kB"):format(
      stats.tasks, stats.rounds, last_report - t0, rss_kb(), collectgarbage("count")))
    io.stdout:flush()
  end
end

stop:set()
if not hammer:join(60) then fail("the hammer thread did not stop") end
collectgarbage()
collectgarbage()
local end_rss = rss_kb()
local elapsed = monotonic() - t0

-- The counter got one add per shared task that ran, and the hammer's.
local expected = stats.shared_adds + hammer_adds:get()
if counter:get() ~= expected then
  fail("counter is %d, expected %d (lost updates)", counter:get(), expected)
end
local dict_sum = 0
for k = 0, 63 do dict_sum = dict_sum + (dict:get("k" .. k) or 0) end
if dict_sum ~= hammer_adds:get() then
  fail("dict updates add up to %d, expected %d", dict_sum, hammer_adds:get())
end

local growth = warm_rss and warm_rss > 0 and (end_rss - warm_rss) / warm_rss or 0
print(("stress: %d tasks in %d rounds, %.1f s (seed %d)"):format(
  stats.tasks, stats.rounds, elapsed, opts.seed))
print(("stress: %d results, %d errors, %d cancelled, %d result timeouts, %d races, %d executors collected mid-flight, %d shut down with cancel"):format(
  stats.results, stats.errors, stats.cancelled, stats.timeouts, stats.races,
  stats.collected, stats.shutdown_cancel))
print(("stress: %d of the tasks in %d ProcessPoolExecutor rounds"):format(
  stats.process_tasks, stats.process_rounds))
print(("stress: %d done-callbacks not run when wait() returned"):format(
  stats.late_callbacks))
print(("stress: hammer thread made %d rounds of updates; counter %d"):format(
  hammer_adds:get(), counter:get()))
print(("stress: RSS after warm-up (%d tasks) %d kB, at the end %d kB (%+.1f%%)"):format(
  warm_tasks or 0, warm_rss or 0, end_rss, growth * 100))
if growth > 0.10 then
  fail("RSS grew by %.1f%% (more than 10%%)", growth * 100)
end
if failures > 0 then
  print(("stress: FAIL (%d failures)"):format(failures))
  os.exit(1)
end
print("stress: PASS")
