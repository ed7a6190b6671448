--- spec/compat.lua: a busted --helper for Lua before 5.4 (spec/run.sh
-- passes it for those). The specs are written for 5.4; two of its
-- syntaxes are rewritten in the spec files as busted loads them, line for
-- line (tracebacks keep their lines):
--   local x <close> = e   ->  local x = require("helpers").close_at_end(finally) .. e
--   local x <const> = e   ->  local x = e
-- so x is closed when its test ends (helpers.close_at_end). Nothing else
-- is translated: a test that needs 5.4 or 5.3 is reported pending, with
-- why (helpers.NO_CLOSE, helpers.NO_INTEGERS).
if _VERSION >= "Lua 5.4" then return end

local load_source = loadstring or load
local real_loadfile = loadfile

local function rewrite(src)
  src = src:gsub("(local%s+[%a_][%w_]*)%s*<close>%s*=",
                 '%1 = require("helpers").close_at_end(finally) ..')
  src = src:gsub("(local%s+[%a_][%w_]*)%s*<const>%s*=", "%1 =")
  return src
end

-- busted's file loader calls the global loadfile.
function loadfile(name, ...)
  if type(name) == "string" and name:match("_spec%.lua$") then
    local fh, err = io.open(name, "rb")
    if not fh then return nil, err end
    local src = fh:read("*a")
    fh:close()
    return load_source(rewrite(src), "@" .. name)
  end
  return real_loadfile(name, ...)
end
