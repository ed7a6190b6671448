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

---------------------------------------------------------------------------
-- A small JSON reader: enough for the peers' lines (objects, arrays,
-- strings with \u escapes, numbers, true/false/null).

local function decode(s)
  local pos = 1
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
  local value
  local function str()
    local out = {}
    pos = pos + 1
    while true do
      local c = s:sub(pos, pos)
      if c == "" then error("unterminated string") end
      if c == '"' then pos = pos + 1 break end
      if c == "\\" then
        local e = s:sub(pos + 1, pos + 1)
        if e == "u" then
          out[#out + 1] = utf8.char(tonumber(s:sub(pos + 2, pos + 5), 16))
          pos = pos + 6
        else
          local map = {n = "\n", t = "\t", r = "\r", b = "\b", f = "\f"}
          out[#out + 1] = map[e] or e
          pos = pos + 2
        end
      else
        out[#out + 1] = c
        pos = pos + 1
      end
    end
    return table.concat(out)
  end
  function value()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
      local t = {}
      pos = pos + 1
      ws()
      if s:sub(pos, pos) == "}" then pos = pos + 1 return t end
      while true do
        ws()
        local k = str()
        ws()
        assert(s:sub(pos, pos) == ":", "':' expected")
        pos = pos + 1
        t[k] = value()
        ws()
        c = s:sub(pos, pos)
        pos = pos + 1
        if c == "}" then return t end
        assert(c == ",", "',' expected")
      end
    elseif c == "[" then
      local t = {}
      pos = pos + 1
      ws()
      if s:sub(pos, pos) == "]" then pos = pos + 1 return t end
      while true do
        t[#t + 1] = value()
        ws()
        c = s:sub(pos, pos)
        pos = pos + 1
        if c == "]" then return t end
        assert(c == ",", "',' expected")
      end
    elseif c == '"' then
      return str()
    elseif s:find("^true", pos) then pos = pos + 4 return true
    elseif s:find("^false", pos) then pos = pos + 5 return false
    elseif s:find("^null", pos) then pos = pos + 4 return nil
    else
      local num = s:match("^-?[%d.eE+-]+", pos)
      assert(num, "bad JSON at " .. pos)
      pos = pos + #num
      return tonumber(num)
    end
  end
  return value()
end

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

local function median(t)
  local s = {}
  for i, x in ipairs(t) do s[i] = x end
  table.sort(s)
  local n = #s
  if n == 0 then return nil end
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

-- A peer's workload may come in several records (run.sh alternates ours
-- and the floor one repetition at a time): their runs are merged and the
-- median taken over all; numeric params (and the floor's variants_ms) are
-- the medians of the records'.
local function merge(a, r)
  a.parts = a.parts or {a.params}
  a.parts[#a.parts + 1] = r.params
  for _, x in ipairs(type(r.runs) == "table" and r.runs or {}) do
    a.runs[#a.runs + 1] = x
  end
  a.median = median(a.runs)
  a.error = a.error or r.error
end

local function merged_params(parts)
  local p = {}
  for k, v in pairs(parts[1] or {}) do p[k] = v end
  for k, v in pairs(p) do
    if type(v) == "number" then
      local xs = {}
      for _, q in ipairs(parts) do xs[#xs + 1] = tonumber(q[k]) end
      p[k] = median(xs)
    elseif type(v) == "table" and next(v) ~= nil and #v == 0 then
      local t = {}
      for name in pairs(v) do
        local xs = {}
        for _, q in ipairs(parts) do
          if type(q[k]) == "table" then xs[#xs + 1] = tonumber(q[k][name]) end
        end
        t[name] = median(xs)
      end
      p[k] = t
    end
  end
  return p
end

local records, by = {}, {}
for line in io.lines(input) do
  if line:match("^%s*{") then
    local ok, r = pcall(decode, line)
    if ok and type(r) == "table" and r.peer and r.workload then
      local key = r.peer .. "|" .. r.workload
      local a = by[key]
      if a and type(a.runs) == "table" then
        merge(a, r)
      else
        r.runs = type(r.runs) == "table" and r.runs or {}
        records[#records + 1] = r
        by[key] = r
      end
    end
  end
end
for _, r in ipairs(records) do
  if r.parts then
    r.params = merged_params(r.parts)
    r.records_merged = #r.parts
    r.parts = nil
  end
end

local function get(peer, w)
  local r = by[peer .. "|" .. w]
  return r and r.median, r
end

-- The goals of the issue. max/min bound our median; peer/ratio ask for
-- peer median / our median >= ratio (ratio of speeds, same run); floor
-- asks for our median / the floor's (same run) <= floor. info names a peer
-- whose ratio is shown without a goal.
local GOALS = {
  {w = "A", unit = "us/task", max = 0.65, peer = "luv", ratio = 3},
  {w = "A'", unit = "us/item", max = 0.2, peer = "python-process", ratio = 2},
  {w = "A''", unit = "us/thread", floor = 1.25},
  {w = "B", unit = "x", min = 1.95},
  {w = "C", unit = "ms", floor = 1.25, info = "python-pickle"},
  {w = "C'", unit = "ms", floor = 1.25, peer = "python-pickle", ratio = 1},
  {w = "D", unit = "ms", floor = 1.25},
  {w = "require", unit = "ms", max = 1},
  {w = "M", unit = "MB", max = 15},
}
local PEERS = {"python-thread", "python-process", "python-pickle", "luv"}
local FLOOR = "api-floor"

-- The floor a goal is measured against: for C the fastest lua_next reader
-- of floor.c (an encoder cannot tell where a table's array part ends, so
-- it reads every pair: the issue's yardstick); for A'' and D the lower of
-- its two allocators' medians (as floor.c picks within one process); else
-- the floor's median.
local function floor_of(w, m, rec)
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
  else
    goal_txt = ">= " .. fmt(g.min)
    check.goal_min = g.min
    if ours then met = ours >= g.min end
    if floor then check.floor_meets_goal = floor >= g.min end
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
  cells[#cells + 1] = met == nil and (rec and rec.error and "ERROR" or "n/a")
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
