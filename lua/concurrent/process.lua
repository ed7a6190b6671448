--- concurrent.process: processes (Python's multiprocessing.Process) and
-- the ProcessPoolExecutor behind futures.ProcessPoolExecutor.
--
-- A Process forks: the child goes on with a copy of the parent's memory,
-- so the target, its upvalues and the globals are simply there, and what
-- the child changes stays in the child. It runs target(table.unpack(args))
-- (or the subclass's run) and exits with 0, with 1 after printing the
-- error and its traceback to stderr, or with n if it calls os.exit(n).
--
-- A ProcessPoolExecutor's workers are forked processes too, but each runs
-- a fresh Lua state (as a thread worker does): functions and values cross
-- by copy, as for threads, and the library's shared objects cannot cross.
local core = require "concurrent.core"
local options = require "concurrent._options"
local runnable = require "concurrent._runnable"
local futures = require "concurrent.futures"

local process = {}

process.getpid = core.getpid
process.cpu_count = core.cpu_count

local SIGTERM, SIGKILL = 15, 9

-- Process ---------------------------------------------------------------------

--- Process{target=, args=, name=, daemon=}, or a subclass made with
-- Process:extend() (concurrent._runnable: init, extend and run).

-- Instances look up their class, except `exitcode`, which is read from
-- the child's status each time (nil while it runs).
local function instance_index(cls)
  return function(self, k)
    if k == "exitcode" then
      local h = rawget(self, "_handle")
      if h == nil then return nil end
      local _, code = h:status()
      return code
    end
    return cls[k]
  end
end

local seq = 0
local function next_name()
  seq = seq + 1
  return "Process-" .. seq
end
local Process = runnable.class("Process", next_name, instance_index)

local check_self = options.check_self

--- Fork; the child calls self:run() and exits. Once only.
function Process:start()
  check_self(self, Process, "start", 2)
  runnable.before_start(self, "a process can only be started once", next_name)
  local ok, h = pcall(core.process_start, function() self:run() end,
                      tostring(self.name), self.daemon and true or false)
  if not ok then error(h, 2) end
  rawset(self, "_handle", h)
  rawset(self, "pid", h:pid())
end

local function handle(self, what)
  check_self(self, Process, what, 3)
  local h = rawget(self, "_handle")
  if h == nil then error(("cannot %s a process before it is started"):format(what), 3) end
  return h
end

--- join([timeout]) -> true once the child has ended, false on timeout.
function Process:join(timeout)
  return handle(self, "join"):join(timeout)
end

function Process:is_alive()
  check_self(self, Process, "is_alive", 2)
  local h = rawget(self, "_handle")
  if h == nil then return false end
  return (h:status())
end

--- SIGTERM; nothing if the child has already ended and been reaped.
function Process:terminate()
  handle(self, "terminate"):signal(SIGTERM)
end

--- SIGKILL; nothing if the child has already ended and been reaped.
function Process:kill()
  handle(self, "kill"):signal(SIGKILL)
end

function Process:__tostring()
  local h = rawget(self, "_handle")
  local status = "initial"
  if h ~= nil then
    local alive, code = h:status()
    status = alive and ("started pid=" .. h:pid())
      or ("stopped exitcode=" .. tostring(code))
  end
  if self.daemon then status = status .. " daemon" end
  return ("<%s(%s, %s)>"):format(rawget(getmetatable(self), "__name") or "Process",
    tostring(self.name), status)
end

process.Process = Process

-- ProcessPoolExecutor ---------------------------------------------------------

core.ProcessPoolExecutor_class.map = futures._map
core.ProcessPoolExecutor_class.close = core.ProcessPoolExecutor_class.__close

local POOL_OPTIONS = {max_workers = true, initializer = true, initargs = true,
                      max_tasks_per_child = true}

--- The body of futures.ProcessPoolExecutor([max_workers]) and
-- futures.ProcessPoolExecutor{max_workers=, initializer=, initargs=}.
-- level is the error level of the caller's call (as for error()).
function process._pool_executor(opts, level)
  level = (level or 1) + 1
  local max_workers, initializer, initargs, max_tasks
  if type(opts) == "table" then
    for k in pairs(opts) do
      if not POOL_OPTIONS[k] then
        error(("bad argument #1 to 'ProcessPoolExecutor' (unknown option '%s')"):format(tostring(k)), level)
      end
    end
    max_workers, initializer, initargs = opts.max_workers, opts.initializer, opts.initargs
    max_tasks = futures._check_max_tasks(opts.max_tasks_per_child, "max_tasks_per_child",
                                         "ProcessPoolExecutor", level)
  else
    max_workers = opts
  end
  if max_workers == nil then
    max_workers = core.cpu_count()       -- Python's default for processes
  else
    local ok, n = pcall(futures._check_max_workers, max_workers, "ProcessPoolExecutor")
    if not ok then
      error((tostring(n):gsub("^[^\n]-:%d+: ", "")), level)
    end
    max_workers = n
  end
  if initializer ~= nil and not core.callable(initializer) then
    error("bad argument #1 to 'ProcessPoolExecutor' (initializer must be a function)", level)
  end
  if initargs ~= nil and type(initargs) ~= "table" then
    error("bad argument #1 to 'ProcessPoolExecutor' (initargs must be a table)", level)
  end
  local ok, ex = pcall(core.process_pool, max_workers, initializer, initargs, max_tasks)
  if not ok then error(ex, level) end
  return ex
end

return process
