--- examples/nvim/hash_files.lua: hash and lint many files in a thread pool
-- from inside Neovim, without blocking its main loop.
--
--   nvim --headless -u NONE -i NONE -c 'luafile examples/nvim/hash_files.lua'
--
-- (from the repository root, after `make LUA_VERSION=jit`: Neovim runs
-- LuaJIT). Each file is read, hashed (FNV-1a, several rounds so that there
-- is work to do) and linted (lines with trailing blanks) by a task of a
-- ThreadPoolExecutor. A coroutine made by futures.spawn submits them and
-- takes the results with futures.as_completed: each wait suspends the
-- coroutine, not Neovim. Neovim's own loop resumes it: a vim.loop poll
-- handle watches the file descriptor of futures.fd(), which is readable
-- while futures.poll() has work (a finished task, a due timer), and calls
-- futures.poll() then. Another vim.loop timer ticks every 5 ms and
-- records the longest gap between ticks, to show the loop never stalled
-- while the pool worked. At the end the script checks every hash against
-- one computed on the main thread, prints a summary and quits Neovim.
--
-- Environment: CONCURRENT_BUILD (default build-jit) is where
-- concurrent/core.so is; NVIM_HASH_DIRS (default "csrc lua spec") the
-- directories to hash; NVIM_HASH_OUT a file to write the summary to (the
-- spec reads it); NVIM_HASH_ROUNDS (default 30) the hashing rounds.
local source = debug.getinfo(1, "S").source:match("^@(.*)$") or ""
local root = (source:match("^(.*)/examples/nvim/[^/]*$") or ".")
local build = os.getenv("CONCURRENT_BUILD") or (root .. "/build-jit")
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = build .. "/?.so;" .. package.cpath

local uv = vim.loop
local futures = require "concurrent.futures"
local concurrent = require "concurrent"

local ROUNDS = tonumber(os.getenv("NVIM_HASH_ROUNDS") or "30")

-- The task: runs in a worker's own LuaJIT state (bit is LuaJIT's).
local function hash_file(path, rounds)
  local fh = assert(io.open(path, "rb"))
  local data = fh:read("*a")
  fh:close()
  local bit = require "bit"
  local h = 0x811c9dc5
  for _ = 1, rounds do
    for i = 1, #data do
      h = bit.tobit(bit.bxor(h, data:byte(i)) * 16777619)
    end
  end
  local lines, trailing = 0, 0
  for line in (data .. "\n"):gmatch("([^\n]*)\n") do
    lines = lines + 1
    if line:find("[ \t]$") then trailing = trailing + 1 end
  end
  return bit.tohex(h), lines, trailing
end

-- The files to hash: regular files under the directories, by `find`.
local files = {}
for dir in (os.getenv("NVIM_HASH_DIRS") or "csrc lua spec"):gmatch("%S+") do
  local p = io.popen("find " .. root .. "/" .. dir .. " -type f -size -200k | sort")
  for path in p:lines() do files[#files + 1] = path end
  p:close()
end

local out_path = os.getenv("NVIM_HASH_OUT")
local function report(line)
  io.stdout:write(line, "\n")
  if out_path then
    local fh = assert(io.open(out_path, "a"))
    fh:write(line, "\n")
    fh:close()
  end
end

local ex = futures.ThreadPoolExecutor(4)
local results, pending, errors = {}, #files, 0
local t0 = concurrent.monotonic()
local ticks, max_gap, last_tick, ticks_while_busy = 0, 0, nil, 0

local ticker = uv.new_timer()
local watcher = uv.new_poll(futures.fd())
local job

local function finish()
  ticker:stop(); ticker:close()
  watcher:stop(); watcher:close()
  ex:shutdown()
  local elapsed = concurrent.monotonic() - t0
  local correct, lines, trailing = 0, 0, 0
  for i, path in ipairs(files) do
    local r = results[i]
    if r and r[1] == hash_file(path, ROUNDS) then correct = correct + 1 end
    if r then lines, trailing = lines + r[2], trailing + r[3] end
  end
  local ok, err = pcall(job.result, job, 0)   -- the coroutine's own error
  if not ok then errors = errors + 1; report("error: " .. tostring(err)) end
  report(("nvim: %s, %s"):format(_VERSION, jit and jit.version or "no jit"))
  report(("files: %d hashed in %.2f s by 4 threads; %d lines, %d with trailing blanks")
    :format(#files, elapsed, lines, trailing))
  report(("main loop: %d ticks while the pool worked, longest gap %.1f ms")
    :format(ticks_while_busy, max_gap * 1000))
  report(("results: %d of %d correct, %d errors"):format(correct, #files, errors))
  vim.cmd("qall!")
end

-- Every 5 ms: the main loop is alive.
ticker:start(5, 5, function()
  local now = concurrent.monotonic()
  if last_tick and now - last_tick > max_gap then max_gap = now - last_tick end
  last_tick = now
  ticks = ticks + 1
  if pending > 0 then ticks_while_busy = ticks_while_busy + 1 end
end)

-- The library has work for this thread: run it (this resumes the
-- coroutine below when a result it waits for is in).
watcher:start("r", function()
  futures.poll()
end)

-- Submits every file, then takes the results as they come: each wait of
-- as_completed suspends the coroutine until the fd wakes the loop.
job = futures.spawn(function()
  local fs, index = {}, {}
  for i, path in ipairs(files) do
    fs[i] = ex:submit(hash_file, path, ROUNDS)
    index[fs[i]] = i
  end
  for f in futures.as_completed(fs) do
    local ok, h, n, t = pcall(f.result, f)    -- done: never waits
    if ok then results[index[f]] = {h, n, t} else errors = errors + 1 end
    pending = pending - 1
  end
end)
job:add_done_callback(function() vim.schedule(finish) end)
