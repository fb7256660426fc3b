-- wrk script: POST a fixed body; with BENCH_IDEMPOTENCY=1 every request gets its own
-- Idempotency-Key, so each one is a first create (no replays).
--   BENCH_BODY          the request body
--   BENCH_CONTENT_TYPE  its media type (default application/json)
-- Headers given with wrk -H (Authorization, say) are kept.

local counter = 0
local threads = 0
local idempotent = os.getenv("BENCH_IDEMPOTENCY") == "1"
local run = tostring(os.time())

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or "{}"
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"

function request()
  if idempotent then
    counter = counter + 1
    wrk.headers["Idempotency-Key"] = "bench-" .. run .. "-" .. tostring(thread_id or 0) .. "-" .. counter
  end
  return wrk.format()
end
