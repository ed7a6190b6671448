-- goals.lua -- the goals of the performance issue, per workload, and the
-- peers' names: report.lua checks them, charts.lua draws them.
-- max/min bound our median; peer/ratio ask for peer median / our median
-- >= ratio (ratio of speeds, same run).
return {
  GOALS = {
    {w = "A", unit = "us/task", max = 0.65, peer = "luv", ratio = 2},
    {w = "A'", unit = "us/item", max = 0.2, peer = "python-process", ratio = 2},
    {w = "A''", unit = "us/thread", max = 50},
    {w = "B", unit = "x", min = 1.95},
    {w = "C", unit = "ms", max = 2.5, peer = "python-pickle", ratio = 4},
    {w = "C'", unit = "ms", max = 7, peer = "python-pickle", ratio = 2},
    {w = "D", unit = "ms", max = 0.15},
    {w = "require", unit = "ms", max = 1},
    {w = "M", unit = "MB", max = 15},
    {w = "I", unit = "ms", max = 2},
    {w = "I'", unit = "ms", max = 0.5},
    {w = "I''", unit = "ms", max = 0.5},
  },
  PEERS = {"python-thread", "python-process", "python-pickle", "luv"},
  FLOOR = "api-floor",
  OURS = "concurrent",
}
