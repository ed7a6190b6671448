--- concurrent._map: map(executor, fn, seq1 [, seq2, ...] [, opts]), the
-- map of every executor, built on executor:submit only. Loaded by
-- concurrent.futures on map's first call. Internal.
--
-- Items are pulled from the sequences in chunks of `chunk` items; a chunk
-- of one is submitted as fn(args...) itself, a larger one as one task that
-- runs core.map_chunk in the worker, with arguments and results sent as
-- plain values. The iterator's hot path is then one upvalue test and one
-- table read per item. Without buffersize every chunk is submitted by the
-- call to map, as Python does; with it, the number of items submitted and
-- not yet yielded stays at most buffersize after each yield.

local core = require "concurrent.core"
local compat = require "concurrent._compat"
local futures = require "concurrent.futures"

local check_timeout, remaining = futures._check_timeout, futures._remaining
local monotonic, is_callable = core.monotonic, core.callable
local iterators = futures._iterators   -- what progress is told (futures.lua)

local MAP_OPTIONS = {timeout = true, chunksize = true, buffersize = true}

-- The last argument is map's options when it is a non-empty table whose
-- keys are all option names (docs/reference.md, map).
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

-- The task of a chunk: it crosses as bytecode, and `require` is the
-- worker's own. Its arguments and results are plain values (see
-- core.map_chunk in csrc/binding/classes/waiting.c).
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
local tracing, trace_items = core.tracing, core.trace_items

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
  local mt = getmetatable(self)
  if mt == nil or (mt ~= core.ThreadPoolExecutor_class and mt ~= core.ProcessPoolExecutor_class) then
    error(string.format("bad argument #1 to 'map' (executor expected, got %s)", type(self)), 2)
  end
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
  local closer, closer_mt       -- see cancel_all

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
          -- one C call a chunk: name the chunk's items in a trace (the
          -- label is the thread's until a submit takes it: clear it)
          local traced = tracing()
          if traced then trace_items(nextindex, got) end
          ok, f = pcall(submit, self, run_chunk, fn, nargs, got, unpack(src, from, to))
          if traced then trace_items(0, 0) end
        end
        if not ok then  -- after shutdown, or a value that cannot cross
          exhausted, submit_err = true, item_error(f, nextindex, nargs, single and 0 or 3)
          return
        end
        qtail = qtail + 1
        qf[qtail], qfirst[qtail], qcount[qtail] = f, nextindex, got
        if closer then closer = setmetatable({}, closer_mt) end
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

  -- Leaving the loop early (break, error) closes the closing value, and
  -- collecting the iterator collects `closer`: both cancel what has not
  -- started, as Python's generator does when it is closed or collected.
  -- The iterator holds `closer`, so dropping only the fourth value is
  -- safe. Lua finalizes the newest objects first, so `closer` is remade
  -- after each submit (a stale one's __gc does nothing): it is finalized
  -- before the futures it cancels. closer:close() does it by hand (Lua
  -- before 5.4 closes nothing, and collects no table).
  closer_mt = {__close = cancel_all, __index = {close = cancel_all}, __gc = function(c)
    if rawequal(c, closer) then
      closed, exhausted, stop = true, true, 0
      if waiting then pcall(waiting.cancel, waiting) end
      for k = qhead, qtail do
        local f = qf[k]
        if f then pcall(f.cancel, f) end
      end
    end
  end}

  -- With a timeout, wait for f within what is left of it, and raise a
  -- TimeoutError that names the timeout given to map.
  local function await(f)
    if deadline ~= nil and not f:done() then
      local ok, err = pcall(f.exception, f, remaining(deadline))
      if not ok then
        if futures.iserror(err, core.TimeoutError) then
          err = core.TimeoutError(string.format(
            "map: results not ready within the timeout of %s s", timeout))
        end
        error(err, 0)      -- CancelledError, Ctrl-C's "interrupted!"
      end
    end
    return f
  end

  local function slow()
    while true do
      if closed or closer == nil then return nil end
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
        return first, await(f):result()   -- raises its error
      end
      local r = {await(f):result()}
      qf[qhead] = nil
      qhead = qhead + 1
      inflight = inflight - count
      local done = r[1]
      base, flat, packed, last, pos = first - 4, r, r[3], done + 3, 4
      chunk_failed, chunk_err = done < count, r[2]
      set_stop()
    end
  end

  -- A watcher (futures.progress) sees the slow path only, about once a
  -- chunk: hook(i) as item i is yielded, hook(n, false, true) at the end
  -- (n items), hook(nil, true) as an error leaves the iterator. Without
  -- one, the cost is one upvalue test a chunk.
  local hook
  local function after_slow(ok, i, ...)
    if not ok then
      hook(nil, true)
      error(i, 0)
    end
    if i == nil then hook(nextindex - 1, false, true) else hook(i) end
    return i, ...
  end

  local function iterate()
    local p = pos
    if p <= stop then
      pos = p + 1
      return base + p, flat[p]
    end
    if hook then return after_slow(pcall(slow)) end
    return slow()
  end

  -- watch(fn): set the hook; returns position(), the index of the last
  -- item yielded by the fast path (nil outside a chunk's results).
  local function watch(fn)
    hook = fn
    return function() return flat and base + pos - 1 or nil end
  end

  fill(0)
  if submit_err then
    cancel_all()
    error(submit_err, 2)
  end
  closer = setmetatable({}, closer_mt)
  local total   -- known when every sequence is a table
  for k = 1, nseqs do
    if type(seqs[k]) ~= "table" then total = nil break end
    total = math.min(total or compat.maxinteger, #seqs[k])
  end
  iterators[iterate] = {total = total, closing = closer, watch = watch}
  return iterate, nil, nil, closer
end

return map
