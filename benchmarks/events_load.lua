-- wrk script for benchmarks/events_load.py: POST one `shown` event per request, each with a
-- unique client event id ("<run tag>-t<thread>-<n>"), over the completion ids given after `--`.
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  key = args[1]
  tag = args[2]
  cids = {}
  for i = 3, #args do cids[#cids + 1] = args[i] end
  n = 0
  acked = 0
end

function request()
  n = n + 1
  local body = string.format('{"kind":"shown","completion_id":"%s","event_id":"%s-t%d-%d"}',
                             cids[(n % #cids) + 1], tag, tid, n)
  return wrk.format("POST", "/v1/events",
                    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end

function response(status, headers, body)
  if status == 202 then acked = acked + 1 end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("acked") end
  io.write(string.format("ACKED %d\nP50_US %d\nP99_US %d\nREQUESTS %d\nDURATION_US %d\n", total,
           latency:percentile(50), latency:percentile(99), summary.requests, summary.duration))
end
