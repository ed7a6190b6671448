--- concurrent.trace: task timelines of every executor of the process, as
-- Chrome trace-event JSON (open it in Perfetto or chrome://tracing).
--
--   local trace = require "concurrent.trace"
--   trace.start{path = "trace.json"}       -- or trace.start("trace.json")
--   ...                                    -- submit, map, as_completed
--   local tasks, dropped = trace.stop()    -- writes trace.json
--
-- The recording is the process's (csrc/core/trace.c): every thread pool
-- and process pool, whichever Lua state submits. Off, it costs the pools
-- one relaxed atomic load per task. A forked child (Process, a process
-- pool's worker) starts with tracing off and never writes its parent's
-- file; it may start a recording of its own.
local core = require "concurrent.core"
local compat = require "concurrent._compat"

local trace = {}

local OPTIONS = {path = true, max_events = true}
local DEFAULT_MAX_EVENTS = 1000000

local function bad(msg)
  error("bad argument #1 to 'trace.start' (" .. msg .. ")", 3)
end

--- start{path = "trace.json" [, max_events = 1000000]} or start(path):
-- opens path now (an unwritable path raises, and nothing starts) and
-- records until stop(). Past max_events tasks, later ones are counted as
-- dropped, not recorded (48 bytes a task while recording).
function trace.start(opts)
  if type(opts) == "string" then opts = {path = opts} end
  if type(opts) ~= "table" then
    bad("table {path = ...} or path string expected, got " .. type(opts))
  end
  for k in pairs(opts) do
    if not OPTIONS[k] then bad("unknown option '" .. tostring(k) .. "'") end
  end
  local path, max = opts.path, opts.max_events
  if type(path) ~= "string" or path == "" then
    bad("path must be a non-empty string, got " .. (path == "" and "\"\"" or type(path)))
  end
  if max == nil then
    max = DEFAULT_MAX_EVENTS
  elseif not compat.isinteger(max) or max <= 0 then
    bad("max_events must be a positive integer, got " .. tostring(max))
  end
  core.trace_start(path, max)
  trace.path = path
end

--- stop() -> tasks written, tasks dropped. Writes the file given to start.
-- Tasks still queued or running are written as "unfinished", up to now:
-- shut the executors down first for complete records.
function trace.stop()
  local n, dropped = core.trace_stop()
  trace.path = nil
  return n, dropped
end

--- active() -> boolean: is this process recording?
function trace.active()
  return core.trace_active()
end

return trace
