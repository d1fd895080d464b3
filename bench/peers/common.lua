-- Shared by form.lua and refresh.lua (loaded with dofile): the Host header wrk's own init
-- would set (ours replaces it), and the one JSON result line bench/peers/wrk.py reads.
-- A script sets the global `bad_status` to the HTTP status of an unexpected answer (the greatest
-- over threads is reported; 200 means a 200 without the expected text).
function host_header()
  if wrk.port then
    return wrk.host .. ":" .. wrk.port
  end
  return wrk.host
end

function report_threads(threads, summary, latency)
  local good, bad, retry, bad_status = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    good = good + thread:get("good")
    bad = bad + thread:get("bad")
    retry = retry + (thread:get("retry") or 0)
    bad_status = math.max(bad_status, thread:get("bad_status") or 0)
  end
  io.write(string.format(
    'AUTHPLANE-WRK {"good": %d, "bad": %d, "retry": %d, "duration_us": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "bad_status": %d}\n',
    good, bad, retry, summary.duration, latency:percentile(50), latency:percentile(99),
    bad_status))
end
