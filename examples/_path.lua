--- _path.lua: lets the examples run from a source checkout, before (or
-- without) `make install`.
--
-- It puts this checkout's lua/ and build/ directories in front of the
-- search paths. When they hold nothing (the library is installed, or the
-- examples were copied elsewhere), the usual paths still find it.
-- CONCURRENT_BUILD names another build directory (`make BUILD=...`).
-- Worker states copy these paths from the state that makes them, so their
-- `require` finds the same modules.
local source = debug.getinfo(1, "S").source:match("^@(.*)$") or ""
local dir = source:match("^(.*)/[^/]*$") or "."
local root = dir .. "/.."
local build = os.getenv("CONCURRENT_BUILD") or (root .. "/build")
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = build .. "/?.so;" .. package.cpath
