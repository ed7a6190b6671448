--- Real hosts that embed LuaJIT: LÖVE 11.4 (examples/love) and Neovim
-- (examples/nvim), each loading the LuaJIT build of the library
-- (build-jit/, which `make test` makes) and running a thread pool without
-- blocking its main loop. Pending, with why, when the host, xvfb-run or the
-- LuaJIT build is missing.
local ROOT = (os.getenv("PWD") or ".")
local JIT_BUILD = os.getenv("CONCURRENT_JIT_BUILD") or (ROOT .. "/build-jit")

local function exists(path)
  local fh = io.open(path, "rb")
  if fh then fh:close() end
  return fh ~= nil
end

local function have(cmd)
  local r = os.execute("command -v " .. cmd .. " >/dev/null 2>&1")
  return r == true or r == 0                   -- 5.2+ and 5.1 return codes
end

-- Run a shell command; its output and whether it exited with 0.
local function run(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"exit=$?\"")
  local out = p:read("*a")
  p:close()
  return out, out:match("exit=0\n$") ~= nil
end

local function missing(...)
  if not exists(JIT_BUILD .. "/concurrent/core.so") then
    return "no LuaJIT build at " .. JIT_BUILD .. " (make LUA_VERSION=jit)"
  end
  for _, cmd in ipairs{...} do
    if not have(cmd) then return cmd .. " is not installed (Debian: love, neovim, xvfb)" end
  end
end

describe("Neovim (examples/nvim/hash_files.lua)", function()
  it("hashes files in a thread pool while its main loop keeps ticking, and gets them all right", function()
    local why = missing("nvim")
    if why then return pending(why) end
    local outfile = os.tmpname()
    local out, ok = run(("cd %q && CONCURRENT_BUILD=%q NVIM_HASH_OUT=%q timeout 120 " ..
      "nvim --headless -u NONE -i NONE -c 'luafile examples/nvim/hash_files.lua'")
      :format(ROOT, JIT_BUILD, outfile))
    local fh = io.open(outfile, "rb")
    local report = fh and fh:read("*a") or ""
    if fh then fh:close() end
    os.remove(outfile)
    assert.is_true(ok, out)
    assert.matches("nvim: Lua 5%.1, LuaJIT", report)
    local nfiles = tonumber(report:match("files: (%d+) hashed"))
    assert.is_true(nfiles ~= nil and nfiles >= 50, report)
    assert.matches(("results: %d of %d correct, 0 errors"):format(nfiles, nfiles), report)
    local ticks = tonumber(report:match("main loop: (%d+) ticks while the pool worked"))
    local gap = tonumber(report:match("longest gap ([%d.]+) ms"))
    assert.is_true(ticks >= 3, report)         -- the loop ran while tasks did
    assert.is_true(gap < 1000, report)         -- and never stalled for long
  end)
end)

describe("LÖVE 11.4 (examples/love)", function()
  it("draws frames while the pool makes terrain chunks, which are all correct, and saves a screenshot", function()
    local why = missing("love", "xvfb-run")
    if why then return pending(why) end
    os.execute("mkdir -p " .. ROOT .. "/build")
    local shot = ROOT .. "/build/love-screenshot.png"  -- a test artifact
    os.remove(shot)
    local out, ok = run(("cd %q && CONCURRENT_BUILD=%q LOVE_AUTOQUIT=1 LOVE_SCREENSHOT=%q " ..
      "timeout 120 xvfb-run -a love examples/love"):format(ROOT, JIT_BUILD, shot))
    assert.is_true(ok, out)
    assert.is_nil(out:find("love error", 1, true), out)
    assert.matches("love: LuaJIT 2%.1", out)
    local frames, busy = out:match("frames: (%d+) drawn, (%d+) of them while tasks ran")
    assert.is_true(tonumber(busy) ~= nil and tonumber(busy) >= 3, out)   -- never blocked
    local correct, total = out:match("chunks: (%d+) of (%d+) correct")
    assert.equal(72, tonumber(total), out)
    assert.equal(total, correct, out)
    assert.is_true(tonumber(frames) > tonumber(busy))
    local fh = assert(io.open(shot, "rb"), "no screenshot at " .. shot)
    assert.equal("\137PNG", fh:read(4))
    fh:close()
  end)
end)
