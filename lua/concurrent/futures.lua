--- concurrent.futures: executors, futures, and waiting on them.
-- The hot paths (submit, result, waits) are C in concurrent.core; this file
-- holds the argument sugar and the iterators (as_completed, wait, map).
local core = require "concurrent.core"
local compat = require "concurrent._compat"

local futures = {}

local ERROR_CLASSES = {
  "Error", "TimeoutError", "CancelledError", "InvalidStateError",
  "BrokenExecutor", "BrokenThreadPool", "BrokenProcessPool",
}
for _, name in ipairs(ERROR_CLASSES) do futures[name] = core[name] end

futures.Future = core.Future
futures.poll = core.poll
futures.spawn = core.spawn   -- spawn(fn, ...) -> Future (a coroutine's)
futures.fd = core.fd         -- fd() -> readable while poll() has work
futures.ALL_COMPLETED = "ALL_COMPLETED"
futures.FIRST_COMPLETED = "FIRST_COMPLETED"
futures.FIRST_EXCEPTION = "FIRST_EXCEPTION"

local monotonic, future_id = core.monotonic, core.future_id
local is_callable = core.callable   -- the library's one rule (C's)
local FUTURE_MT = getmetatable(core.Future())

-- What progress (concurrent/progress.lua) is told of the iterators of
-- as_completed and map: total, closing value, whether they yield futures.
local iterators = setmetatable({}, {__mode = "k"})
futures._iterators = iterators

--- progress(fs_or_iterator [, opts]): see concurrent/progress.lua, loaded
-- on first use (a tail call: its errors name the caller's line).
function futures.progress(...)
  return require("concurrent.progress").wrap(...)
end

--- iserror(err [, class]): is err an error object of class (default: any
-- of this library's classes), following the class hierarchy?
function futures.iserror(err, class)
  if class == nil then class = core.Error end
  local mt = getmetatable(err)
  if type(err) ~= "table" or type(mt) ~= "table" then return false end
  while mt do
    if mt == class then return true end
    mt = rawget(mt, "base")
  end
  return false
end

local function check_timeout(timeout, fname, pos)
  if timeout ~= nil and (type(timeout) ~= "number" or not (timeout >= 0)) then
    error(string.format("bad argument #%d to '%s' (timeout must be a non-negative number or nil, got %s)",
      pos, fname, tostring(timeout)), 3)
  end
  return timeout
end

local function remaining(deadline)
  if deadline == nil then return nil end
  local left = deadline - monotonic()
  return left > 0 and left or 0
end

-- The distinct futures of fs, in order, and an id -> future map.
local function distinct_futures(fs, fname)
  if type(fs) ~= "table" then
    error(string.format("bad argument #1 to '%s' (table of futures expected, got %s)",
      fname, type(fs)), 3)
  end
  local list, byid = {}, {}
  for i = 1, #fs do
    local f = fs[i]
    if getmetatable(f) ~= FUTURE_MT then
      error(string.format("bad argument #1 to '%s' (fs[%d] is a %s, not a Future)",
        fname, i, type(f)), 3)
    end
    local id = future_id(f)
    if not byid[id] then
      byid[id] = f
      list[#list + 1] = f
    end
  end
  return list, byid
end

--- as_completed(fs [, timeout]): iterate over the futures of fs as they
-- finish (those already done first), each once.
function futures.as_completed(fs, timeout)
  check_timeout(timeout, "as_completed", 2)
  local list, byid = distinct_futures(fs, "as_completed")
  local deadline = timeout and monotonic() + timeout
  local waiter = core.waiter()
  for i = 1, #list do waiter:watch(list[i]) end
  local left = #list
  local function iterate()
    if left == 0 then
      waiter:close()
      return nil
    end
    local id = waiter:next(remaining(deadline))
    if id == nil then
      waiter:close()
      error(core.TimeoutError(string.format("%d (of %d) futures unfinished",
        left, #list)))
    end
    left = left - 1
    return byid[id]
  end
  iterators[iterate] = {total = #list, closing = waiter, futures = true}
  return iterate, nil, nil, waiter
end

local wait_for

--- wait(fs [, timeout [, return_when]]) -> done, not_done (in fs order).
function futures.wait(fs, timeout, return_when)
  check_timeout(timeout, "wait", 2)
  return_when = return_when or futures.ALL_COMPLETED
  if return_when ~= futures.ALL_COMPLETED and return_when ~= futures.FIRST_COMPLETED
      and return_when ~= futures.FIRST_EXCEPTION then
    error(string.format("bad argument #3 to 'wait' (ALL_COMPLETED, FIRST_COMPLETED or FIRST_EXCEPTION expected, got %s)",
      tostring(return_when)), 2)
  end
  local list, byid = distinct_futures(fs, "wait")
  local deadline = timeout and monotonic() + timeout
  local waiter = core.waiter()
  if not compat.yield_in_pcall then
    -- 5.1: no pcall, so that a spawned coroutine's wait can suspend; on
    -- an error (Ctrl-C) the waiter is closed when it is collected.
    return compat.closing(waiter.close, waiter,
      true, wait_for(waiter, list, byid, deadline, return_when))
  end
  return compat.closing(waiter.close, waiter,
    pcall(wait_for, waiter, list, byid, deadline, return_when))
end

-- wait's loop, with its waiter closed by the caller whatever happens.
function wait_for(waiter, list, byid, deadline, return_when)
  for i = 1, #list do waiter:watch(list[i]) end
  for _ = 1, #list do
    local id = waiter:next(remaining(deadline))
    if id == nil then break end
    if return_when == futures.FIRST_COMPLETED then break end
    if return_when == futures.FIRST_EXCEPTION then
      -- exception() returns a value (maybe nil: error(nil)) only when
      -- the task failed, and raises CancelledError when cancelled
      local f = byid[id]
      if not f:cancelled() and select("#", f:exception(0)) > 0 then break end
    end
  end
  local done, not_done = {}, {}
  for i = 1, #list do
    local f = list[i]
    if f:done() then done[#done + 1] = f else not_done[#not_done + 1] = f end
  end
  return done, not_done
end

-- map ---------------------------------------------------------------------
--
-- Every executor's map is in concurrent/_map.lua, loaded on its first call:
-- most programs never map, and compiling it was a large part of loading
-- this module from source. A tail call, so map's errors name map's caller.
local function map(self, ...)
  return require("concurrent._map")(self, ...)
end

futures._check_timeout = check_timeout
futures._remaining = remaining
futures._map = map
core.ThreadPoolExecutor_class.map = map
-- ex:close(): what `<close>` does (shutdown, waiting), for every version.
core.ThreadPoolExecutor_class.close = core.ThreadPoolExecutor_class.__close

--- with(ex, fn, ...): fn(ex, ...), then ex:shutdown() whether fn returned
-- or raised; returns what fn returned or raises its error. The portable
-- `local ex <close> = ...` (Lua 5.4 only).
function futures.with(ex, fn, ...)
  if type(ex) ~= "userdata" or type(ex.shutdown) ~= "function" then
    error(string.format("bad argument #1 to 'with' (executor expected, got %s)", type(ex)), 2)
  end
  if not is_callable(fn) then
    error(string.format("bad argument #2 to 'with' (function expected, got %s)", type(fn)), 2)
  end
  return compat.closing(ex.shutdown, ex, pcall(fn, ex, ...))
end

--- ThreadPoolExecutor([max_workers]) or
-- ThreadPoolExecutor{max_workers=, thread_name_prefix=, initializer=, initargs=}
local POOL_OPTIONS = {max_workers = true, thread_name_prefix = true,
                      initializer = true, initargs = true, memory_limit = true,
                      max_tasks_per_worker = true}

local function check_max_workers(n, fname)
  if n == nil then return math.min(32, core.cpu_count() + 4) end
  if type(n) ~= "number" or n ~= math.floor(n) or n <= 0 or compat.tointeger(n) == nil then
    error(string.format("bad argument #1 to '%s' (max_workers must be a positive integer, got %s)",
      fname, tostring(n)), 3)
  end
  return compat.tointeger(n)
end
futures._check_max_workers = check_max_workers

-- max_tasks_per_worker / max_tasks_per_child: nil or a positive integer.
local function check_max_tasks(n, name, fname, level)
  if n ~= nil and (not compat.isinteger(n) or n <= 0) then
    error(string.format("bad argument #1 to '%s' (%s must be a positive integer, got %s)",
      fname, name, tostring(n)), level + 1)
  end
  return n
end
futures._check_max_tasks = check_max_tasks

function futures.ThreadPoolExecutor(opts)
  local max_workers, prefix, initializer, initargs, memory_limit, max_tasks
  if type(opts) == "table" then
    for k in pairs(opts) do
      if not POOL_OPTIONS[k] then
        error(string.format("bad argument #1 to 'ThreadPoolExecutor' (unknown option '%s')", tostring(k)), 2)
      end
    end
    max_workers, prefix = opts.max_workers, opts.thread_name_prefix
    initializer, initargs = opts.initializer, opts.initargs
    memory_limit = opts.memory_limit   -- bytes per worker state
    max_tasks = check_max_tasks(opts.max_tasks_per_worker, "max_tasks_per_worker",
                                "ThreadPoolExecutor", 2)
  else
    max_workers = opts
  end
  max_workers = check_max_workers(max_workers, "ThreadPoolExecutor")
  if prefix ~= nil and type(prefix) ~= "string" then
    error("bad argument #1 to 'ThreadPoolExecutor' (thread_name_prefix must be a string)", 2)
  end
  if initializer ~= nil and not is_callable(initializer) then
    error("bad argument #1 to 'ThreadPoolExecutor' (initializer must be a function)", 2)
  end
  if initargs ~= nil and type(initargs) ~= "table" then
    error("bad argument #1 to 'ThreadPoolExecutor' (initargs must be a table)", 2)
  end
  if memory_limit ~= nil and (not compat.isinteger(memory_limit) or memory_limit <= 0) then
    error(string.format("bad argument #1 to 'ThreadPoolExecutor' (memory_limit must be a positive integer number of bytes, got %s)",
      tostring(memory_limit)), 2)
  end
  return core.thread_pool(max_workers, prefix or "ThreadPool", initializer, initargs,
                          memory_limit, max_tasks)
end

--- ProcessPoolExecutor([max_workers]) or ProcessPoolExecutor{max_workers=,
-- initializer=, initargs=}: lives in concurrent.process (forked workers).
function futures.ProcessPoolExecutor(opts)
  -- Not a tail call: the error's level counts this frame (and Lua 5.1
  -- reports none through a tail call).
  local ex = require("concurrent.process")._pool_executor(opts, 2)
  return ex
end

return futures
