-- wrk script: POST one fixed form body over and over (password grant, introspection).
-- Arguments after `--`: path, form body, Authorization header ("" for none), and a text every
-- good answer must contain ("" for any 200). Prints one AUTHPLANE-WRK line of JSON at the end.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
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
    count_bad(status)
  end
end

function done(summary, latency, requests)
  report_threads(threads, summary, latency)
end
