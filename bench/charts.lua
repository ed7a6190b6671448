--[[
charts.lua -- one chart per workload from the benchmark's JSON lines:
ours, the floor and the peers side by side (medians as bars, written under
each name, the spread of the runs as whiskers, the goal as a dashed line).
Drawn with gnuplot.

  lua5.4 bench/charts.lua RESULTS.jsonl OUTDIR

Writes OUTDIR/<workload>.png (A.png, Ap.png, App.png, B.png, C.png,
Cp.png, P.png, D.png, require.png, M.png, S.png, F.png, wake.png,
frame.png, Mspawn.png, I.png, Ip.png, Ipp.png) for the workloads the file
has; a figure with no goal (P, Mspawn) has no goal line. A
workload whose figures span more than 30x is drawn on a log scale.
bench/run.sh calls it after the table (BENCH_CHARTS names OUTDIR: default
bench/charts, whose images bench/README.md shows; "none" draws nothing).
--]]

local BENCH_DIR = arg[0]:match("^(.*)/[^/]*$") or "."
local jsonl = dofile(BENCH_DIR .. "/jsonl.lua")
local goals = dofile(BENCH_DIR .. "/goals.lua")

local input, outdir = arg[1], arg[2]
if not input or not outdir then
  io.stderr:write("usage: lua5.4 bench/charts.lua RESULTS.jsonl OUTDIR\n")
  os.exit(2)
end
if not os.execute("command -v gnuplot >/dev/null 2>&1") then
  io.stderr:write("bench: gnuplot not found (apt-get install gnuplot-nox): no charts\n")
  os.exit(0)
end

local SLUG = {["A'"] = "Ap", ["A''"] = "App", ["C'"] = "Cp", ["I'"] = "Ip", ["I''"] = "Ipp"}
local WHAT = {
  A = "100,000 tasks x + 1, submit all then result each",
  ["A'"] = "map over 1,000,000 items, chunksize 1000",
  ["A''"] = "Thread start + join",
  B = "primes, speedup on 2 workers",
  C = "round trip of 100,000 integers",
  ["C'"] = "round trip of 10,000 records",
  D = "pool of 2: make, 2 tasks, shut down",
  require = 'require "concurrent.futures"',
  M = "RSS of 100,000 pending futures",
  S = "merge sort of 1M by recursive submit, 2 workers",
  F = "fib(30) by recursive submit (cutoff 20), 2 workers",
  wake = "a worker's task done -> luv's fd handler ran its callback",
  frame = "worst 60 fps frame, 1,000 spawned coroutines in flight",
  Mspawn = "RSS per suspended spawned coroutine",
  P = "round trip of 10,000 Points by __reduce",
  I = "f:interrupt() of a pure Lua loop, until result() raises",
  ["I'"] = "f:interrupt() of a task blocked in Queue:get()",
  ["I''"] = "f:interrupt() of a task in concurrent.sleep(60)",
}
-- Columns, left to right, with their bar colours.
local COLUMNS = {
  {peer = goals.OURS, label = "concurrent", colour = 0x0072b2},
  {peer = goals.FLOOR, label = "floor (C API)", colour = 0x999999},
  {peer = "python-thread", label = "Python threads", colour = 0xe69f00},
  {peer = "python-process", label = "Python processes", colour = 0xd55e00},
  {peer = "python-pickle", label = "pickle only", colour = 0xcc79a7},
  {peer = "luv", label = "luv", colour = 0x009e73},
}

local _, by = jsonl.read(input)

os.execute(("mkdir -p %q"):format(outdir))
local drawn = {}
for _, g in ipairs(goals.GOALS) do
  local rows = {}
  local lo, hi = math.huge, 0
  for _, c in ipairs(COLUMNS) do
    local r = by[c.peer .. "|" .. g.w]
    if r and r.median then
      local mn, mx = r.median, r.median
      for _, v in ipairs(type(r.runs) == "table" and r.runs or {}) do
        if type(v) == "number" then mn, mx = math.min(mn, v), math.max(mx, v) end
      end
      rows[#rows + 1] = {c.label, r.median, mn, mx, c.colour}
      lo, hi = math.min(lo, mn), math.max(hi, mx)
    end
  end
  if #rows > 0 then
    local slug = SLUG[g.w] or g.w
    local base = outdir .. "/" .. slug
    local dat = assert(io.open(base .. ".dat", "w"))
    for _, row in ipairs(rows) do
      dat:write(("%q %.6g %.6g %.6g %d\n"):format(table.unpack(row)))
    end
    dat:close()
    -- A goal relative to the floor is drawn at that multiple of the floor.
    local fr = by[goals.FLOOR .. "|" .. g.w]
    local fm = g.floor and fr and goals.floor_of(g.w, fr.median, fr)
    local goal = g.max or g.min or (fm and fm * g.floor) or 0
    local goal_txt = g.floor and ("goal <= %gx floor"):format(g.floor)
                     or "goal " .. (g.max and "<= " or ">= ") .. goal
    lo, hi = math.min(lo, goal > 0 and goal or lo), math.max(hi, goal)
    local logy = lo > 0 and hi / lo > 30
    local better = g.min and "higher is better" or "lower is better"
    local gp = assert(io.open(base .. ".gp", "w"))
    gp:write(([[
set terminal pngcairo size 560,350 font "DejaVu Sans,9" noenhanced
set output %q
set title %q
set ylabel %q
set style fill solid 0.9 border rgb "white"
set boxwidth 0.65
set xrange [-0.6:%g]
%s
set xtics nomirror scale 0
set bmargin 4
set ytics nomirror
set border 3
set grid ytics lc rgb "#e0e0e0"
set key top right
d = %q
plot d using 0:2:5:xtic(sprintf("%%s\n%%.3g", strcol(1), $2)) with boxes lc rgb variable notitle, \
     d using 0:3:(0):($4-$3) with vectors nohead lc rgb "#404040" notitle%s
]]):format(base .. ".png", g.w .. ": " .. WHAT[g.w] .. " (" .. better .. ")",
      g.unit, #rows - 0.4,
      logy and ("set logscale y\nset yrange [%g:%g]"):format(lo / 2, hi * 4)
           or ("set yrange [0:%g]"):format(hi * 1.25),
      base .. ".dat", goal > 0 and (', \\\n     %g with lines dt 2 lw 1.5 lc rgb "#c00000" title %q'):format(
        goal, goal_txt) or ""))
    gp:close()
    if os.execute(("gnuplot %q"):format(base .. ".gp")) then
      drawn[#drawn + 1] = base .. ".png"
    else
      io.stderr:write("bench: gnuplot failed on " .. base .. ".gp\n")
    end
    os.remove(base .. ".dat")
    os.remove(base .. ".gp")
  end
end
io.stderr:write(("bench: %d charts in %s\n"):format(#drawn, outdir))
