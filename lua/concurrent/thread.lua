--- concurrent.thread: native threads and the shared objects that make
-- shared state safe between them (Python's threading and queue).
--
-- Every thread runs in a Lua state of its own: a Thread's instance (with
-- its class's methods) is copied into the new thread's state, and run()
-- is called there (a Thread whose run is the base one sends only its
-- target and args, and the target is called directly). Lua states share no memory, so state shared between
-- threads lives in the objects below, which are C objects used by
-- reference from every state they are sent to: Lock, RLock, Condition,
-- Semaphore, BoundedSemaphore, Event, Barrier, Queue, Value, Dict.
local core = require "concurrent.core"
local options = require "concurrent._options"
local runnable = require "concurrent._runnable"

local thread = {}

for _, name in ipairs{"Lock", "RLock", "Condition", "Semaphore",
                      "BoundedSemaphore", "Event", "Barrier", "Queue",
                      "Value", "Dict", "get_ident"} do
  thread[name] = core[name]
end

-- The error classes raised by Queue and Barrier (the same tables as the
-- core's, so futures.iserror knows them).
thread.Empty = core.Empty
thread.Full = core.Full
thread.BrokenBarrierError = core.BrokenBarrierError
thread.TimeoutError = core.TimeoutError

-- Thread --------------------------------------------------------------------

--- Thread{target=, args=, name=, daemon=}, or a subclass made with
-- Thread:extend() (concurrent._runnable: init, extend and run).
local function next_name() return "Thread-" .. core.thread_seq() end
local Thread = runnable.class("Thread", next_name, function(cls) return cls end)

local base_run = Thread.run
local check_self = options.check_self
local getupvalue = debug and debug.getupvalue

-- Whether the target or args name the instance itself (directly): then
-- the instance must cross as self, so that the copy the target sees is
-- the one whose ident is set.
local function names_self(self)
  local target, args = rawget(self, "_target"), rawget(self, "_args")
  if rawequal(target, self) then return true end
  if type(target) == "function" and getupvalue then
    local i = 1
    while true do
      local k, v = getupvalue(target, i)
      if k == nil then break end
      if rawequal(v, self) then return true end
      i = i + 1
    end
  end
  if type(args) == "table" then
    for _, v in next, args do
      if rawequal(v, self) then return true end
    end
  end
  return false
end

--- Start the thread: copies self (with its class) into a new thread's Lua
-- state and calls self:run() there. Once only. When run is the base
-- class's, only the target and its args are copied and called directly
-- (the same work, without sending the class chain, whose methods need
-- this module in the new state).
function Thread:start()
  check_self(self, Thread, "start", 2)
  runnable.before_start(self, "threads can only be started once", next_name)
  local h = core.ThreadHandle()
  rawset(self, "_handle", h)
  local direct = self.run == base_run and not names_self(self)
  local ok, ident = pcall(h.start, h, self, tostring(self.name), self.daemon,
                          direct)
  if not ok then
    rawset(self, "_handle", nil)          -- nothing started: may try again
    error(ident, 2)
  end
  rawset(self, "ident", ident)
end

--- join([timeout]) -> true once the thread has ended, false on timeout.
function Thread:join(timeout)
  check_self(self, Thread, "join", 2)
  local h = rawget(self, "_handle")
  if h == nil then error("cannot join thread before it is started", 2) end
  return h:join(timeout)
end

--- interrupt() -> true if the thread runs and is now asked to stop: its
-- blocking calls raise, and its Lua code is stopped by a hook.
function Thread:interrupt()
  check_self(self, Thread, "interrupt", 2)
  local h = rawget(self, "_handle")
  if h == nil then return false end
  return h:interrupt()
end

function Thread:is_alive()
  check_self(self, Thread, "is_alive", 2)
  local h = rawget(self, "_handle")
  return h ~= nil and h:is_alive()
end

function Thread:__tostring()
  local h = rawget(self, "_handle")
  local status = "initial"
  if h ~= nil then
    status = (h:is_alive() and "started " or "stopped ") .. tostring(h:ident())
  end
  if self.daemon then status = status .. " daemon" end
  return ("<%s(%s, %s)>"):format(rawget(getmetatable(self), "__name") or "Thread",
    tostring(self.name), status)
end

thread.Thread = Thread

return thread
