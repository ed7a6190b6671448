--- run.lua: run Lua scripts with concurrent.trace recording, one trace
-- for them all (make trace-demo runs the seed's as_completed and map
-- programs this way).
--
--   lua5.4 examples/trace/run.lua OUT.json script.lua [script.lua ...]
--
-- Each script runs as `lua5.4 script.lua` would run it (arg[0] is its
-- path), one after the other in this process; the trace is written when
-- the last one returns. Shut executors down in the scripts (the seed's
-- programs do) so that every task has ended by then.
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
pcall(dofile, here .. "/../_path.lua")   -- the library of this checkout

local out = arg[1]
if not out or #arg < 2 then
  io.stderr:write("usage: lua5.4 examples/trace/run.lua OUT.json script.lua [script.lua ...]\n")
  os.exit(2)
end
local scripts = {(table.unpack or unpack)(arg, 2)}   -- 5.1: unpack

local trace = require "concurrent.trace"
trace.start{path = out}
for _, script in ipairs(scripts) do
  local chunk = assert(loadfile(script))
  arg = {[0] = script}
  chunk()
end
local tasks, dropped = trace.stop()
io.stderr:write(("trace: %d tasks (%d dropped) in %s\n"):format(tasks, dropped, out))
