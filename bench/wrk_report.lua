-- What the wrk scripts of bench/ share (sign.lua, count.lua): each counts the answers it expects
-- in globals of its own; done() adds them up over wrk's threads and writes them, with wrk's
-- errors and latencies, as JSON to the file BENCH_OUT names. Loaded by each script with dofile.

local report = {}
local threads = {}

-- wrk's setup(thread): keep the thread, to read its counters in done(), and number it (tid).
function report.setup(thread)
   table.insert(threads, thread)
   thread:set("tid", #threads)
end

-- wrk's done(), for the counters named in `counters`.
function report.done(counters, summary, latency)
   local totals = {}
   for _, name in ipairs(counters) do
      local total = 0
      for _, thread in ipairs(threads) do
         total = total + thread:get(name)
      end
      table.insert(totals, string.format('"%s": %d', name, total))
   end
   local e = summary.errors
   local f = assert(io.open(os.getenv("BENCH_OUT"), "w"))
   f:write("{", table.concat(totals, ", "), string.format(
      ', "duration_us": %d, "responses": %d,'
      .. ' "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d},'
      .. ' "latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d, "p99_9": %d},'
      .. ' "quantiles_us": [',
      summary.duration, summary.requests,
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

return report
