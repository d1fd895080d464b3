-- Shared by form.lua and refresh.lua (loaded with dofile): the Host header wrk's own init
-- would set (ours replaces it), the count of unexpected answers per HTTP status, and the one
-- JSON result line bench/peers/wrk.py reads.
-- A script calls count_bad(status) for each unexpected answer (200: a 200 without the expected
-- text). Transport errors never reach a script's response(): wrk counts them itself (connect,
-- read, write, timeout) and they are reported from its summary.
function host_header()
  if wrk.port then
    return wrk.host .. ":" .. wrk.port
  end
  return wrk.host
end

function count_bad(status)
  bad = bad + 1
  -- One global per status: thread:get reads plain values, not tables.
  local name = "bad_" .. status
  _G[name] = (_G[name] or 0) + 1
  bad_seen = (bad_seen or "") .. "," .. status
end

function report_threads(threads, summary, latency)
  local good, bad_total, retry = 0, 0, 0
  local by_status = {}
  for _, thread in ipairs(threads) do
    good = good + thread:get("good")
    bad_total = bad_total + thread:get("bad")
    retry = retry + (thread:get("retry") or 0)
    for status in string.gmatch(thread:get("bad_seen") or "", "(%d+)") do
      if by_status[status] == nil then
        by_status[status] = 0
        for _, t in ipairs(threads) do
          by_status[status] = by_status[status] + (t:get("bad_" .. status) or 0)
        end
      end
    end
  end
  local statuses = {}
  for status, count in pairs(by_status) do
    table.insert(statuses, string.format('"%s": %d', status, count))
  end
  table.sort(statuses)
  local e = summary.errors
  io.write(string.format(
    'AUTHPLANE-WRK {"good": %d, "bad": %d, "retry": %d, "duration_us": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "bad_statuses": {%s}, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    good, bad_total, retry, summary.duration, latency:percentile(50), latency:percentile(99),
    table.concat(statuses, ", "), e.connect, e.read, e.write, e.timeout))
end
