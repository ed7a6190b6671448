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
-- Items are pulled from the sequences in chunks of `chunk` items; a chunk
-- of one is submitted as fn(args...) itself, a larger one as one task that
-- runs core.map_chunk in the worker, with arguments and results sent as
-- plain values. The iterator's hot path is then one upvalue test and one
-- table read per item. Without buffersize every chunk is submitted by the
-- call to map, as Python does; with it, the number of items submitted and
-- not yet yielded stays at most buffersize after each yield.

local MAP_OPTIONS = {timeout = true, chunksize = true, buffersize = true}

-- The last argument is map's options when it is a non-empty table whose
-- keys are all option names (API.md).
local function is_options(t)
  if type(t) ~= "table" or next(t) == nil then return false end
  for k in pairs(t) do
    if not MAP_OPTIONS[k] then return false end
  end
  return true
end

local function positive_integer(v, name, pos)
  if v == nil then return nil end
  local n = type(v) == "number" and compat.tointeger(v)
  if not n or n <= 0 then
    error(string.format("bad argument #%d to 'map' (%s must be a positive integer, got %s)",
      pos, name, tostring(v)), 3)
  end
  return n
end

local function is_callable(fn)
  if type(fn) == "function" then return true end
  local mt = getmetatable(fn)
  return type(mt) == "table" and type(rawget(mt, "__call")) == "function"
end

-- The task of a chunk: it crosses as bytecode, and `require` is the
-- worker's own. Its arguments and results are plain values (see
-- core.map_chunk in csrc/binding/waiter.c).
local function run_chunk(fn, nargs, count, ...)
  return require("concurrent.core").map_chunk(fn, nargs, count, ...)
end

-- At most this many argument values per chunk task, so that a chunk's
-- arguments and results fit on a Lua stack (whose limit is 1,000,000
-- slots) on both sides; a larger chunksize makes more, smaller tasks,
-- which nothing else can tell apart.
-- Lua 5.1 and LuaJIT give a C function at most 8,000 slots (LUAI_MAXCSTACK),
-- and an encode there copies its values once (docs/reference.md).
local MAX_CHUNK_VALUES = _VERSION == "Lua 5.1" and 3000 or 65536

-- A puller: pull(max) -> src, from, got, ended [, failed, err]: the next
-- got tuples of nargs values are src[from], src[from + 1], ... (flat);
-- ended once a sequence has run out or an iterator function raised
-- (failed, err: raised at that item's position). A single table is its
-- own source: nothing is copied before the values are sent.
local function table_puller(s)
  local pos, len = 0, #s
  return function(max)
    local from = pos + 1
    local last = pos + max
    if last > len then last = len end
    pos = last
    return s, from, last - from + 1, last == len
  end
end

local function generic_puller(seqs, nargs)
  local lens = {}
  for k = 1, nargs do
    if type(seqs[k]) == "table" then lens[k] = #seqs[k] end
  end
  local i = 0
  return function(max)
    local args, got = {}, 0
    while got < max do
      local idx, base = i + 1, got * nargs
      for k = 1, nargs do
        local s, len, v = seqs[k], lens[k], nil
        local ok = true
        if len then
          if idx > len then ok = nil else v = s[idx] end
        else
          ok, v = pcall(s)
          if ok and v == nil then ok = nil end
        end
        if not ok then   -- this tuple is incomplete: drop its first values
          for m = base + 1, base + k - 1 do args[m] = nil end
          if ok == false then return args, 1, got, true, true, v end
          return args, 1, got, true
        end
        args[base + k] = v
      end
      i, got = idx, got + 1
    end
    return args, 1, got, false
  end
end

local unpack, min = compat.unpack, math.min

-- submit's "cannot send X at args[k]..." names the k-th value of one task;
-- say which item (and which of its sequences) that was.
local function item_error(err, first, nargs, skip)
  if type(err) ~= "string" then return err end
  local head, k, tail = err:match("^(.-cannot send .- at )args%[(%d+)%](.*)$")
  k = tonumber(k)
  if not k or k <= skip then return err end
  k = k - skip - 1
  local where = "item " .. (first + math.floor(k / nargs))
  if nargs > 1 then where = where .. " of map, sequence " .. (k % nargs + 1) else where = where .. " of map" end
  return head .. where .. tail
end

-- map(executor, fn, seq1 [, seq2, ...] [, opts]): every executor's map,
-- built on executor:submit only.
local function map(self, fn, ...)
  local nseqs = select("#", ...)
  local opts = nseqs >= 1 and select(nseqs, ...) or nil
  if is_options(opts) then nseqs = nseqs - 1 else opts = nil end
  if not is_callable(fn) then
    error(string.format("bad argument #1 to 'map' (function expected, got %s)", type(fn)), 2)
  end
  if nseqs == 0 then error("bad argument #2 to 'map' (sequence expected, got no value)", 2) end
  local seqs = {...}
  for k = 1, nseqs do
    local t = type(seqs[k])
    if t ~= "table" and t ~= "function" then
      error(string.format("bad argument #%d to 'map' (table or iterator function expected, got %s)",
        k + 1, t), 2)
    end
  end
  local timeout, chunksize, buffersize
  if opts then
    local pos = nseqs + 2
    timeout = check_timeout(opts.timeout, "map", pos)
    chunksize = positive_integer(opts.chunksize, "chunksize", pos)
    buffersize = positive_integer(opts.buffersize, "buffersize", pos)
  end
  local deadline = timeout and monotonic() + timeout
  local nargs = nseqs
  local chunk = min(chunksize or 1, buffersize or compat.maxinteger,
                    math.max(1, math.floor(MAX_CHUNK_VALUES / nargs)))
  local single = chunk == 1      -- submit fn itself, one item per task
  local pull
  if nargs == 1 and type(seqs[1]) == "table" then
    pull = table_puller(seqs[1])
  else
    pull = generic_puller(seqs, nargs)
  end
  local submit = self.submit

  -- Submitted tasks, oldest first: future, index of its first item, count.
  local qf, qfirst, qcount = {}, {}, {}
  local qhead, qtail = 1, 0
  local inflight = 0            -- items in submitted, uncollected tasks
  local nextindex = 1           -- index of the next item to pull
  local exhausted, closed = false, false
  local seq_failed, seq_err = false, nil
  local submit_err              -- set when submit refused a chunk

  -- The chunk being yielded: its results, as {done, err, packed, values...}
  -- in `flat`, so item j of the chunk is at p = j + 3, with index base + p
  -- and value flat[p] (or the values packed[j] when it returned other
  -- than one value). The fast path yields positions up to `stop`.
  local base, flat, packed, last, pos, stop = 0, nil, nil, 0, 1, 0
  local chunk_failed, chunk_err = false, nil
  local waiting                 -- the single task being waited on

  -- Submit chunks while there is room: `held` is the number of items of
  -- the current chunk still to yield after the one being yielded.
  local function fill(held)
    while not exhausted and
        (buffersize == nil or inflight + held + chunk <= buffersize) do
      local src, from, got, ended, failed, err = pull(chunk)
      if ended then
        exhausted = true
        if failed then seq_failed, seq_err = true, err end
      end
      if got > 0 then
        local ok, f, to = nil, nil, from + got * nargs - 1
        if single then
          ok, f = pcall(submit, self, fn, unpack(src, from, to))
        else
          ok, f = pcall(submit, self, run_chunk, fn, nargs, got, unpack(src, from, to))
        end
        if not ok then  -- after shutdown, or a value that cannot cross
          exhausted, submit_err = true, item_error(f, nextindex, nargs, single and 0 or 3)
          return
        end
        qtail = qtail + 1
        qf[qtail], qfirst[qtail], qcount[qtail] = f, nextindex, got
        nextindex = nextindex + got
        inflight = inflight + got
      end
    end
  end

  -- How far the fast path may go in the current chunk: to its end, or,
  -- with buffersize, to just before the first position p at which, once p
  -- is yielded, there is room for another chunk:
  -- inflight + (last - p) + chunk <= buffersize.
  local function set_stop()
    if packed ~= nil then
      stop = 0
    elseif buffersize == nil or exhausted then
      stop = last
    else
      stop = min(last, inflight + last + chunk - buffersize - 1)
    end
  end

  local function cancel_all()
    closed, exhausted, stop = true, true, 0
    if waiting then waiting:cancel() end
    for k = qhead, qtail do
      local f = qf[k]
      if f then f:cancel() end
    end
  end

  local function slow()
    while true do
      if closed then return nil end
      local p = pos
      if p <= last then
        pos = p + 1
        if buffersize and not exhausted then
          fill(last - p)
          if submit_err then cancel_all() error(submit_err, 2) end
          set_stop()
        end
        local r = packed and packed[p - 3]
        if r then return base + p, unpack(r, 1, r.n) end
        return base + p, flat[p]
      end
      if chunk_failed then
        chunk_failed, closed = false, true
        error(chunk_err, 0)
      end
      flat, packed, last, pos, stop = nil, nil, 0, 1, 0
      if qhead > qtail then
        if seq_failed then
          closed = true
          error(seq_err, 0)
        end
        return nil
      end
      local f, first, count = qf[qhead], qfirst[qhead], qcount[qhead]
      if single then
        qf[qhead] = nil
        qhead = qhead + 1
        inflight = inflight - 1
        waiting = f
        if buffersize then
          fill(0)
          if submit_err then cancel_all() error(submit_err, 2) end
        end
        return first, f:result(remaining(deadline))   -- raises its error
      end
      local r = {f:result(remaining(deadline))}
      qf[qhead] = nil
      qhead = qhead + 1
      inflight = inflight - count
      local done = r[1]
      base, flat, packed, last, pos = first - 4, r, r[3], done + 3, 4
      chunk_failed, chunk_err = done < count, r[2]
      set_stop()
    end
  end

  local function iterate()
    local p = pos
    if p <= stop then
      pos = p + 1
      return base + p, flat[p]
    end
    return slow()
  end

  fill(0)
  if submit_err then
    cancel_all()
    error(submit_err, 2)
  end
  -- Leaving the loop early (break, error) cancels what has not started;
  -- closer:close() does it by hand (Lua before 5.4 closes nothing).
  local closer = setmetatable({close = cancel_all}, {__close = cancel_all})
  return iterate, nil, nil, closer
end

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
                      initializer = true, initargs = true, memory_limit = true}

local function check_max_workers(n, fname)
  if n == nil then return math.min(32, core.cpu_count() + 4) end
  if type(n) ~= "number" or n ~= math.floor(n) or n <= 0 or compat.tointeger(n) == nil then
    error(string.format("bad argument #1 to '%s' (max_workers must be a positive integer, got %s)",
      fname, tostring(n)), 3)
  end
  return compat.tointeger(n)
end
futures._check_max_workers = check_max_workers

function futures.ThreadPoolExecutor(opts)
  local max_workers, prefix, initializer, initargs, memory_limit
  if type(opts) == "table" then
    for k in pairs(opts) do
      if not POOL_OPTIONS[k] then
        error(string.format("bad argument #1 to 'ThreadPoolExecutor' (unknown option '%s')", tostring(k)), 2)
      end
    end
    max_workers, prefix = opts.max_workers, opts.thread_name_prefix
    initializer, initargs = opts.initializer, opts.initargs
    memory_limit = opts.memory_limit   -- bytes per worker state
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
  if memory_limit ~= nil and (not compat.isinteger(memory_limit) or memory_limit <= 0) then
    error(string.format("bad argument #1 to 'ThreadPoolExecutor' (memory_limit must be a positive integer number of bytes, got %s)",
      tostring(memory_limit)), 2)
  end
  return core.thread_pool(max_workers, prefix or "ThreadPool", initializer, initargs, memory_limit)
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
