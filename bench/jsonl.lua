-- jsonl.lua -- the JSON lines the Lua benchmark programs print (ours.lua,
-- peers/luv_peer.lua), in the format of the Python peer's: one object a
-- workload, keys in a fixed order, params sorted; and the reader
-- (decode) that report.lua, the charts and the trace specs use.
--
--   local jsonl = dofile(dir .. "/jsonl.lua")
--   local emit, emit_error = jsonl.writer("luv")
--   emit("A", runs, "us/task", {n = n})        -- the median is computed
--   jsonl.median(runs)

local M = {}

local function jnum(x)
  if math.type and math.type(x) == "integer" then return string.format("%d", x) end
  if x ~= x or x == math.huge or x == -math.huge then return "null" end
  return string.format("%.5g", x)
end

local function jstr(s)
  return '"' .. tostring(s):gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function jval(v)
  local ty = type(v)
  if ty == "number" then return jnum(v)
  elseif ty == "string" then return jstr(v)
  elseif ty == "boolean" then return tostring(v)
  elseif ty == "table" then
    if #v > 0 or next(v) == nil then                  -- an array
      local out = {}
      for i, x in ipairs(v) do out[i] = jval(x) end
      return "[" .. table.concat(out, ", ") .. "]"
    end
    local keys, out = {}, {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)                                   -- stable output
    for i, k in ipairs(keys) do out[i] = jstr(k) .. ": " .. jval(v[k]) end
    return "{" .. table.concat(out, ", ") .. "}"
  end
  return "null"
end

function M.median(t)
  local s = {(table.unpack or unpack)(t)}
  table.sort(s)
  local n = #s
  local half = math.floor(n / 2)                    -- no // before 5.3
  if n % 2 == 1 then return s[half + 1] end
  return (s[half] + s[half + 1]) / 2
end

--- The two printers of one peer: emit(workload, runs, unit [, params])
-- and emit_error(workload, err).
function M.writer(peer)
  local function emit(workload, runs, unit, params)
    local parts = {
      '"peer": ' .. jstr(peer),
      '"workload": ' .. jstr(workload),
      '"median": ' .. jnum(M.median(runs)),
      '"unit": ' .. jstr(unit),
      '"runs": ' .. jval(runs),
    }
    if params then parts[#parts + 1] = '"params": ' .. jval(params) end
    io.stdout:write("{", table.concat(parts, ", "), "}\n")
    io.stdout:flush()
  end
  local function emit_error(workload, err)
    io.stdout:write('{"peer": ', jstr(peer), ', "workload": ', jstr(workload),
      ', "error": ', jstr(tostring(err)), "}\n")
    io.stdout:flush()
  end
  return emit, emit_error
end

--- decode(s): a small JSON reader, enough for the peers' lines and the
-- trace files of concurrent.trace (objects, arrays, strings with \u
-- escapes, numbers, true/false/null; null reads as nil).
function M.decode(s)
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


-- The median of what is a number in t (nil if none).
local function median_of(t)
  local s = {}
  for _, x in ipairs(t) do
    if type(x) == "number" then s[#s + 1] = x end
  end
  if #s == 0 then return nil end
  return M.median(s)
end

-- Numeric params (and tables of them, as the floor's variants_ms) are the
-- medians of the records'.
local function merged_params(parts)
  local p = {}
  for k, v in pairs(parts[1] or {}) do p[k] = v end
  for k, v in pairs(p) do
    if type(v) == "number" then
      local xs = {}
      for _, q in ipairs(parts) do xs[#xs + 1] = q[k] end
      p[k] = median_of(xs)
    elseif type(v) == "table" and next(v) ~= nil and #v == 0 then
      local t = {}
      for name in pairs(v) do
        local xs = {}
        for _, q in ipairs(parts) do
          if type(q[k]) == "table" then xs[#xs + 1] = q[k][name] end
        end
        t[name] = median_of(xs)
      end
      p[k] = t
    end
  end
  return p
end

--- read(path) -> records, by: the objects of a file of JSON lines that
-- name a peer and a workload, one per peer and workload (by["peer|w"]):
-- several lines of one (bench/run.sh alternates ours and the floor, one
-- repetition a process) are merged, their runs put together and the
-- median taken over all.
function M.read(path)
  local records, by = {}, {}
  for line in io.lines(path) do
    if line:match("^%s*{") then
      local ok, r = pcall(M.decode, line)
      if ok and type(r) == "table" and r.peer and r.workload then
        local key = r.peer .. "|" .. r.workload
        local a = by[key]
        if type(r.runs) ~= "table" then r.runs = {} end
        if a then
          a.parts = a.parts or {a.params or {}}
          a.parts[#a.parts + 1] = r.params or {}
          for _, x in ipairs(r.runs) do a.runs[#a.runs + 1] = x end
          a.median = median_of(a.runs) or a.median
          a.error = a.error or r.error
        else
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
  return records, by
end

return M
