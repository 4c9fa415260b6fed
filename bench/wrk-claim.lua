-- The hot packet driven by wrk (C + LuaJIT): every request claims one packet with the next user's own
-- bearer token, so that each user claims exactly once, as with the benchmark's own client, and hongbao
-- is driven by a client of the same kind as redis-benchmark is for Redis. hongbao-bench runs it (phase 1);
-- by hand, against a server with a packet of as many shares as there are tokens:
--
--   wrk -t 2 -c 128 -d 300s --timeout 10s -s bench/wrk-claim.lua \
--       http://127.0.0.1:PORT/v1/packets/PACKET_ID/claim -- TOKENS_FILE 2
--
-- TOKENS_FILE holds one user's token a line; the last argument is wrk's -t, so that thread i takes
-- tokens i, i + threads, i + 2 threads and so on. Each thread stops once every one of its claims is
-- answered, and the last one to finish interrupts wrk (which otherwise sleeps for the whole of -d);
-- -d is only an upper bound. done() prints one line, which hongbao-bench reads:
--
--   hongbao-wrk ok=N conflict=0 other=0 unfinished=0 amount=SUM elapsed_us=E
--
-- ok counts 200 answers with an amount, conflict 409s (a second claim, or the packet exhausted),
-- other anything else; elapsed_us runs from the first claim sent to the last one answered.

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } hongbao_timespec;
int clock_gettime(int clock_id, hongbao_timespec *time);
int getpid(void);
int tgkill(int thread_group_id, int thread_id, int signal);
]]
local CLOCK_MONOTONIC = 1
local SIGINT = 2

local function now_us()
   local time = ffi.new("hongbao_timespec")
   ffi.C.clock_gettime(CLOCK_MONOTONIC, time)
   return tonumber(time.tv_sec) * 1000000 + math.floor(tonumber(time.tv_nsec) / 1000)
end

-- In wrk's main Lua state: number the threads and keep them for done().
local threads = {}

function setup(thread)
   thread:set("thread_index", #threads)
   table.insert(threads, thread)
end

-- In each thread's own Lua state. The counters are globals so that done() can read them with get().
local requests = {}
local sent = 0
local answered = 0
local checking = false
local thread_count = 1
local finished_path = nil

function init(args)
   local tokens_path = args[1]
   thread_count = tonumber(args[2])
   if tokens_path == nil or thread_count == nil then
      error("usage: wrk ... -s wrk-claim.lua URL -- TOKENS_FILE THREADS")
   end
   local index = 0
   for token in io.lines(tokens_path) do
      if index % thread_count == thread_index then
         requests[#requests + 1] = wrk.format("POST", wrk.path, { ["Authorization"] = "Bearer " .. token }, "")
      end
      index = index + 1
   end
   if #requests == 0 then
      error("thread " .. thread_index .. " has no token: give at least as many tokens as threads")
   end
   -- Named by wrk's process id, so that a file left by an earlier run is never counted.
   finished_path = string.format("%s.finished-%d", tokens_path, ffi.C.getpid())
   -- wrk calls request() once on the first thread before anything is sent, to check that the request
   -- parses (script_verify_request in wrk.c); that call must not use up a token.
   checking = thread_index == 0
   ok, conflict, other, amount = 0, 0, 0, 0
   started_us, finished_us = 0, 0
end

function request()
   if checking then
      checking = false
      return requests[1]
   end
   if sent == #requests then
      -- Nothing left for this connection: an empty request sends nothing, and the connection waits
      -- idle until the thread stops, instead of claiming again.
      return ""
   end
   sent = sent + 1
   if sent == 1 then
      started_us = now_us()
   end
   return requests[sent]
end

-- Records this thread as finished; the last one to finish interrupts wrk's main thread (its SIGINT
-- handler ends the sleep of -d). Appends are atomic, so exactly the last appender sees every line.
local function announce_finished()
   local file = assert(io.open(finished_path, "a"))
   file:write("finished\n")
   file:close()
   local finished = 0
   for _ in io.lines(finished_path) do
      finished = finished + 1
   end
   if finished >= thread_count then
      local pid = ffi.C.getpid()
      ffi.C.tgkill(pid, pid, SIGINT)
   end
end

function response(status, headers, body)
   local claimed = status == 200 and string.match(body, '"amount":(%-?%d+)')
   if claimed then
      ok = ok + 1
      amount = amount + tonumber(claimed)
   elseif status == 409 then
      conflict = conflict + 1
   else
      other = other + 1
   end
   answered = answered + 1
   if answered == #requests then
      finished_us = now_us()
      wrk.thread:stop()
      announce_finished()
   end
end

function done(summary, latency, requests)
   local totals = { ok = 0, conflict = 0, other = 0, amount = 0, unfinished = 0 }
   local first, last = math.huge, 0
   for _, thread in ipairs(threads) do
      for name, _ in pairs(totals) do
         if name ~= "unfinished" then
            totals[name] = totals[name] + thread:get(name)
         end
      end
      local started, finished = thread:get("started_us"), thread:get("finished_us")
      if finished == 0 then
         totals.unfinished = totals.unfinished + 1
      end
      if started > 0 and started < first then
         first = started
      end
      if finished > last then
         last = finished
      end
   end
   local elapsed = (last > first) and (last - first) or 0
   io.write(string.format("hongbao-wrk ok=%d conflict=%d other=%d unfinished=%d amount=%d elapsed_us=%d\n",
      totals.ok, totals.conflict, totals.other, totals.unfinished, totals.amount, elapsed))
end
