--- concurrent.futures: executors, futures, and waiting on them.
-- The hot paths (submit, result, waits) are C in concurrent.core; this file
-- holds the argument sugar and the iterators (as_completed, wait, map).
local core = require "concurrent.core"

local futures = {}

local ERROR_CLASSES = {
  "Error", "TimeoutError", "CancelledError", "InvalidStateError",
  "BrokenExecutor", "BrokenThreadPool", "BrokenProcessPool",
}
for _, name in ipairs(ERROR_CLASSES) do futures[name] = core[name] end

futures.Future = core.Future
futures.poll = core.poll
futures.ALL_COMPLETED = "ALL_COMPLETED"
futures.FIRST_COMPLETED = "FIRST_COMPLETED"
futures.FIRST_EXCEPTION = "FIRST_EXCEPTION"

local monotonic, future_id = core.monotonic, core.future_id
local FUTURE_MT = getmetatable(core.Future())

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
  return iterate, nil, nil, waiter
end

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
  local waiter <close> = core.waiter()
  for i = 1, #list do waiter:watch(list[i]) end
  for _ = 1, #list do
    local id = waiter:next(remaining(deadline))
    if id == nil then break end
    if return_when == futures.FIRST_COMPLETED then break end
    if return_when == futures.FIRST_EXCEPTION then
      local f = byid[id]
      if not f:cancelled() and f:exception(0) ~= nil then break end
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

local MAP_OPTIONS = {timeout = true, chunksize = true, buffersize = true}

local function is_options(t)
  if type(t) ~= "table" or getmetatable(t) ~= nil or next(t) == nil then
    return false
  end
  for k in pairs(t) do
    if not MAP_OPTIONS[k] then return false end
  end
  return true
end

local function positive_integer(v, name)
  if v == nil then return nil end
  if math.type(v) ~= "integer" and not (type(v) == "number" and v == math.floor(v)) then
    error(string.format("bad option '%s' to 'map' (integer expected, got %s)", name, tostring(v)), 3)
  end
  if v <= 0 then
    error(string.format("bad option '%s' to 'map' (must be positive, got %s)", name, tostring(v)), 3)
  end
  return math.tointeger(v)
end

-- An iterator over argument tuples from several sequences (tables by their
-- # elements, functions until they return nil), stopping at the shortest.
local function zip(seqs)
  local n, i = #seqs, 0
  local lens = {}
  for k = 1, n do
    if type(seqs[k]) == "table" then lens[k] = #seqs[k] end
  end
  return function()
    i = i + 1
    local tuple = {n = n}
    for k = 1, n do
      local s = seqs[k]
      local v
      if lens[k] then
        if i > lens[k] then return nil end
        v = s[i]
      else
        v = s()
        if v == nil then return nil end
      end
      tuple[k] = v
    end
    return tuple
  end
end

-- Runs in a worker: apply fn to each argument tuple of a chunk, stopping
-- at the first error. Results come back flat when every call returned
-- exactly one value.
local function run_chunk(fn, nargs, count, ...)
  local args = {...}
  local flat, packed = {}, nil
  for j = 1, count do
    local base = (j - 1) * nargs
    local r = table.pack(pcall(fn, table.unpack(args, base + 1, base + nargs)))
    if not r[1] then
      return false, j, r[2], flat, packed
    end
    if r.n == 2 and packed == nil then
      flat[j] = r[2]
    else
      if packed == nil then
        packed = {}
        for k = 1, j - 1 do packed[k] = {n = 1, flat[k]} end
      end
      packed[j] = table.pack(table.unpack(r, 2, r.n))
    end
  end
  return true, count, nil, flat, packed
end

-- The generic map of every executor: built on self:submit.
local function map(self, fn, ...)
  local seqs = table.pack(...)
  local opts = {}
  if seqs.n >= 1 and is_options(seqs[seqs.n]) then
    opts = seqs[seqs.n]
    seqs[seqs.n] = nil
    seqs.n = seqs.n - 1
  end
  if type(fn) ~= "function" then
    error(string.format("bad argument #1 to 'map' (function expected, got %s)", type(fn)), 2)
  end
  if seqs.n == 0 then error("bad argument #2 to 'map' (sequence expected, got no value)", 2) end
  for k = 1, seqs.n do
    local t = type(seqs[k])
    if t ~= "table" and t ~= "function" then
      error(string.format("bad argument #%d to 'map' (table or iterator function expected, got %s)", k + 1, t), 2)
    end
  end
  local timeout = check_timeout(opts.timeout, "map", seqs.n + 2)
  local chunksize = positive_integer(opts.chunksize, "chunksize") or 1
  local buffersize = positive_integer(opts.buffersize, "buffersize")
  local deadline = timeout and monotonic() + timeout
  local nargs = seqs.n
  local next_tuple = zip(seqs)
  local tasks = {}       -- queue of submitted chunks: {future, first index, count}
  local qhead, qtail = 1, 0
  local nextindex, exhausted = 1, false
  local max_ahead = buffersize and math.max(1, buffersize // chunksize) or math.huge

  local function submit_one()
    local args, count = {}, 0
    while count < chunksize do
      local tuple = next_tuple()
      if tuple == nil then exhausted = true break end
      count = count + 1
      for k = 1, nargs do args[(count - 1) * nargs + k] = tuple[k] end
    end
    if count == 0 then return false end
    local f
    if chunksize == 1 then
      f = self:submit(fn, table.unpack(args, 1, nargs))
    else
      f = self:submit(run_chunk, fn, nargs, count, table.unpack(args, 1, count * nargs))
    end
    qtail = qtail + 1
    tasks[qtail] = {f, nextindex, count}
    nextindex = nextindex + count
    return true
  end

  local function fill()
    while not exhausted and qtail - qhead + 1 < max_ahead do
      if not submit_one() then break end
    end
  end

  fill()

  -- The chunk being yielded item by item.
  local cur, curpos, curcount, curindex, curflat, curpacked, curerr, curok

  local function iterate()
    while true do
      if cur then
        if curpos <= curcount then
          local pos = curpos
          curpos = curpos + 1
          if curpacked then
            local r = curpacked[pos]
            return curindex + pos - 1, table.unpack(r, 1, r.n)
          end
          return curindex + pos - 1, curflat[pos]
        end
        if not curok then
          cur = nil
          error(curerr, 0)
        end
        cur = nil
      end
      if qhead > qtail then
        fill()
        if qhead > qtail then return nil end
      end
      local task = tasks[qhead]
      local f = task[1]
      local left = remaining(deadline)
      if chunksize == 1 then
        local r = table.pack(f:result(left))  -- raises the task's error
        tasks[qhead] = nil
        qhead = qhead + 1
        fill()
        return task[2], table.unpack(r, 1, r.n)
      end
      local ok, count, err, flat, packed = f:result(left)
      tasks[qhead] = nil
      qhead = qhead + 1
      fill()
      cur, curpos, curindex, curflat, curpacked = f, 1, task[2], flat, packed
      curok, curerr = ok, err
      curcount = ok and count or count - 1
    end
  end

  -- Leaving the loop early cancels what has not started.
  local closer = setmetatable({}, {__close = function()
    for k = qhead, qtail do
      local t = tasks[k]
      if t then t[1]:cancel() end
    end
    exhausted = true
  end})
  return iterate, nil, nil, closer
end

futures._map = map
core.ThreadPoolExecutor_class.map = map

--- ThreadPoolExecutor([max_workers]) or
-- ThreadPoolExecutor{max_workers=, thread_name_prefix=, initializer=, initargs=}
local POOL_OPTIONS = {max_workers = true, thread_name_prefix = true,
                      initializer = true, initargs = true}

local function check_max_workers(n, fname)
  if n == nil then return math.min(32, core.cpu_count() + 4) end
  if type(n) ~= "number" or n ~= math.floor(n) or n <= 0 then
    error(string.format("bad argument #1 to '%s' (max_workers must be a positive integer, got %s)",
      fname, tostring(n)), 3)
  end
  return math.tointeger(n)
end
futures._check_max_workers = check_max_workers

function futures.ThreadPoolExecutor(opts)
  local max_workers, prefix, initializer, initargs
  if type(opts) == "table" then
    for k in pairs(opts) do
      if not POOL_OPTIONS[k] then
        error(string.format("bad argument #1 to 'ThreadPoolExecutor' (unknown option '%s')", tostring(k)), 2)
      end
    end
    max_workers, prefix = opts.max_workers, opts.thread_name_prefix
    initializer, initargs = opts.initializer, opts.initargs
  else
    max_workers = opts
  end
  max_workers = check_max_workers(max_workers, "ThreadPoolExecutor")
  if prefix ~= nil and type(prefix) ~= "string" then
    error("bad argument #1 to 'ThreadPoolExecutor' (thread_name_prefix must be a string)", 2)
  end
  if initializer ~= nil and type(initializer) ~= "function" then
    error("bad argument #1 to 'ThreadPoolExecutor' (initializer must be a function)", 2)
  end
  if initargs ~= nil and type(initargs) ~= "table" then
    error("bad argument #1 to 'ThreadPoolExecutor' (initargs must be a table)", 2)
  end
  return core.thread_pool(max_workers, prefix or "ThreadPool", initializer, initargs)
end

--- ProcessPoolExecutor([max_workers]) or ProcessPoolExecutor{max_workers=,
-- initializer=, initargs=}: lives in concurrent.process (forked workers).
function futures.ProcessPoolExecutor(opts)
  return require("concurrent.process")._pool_executor(opts, 2)
end

return futures
