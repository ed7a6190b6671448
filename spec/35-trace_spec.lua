--- concurrent.trace: task timelines of every executor, written as Chrome
-- trace-event JSON; bad input; what a forked child does.
local futures = require "concurrent.futures"
local process = require "concurrent.process"
local thread = require "concurrent.thread"
local trace = require "concurrent.trace"
local concurrent = require "concurrent"
local helpers = require "helpers"

local decode = dofile("bench/jsonl.lua").decode

local function read_trace(path)
  local fh = assert(io.open(path))
  local doc = decode(fh:read("*a"))
  fh:close()
  local tasks, meta = {}, {}
  for _, e in ipairs(doc.traceEvents) do
    if e.ph == "X" then tasks[#tasks + 1] = e
    elseif e.ph == "M" then meta[#meta + 1] = e end
  end
  table.sort(tasks, function(a, b) return a.args.task < b.args.task end)
  return tasks, meta, doc
end

local function meta_named(meta, name, pid, tid)
  for _, m in ipairs(meta) do
    if m.name == name and m.pid == pid and (tid == nil or m.tid == tid) then
      return m.args
    end
  end
end

local function sleeper(s, fail)
  require("concurrent").sleep(s)
  if fail then error("failed on purpose", 0) end
  return s
end

-- Every test stops a recording it started, even when it fails.
local path
before_each(function() path = os.tmpname() end)
after_each(function()
  if trace.active() then trace.stop() end
  os.remove(path)
end)

describe("concurrent.trace", function()
  it("is off by default", function()
    assert.is_false(trace.active())
  end)

  it("records each thread pool task: worker, times, queue wait and outcome", function()
    trace.start{path = path}
    assert.is_true(trace.active())
    do
      local ex <close> = helpers.pool(2)
      local fs = {}
      for i = 1, 4 do fs[i] = ex:submit(sleeper, 0.05, i == 3) end
      for i = 1, 4 do fs[i]:exception() end
      ex:shutdown()          -- before 5.4 <close> acts only when the test ends
    end
    local n, dropped = trace.stop()
    assert.is_false(trace.active())
    assert.equal(4, n)
    assert.equal(0, dropped)
    local tasks, meta = read_trace(path)
    assert.equal(4, #tasks)
    local tids = {}
    for i, e in ipairs(tasks) do
      assert.equal("thread", e.cat)
      assert.equal(i == 3 and "error" or "ok", e.args.outcome)
      assert.is_true(e.args.ran)
      assert.is_true(e.dur >= 0.05 * 1e6 * helpers.EARLY, "dur " .. e.dur)
      assert.is_true(e.ts >= e.args.submit_us)
      assert.near(e.ts - e.args.submit_us, e.args.queue_wait_us, 0.01)
      tids[e.tid] = true
      assert.equal(tasks[1].pid, e.pid)
    end
    -- two workers, so tasks 3 and 4 waited for one of the first two
    assert.is_true(tasks[4].args.queue_wait_us >= 0.05 * 1e6 * helpers.EARLY)
    local nt = 0
    for tid in pairs(tids) do
      nt = nt + 1
      assert.matches("^worker %d %(tid %d+%)$", meta_named(meta, "thread_name", tasks[1].pid, tid).name)
    end
    assert.is_true(nt >= 1 and nt <= 2)
    assert.matches("^ThreadPoolExecutor %d+$", meta_named(meta, "process_name", tasks[1].pid).name)
  end)

  -- #nosan: process pool workers fork while threads allocate (spec/sanitize.sh)
  it("records process pool tasks with the worker's slot and pid #nosan", function()
    trace.start{path = path}
    do
      local ex <close> = futures.ProcessPoolExecutor(2)
      local fs = {}
      for i = 1, 4 do fs[i] = ex:submit(function(x) return x end, i) end
      for i = 1, 4 do assert.equal(i, fs[i]:result()) end
      -- a task's trace record ends just after its future does: before
      -- 5.4, <close> acts only when the test ends, so shut down here
      ex:shutdown()
    end
    assert.equal(4, (trace.stop()))
    local tasks, meta = read_trace(path)
    assert.equal(4, #tasks)
    for _, e in ipairs(tasks) do
      assert.equal("process", e.cat)
      assert.equal("ok", e.args.outcome)
      assert.is_true(e.tid == 1 or e.tid == 2)
      assert.is_number(e.args.worker_pid)
      assert.are_not.equal(process.getpid(), e.args.worker_pid)
    end
    assert.matches("^ProcessPoolExecutor %d+$", meta_named(meta, "process_name", tasks[1].pid).name)
  end)

  it("names map chunks by their items, and tells executors apart", function()
    trace.start{path = path}
    do
      local a <close> = helpers.pool(2)
      local b <close> = helpers.pool(1)
      local t = {}
      for i = 1, 10 do t[i] = i end
      for _ in a:map(function(x) return x end, t, {chunksize = 4}) do end
      b:submit(function() end):result()
    end
    trace.stop()
    local tasks = read_trace(path)
    assert.equal(4, #tasks)
    assert.equal("map items 1-4", tasks[1].name)
    assert.equal("map items 5-8", tasks[2].name)
    assert.equal("map items 9-10", tasks[3].name)
    assert.equal(9, tasks[3].args.map_first_item)
    assert.equal(2, tasks[3].args.map_items)
    assert.equal("task 4", tasks[4].name)
    assert.are_not.equal(tasks[1].pid, tasks[4].pid)
  end)

  it("records a task cancelled in the queue, and one unfinished at stop", function()
    trace.start{path = path}
    local ex <close> = helpers.pool(1)
    local gate = thread.Event()
    local blocker = ex:submit(function(e) e:wait() end, gate)
    local victim = ex:submit(function() end)
    assert.is_true(victim:cancel())
    local later = ex:submit(function() end)
    gate:set()
    later:result()   -- the worker dropped the victim before it
    blocker:result()
    local hold = thread.Event()
    local held = ex:submit(function(e) e:wait() end, hold)
    concurrent.sleep(0.05)
    assert.equal(4, (trace.stop()))
    local tasks = read_trace(path)
    assert.equal("cancelled", tasks[2].args.outcome)
    assert.is_false(tasks[2].args.ran)
    assert.equal(0, tasks[2].tid)   -- the "queue (never ran)" row
    assert.equal("ok", tasks[3].args.outcome)
    assert.equal("unfinished", tasks[4].args.outcome)
    assert.is_true(tasks[4].args.ran)
    hold:set()
    held:result()
  end)

  it("keeps at most max_events tasks and counts the rest as dropped", function()
    trace.start{path = path, max_events = 2}
    do
      local ex <close> = helpers.pool(1)
      for _ = 1, 5 do ex:submit(function() end) end
    end
    local n, dropped = trace.stop()
    assert.equal(2, n)
    assert.equal(3, dropped)
    local tasks, meta = read_trace(path)
    assert.equal(2, #tasks)
    assert.equal(3, meta_named(meta, "trace_info", 0).dropped)
  end)

  it("can be started again after a stop, into another file", function()
    trace.start(path)
    assert.equal(0, (trace.stop()))
    local tasks = read_trace(path)
    assert.equal(0, #tasks)
    trace.start{path = path}
    do
      local ex <close> = helpers.pool(1)
      helpers.roundtrip(ex, 1)
    end
    assert.equal(1, (trace.stop()))
  end)

  describe("bad input", function()
    it("an unwritable path: a clear error at start, and nothing started", function()
      local ok, err = pcall(trace.start, {path = "/nonexistent-dir/trace.json"})
      assert.is_false(ok)
      assert.matches("trace%.start: cannot open '/nonexistent%-dir/trace%.json' for writing: "
        .. "No such file or directory %(tracing not started%)", err)
      assert.is_false(trace.active())
      assert.error_matches(function() trace.stop() end, "not on")
    end)

    it("stop without start", function()
      assert.error_matches(function() trace.stop() end,
        "trace%.stop: tracing is not on %(call trace%.start first%)")
    end)

    it("start twice", function()
      trace.start{path = path}
      assert.error_matches(function() trace.start{path = path .. "-2"} end,
        "trace%.start: tracing is already on")
      assert.is_nil(io.open(path .. "-2"))   -- the second path was not opened
      assert.is_true(trace.active())
    end)

    it("bad arguments name the option", function()
      assert.error_matches(function() trace.start() end,
        "bad argument #1 to 'trace%.start' %(table {path = %.%.%.} or path string expected, got nil%)")
      assert.error_matches(function() trace.start{} end, "path must be a non%-empty string, got nil")
      assert.error_matches(function() trace.start{path = ""} end, "path must be a non%-empty string")
      assert.error_matches(function() trace.start{path = path, colour = 1} end, "unknown option 'colour'")
      assert.error_matches(function() trace.start{path = path, max_events = 0} end,
        "max_events must be a positive integer, got 0")
      assert.is_false(trace.active())
    end)
  end)

  describe("make trace-demo's scripts", function()
    local LUA = os.getenv("LUA") or "lua5.4"
    local function q(x) return "'" .. x:gsub("'", "'\\''") .. "'" end
    local core = assert(package.searchpath("concurrent.core", package.cpath))
    local build = core:gsub("/concurrent/core%.so$", "")

    it("run.lua traces the as_completed and map programs; timeline.lua draws them", function()
      local png = path .. ".png"
      local cmd = ("DEMO_SPEED=10 CONCURRENT_BUILD=%s %s examples/trace/run.lua %s "
        .. "examples/06_as_completed.lua examples/07_map.lua >/dev/null 2>&1"):format(
        q(build), LUA, q(path))
      assert.is_true(helpers.run_ok(cmd))
      local tasks, meta = read_trace(path)
      assert.equal(6, #tasks)   -- three pages in each program, two pools
      assert.are_not.equal(tasks[1].pid, tasks[6].pid)
      -- two workers for three pages: the 4 s page waited for one (0.2 s)
      assert.is_true(tasks[3].args.queue_wait_us >= 0.2 * 1e6 * helpers.EARLY)
      assert.is_true(#meta >= 6)
      if not helpers.run_ok("command -v gnuplot >/dev/null 2>&1") then
        pending("gnuplot is not installed (apt-get install gnuplot-nox): no picture drawn")
        return
      end
      assert.is_true(helpers.run_ok(("%s examples/trace/timeline.lua %s %s >/dev/null 2>&1"):format(
        LUA, q(path), q(png))))
      local fh = assert(io.open(png, "rb"))
      local head = fh:read(8)
      fh:close()
      assert.equal("\137PNG\r\n\26\n", head)
      os.remove(png)
      os.remove(png .. ".dat")
      os.remove(png .. ".gp")
    end)
  end)

  describe("across fork", function()
    it("a forked child is not recording and never writes its parent's file #nosan", function()
      local childpath = os.tmpname()
      trace.start{path = path}
      local parent_ex <close> = helpers.pool(1)
      parent_ex:submit(function() end):result()
      local p = process.Process{target = function()
        local tr = require "concurrent.trace"
        if tr.active() then os.exit(3) end
        if pcall(tr.stop) then os.exit(4) end
        local ex <close> = require("concurrent.futures").ThreadPoolExecutor(1)
        ex:submit(function() end):result()   -- not recorded anywhere
        tr.start{path = childpath}
        ex:submit(function() end):result()
        ex:shutdown()
        if tr.stop() ~= 1 then os.exit(5) end
        os.exit(0)
      end}
      p:start()
      p:join()
      assert.equal(0, p.exitcode)
      -- and a process pool's workers, forked while recording
      local px <close> = futures.ProcessPoolExecutor(1)
      assert.equal(7, px:submit(function() return 7 end):result())
      px:shutdown()
      parent_ex:shutdown()
      assert.equal(2, (trace.stop()))
      local tasks, meta = read_trace(path)
      assert.equal(2, #tasks)
      assert.equal(process.getpid(), meta_named(meta, "trace_info", 0).process)
      local ctasks, cmeta = read_trace(childpath)
      assert.equal(1, #ctasks)
      assert.equal(p.pid, meta_named(cmeta, "trace_info", 0).process)
      os.remove(childpath)
    end)
  end)
end)
