--[[
versions.lua -- the table of bench/versions.sh: workloads A, B, C, D and
require (rows) for this library on each Lua version, and luv's work queue
on each version that has it (columns), medians as bench/ours.lua and the
luv peer print them; then the goal of the versions issue: no version more
than 1.5x slower per task than 5.4 on A.

  lua5.4 bench/versions.lua RESULTS.jsonl [--json OUT]
--]]
local path, json_out = arg[1], nil
if arg[2] == "--json" then json_out = arg[3] end
if not path then
  io.stderr:write("usage: lua5.4 bench/versions.lua RESULTS.jsonl [--json OUT]\n")
  os.exit(2)
end

-- The few fields needed, from each JSON line (flat strings and numbers).
local results, peers, seen = {}, {}, {}
for line in io.lines(path) do
  local peer = line:match('"peer": "([^"]*)"')
  local workload = line:match('"workload": "([^"]*)"')
  if peer and workload then
    local median = tonumber(line:match('"median": ([-%d.e+]+)'))
    results[peer .. "\0" .. workload] = {
      median = median, unit = line:match('"unit": "([^"]*)"'),
      error = line:match('"error": "([^"]*)"'),
    }
    if not seen[peer] then seen[peer] = true; peers[#peers + 1] = peer end
  end
end

local WORKLOADS = {
  {"A", "100,000 tasks x + 1, 2 workers"},
  {"B", "primes below 1.2M on 2 workers (speedup)"},
  {"C", "round trip of 100,000 integers"},
  {"D", "pool of 2: make, 2 tasks, shutdown"},
  {"require", 'require "concurrent.futures"'},
}
-- Ours first, then luv, each in version order.
local ORDER = {["5.4"] = 1, ["5.3"] = 2, ["5.1"] = 3, LuaJIT = 4}
table.sort(peers, function(a, b)
  local ka, va = a:match("^(%S+) (%S+)$")
  local kb, vb = b:match("^(%S+) (%S+)$")
  if ka ~= kb then return ka == "concurrent" end
  return (ORDER[va] or 9) < (ORDER[vb] or 9)
end)

local header = {"workload", "unit"}
for _, p in ipairs(peers) do header[#header + 1] = p end
local rows = {header}
for _, w in ipairs(WORKLOADS) do
  local row, unit = {w[1] .. " (" .. w[2] .. ")", ""}, nil
  for _, p in ipairs(peers) do
    local r = results[p .. "\0" .. w[1]]
    if r and r.median then
      row[#row + 1] = string.format("%.3g", r.median)
      unit = unit or r.unit
    else
      row[#row + 1] = r and r.error and "error" or "-"
    end
  end
  row[2] = unit or ""
  rows[#rows + 1] = row
end

local widths = {}
for _, row in ipairs(rows) do
  for i, cell in ipairs(row) do
    widths[i] = math.max(widths[i] or 0, #cell)
  end
end
for n, row in ipairs(rows) do
  local cells = {}
  for i, cell in ipairs(row) do
    cells[i] = i <= 2 and cell .. string.rep(" ", widths[i] - #cell)
      or string.rep(" ", widths[i] - #cell) .. cell
  end
  print("| " .. table.concat(cells, " | ") .. " |")
  if n == 1 then
    local rule = {}
    for i = 1, #row do rule[i] = string.rep("-", widths[i]) .. (i > 2 and ":" or "") end
    print("|" .. table.concat(rule, "|") .. "|")
  end
end

-- The goal: A per task, each version against 5.4.
print()
local base = results["concurrent 5.4\0A"]
local verdicts = {}
if base and base.median then
  for _, p in ipairs(peers) do
    local v = p:match("^concurrent (%S+)$")
    local r = results[p .. "\0A"]
    if v and v ~= "5.4" and r and r.median then
      local ratio = r.median / base.median
      verdicts[#verdicts + 1] = {version = v, ratio = ratio, met = ratio <= 1.5}
      print(string.format("goal A: %s %.3g us/task = %.2fx 5.4's %.3g: %s", v, r.median,
        ratio, base.median, ratio <= 1.5 and "met (<= 1.5x)" or "MISSED (> 1.5x)"))
    end
  end
else
  print("goal A: no 5.4 figure")
end

if json_out then
  local fh = assert(io.open(json_out, "w"))
  local parts = {}
  for key, r in pairs(results) do
    local p, w = key:match("^(.-)%z(.*)$")
    parts[#parts + 1] = string.format('{"peer": "%s", "workload": "%s", "median": %s, "unit": "%s"}',
      p, w, r.median and string.format("%.6g", r.median) or "null", r.unit or "")
  end
  table.sort(parts)
  fh:write("[\n  ", table.concat(parts, ",\n  "), "\n]\n")
  fh:close()
end
