--- concurrent._runnable: the class code that Thread and Process share
-- (both take {target=, args=, name=, daemon=}, are subclassed with
-- extend, and call target(table.unpack(args)) in run). Internal.
local core = require "concurrent.core"

local runnable = {}

local KNOWN = {target = true, args = true, name = true, daemon = true}

-- The library's one rule (C's too): a function, or a value whose
-- metatable has a __call function.
runnable.callable = core.callable

--- Check opts for the constructor called `what` and set the instance's
-- fields. `level` is the error level of the user's call.
function runnable.apply(self, opts, what, level)
  local function bad(msg)
    error(("bad argument #1 to '%s' (%s)"):format(what, msg), level + 1)
  end
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then bad(("table expected, got %s"):format(type(opts))) end
  for k in pairs(opts) do
    if not KNOWN[k] then bad(("unknown option '%s'"):format(tostring(k))) end
  end
  if opts.target ~= nil and not core.callable(opts.target) then bad("target must be a function") end
  if opts.args ~= nil and type(opts.args) ~= "table" then bad("args must be a table") end
  local name = opts.name
  if name ~= nil and type(name) ~= "string" then
    if type(name) ~= "number" then bad("name must be a string") end
    name = tostring(name)
  end
  if opts.daemon ~= nil and type(opts.daemon) ~= "boolean" then bad("daemon must be a boolean") end
  rawset(self, "_target", opts.target)
  rawset(self, "_args", opts.args)
  rawset(self, "name", name)
  rawset(self, "daemon", opts.daemon or false)
end

--- At the top of start: raise `message` at start's caller if self was
-- started already, and name self if a subclass's init left no name.
function runnable.before_start(self, message, next_name)
  if rawget(self, "_handle") ~= nil then error(message, 3) end
  if rawget(self, "name") == nil then rawset(self, "name", next_name()) end
end

--- runnable.class(name, next_name, index_of) -> a base class: calling it
-- (or a subclass made with cls:extend) makes an instance, calls its init,
-- then names it next_name() if init left no name. index_of(cls) is the
-- __index of cls's instances (cls itself, or a function over it).
function runnable.class(name, next_name, index_of)
  local base = {__name = name}
  local function new(cls, ...)
    local self = setmetatable({}, cls)
    self:init(...)
    if rawget(self, "name") == nil then rawset(self, "name", next_name()) end
    return self
  end
  base.__index = index_of(base)
  base.__call = new                 -- subclasses: their metatable is base
  setmetatable(base, {__call = new})

  --- The base class's init: Class{target=fn, args={...}, name=, daemon=}.
  -- Subclasses need not call it (Python's super().__init__ is done for
  -- them: the name is set after init, and run() is theirs).
  function base:init(opts)
    runnable.apply(self, opts, name, 4)
  end

  --- Class:extend([methods]) -> a subclass. Its metamethods are copied,
  -- so instances print and compare like their parent's.
  function base:extend(methods)
    local cls = {}
    for k, v in pairs(self) do
      if type(k) == "string" and k:sub(1, 2) == "__" then cls[k] = v end
    end
    if methods ~= nil then
      if type(methods) ~= "table" then
        error(("bad argument #1 to 'extend' (table expected, got %s)"):format(type(methods)), 2)
      end
      for k, v in pairs(methods) do cls[k] = v end
    end
    cls.__index = index_of(cls)
    return setmetatable(cls, self)
  end

  --- Runs in the new thread or child: target(table.unpack(args)).
  -- Override it.
  function base:run()
    local target = rawget(self, "_target")
    if target ~= nil then
      local args = rawget(self, "_args") or {}
      target(table.unpack(args, 1, args.n or #args))
    end
  end

  return base
end

return runnable
