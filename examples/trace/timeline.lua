--- timeline.lua: a concurrent.trace file as a picture, without a browser:
-- one row per worker, one bar per task (coloured by outcome, named), and
-- under it a thin shaded strip for the time it waited in the queue (from
-- submit to start: the worker was busy with earlier tasks, or not yet
-- made). Draws with gnuplot.
--
--   lua5.4 examples/trace/timeline.lua TRACE.json OUT.png ["title"]
--
-- Writes OUT.png (and OUT.png.dat, OUT.png.gp: the data and the gnuplot
-- script, to tweak by hand). Exits 0 with a message, drawing nothing,
-- when gnuplot is not installed.
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local decode = dofile(here .. "/../../bench/jsonl.lua").decode

local input, output, title = arg[1], arg[2], arg[3]
if not input or not output then
  io.stderr:write("usage: lua5.4 examples/trace/timeline.lua TRACE.json OUT.png [title]\n")
  os.exit(2)
end
if not os.execute("command -v gnuplot >/dev/null 2>&1") then
  io.stderr:write("timeline: gnuplot not found (apt-get install gnuplot-nox): no picture drawn\n")
  os.exit(0)
end

local fh = assert(io.open(input))
local doc = decode(fh:read("*a"))
fh:close()

-- Rows: executors in their sort order, workers in theirs, the row of
-- tasks that never ran last in each executor.
local exec_name, exec_sort, row_name, row_sort = {}, {}, {}, {}
local tasks = {}
for _, e in ipairs(doc.traceEvents) do
  local key = e.pid .. ":" .. e.tid
  if e.ph == "M" and e.name == "process_name" then exec_name[e.pid] = e.args.name
  elseif e.ph == "M" and e.name == "process_sort_index" then exec_sort[e.pid] = e.args.sort_index
  elseif e.ph == "M" and e.name == "thread_name" then row_name[key] = e.args.name
  elseif e.ph == "M" and e.name == "thread_sort_index" then row_sort[key] = e.args.sort_index
  elseif e.ph == "X" then tasks[#tasks + 1] = e end
end
local rows, row_of = {}, {}
for _, t in ipairs(tasks) do
  local key = t.pid .. ":" .. t.tid
  if not row_of[key] then
    row_of[key] = true
    rows[#rows + 1] = {key = key, pid = t.pid, sort = row_sort[key] or math.huge,
      label = (exec_name[t.pid] or ("executor " .. t.pid)) .. "  " ..
              (row_name[key] or ("worker " .. t.tid)):gsub(" %(.*%)$", "")}
  end
end
table.sort(rows, function(a, b)
  local ea, eb = exec_sort[a.pid] or a.pid, exec_sort[b.pid] or b.pid
  if ea ~= eb then return ea < eb end
  return a.sort < b.sort
end)
for i, r in ipairs(rows) do row_of[r.key] = i end

local OUTCOME = {ok = 1, error = 2, cancelled = 3, broken = 3, unfinished = 4}
local dat = assert(io.open(output .. ".dat", "w"))
local tmax = 0
for _, t in ipairs(tasks) do
  local a = t.args
  local y = row_of[t.pid .. ":" .. t.tid]
  local submit, start = a.submit_us / 1e3, t.ts / 1e3
  local stop = (t.ts + t.dur) / 1e3
  if not a.ran then start = stop end   -- it only waited
  tmax = math.max(tmax, stop)
  dat:write(("%d %.3f %.3f %.3f %d \"%s\"\n"):format(y, submit, start, stop,
    OUTCOME[a.outcome] or 4, t.name))
end
dat:close()

local ytics = {}
for i, r in ipairs(rows) do ytics[i] = ("%q %d"):format(r.label, i) end
local height = 150 + 56 * #rows
local gp = assert(io.open(output .. ".gp", "w"))
gp:write(([[
set terminal pngcairo size 1000,%d font "DejaVu Sans,10" noenhanced
set output %q
set title %q
set xlabel "milliseconds since trace.start"
set xrange [0:%g]
set yrange [%g:0.4]
set ytics (%s) nomirror
set xtics nomirror
set grid xtics lc rgb "#dddddd"
set border 3
set key below center horizontal samplen 2 width 1
set style fill solid 1.0 border rgb "white"
d = %q
plot \
  d using (($2+$3)/2):1:2:3:($1+0.24):($1+0.40) with boxxyerror lc rgb "#f0c060" title "queued (submit to start)", \
  d using (($3+$4)/2):($5==1?$1:1/0):3:4:($1-0.34):($1+0.18) with boxxyerror lc rgb "#0072b2" title "ran: ok", \
  d using (($3+$4)/2):($5==2?$1:1/0):3:4:($1-0.34):($1+0.18) with boxxyerror lc rgb "#d55e00" title "ran: error", \
  d using (($3+$4)/2):($5==3?$1:1/0):3:4:($1-0.34):($1+0.18) with boxxyerror lc rgb "#999999" title "cancelled", \
  d using (($3+$4)/2):($5==4?$1:1/0):3:4:($1-0.34):($1+0.18) with boxxyerror lc rgb "#cc79a7" title "unfinished at stop", \
  d using (($3+$4)/2):($1-0.08):6 with labels tc rgb "white" font ",9" notitle
]]):format(height, output, title or ("concurrent.trace: " .. input), tmax * 1.02,
  #rows + 0.6, table.concat(ytics, ", "), output .. ".dat"))
gp:close()
local ok = os.execute("gnuplot " .. ("%q"):format(output .. ".gp"))
if not ok then
  io.stderr:write("timeline: gnuplot failed on " .. output .. ".gp\n")
  os.exit(1)
end
io.stderr:write(("timeline: %d tasks on %d rows -> %s\n"):format(#tasks, #rows, output))
