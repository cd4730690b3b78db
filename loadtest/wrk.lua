-- wrk script: sends the signed webhooks of a corpus written by
-- `creatorflow loadgen --corpus FILE` (one `<Authorization>\t<body>` per line) to
-- POST /webhooks/tiktok. Thread i of n sends lines i, i+n, i+2n, …; a thread that reaches the
-- end starts again (redeliveries, which the daemon answers as duplicates) and says how many it
-- repeated: make the corpus larger than a run sends. Usage:
--   CORPUS=FILE THREADS=2 wrk -t2 -c256 -d20s -s loadtest/wrk.lua http://127.0.0.1:8080
-- Any answer of 400 or more, and any request that met a socket error or timed out, is counted
-- and printed at the end as refused. There is no `response` function on purpose: when a script
-- has one, wrk copies every answer's headers and body into Lua tables and calls it, which cost
-- the generator (and so the two cores the daemon shares with it) ~1.8 µs of its ~8 per request
-- (docs/PERFORMANCE.md, session 60); wrk counts statuses of 400 and more itself.
-- The percentiles `done` prints are wrk's after its correction for coordinated omission
-- (`stats_correct`): every answer slower than a connection's mean interval between requests
-- adds the samples a sender at a constant rate would have seen while it waited. So a rare stall
-- weighs far more than its own requests: 6,216 answers on 2 connections in 10 s read as mean
-- 34.5 ms and p99 702 ms (their own waits cannot add up to more than 20 s), where a client that
-- records every answer measured p99 25-32 ms with at most one stall of up to ~0.9 s per run
-- (docs/PERFORMANCE.md, session 72).

local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path = os.getenv("CORPUS")
  local count = tonumber(os.getenv("THREADS") or "2")
  requests = {}
  local n = 0
  for line in io.lines(path) do
    if n % count == index then
      local tab = line:find("\t", 1, true)
      local headers = {
        ["Authorization"] = line:sub(1, tab - 1),
        ["Content-Type"] = "application/json",
      }
      table.insert(requests, wrk.format("POST", "/webhooks/tiktok", headers, line:sub(tab + 1)))
    end
    n = n + 1
  end
  next_request = 0
end

function request()
  next_request = next_request + 1
  if next_request > #requests then
    repeated = (repeated or 0) + 1
    return requests[(next_request - 1) % #requests + 1]
  end
  return requests[next_request]
end

function done(summary, latency, requests)
  local errors = summary.errors
  local refused_total = errors.status + errors.connect + errors.read + errors.write + errors.timeout
  local repeated_total = 0
  for _, thread in ipairs(threads) do
    repeated_total = repeated_total + (thread:get("repeated") or 0)
  end
  io.write(string.format("refused %d\n", refused_total))
  io.write(string.format("repeated %d\n", repeated_total))
  io.write(string.format("latency_p50_ms %.2f\n", latency:percentile(50) / 1000))
  io.write(string.format("latency_p99_ms %.2f\n", latency:percentile(99) / 1000))
  io.write(string.format("requests %d\n", summary.requests))
  io.write(string.format("seconds %.3f\n", summary.duration / 1e6))
end
