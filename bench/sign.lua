-- wrk script for bench/sign.py. Every request is a sign POST with a new email address
-- (run id, wrk thread number, request number), the CSRF cookie and the matching form token.
-- bench/sign.py passes everything through the environment:
--   BENCH_PATH        the URL path to POST to
--   BENCH_CSRF_TOKEN  csrfmiddlewaretoken from the petition page's form
--   BENCH_CSRF_COOKIE the csrftoken cookie the same GET set
--   BENCH_RUN_ID      makes addresses unique across runs and phases
--   BENCH_OUT         file that done() writes the counts and latency percentiles to (JSON)

local report = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "wrk_report.lua")

local path = os.getenv("BENCH_PATH")
local csrf_token = os.getenv("BENCH_CSRF_TOKEN")
local csrf_cookie = os.getenv("BENCH_CSRF_COOKIE")
local run_id = os.getenv("BENCH_RUN_ID")

setup = report.setup

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
   report.done({ "sent", "s303", "other3xx", "non3xx" }, summary, latency)
end
