-- wrk script for bench/count_api.py: GET one path (optionally with If-None-Match) and count the
-- answers by status. bench/count_api.py passes everything through the environment:
--   BENCH_IF_NONE_MATCH  an ETag to send as If-None-Match (empty: none)
--   BENCH_OUT            file that done() writes the counts and latency quantiles to (JSON)

local report = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "wrk_report.lua")

local etag = os.getenv("BENCH_IF_NONE_MATCH") or ""

setup = report.setup

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
   report.done({ "sent", "s200", "s304", "other" }, summary, latency)
end
