--- spec/stress/late_callbacks.lua -- the contract says "a future that finishes
-- while that state is blocked in such a call has its callbacks run before
-- the call returns". Before 3ea312f the core handed a finished future to
-- waiters before its callbacks were queued, so wait() and as_completed()
-- often returned first (6,345 of 200,000 waits), result() rarely. Run by
-- `make stress` as a regression check; exit 1 if any call returns early.
--   lua5.4 spec/stress/late_callbacks.lua wait|ac|result [--cpath=P]
for _, a in ipairs(arg) do
  local v = a:match("^%-%-cpath=(.*)$")
  if v then package.cpath = v .. ";" .. package.cpath end
end
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
-- The contract (docs/reference.md, "Callbacks and blocking calls"): "a future that finishes while that state is blocked in such a
-- call has its callbacks run before the call returns". Count the times
-- f:result() returns before f's callback has run.
local futures = require "concurrent.futures"
local ex <close> = futures.ThreadPoolExecutor(2)
local late, ran = 0, 0
for i = 1, 200000 do
  local f = ex:submit(function(x) return x end, i)
  local seen = false
  f:add_done_callback(function() seen = true end)
  if arg[1] == "wait" then futures.wait({f}) elseif arg[1] == "ac" then for _ in futures.as_completed({f}) do end else f:result() end
  if not seen then late = late + 1 end
end
print(("%s returned before the callback ran: %d of 200000"):format(arg[1] or "result", late))
os.exit(late == 0 and 0 or 1)
