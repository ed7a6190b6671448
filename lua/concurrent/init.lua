--- concurrent: time and system helpers shared by the other modules.
-- The executors live in concurrent.futures, threads and shared objects in
-- concurrent.thread, processes in concurrent.process.
local core = require "concurrent.core"

return {
  sleep = core.sleep,         -- sleep(seconds)
  interrupted = core.interrupted, -- in a task: was it asked to stop?
  monotonic = core.monotonic, -- seconds on a monotonic clock, as a float
  cpu_count = core.cpu_count,
  slice = core.slice,         -- slice(t [, i [, j]]): crosses as t[i..j]
  _VERSION = core._VERSION,
}
