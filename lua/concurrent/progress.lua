--- concurrent.progress: futures.progress, a progress line for long
-- as_completed and map loops (loaded on first use by concurrent.futures).
--
--   for f in futures.progress(fs) do ... end                 -- futures
--   for f in futures.progress(futures.as_completed(fs)) do ... end
--   for i, v in futures.progress(ex:map(fn, t)) do ... end
--
-- It yields exactly what it wraps. On a terminal (isatty(2)) it redraws
-- one line on stderr at most ten times a second: done/total, a bar, the
-- rate, the elapsed time, an ETA and the failures so far. Elsewhere it
-- prints a plain line every opts.every percent (10) and at the end;
-- opts.quiet prints nothing; opts.on_progress(done, total, failed) is
-- called instead of drawing (hosts that draw their own bar).
--
-- A map's iterator is returned as it is: map tells progress where it is
-- from its slow path (about once a chunk), so a map loop pays nothing per
-- item. Other iterators get a step per item: one Lua call and a counter;
-- the clock is read only every `stride` items, a stride sized from the
-- rate so that checks come about fifty times a second. An error raised by
-- the wrapped iterator (a map item that failed, as_completed's
-- TimeoutError) is counted as a failure, the line is finished, and the
-- error goes on.
local core = require "concurrent.core"
local futures = require "concurrent.futures"
local compat = require "concurrent._compat"

local monotonic, isatty = core.monotonic, core.isatty
local FUTURE_MT = getmetatable(core.Future())

local OPTIONS = {total = true, every = true, quiet = true, on_progress = true,
                 desc = true, timeout = true}

-- level: 1 + the frames between the caller of wrap and here (wrap is
-- tail-called by futures.progress, so its caller is the user's code).
local function argerror(pos, msg, level)
  error(string.format("bad argument #%d to 'progress' (%s)", pos, msg), level or 3)
end

-- opts when t is a non-empty table whose keys are all option names (as
-- map's options are told from a sequence).
local function is_options(t)
  if type(t) ~= "table" or getmetatable(t) ~= nil or next(t) == nil then return false end
  for k in pairs(t) do
    if not OPTIONS[k] then return false end
  end
  return true
end

local function check_options(opts, pos)
  local argerror = function(p, msg) argerror(p, msg, 5) end
  if opts == nil then return {} end
  if type(opts) ~= "table" then argerror(pos, "options table expected, got " .. type(opts)) end
  for k in pairs(opts) do
    if not OPTIONS[k] then argerror(pos, "unknown option '" .. tostring(k) .. "'") end
  end
  local t = opts.total
  if t ~= nil and (not compat.isinteger(t) or t < 0) then
    argerror(pos, "total must be a non-negative integer, got " .. tostring(t))
  end
  local e = opts.every
  if e ~= nil and (type(e) ~= "number" or not (e > 0 and e <= 100)) then
    argerror(pos, "every must be a percentage in (0, 100], got " .. tostring(e))
  end
  if opts.quiet ~= nil and type(opts.quiet) ~= "boolean" then
    argerror(pos, "quiet must be a boolean, got " .. type(opts.quiet))
  end
  local cb = opts.on_progress
  if cb ~= nil and type(cb) ~= "function" and
      not (type(getmetatable(cb)) == "table" and getmetatable(cb).__call) then
    argerror(pos, "on_progress must be a function, got " .. type(cb))
  end
  if opts.desc ~= nil and type(opts.desc) ~= "string" then
    argerror(pos, "desc must be a string, got " .. type(opts.desc))
  end
  return opts
end

local function clock(s)
  s = math.floor(s + 0.5)
  if s >= 3600 then return string.format("%d:%02d:%02d", math.floor(s / 3600), math.floor(s / 60) % 60, s % 60) end
  return string.format("%d:%02d", math.floor(s / 60), s % 60)
end

local function rate_text(r)
  if r >= 1e6 then return string.format("%.2fM/s", r / 1e6) end
  if r >= 1e4 then return string.format("%.1fk/s", r / 1e3) end
  if r >= 10 then return string.format("%.0f/s", r) end
  return string.format("%.2f/s", r)
end

-- The text of the line (without \r or \n).
local function line(desc, done, total, failed, elapsed, bar)
  local parts = {}
  if desc then parts[#parts + 1] = desc .. ":" end
  local rate = elapsed > 0 and done / elapsed or 0
  if total and total > 0 then
    local frac = math.min(done / total, 1)
    parts[#parts + 1] = string.format("%3d%%", math.floor(frac * 100))
    if bar then
      local width = 24
      local full = math.floor(frac * width)
      parts[#parts + 1] = "[" .. string.rep("=", full) ..
        (full < width and ">" .. string.rep(" ", width - full - 1) or "") .. "]"
    end
    parts[#parts + 1] = string.format("%d/%d", done, total)
  else
    parts[#parts + 1] = tostring(done)
  end
  parts[#parts + 1] = rate_text(rate)
  parts[#parts + 1] = "elapsed " .. clock(elapsed)
  if total and done < total then
    parts[#parts + 1] = "eta " .. (rate > 0 and clock((total - done) / rate) or "?")
  end
  parts[#parts + 1] = failed .. " failed"
  return table.concat(parts, " ")
end

local progress = {}

--- wrap(src [, opts]) or wrap(iter, state, control, closing [, opts]):
-- see the top of this file. Returns a generic-for iterator and a closing
-- value (closing it closes the wrapped one: a break cancels a map).
function progress.wrap(src, ...)
  local n = select("#", ...)
  local iter, state, control, closing, opts, total, futures_mode
  if type(src) == "table" and getmetatable(src) ~= FUTURE_MT then
    opts = check_options(..., 2)
    for i = 1, #src do
      if getmetatable(src[i]) ~= FUTURE_MT then
        argerror(1, string.format("fs[%d] is a %s, not a Future", i, type(src[i])))
      end
    end
    iter, state, control, closing = futures.as_completed(src, opts.timeout)
    futures_mode = true
  elseif type(src) == "function" then
    local last = n >= 1 and select(n, ...) or nil
    if is_options(last) then n = n - 1 else last = nil end
    if n > 3 then argerror(n + 2, "options table expected, got " .. type(select(n, ...))) end
    opts = check_options(last, n + 2)
    if opts.timeout ~= nil then argerror(n + 2, "timeout is an option for a table of futures only") end
    iter = src
    state, control, closing = ...
    if n < 1 then state, control, closing = nil, nil, nil end
  else
    argerror(1, "iterator function or table of futures expected, got " ..
      (getmetatable(src) == FUTURE_MT and "a Future (pass a table of futures)" or type(src)))
  end
  -- What as_completed and map say of their iterators (futures.lua).
  local known = futures._iterators[iter]
  if known then
    total = known.total
    futures_mode = futures_mode or known.futures
    if closing == nil then closing = known.closing end
  end
  total = opts.total or total

  local cb, quiet, desc = opts.on_progress, opts.quiet, opts.desc
  local tty = not cb and not quiet and isatty(2)
  local every = (opts.every or 10) / 100
  local out = io.stderr
  local t0 = monotonic()
  local done, failed = 0, 0
  local next_check, stride = 1, 1
  local last_draw, last_t, last_done = t0, t0, 0
  local next_pct = total and total > 0 and every or nil   -- plain lines
  local in_iter, finished = false, false

  local function emit(final)
    local now = monotonic()
    if cb then
      cb(done, total, failed)
    elseif tty then
      out:write("\r", line(desc, done, total, failed, now - t0, true), "\27[K",
        final and "\n" or "")
      out:flush()
    elseif not quiet then
      out:write(line(desc, done, total, failed, now - t0, false), "\n")
      out:flush()
    end
  end

  -- Called every `stride` items: read the clock, maybe draw, and size
  -- the next stride from the rate (about 20 ms of items).
  local function check()
    local now = monotonic()
    local dt = now - last_t
    if dt > 0 then
      stride = math.max(1, math.floor((done - last_done) / dt * 0.02))
    end
    last_t, last_done = now, done
    if tty or cb then
      if now - last_draw >= 0.1 then
        last_draw = now
        emit(false)
      end
    elseif next_pct and not quiet and done / total >= next_pct - 1e-9 then
      while next_pct and done / total >= next_pct - 1e-9 do
        next_pct = next_pct + every
        if next_pct > 1 + 1e-9 then next_pct = nil end
      end
      if done < total then emit(false) end
    end
    next_check = done + stride
    if next_pct and not tty then
      local at = math.ceil(next_pct * total - 1e-9)
      if at < next_check then next_check = at end
    end
  end

  local function finish()
    if finished then return end
    finished = true
    emit(true)
  end

  -- Closing: finish the line, then close the wrapped iterator as the loop
  -- would have (a break cancels a map's pending items).
  local function close_all(err)
    finish()
    if closing ~= nil then
      local mt = getmetatable(closing)
      local close = mt and mt.__close
      if close then close(closing, err) end
    end
  end

  if known and known.watch then
    -- A map: it calls us from its slow path (about once a chunk), so the
    -- loop runs map's own iterator and pays nothing per item.
    local position
    position = known.watch(function(i, bad, ended)
      if bad then
        done, failed = (position() or done) + 1, failed + 1
        finish()
        return
      end
      done = i
      if ended then finish()
      elseif done >= next_check then check() end
    end)
    local closer = setmetatable({}, {__close = function(_, err)
      if not finished then done = position() or done end
      close_all(err)
    end})
    if tty then emit(false) end
    return iter, state, control, closer
  end

  -- Others: a step per item. An error out of the wrapped iterator (not
  -- out of the loop body: in_iter tells them apart) is seen by the
  -- loop's closing value, without a pcall per item.
  local step
  if futures_mode then   -- one value, a future
    step = function(s, c)
      in_iter = true
      local f = iter(s, c)
      in_iter = false
      if f == nil then finish() return nil end
      done = done + 1
      if not f:cancelled() and select("#", f:exception(0)) > 0 then failed = failed + 1 end
      if done >= next_check then check() end
      return f
    end
  else
    local function after(first, ...)
      in_iter = false
      if first == nil then
        finish()
        return nil
      end
      done = done + 1
      if done >= next_check then check() end
      return first, ...
    end
    step = function(s, c)
      in_iter = true
      return after(iter(s, c))
    end
  end

  local closer = setmetatable({}, {__close = function(_, err)
    if in_iter and err ~= nil then
      in_iter = false
      failed = failed + 1
      if not futures_mode then done = done + 1 end   -- the item that failed
    end
    close_all(err)
  end})
  if tty then emit(false) end
  return step, state, control, closer
end

return progress
