--- concurrent._runnable: the class code that Thread and Process share
-- (both take {target=, args=, name=, daemon=}, are subclassed with
-- extend, and call target(table.unpack(args)) in run); their options
-- are checked by concurrent._options. Internal.
local options = require "concurrent._options"

local runnable = {}

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
    -- Made at the size of the fields init and start set (nil fields only
    -- size the table): filling an empty one rehashed it four times, a
    -- tenth of what a Thread start costs the starting thread.
    local self = setmetatable({_target = nil, _args = nil, name = nil,
                               daemon = nil, _handle = nil, ident = nil}, cls)
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
    options.apply(self, opts, name, 4)
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
      target((table.unpack or unpack)(args, 1, args.n or #args))  -- 5.1: unpack
    end
  end

  return base
end

return runnable
