--- Shared tolerances and factories for the specs.
local futures = require "concurrent.futures"

local helpers = {}

-- Timing margins: these machines are noisy, so lower bounds are a little
-- under the sleep and upper bounds are generous.
helpers.EARLY = 0.8     -- a wait of t returns after at least t * EARLY
helpers.LATE = 5.0      -- ... and before t + LATE seconds

--- A ThreadPoolExecutor to use with <close>.
function helpers.pool(n)
  return futures.ThreadPoolExecutor(n or 2)
end

--- Send values to a worker and back (an echo task).
function helpers.roundtrip(ex, ...)
  return ex:submit(function(...) return ... end, ...):result()
end

--- The error raised by fn(...), which must fail.
function helpers.error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  return err
end

return helpers
