-- wrk script: replay pre-signed webhook deliveries, each request once (or cycling).
--
--   wrk -t T -c C -d D -s benchmarks/replay.lua URL -- FILE PATH T once|cycle
--
-- FILE holds the requests benchmarks/loadgen.py wrote: for each, "<byte length>\n" and then
-- the request from its headers on (no request line: PATH is put in front here, so one file
-- serves the webhook route and the bare endpoint). Thread k of T replays requests k, k+T,
-- k+2T, ... in order, so every delivery is sent once, by one thread, and a redelivery still
-- comes after its original. "once" stops a thread when its share is used up (the run is then
-- too short to mean anything: loadgen.py says so); "cycle" starts again (bare endpoint).
-- done() prints one "STICKY ..." line per thread and one for the run, which loadgen.py reads.

local threads = {}
local created = 0

function setup(thread)
  thread:set("index", created)
  created = created + 1
  table.insert(threads, thread)
end

function init(args)
  local path, route, nthreads, mode = args[1], args[2], tonumber(args[3]), args[4]
  cycle = mode == "cycle"
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  local line = "POST " .. route .. " HTTP/1.1\r\n"
  queue = {}
  local at, k = 1, 0
  while at <= #data do
    local newline = data:find("\n", at, true)
    local length = tonumber(data:sub(at, newline - 1))
    if k % nthreads == index then
      queue[#queue + 1] = line .. data:sub(newline + 1, newline + length)
    end
    k = k + 1
    at = newline + 1 + length
  end
  data = nil
  position, issued, exhausted = 0, 0, 0
  accepted, duplicate, other = 0, 0, 0
  -- wrk calls thread 0's request() once before the run, to check what it returns: that
  -- call must not use up a delivery.
  checked = index ~= 0
  -- Tell loadgen.py this thread is ready (wrk's own output is only flushed at exit).
  io.write(string.format("STICKY ready index=%d requests=%d\n", index, #queue))
  io.stdout:flush()
end

function request()
  if not checked then
    checked = true
    return queue[1]
  end
  if position >= #queue then
    if not cycle then
      -- Stop; the request returned now may still go out: the last one again, which the
      -- receiver answers as the redelivery it is.
      exhausted = 1
      wrk.thread:stop()
      return queue[#queue]
    end
    position = 0
  end
  position = position + 1
  issued = issued + 1
  return queue[position]
end

function response(status, headers, body)
  if status == 200 then
    if body:find("duplicate", 1, true) then
      duplicate = duplicate + 1
    else
      accepted = accepted + 1
    end
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format(
      "STICKY thread index=%d issued=%d accepted=%d duplicate=%d other=%d exhausted=%d\n",
      t:get("index"), t:get("issued"), t:get("accepted"), t:get("duplicate"),
      t:get("other"), t:get("exhausted")))
  end
  local e = summary.errors
  io.write(string.format(
    "STICKY run duration_us=%d requests=%d connect=%d read=%d write=%d status=%d timeout=%d"
    .. " p50_us=%d p90_us=%d p99_us=%d mean_us=%d\n",
    summary.duration, summary.requests, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
