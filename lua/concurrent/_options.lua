--- concurrent._options: the option checks that Thread and Process share
-- (both take {target=, args=, name=, daemon=}). Internal.
local core = require "concurrent.core"

local options = {}

local KNOWN = {target = true, args = true, name = true, daemon = true}

-- The library's one rule (C's too): a function, or a value whose
-- metatable has a __call function.
options.callable = core.callable

-- An error in the user's call (`level`) to the constructor `what`.
local function bad(what, level, msg)
  error(("bad argument #1 to '%s' (%s)"):format(what, msg), level + 1)
end

--- Check opts for the constructor called `what` and set the instance's
-- fields. `level` is the error level of the user's call.
function options.apply(self, opts, what, level)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then bad(what, level, ("table expected, got %s"):format(type(opts))) end
  for k in pairs(opts) do
    if not KNOWN[k] then bad(what, level, ("unknown option '%s'"):format(tostring(k))) end
  end
  if opts.target ~= nil and not options.callable(opts.target) then bad(what, level, "target must be a function") end
  if opts.args ~= nil and type(opts.args) ~= "table" then bad(what, level, "args must be a table") end
  local name = opts.name
  if name ~= nil and type(name) ~= "string" then
    if type(name) ~= "number" then bad(what, level, "name must be a string") end
    name = tostring(name)
  end
  if opts.daemon ~= nil and type(opts.daemon) ~= "boolean" then bad(what, level, "daemon must be a boolean") end
  rawset(self, "_target", opts.target)
  rawset(self, "_args", opts.args)
  rawset(self, "name", name)
  rawset(self, "daemon", opts.daemon or false)
end

--- Check that self, the first argument of method `fname`, is an instance
-- of class (or of a subclass): `Thread.start({})` or a `.` for a `:` is
-- an argument error, not a thread that fails later. `level` as in error().
function options.check_self(self, class, fname, level)
  local mt = type(self) == "table" and getmetatable(self)
  while type(mt) == "table" do
    if rawequal(mt, class) then return self end
    mt = getmetatable(mt)
  end
  error(("bad argument #1 to '%s' (%s expected, got %s)"):format(fname,
    rawget(class, "__name"), type(self)), level + 1)
end

return options
