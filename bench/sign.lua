-- wrk script for bench/sign.py. Every request is a sign POST with a new email address
-- (run id, wrk thread number, request number), the CSRF cookie and the matching form token.
-- bench/sign.py passes everything through the environment:
--   BENCH_PATH        the URL path to POST to
--   BENCH_CSRF_TOKEN  csrfmiddlewaretoken from the petition page's form
--   BENCH_CSRF_COOKIE the csrftoken cookie the same GET set
--   BENCH_RUN_ID      makes addresses unique across runs and phases
--   BENCH_OUT         file that done() writes the counts and latency percentiles to (JSON)

local path = os.getenv("BENCH_PATH")
local csrf_token = os.getenv("BENCH_CSRF_TOKEN")
local csrf_cookie = os.getenv("BENCH_CSRF_COOKIE")
local run_id = os.getenv("BENCH_RUN_ID")
local out = os.getenv("BENCH_OUT")

local threads = {}
local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("tid", thread_count)
   table.insert(threads, thread)
end

function init(args)
   sent = 0        -- requests written (request() calls)
   s303 = 0        -- 303 See Other: a signature accepted
   other3xx = 0    -- any other 3xx (not expected)
   non3xx = 0      -- every other status: an error
   body_head = "csrfmiddlewaretoken=" .. csrf_token
      .. "&first_name=Bench&last_name=Signer&email=bench-" .. run_id .. "-" .. tid .. "-"
   body_tail = "%40example.org&country=GB&postcode=S70+2AB&opt_in=on&source=bench&website="
   req_headers = {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Cookie"] = "csrftoken=" .. csrf_cookie,
   }
end

function request()
   sent = sent + 1
   return wrk.format("POST", path, req_headers, body_head .. sent .. body_tail)
end

function response(status, headers, body)
   if status == 303 then
      s303 = s303 + 1
   elseif status >= 300 and status < 400 then
      other3xx = other3xx + 1
   else
      non3xx = non3xx + 1
   end
end

function done(summary, latency, requests)
   local totals = { sent = 0, s303 = 0, other3xx = 0, non3xx = 0 }
   for _, thread in ipairs(threads) do
      for key, _ in pairs(totals) do
         totals[key] = totals[key] + thread:get(key)
      end
   end
   local e = summary.errors
   local f = assert(io.open(out, "w"))
   f:write(string.format(
      '{"sent": %d, "s303": %d, "other3xx": %d, "non3xx": %d, "duration_us": %d, "responses": %d,'
      .. ' "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d},'
      .. ' "latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d, "p99_9": %d},'
      .. ' "quantiles_us": [',
      totals.sent, totals.s303, totals.other3xx, totals.non3xx, summary.duration, summary.requests,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
   -- The latency distribution as 1000 quantiles (the 0.1th, 0.2th ... 100th percentile, in
   -- microseconds), so bench/sign.py can merge several runs' distributions. (wrk 4.1.0 gives a
   -- script no access to its histogram's buckets, only to percentiles.)
   if summary.requests > 0 then
      for k = 1, 999 do
         f:write(string.format("%d, ", latency:percentile(k / 10)))
      end
      f:write(string.format("%d", latency.max))  -- percentile(100) gives 0 in wrk 4.1.0
   end
   f:write("]}\n")
   f:close()
end
