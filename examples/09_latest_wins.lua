--- Search as you type: each keystroke starts a slow search for what has
-- been typed so far, and only the last one matters. Submitting with the
-- same `key` cancels the searches still queued (the latest wins), and
-- f:interrupt() stops the one already running: its worker is free at once
-- for the next search instead of finishing work nobody will read.
local dir = arg and arg[0] and arg[0]:match("^(.*)/") or "."
pcall(dofile, dir .. "/_path.lua")   -- find the library in this checkout

local concurrent = require "concurrent"
local futures = require "concurrent.futures"

local SPEED = tonumber(os.getenv("DEMO_SPEED")) or 1
io.stdout:setvbuf("line")

-- A dictionary to search: every word of two or three syllables.
local syllables = {"con", "cur", "rent", "ly", "ter", "ra", "in", "to", "pre", "sent",
                   "com", "pu", "ting", "ex", "ec", "u", "tor", "thread", "fu", "ture"}
local words = {}
for _, a in ipairs(syllables) do
  for _, b in ipairs(syllables) do
    words[#words + 1] = a .. b
    for _, c in ipairs(syllables) do words[#words + 1] = a .. b .. c end
  end
end

-- The slow search: a scan that pauses now and then, as one reading an
-- index from disk or a server would.
local function search(query, words, pause)
  local c = require "concurrent"
  local hits = {}
  for i, w in ipairs(words) do
    if w:sub(1, #query) == query then hits[#hits + 1] = w end
    if i % 1000 == 0 then c.sleep(pause) end
  end
  return hits
end

local typed = "concur"
local executor = futures.ThreadPoolExecutor{max_workers = 1}   -- no <close>: runs on 5.1-5.3 too
local current
local stale = {}
for n = 1, #typed do
  local query = typed:sub(1, n)
  if current then
    -- running: asked to stop; queued: cancelled (as the key would)
    stale[#stale + 1] = {query = typed:sub(1, n - 1), running = current:running()}
    current:interrupt()
  end
  current = executor:submit_with({key = "search"}, search, query, words, 0.05 / SPEED)
  print(("typed %q"):format(query))
  concurrent.sleep(0.08 / SPEED)   -- the next keystroke
end

local hits = current:result()
print(("results for %q: %d words: %s"):format(typed, #hits, table.concat(hits, ", ")))

local running, queued = 0, 0
for _, s in ipairs(stale) do
  if s.running then running = running + 1 else queued = queued + 1 end
end
print(("%d stale searches: %d stopped while running, %d cancelled before they ran; only the last one printed"):format(
  #stale, running, queued))
executor:shutdown(true)
