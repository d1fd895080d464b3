-- wrk script: POST one fixed form body over and over (password grant, introspection).
-- Arguments after `--`: path, form body, Authorization header ("" for none), and a text every
-- good answer must contain ("" for any 200). Prints one AUTHPLANE-WRK line of JSON at the end.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- wrk's own init (which sets Host) is replaced by ours, so Host is set here.
function host_header()
  if wrk.port then
    return wrk.host .. ":" .. wrk.port
  end
  return wrk.host
end

function init(args)
  wrk.method = "POST"
  wrk.path = args[1]
  wrk.body = args[2]
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  if args[3] ~= nil and args[3] ~= "" then
    wrk.headers["Authorization"] = args[3]
  end
  expect = args[4] or ""
  good = 0
  bad = 0
  wrk.headers["Host"] = host_header()
  request_bytes = wrk.format()
end

function request()
  return request_bytes
end

function response(status, headers, body)
  if status == 200 and (expect == "" or string.find(body, expect, 1, true)) then
    good = good + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local g, b = 0, 0
  for _, thread in ipairs(threads) do
    g = g + thread:get("good")
    b = b + thread:get("bad")
  end
  io.write(string.format(
    'AUTHPLANE-WRK {"good": %d, "bad": %d, "retry": 0, "duration_us": %d, ' ..
    '"p50_us": %d, "p99_us": %d}\n',
    g, b, summary.duration, latency:percentile(50), latency:percentile(99)))
end
