-- jsonl.lua -- the JSON lines the Lua benchmark programs print (ours.lua,
-- peers/luv_peer.lua), in the format of the Python peer's: one object a
-- workload, keys in a fixed order, params sorted. report.lua reads them.
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

return M
