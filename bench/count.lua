-- wrk script for bench/count_api.py: GET one path (optionally with If-None-Match) and count the
-- answers by status. bench/count_api.py passes everything through the environment:
--   BENCH_IF_NONE_MATCH  an ETag to send as If-None-Match (empty: none)
--   BENCH_OUT            file that done() writes the counts and latency quantiles to (JSON)

local out = os.getenv("BENCH_OUT")
local etag = os.getenv("BENCH_IF_NONE_MATCH") or ""
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   sent = 0
   s200 = 0
   s304 = 0
   other = 0
   if etag ~= "" then
      wrk.headers["If-None-Match"] = etag
   end
   req = wrk.format("GET")
end

function request()
   sent = sent + 1
   return req
end

function response(status, headers, body)
   if status == 200 then
      s200 = s200 + 1
   elseif status == 304 then
      s304 = s304 + 1
   else
      other = other + 1
   end
end

function done(summary, latency, requests)
   local totals = { sent = 0, s200 = 0, s304 = 0, other = 0 }
   for _, thread in ipairs(threads) do
      for key, _ in pairs(totals) do
         totals[key] = totals[key] + thread:get(key)
      end
   end
   local e = summary.errors
   local f = assert(io.open(out, "w"))
   f:write(string.format(
      '{"sent": %d, "s200": %d, "s304": %d, "other": %d, "duration_us": %d, "responses": %d,'
      .. ' "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d},'
      .. ' "latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
      totals.sent, totals.s200, totals.s304, totals.other, summary.duration, summary.requests,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
   f:close()
end
