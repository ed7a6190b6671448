--[[
report.lua -- the table of the benchmark suite: our medians, the peers'
medians from the same run, and each goal of the performance issue.

  lua5.4 bench/report.lua RESULTS.jsonl [--json OUT.json] [--markdown]

RESULTS.jsonl holds the JSON lines printed by bench/ours.lua, the peers
(bench/peers/*) and the floor (bench/floor/floor.c, peer "api-floor": bare
pthreads and the Lua C API, the least any Lua 5.4 library pays here; its
column sits next to ours with the ratio ours/floor, and its details follow
the table). Prints a table; --markdown prints it as a Markdown table
(for bench/README.md); --json writes every record and every goal check to
OUT.json. Always exits 0: this is a benchmark, not a test.
--]]

local BENCH_DIR = arg[0]:match("^(.*)/[^/]*$") or "."
local jsonl = dofile(BENCH_DIR .. "/jsonl.lua")

local function jstr(v)
  return '"' .. tostring(v):gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function encode(v, indent)
  indent = indent or ""
  local ty = type(v)
  if ty == "number" then
    if math.type(v) == "integer" then return string.format("%d", v) end
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    return string.format("%.5g", v)
  elseif ty == "string" then return jstr(v)
  elseif ty == "boolean" then return tostring(v)
  elseif ty == "table" then
    local inner = indent .. "  "
    if #v > 0 or next(v) == nil then
      local out = {}
      for i, x in ipairs(v) do out[i] = encode(x, inner) end
      if #out == 0 then return "[]" end
      if type(v[1]) ~= "table" then return "[" .. table.concat(out, ", ") .. "]" end
      return "[\n" .. inner .. table.concat(out, ",\n" .. inner) .. "\n" .. indent .. "]"
    end
    local keys, out = {}, {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    for i, k in ipairs(keys) do out[i] = jstr(k) .. ": " .. encode(v[k], inner) end
    return "{" .. table.concat(out, ", ") .. "}"
  end
  return "null"
end

---------------------------------------------------------------------------

local input, json_out, markdown
do
  local i = 1
  while i <= #arg do
    if arg[i] == "--json" then json_out = arg[i + 1]; i = i + 1
    elseif arg[i] == "--markdown" then markdown = true
    else input = arg[i] end
    i = i + 1
  end
end
if not input then
  io.stderr:write("usage: lua5.4 bench/report.lua RESULTS.jsonl [--json OUT] [--markdown]\n")
  os.exit(2)
end

-- Records merged by peer and workload (run.sh alternates ours and the
-- floor one repetition at a time): jsonl.read.
local records, by = jsonl.read(input)

local function get(peer, w)
  local r = by[peer .. "|" .. w]
  return r and r.median, r
end

-- The goals, the peers' columns and the floor's name (bench/goals.lua,
-- shared with the charts).
local goals = dofile(BENCH_DIR .. "/goals.lua")
local GOALS, PEERS, FLOOR = goals.GOALS, goals.PEERS, goals.FLOOR
local floor_of = goals.floor_of

local function fmt(x)
  if x == nil then return "-" end
  local a = math.abs(x)
  if a >= 100 then return string.format("%.0f", x)
  elseif a >= 10 then return string.format("%.1f", x)
  elseif a >= 1 then return string.format("%.2f", x)
  else return string.format("%.3f", x) end
end

local rows, checks = {}, {}
for _, g in ipairs(GOALS) do
  local ours, rec = get("concurrent", g.w)
  local check = {workload = g.w, unit = g.unit, ours = ours}
  local floor, frec = get(FLOOR, g.w)
  floor = floor_of(g.w, floor, frec)
  local met, goal_txt, ratio_floor = nil, nil, nil
  if frec then
    check.floor, check.floor_params, check.floor_error = floor, frec.params, frec.error
  end
  if floor and ours and floor > 0 then
    ratio_floor = ours / floor
    check.ours_over_floor = ratio_floor
  end
  if g.floor then
    goal_txt = string.format("<= %gx floor", g.floor)
    check.goal_floor_ratio = g.floor
    if ratio_floor then met = ratio_floor <= g.floor end
  elseif g.max then
    goal_txt = "<= " .. fmt(g.max)
    check.goal_max = g.max
    if ours then met = ours <= g.max end
    if floor then check.floor_meets_goal = floor <= g.max end
  elseif g.min then
    goal_txt = ">= " .. fmt(g.min)
    check.goal_min = g.min
    if ours then met = ours >= g.min end
    if floor then check.floor_meets_goal = floor >= g.min end
  else
    goal_txt = "-"
  end
  local vs = ""
  local peer = g.peer or g.info
  if peer then
    local pm = get(peer, g.w)
    check.peer, check.peer_median, check.ratio_goal = peer, pm, g.ratio
    if pm and ours and ours > 0 then
      local ratio = pm / ours
      check.ratio = ratio
      if g.ratio then
        check.ratio_met = ratio >= g.ratio
        vs = string.format("%s/ours %.2fx (>= %g)", peer, ratio, g.ratio)
        met = met and check.ratio_met
      else
        vs = string.format("%s/ours %.2fx", peer, ratio)
      end
    else
      vs = string.format("%s: no figure", peer)
    end
  end
  if rec and rec.error then check.error = rec.error end
  check.met = met
  checks[#checks + 1] = check
  local cells = {g.w, g.unit, fmt(ours), fmt(floor),
                 ratio_floor and string.format("%.2fx", ratio_floor) or "-",
                 goal_txt}
  for _, p in ipairs(PEERS) do cells[#cells + 1] = fmt((get(p, g.w))) end
  cells[#cells + 1] = vs
  cells[#cells + 1] = met == nil and (rec and rec.error and "ERROR"
                      or (ours and not g.max and not g.min and "-") or "n/a")
                      or (met and "met" or "MISSED")
  rows[#rows + 1] = cells
end

local header = {"workload", "unit", "ours", "floor", "ours/floor", "goal"}
for _, p in ipairs(PEERS) do header[#header + 1] = p end
header[#header + 1] = "ratio vs peer"
header[#header + 1] = "status"

if markdown then
  print("| " .. table.concat(header, " | ") .. " |")
  local sep = {}
  for i = 1, #header do sep[i] = "---" end
  print("|" .. table.concat(sep, "|") .. "|")
  for _, r in ipairs(rows) do print("| " .. table.concat(r, " | ") .. " |") end
else
  local width = {}
  for i, h in ipairs(header) do width[i] = #h end
  for _, r in ipairs(rows) do
    for i, c in ipairs(r) do width[i] = math.max(width[i], #c) end
  end
  local function line(cells)
    local out = {}
    for i, c in ipairs(cells) do
      out[i] = c .. string.rep(" ", width[i] - #c)
    end
    print((table.concat(out, "  "):gsub("%s+$", "")))
  end
  line(header)
  for _, r in ipairs(rows) do line(r) end
end

-- What the floor column is made of: its parts, from the params floor.c
-- writes, so a reader sees which part of a workload no library avoids.
local function floor_notes()
  local notes = {}
  local function pass_list(t)
    if type(t) ~= "table" then return "?" end
    local out = {}
    for i, x in ipairs(t) do out[i] = fmt(x) end
    return table.concat(out, " / ")
  end
  for _, g in ipairs(GOALS) do
    local m, r = get(FLOOR, g.w)
    if g.w ~= "C" then m = floor_of(g.w, m, r) end
    local p = r and r.params or {}
    local text
    if r and r.error then
      text = "error: " .. tostring(r.error):match("[^\n]*")
    elseif not m then
      text = nil
    elseif g.w == "A''" then
      text = string.format("%s us/thread, one thread = pthread_create + state + "
        .. "openlibs + chunk + close + join (luaL_newstate %s, region allocator %s); "
        .. "an empty thread's create + join alone %s us, newstate + openlibs + "
        .. "close alone %s us (region %s)",
        fmt(m), fmt(p.malloc_us), fmt(p.region_us), fmt(p.create_join_us),
        fmt(p.newstate_openlibs_close_us), fmt(p.region_newstate_openlibs_close_us))
    elseif g.w == "C" then
      local vs, names = {}, {}
      for k in pairs(type(p.variants_ms) == "table" and p.variants_ms or {}) do
        names[#names + 1] = k
      end
      table.sort(names)
      for _, k in ipairs(names) do vs[#vs + 1] = k .. " " .. fmt(p.variants_ms[k]) end
      text = string.format("%s ms by %s (passes read/build/read/build %s ms); "
        .. "reads and builds: %s ms (an encoder that cannot tell where the array "
        .. "part ends reads by lua_next: the floor column is the fastest next+ "
        .. "variant)", fmt(m), tostring(p.variant),
        pass_list(p.pass_ms), table.concat(vs, ", "))
    elseif g.w == "C'" then
      text = string.format("%s ms, every table read with lua_next, records built "
        .. "with lua_createtable + lua_setfield (passes read/build/read/build %s ms)",
        fmt(m), pass_list(p.pass_ms))
    elseif g.w == "D" then
      text = string.format("%s ms for two such threads together (luaL_newstate "
        .. "%s, region allocator %s); two empty threads %s ms", fmt(m),
        fmt(p.malloc_ms), fmt(p.region_ms), fmt(p.two_empty_threads_ms))
    else
      text = string.format("%s %s", fmt(m), g.unit)
    end
    if text then
      if m and ((g.max and m > g.max) or (g.min and m < g.min)) then
        text = text .. " -- the floor alone misses the goal"
      end
      notes[#notes + 1] = string.format("%s: %s", g.w, text)
    end
  end
  return notes
end

local notes = floor_notes()
if #notes > 0 then
  print()
  print("floor (" .. FLOOR .. ", bench/floor/floor.c): bare pthreads and the "
    .. "Lua C API, no library, glibc's mmap and trim thresholds fixed; medians")
  for _, n in ipairs(notes) do print((markdown and "- " or "  ") .. n) end
end
do   -- P: the cost of __reduce against the same data as plain tables
  local pm, pr = get("concurrent", "P")
  if pm and pr.params and pr.params.plain_ms then
    print()
    print(string.format("%sP: 10,000 Points by __reduce %s ms, the same data as "
      .. "plain tables %s ms (%.2f us more a point)", markdown and "- " or "",
      fmt(pm), fmt(pr.params.plain_ms), pr.params.per_point_us or 0))
  end
end

for _, r in ipairs(records) do
  if r.error then
    io.stderr:write(string.format("error in %s %s: %s\n", r.peer, r.workload,
      (tostring(r.error):match("[^\n]*"))))
  end
end

if json_out then
  local fh = assert(io.open(json_out, "w"))
  fh:write(encode({
    date = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    goals = checks,
    records = records,
  }), "\n")
  fh:close()
  io.stderr:write("wrote " .. json_out .. "\n")
end
