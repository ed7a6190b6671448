--[[
queue_throughput.lua -- messages per second through a thread.Queue between
two threads, against the same through a Queue inside one thread.

  lua5.4 bench/queue_throughput.lua [--messages N] [--maxsize M]
                                    [--payload int|string|table]
                                    [--repeat R] [--quick]

Between threads: a producer Thread puts N messages into a Queue(maxsize)
(default 200,000 messages, maxsize 1000) while the main state gets them
all; the clock runs from the start of the producer to the last get.
Inside one thread: the main state puts and gets the same N messages,
alternately, with no other thread. Each is run R times (default 5); the
median of each is printed as messages/second and us/message, and every
message is checked once. Run from the repository root (or set
CONCURRENT_CPATH to find concurrent/core.so).
--]]

package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("CONCURRENT_CPATH") or "build/?.so") .. ";" .. package.cpath

local thread = require "concurrent.thread"
local concurrent = require "concurrent"

local opts = {messages = 200000, maxsize = 1000, ["repeat"] = 5, payload = "int"}
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == "--quick" then
      opts.messages, opts["repeat"] = 20000, 3
    else
      local k = a:match("^%-%-(%w+)$")
      if not k or opts[k] == nil then error("unknown argument " .. a) end
      local v = arg[i + 1]
      if k == "payload" then
        opts[k] = v
      else
        opts[k] = math.tointeger(tonumber(v)) or error("bad value for " .. a)
      end
      i = i + 1
    end
    i = i + 1
  end
end

local N = opts.messages

-- The message for i, made the same way on both sides.
local PAYLOADS = {
  int = "return function(i) return i end",
  string = "return function(i) return ('message number %08d'):format(i) end",
  table = "return function(i) return {id = i, name = 'item', tags = {1, 2, 3}} end",
}
local payload_src = PAYLOADS[opts.payload] or error("payload must be int, string or table")
local make = load(payload_src)()
local function id_of(m) return type(m) == "table" and m.id or type(m) == "string" and tonumber(m:match("%d+")) or m end

local function median(xs)
  local s = {table.unpack(xs)}
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

local function producer(q, n, src)
  local mk = load(src)()
  for i = 1, n do q:put(mk(i)) end
end

local function between_threads()
  local q = thread.Queue(opts.maxsize)
  local t = thread.Thread{target = producer, args = {q, N, payload_src}}
  local t0 = concurrent.monotonic()
  t:start()
  for i = 1, N do
    local m = q:get()
    if id_of(m) ~= i then error(("message %d arrived as %s"):format(i, tostring(id_of(m)))) end
  end
  local dt = concurrent.monotonic() - t0
  t:join()
  return dt
end

local function one_thread()
  local q = thread.Queue(opts.maxsize)
  local t0 = concurrent.monotonic()
  for i = 1, N do
    q:put(make(i))
    local m = q:get()
    if id_of(m) ~= i then error(("message %d came back as %s"):format(i, tostring(id_of(m)))) end
  end
  return concurrent.monotonic() - t0
end

local runs = {two = {}, one = {}}
for r = 1, opts["repeat"] do
  runs.two[r] = between_threads()
  runs.one[r] = one_thread()
end

local function report(label, times)
  local m = median(times)
  print(("%-22s %12.0f msg/s %8.2f us/msg   (median of %d; runs %s)"):format(label, N / m, m / N * 1e6,
    #times, table.concat((function()
      local t = {}
      for i, x in ipairs(times) do t[i] = ("%.3fs"):format(x) end
      return t
    end)(), " ")))
  return N / m
end

print(("Queue throughput: %d %s messages, maxsize %d, %d cpus"):format(N, opts.payload,
  opts.maxsize, concurrent.cpu_count()))
local two = report("between two threads", runs.two)
local one = report("inside one thread", runs.one)
print(("ratio (two threads / one thread): %.2f"):format(two / one))
