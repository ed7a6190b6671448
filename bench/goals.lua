-- goals.lua -- the goals of the performance issue (issue 19), per
-- workload, and the peers' names: report.lua checks them, charts.lua draws
-- them. max/min bound our median; peer/ratio ask for peer median / our
-- median >= ratio (ratio of speeds, same run); floor asks for our median /
-- the floor's (same run, floor_of) <= floor; info names a peer whose ratio
-- is shown without a goal; neither max nor min: a figure, no goal.
local M = {
  GOALS = {
    {w = "A", unit = "us/task", max = 0.65, peer = "luv", ratio = 3},
    {w = "A'", unit = "us/item", max = 0.2, peer = "python-process", ratio = 2},
    {w = "A''", unit = "us/thread", floor = 1.25},
    {w = "B", unit = "x", min = 1.95},
    {w = "C", unit = "ms", floor = 1.25, info = "python-pickle"},
    {w = "C'", unit = "ms", floor = 1.25, peer = "python-pickle", ratio = 1},
    {w = "P", unit = "ms"},   -- no goal: shown against plain tables (notes)
    {w = "D", unit = "ms", floor = 1.25},
    {w = "require", unit = "ms", max = 1},
    {w = "M", unit = "MB", max = 15},
    -- S: serial merge sort of 1M integers / the same sort by recursive
    -- submit on 2 workers, same run (issue 18; bench/ours.lua's header)
    {w = "S", unit = "x", min = 1.7},
    {w = "F", unit = "x", min = 1.7},
    {w = "wake", unit = "us", max = 50},
    {w = "frame", unit = "ms", max = 4},
    {w = "Mspawn", unit = "bytes"},   -- a figure to report, no goal
    {w = "I", unit = "ms", max = 2},
    {w = "I'", unit = "ms", max = 0.5},
    {w = "I''", unit = "ms", max = 0.5},
  },
  PEERS = {"python-thread", "python-process", "python-pickle", "luv"},
  FLOOR = "api-floor",
  OURS = "concurrent",
}

--- floor_of(w, m, rec): the floor a goal is measured against, from the
-- floor's record rec (median m): for C the fastest lua_next reader of
-- floor.c (an encoder cannot tell where a table's array part ends, so it
-- reads every pair: the issue's yardstick); for A'' and D the lower of its
-- two allocators' medians (as floor.c picks within one process); else m.
function M.floor_of(w, m, rec)
  local p = rec and type(rec.params) == "table" and rec.params or {}
  if w == "C" then
    local best
    for name, ms in pairs(type(p.variants_ms) == "table" and p.variants_ms or {}) do
      if name:match("^next") and (not best or ms < best) then best = ms end
    end
    return best or m
  end
  local a, b
  if w == "A''" then a, b = p.malloc_us, p.region_us
  elseif w == "D" then a, b = p.malloc_ms, p.region_ms end
  if type(a) == "number" and type(b) == "number" then return math.min(a, b) end
  return m
end

return M
